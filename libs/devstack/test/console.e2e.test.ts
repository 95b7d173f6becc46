import { randomUUID } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { gzipSync } from 'node:zlib';
import type { Browser } from 'playwright-core';
import { signToken } from '@orderflow/http';
import { bearer, waitFor } from '@orderflow/testkit';
import { launchBrowser, PHONE } from '../src/browser';
import { WEB_ROOT } from '../src/web';
import { browserTest, call, FAILURES, openView, publishInvalid, signInAsLocalAdmin, signInWithToken, textOf, type InPage } from './console-kit';
import { systemUnderTest } from './system-under-test';

/**
 * The operator console (apps/console) in Debian's Chromium, served by the gateway at /console/
 * of the whole system started as `npm start` starts it (DEV_TOKENS on), one browser for all.
 */
describe('the operator console in a browser, through the gateway of the whole system', () => {
  const sut = systemUnderTest('e2e_console', { DEV_TOKENS: '1' });
  const admin = bearer('ops', 'admin');
  let browser: Browser;
  const inBrowser = (name: string, body: Parameters<typeof browserTest>[2], timeoutMs?: number) => browserTest(() => browser, name, body, timeoutMs);
  const consoleUrl = () => `${sut.gateway}/console/`;

  beforeAll(async () => {
    browser = await launchBrowser();
  });
  afterAll(async () => {
    await browser?.close();
  });

  inBrowser('signs in with the local admin button; a token the services refuse returns to sign-in and says why; a pasted token signs in', async (page) => {
    await signInAsLocalAdmin(page, consoleUrl());
    expect(await textOf(page, '.who')).toContain('operator admin');
    const forged = signToken({ sub: 'ops', role: 'admin' }, 'not-the-secret-of-this-system-at-all');
    await page.evaluate((t) => (globalThis as unknown as InPage).sessionStorage.setItem('orderflow.console.token', t), forged);
    await page.reload();
    await page.getByRole('alert').filter({ hasText: 'the services refused the token' }).waitFor();
    expect(await page.evaluate(() => (globalThis as unknown as InPage).sessionStorage.getItem('orderflow.console.token'))).toBeNull();
    await signInWithToken(page, consoleUrl(), admin.replace('Bearer ', ''));
    expect(await textOf(page, '.who')).toContain('ops admin');
  });

  inBrowser('an order placed through the API goes from PENDING to CONFIRMED on its page, without a reload', async (page) => {
    await signInAsLocalAdmin(page, consoleUrl());
    // Inventory holds still, so the page shows the order PENDING first.
    const inventory = sut.system.services.find((s) => s.app === 'inventory-service')!.pid!;
    process.kill(inventory, 'SIGSTOP');
    let placed: { status: number; body: { orderId: string } };
    try {
      placed = await call(sut.gateway, 'POST', '/api/orders', bearer('console-buyer'), { items: [{ productId: 'PROD-002', quantity: 1 }], paymentMethod: 'pm_card_ok' });
      expect(placed.status).toBe(202);
      await page.goto(`${consoleUrl()}#/orders/${placed.body.orderId}`);
      await page.getByTestId('order-status').getByText('PENDING').waitFor();
      await page.evaluate(() => ((globalThis as unknown as InPage).notReloaded = true));
    } finally {
      process.kill(inventory, 'SIGCONT');
    }
    await page.getByTestId('order-status').getByText('CONFIRMED').waitFor({ timeout: 30_000 });
    expect(await page.evaluate(() => (globalThis as unknown as InPage).notReloaded)).toBe(true);
    const timeline = await page.locator('.timeline li .badge').allTextContents();
    expect(timeline).toEqual(['PENDING', 'STOCK_RESERVED', 'CONFIRMED']);
    await page.getByRole('cell', { name: 'CHARGE' }).waitFor();
    expect(await page.locator('.summary').textContent()).toContain('25.00');
  });

  inBrowser('a CSV dropped on the Imports page uploads with a progress bar, ends COMPLETED, and its rejected rows download', async (page) => {
    await signInAsLocalAdmin(page, consoleUrl());
    await openView(page, consoleUrl(), 'imports', 'Imports');
    const ref = randomUUID().slice(0, 8);
    const csv = `orderRef,customerId,productId,quantity,unitPrice,paymentMethod\n${ref}-1,alice,PROD-002,1,,pm_card_ok\n${ref}-2,bob,PROD-002,0,,pm_card_ok\n`;
    const dropped = await page.evaluateHandle((text) => {
      const transfer = new ((globalThis as unknown as InPage).DataTransfer)();
      transfer.items.add(new ((globalThis as unknown as InPage).File)([text], 'orders.csv', { type: 'text/csv' }));
      return transfer;
    }, csv);
    await page.dispatchEvent('[data-testid=dropzone]', 'drop', { dataTransfer: dropped });
    await page.getByText('Uploaded orders.csv').waitFor();
    expect(await page.locator('#upload-bar').evaluate((bar) => (bar as unknown as { value: number }).value)).toBe(1);
    const progress = page.getByTestId('import-progress');
    await progress.locator('.badge', { hasText: 'COMPLETED' }).waitFor({ timeout: 45_000 });
    expect(await progress.getByTestId('rows-rejected').textContent()).toBe('1');
    const [download] = await Promise.all([page.waitForEvent('download'), progress.getByRole('button', { name: 'Download rejected rows (1)' }).click()]);
    const rejected = fs.readFileSync((await download.path())!, 'utf8');
    expect(rejected.split('\n')[0]).toBe('line,reason,raw');
    expect(rejected).toContain(`${ref}-2,bob,PROD-002,0`);
    const importId = page.url().split('/').pop()!;
    await page.locator(`a[href="#/imports/${importId}"]`).waitFor({ timeout: 10_000 });
  });

  inBrowser('a parked message shows in its group and opens with its headers, error and body; replay and discard empty the groups', async (page) => {
    await publishInvalid(sut.topologyPrefix, `console-e2e-${randomUUID()}`);
    const parked = (service: string) => waitFor(async () => (await call(sut.gateway, 'GET', `/api/dead-letters/${service}`, admin)).body.depth === 1, `parked in ${service}`);
    await parked('inventory');
    await parked('notification');
    await signInAsLocalAdmin(page, consoleUrl());
    await openView(page, consoleUrl(), 'dead-letters/inventory', 'Dead letters');
    const group = page.locator('[data-error-code="MESSAGE.INVALID"]');
    await group.waitFor();
    expect(await group.locator('h2 .count').textContent()).toBe('1');
    await group.locator('tbody a').first().click();
    const opened = page.locator('section.opened');
    await opened.locator('pre', { hasText: 'not an event' }).waitFor();
    expect(await opened.locator('.facts').textContent()).toContain('MESSAGE.INVALID');
    await opened.getByRole('button', { name: 'Discard…' }).click();
    await page.locator('dialog.confirm').getByRole('button', { name: 'Discard' }).click();
    await page.getByText('Nothing parked in inventory').waitFor();

    // notification parked the same message: replayed, it is invalid again and comes back; discarded as a group, it is gone.
    await page.locator('.tabs a', { hasText: 'notification' }).click();
    await page.locator('[data-error-code="MESSAGE.INVALID"] input[type=checkbox]').first().check();
    await page.getByRole('button', { name: 'Replay selected' }).click();
    await page.getByRole('status').filter({ hasText: '1 replayed' }).waitFor();
    await parked('notification');
    await page.reload();
    await page.getByRole('button', { name: 'Discard group…' }).click();
    await page.locator('dialog.confirm').getByRole('button', { name: 'Discard' }).click();
    await page.getByText('Nothing parked in notification').waitFor();
    expect(await textOf(page, '.tabs a[aria-current=page] .count')).toBe('0');
  });

  inBrowser('restocking a product changes its available number in place; its name and price are edited', async (page) => {
    const created = await call(sut.gateway, 'PUT', '/api/inventory/CONSOLE-1', admin, { name: 'Console lamp', price: 10, available: 5 }, { 'If-None-Match': '*' });
    expect(created.status).toBe(201);
    await signInAsLocalAdmin(page, consoleUrl());
    await openView(page, consoleUrl(), 'stock', 'Stock');
    const available = page.getByTestId('available-CONSOLE-1');
    await available.getByText('5', { exact: true }).waitFor();
    await page.getByLabel('Restock CONSOLE-1 by').fill('7');
    await page.locator('tr[data-product=CONSOLE-1]').getByRole('button', { name: 'Apply' }).click();
    await available.getByText('12', { exact: true }).waitFor();
    await page.getByRole('button', { name: 'Edit CONSOLE-1' }).click();
    await page.getByLabel('Name').fill('Console lamp XL');
    await page.getByLabel('Price').fill('12.5');
    await page.getByRole('button', { name: 'Save' }).click();
    await page.locator('tr[data-product=CONSOLE-1]', { hasText: 'Console lamp XL' }).getByText('12.50').waitFor();
    expect((await call(sut.gateway, 'GET', '/api/inventory/CONSOLE-1', admin)).body).toMatchObject({ name: 'Console lamp XL', price: 12.5, available: 12 });
  });

  inBrowser('a customer token is refused by every admin view, which says what to do', async (page) => {
    await signInWithToken(page, consoleUrl(), bearer('carol').replace('Bearer ', ''));
    for (const [route, heading] of [['imports', 'Imports'], ['dead-letters', 'Dead letters'], ['stock', 'Stock'], ['system', 'System']] as const) {
      await openView(page, consoleUrl(), route, heading);
      const state = page.locator('[data-state=needs-admin]');
      await state.waitFor();
      expect([route, await state.textContent()]).toEqual([route, expect.stringContaining('npm run token -- --sub ops --role admin')]);
    }
    // The services refuse it too, whatever the page does.
    expect((await call(sut.gateway, 'GET', '/api/admin/system', bearer('carol'))).status).toBe(403);
    expect((await call(sut.gateway, 'GET', '/api/imports', bearer('carol'))).status).toBe(403);
  });

  inBrowser('the System view shows every process ready; its endpoint answers in under 200 ms with the system idle', async (page) => {
    // The first reading asks every process and the broker; later ones within a poll are served from it.
    const timed = async () => {
      const sent = Date.now();
      const started = performance.now();
      const answer = await call(sut.gateway, 'GET', '/api/admin/system', admin);
      expect(answer.status).toBe(200);
      return { ms: performance.now() - started, readSinceSent: Date.parse(answer.body.at) >= sent };
    };
    const first = (await timed()).ms;
    const polls: number[] = [];
    for (let i = 0; i < 5; i++) polls.push((await timed()).ms);
    const median = [...polls].sort((a, b) => a - b)[2]!;
    // Nobody asks for longer than a reading is served (5 s, the order service's STALE_MS): the
    // next request waits for a fresh one, read after it was sent.
    await new Promise((r) => setTimeout(r, 6_000));
    const fresh = await timed();
    fs.mkdirSync(FAILURES, { recursive: true });
    fs.writeFileSync(path.join(FAILURES, 'system-endpoint.json'), JSON.stringify({ firstReadingMs: Math.round(first), pollMedianMs: Math.round(median), freshReadingMs: Math.round(fresh.ms) }));
    process.stdout.write(`GET /api/admin/system: first reading ${Math.round(first)} ms, polls (median) ${Math.round(median)} ms, a fresh reading after 6 s idle ${Math.round(fresh.ms)} ms\n`);
    expect(median).toBeLessThan(200);
    expect(fresh.readSinceSent).toBe(true);
    // Generous bounds (docs/performance.md has the idle figures, ≈ 0.1 s): a shared CI machine is
    // not idle, but a reading that takes seconds again fails. The first reading also warms the
    // order service (its first requests to every process, the schemas' first use).
    expect(fresh.ms).toBeLessThan(1000);
    expect(first).toBeLessThan(3000);

    await signInAsLocalAdmin(page, consoleUrl());
    await openView(page, consoleUrl(), 'system', 'System');
    await page.locator('[data-process]').first().waitFor();
    const tiles = page.locator('[data-process]');
    expect(await tiles.count()).toBe(9);
    await waitFor(async () => (await page.locator('[data-process].down').count()) === 0, 'every process ready');
    await page.getByRole('rowheader', { name: `${sut.topologyPrefix}order.saga`, exact: true }).waitFor();
  });

  inBrowser('reads at a phone\'s width: no view scrolls sideways; the keyboard reaches the views with a visible focus', async (page) => {
    await signInAsLocalAdmin(page, consoleUrl());
    await page.setViewportSize(PHONE);
    for (const [route, heading] of [['orders', 'Orders'], ['imports', 'Imports'], ['dead-letters', 'Dead letters'], ['stock', 'Stock'], ['system', 'System']] as const) {
      await openView(page, consoleUrl(), route, heading);
      await page.waitForFunction(() => !(globalThis as unknown as InPage).document.querySelector('.state-loading'));
      expect([route, await page.evaluate(() => (globalThis as unknown as InPage).document.documentElement.scrollWidth <= (globalThis as unknown as InPage).innerWidth)]).toEqual([route, true]);
    }
    await page.reload();
    await page.getByRole('heading', { name: 'System', level: 1 }).waitFor();
    await page.keyboard.press('Tab');
    expect(await page.evaluate(() => (globalThis as unknown as InPage).document.activeElement?.textContent?.trim())).toBe('Skip to the content');
    const stockLink = page.getByRole('link', { name: 'Stock' });
    await stockLink.focus();
    expect(await stockLink.evaluate((a) => (globalThis as unknown as InPage).getComputedStyle(a).outlineStyle)).not.toBe('none');
    await page.keyboard.press('Enter');
    await page.getByRole('heading', { name: 'Stock', level: 1 }).waitFor();
  });

  it('the console\'s JavaScript is under 300 kB gzipped, as the gateway serves it', () => {
    const assets = path.join(WEB_ROOT, 'console', 'assets');
    const gzipped = fs.readdirSync(assets).filter((f) => f.endsWith('.js')).reduce((n, f) => n + gzipSync(fs.readFileSync(path.join(assets, f)), { level: 9 }).length, 0);
    process.stdout.write(`console JavaScript: ${(gzipped / 1000).toFixed(1)} kB gzipped\n`);
    expect(gzipped).toBeGreaterThan(1000);
    expect(gzipped).toBeLessThan(300_000);
  });
});
