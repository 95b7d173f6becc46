/**
 * `npm run console:screenshots`: a screenshot of each view of the operator console at 1280×800
 * into docs/console/ (the README shows them), taken from a running system (`npm start`).
 * First it gives the system something to show — a few orders, a small import with a rejected
 * row, a parked message (`--no-data` skips that) — through the gateway and the broker.
 */
import fs from 'node:fs';
import path from 'node:path';
import { parseArgs } from 'node:util';
import amqplib from 'amqplib';
import type { Page } from 'playwright-core';
import { DEFAULT_JWT_AUDIENCE, DEFAULT_JWT_ISSUER, DEV_JWT_SECRET, signToken } from '@orderflow/http';
import { DESKTOP, launchBrowser } from './browser';

const OUT = path.resolve(__dirname, '../../../docs/console');

const { values } = parseArgs({ options: { gateway: { type: 'string' }, 'no-data': { type: 'boolean' }, amqp: { type: 'string' } } });
const gateway = values.gateway ?? process.env.GATEWAY_URL ?? 'http://127.0.0.1:8080';
const say = (line: string): void => void process.stdout.write(`${line}\n`);

async function api(method: string, route: string, token: string, body?: unknown, contentType = 'application/json'): Promise<any> {
  const res = await fetch(`${gateway}${route}`, {
    method,
    headers: { Authorization: `Bearer ${token}`, ...(body === undefined ? {} : { 'Content-Type': contentType }) },
    body: body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body),
  });
  if (!res.ok) throw new Error(`${method} ${route}: HTTP ${res.status} ${await res.text()}`);
  return res.json();
}

/** npm start's development token, or one signed like `npm run token` does. */
async function adminToken(): Promise<string> {
  const res = await fetch(`${gateway}/api/dev/token`, { method: 'POST' }).catch(() => null);
  if (res?.ok) return ((await res.json()) as { token: string }).token;
  return signToken({ sub: 'ops', role: 'admin' }, process.env.JWT_SECRET || DEV_JWT_SECRET, {
    issuer: process.env.JWT_ISSUER || DEFAULT_JWT_ISSUER,
    audience: process.env.JWT_AUDIENCE || DEFAULT_JWT_AUDIENCE,
  });
}

async function until<T>(what: string, probe: () => Promise<T | undefined | false>, timeoutMs = 60_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 250));
  }
}

/** Orders with each outcome, an import with a rejected row, a parked message: returns an order and the import to open. */
async function seed(token: string): Promise<{ orderId: string; importId: string }> {
  const place = (customerId: string, items: unknown[], paymentMethod: string) => api('POST', '/api/orders', token, { customerId, items, paymentMethod, customerEmail: `${customerId}@example.com` });
  const placed = [
    await place('alice', [{ productId: 'PROD-002', quantity: 2 }, { productId: 'PROD-003', quantity: 1 }], 'pm_card_ok'),
    await place('bob', [{ productId: 'PROD-002', quantity: 1 }], 'pm_card_declined'),
    await place('carol', [{ productId: 'PROD-001', quantity: 100 }], 'pm_card_ok'),
    await place('dave', [{ productId: 'PROD-003', quantity: 3 }], 'pm_card_ok'),
  ];
  for (const o of placed) await until(`order ${o.orderId}`, async () => ['CONFIRMED', 'REJECTED', 'CANCELLED'].includes((await api('GET', `/api/orders/${o.orderId}`, token)).status));
  const ref = Date.now().toString(36);
  const csv = ['orderRef,customerId,productId,quantity,unitPrice,paymentMethod', `${ref}-1,erin,PROD-002,1,,pm_card_ok`, `${ref}-1,erin,PROD-003,2,,pm_card_ok`, `${ref}-2,frank,PROD-002,1,,pm_card_declined`, `${ref}-3,grace,PROD-003,0,75,pm_card_ok`, ''].join('\n');
  const uploaded = await api('POST', '/api/imports', token, csv, 'text/csv');
  await until('the import', async () => (await api('GET', `/api/imports/${uploaded.importId}`, token).catch(() => ({}))).state === 'COMPLETED');
  const connection = await amqplib.connect(values.amqp ?? process.env.AMQP_URL ?? 'amqp://guest:guest@127.0.0.1:5672');
  const channel = await connection.createConfirmChannel();
  channel.publish(`${process.env.TOPOLOGY_PREFIX ?? ''}order.events`, 'order.created', Buffer.from('not an event'), { messageId: `screenshots-${ref}`, persistent: true });
  await channel.waitForConfirms();
  await connection.close();
  return { orderId: placed[0].orderId, importId: uploaded.importId };
}

/** The page's document, as far as the wait below reads it (this file is compiled without the DOM's types). */
interface Loaded {
  document: { querySelector(selector: string): unknown };
}

/** Waits until the view has loaded (no "Loading…" left), then writes docs/console/<name>.png. */
async function shoot(page: Page, name: string, route: string | null): Promise<void> {
  if (route !== null) await page.goto(`${gateway}/console/#/${route}`);
  await page.locator('h1').first().waitFor();
  await page.waitForFunction(() => !(globalThis as unknown as Loaded).document.querySelector('.state-loading'), undefined, { timeout: 30_000 });
  await page.mouse.move(0, 0);
  await page.screenshot({ path: path.join(OUT, `${name}.png`) });
  say(`docs/console/${name}.png`);
}

async function main(): Promise<void> {
  const token = await adminToken();
  const shown = values['no-data'] ? null : await seed(token);
  const orderId: string | undefined = shown?.orderId ?? (await api('GET', '/api/orders?limit=1', token)).items[0]?.orderId;
  const importId: string | undefined = shown?.importId ?? (await api('GET', '/api/imports?limit=1', token)).items[0]?.importId;
  fs.mkdirSync(OUT, { recursive: true });
  const browser = await launchBrowser();
  try {
    const page = await (await browser.newContext({ viewport: DESKTOP })).newPage();
    await page.goto(`${gateway}/console/`);
    await shoot(page, 'sign-in', null);
    // Signed in as the console keeps it: the token in the tab's session storage, read when the page loads.
    await page.evaluate((t) => (globalThis as unknown as { sessionStorage: { setItem(k: string, v: string): void } }).sessionStorage.setItem('orderflow.console.token', t), token);
    await page.reload();
    await shoot(page, 'orders', 'orders');
    if (orderId) await shoot(page, 'order', `orders/${orderId}`);
    await shoot(page, 'imports', importId ? `imports/${importId}` : 'imports');
    await until('the parked message', async () => (await api('GET', '/api/dead-letters/inventory', token)).depth > 0, 20_000).catch(() => undefined);
    await shoot(page, 'dead-letters', 'dead-letters/inventory');
    await shoot(page, 'stock', 'stock');
    await shoot(page, 'system', 'system');
  } finally {
    await browser.close();
  }
}

main().catch((err: Error) => {
  process.stderr.write(`console:screenshots: ${err.message}\n`);
  process.exit(1);
});
