import fs from 'node:fs';
import path from 'node:path';
import amqplib from 'amqplib';
import type { Browser, Page } from 'playwright-core';
import { AMQP_URL } from '@orderflow/testkit';
import { DESKTOP } from '../src/browser';

/**
 * The browser's globals the tests use inside `page.evaluate` (the tests are compiled for Node,
 * without the DOM's types): `(globalThis as unknown as InPage).sessionStorage…`, written out in
 * each callback, since Playwright sends the callback's source to the page.
 */
export interface InPage {
  sessionStorage: { getItem(key: string): string | null; setItem(key: string, value: string): void };
  document: { activeElement: { textContent: string | null } | null; documentElement: { scrollWidth: number }; querySelector(selector: string): unknown };
  innerWidth: number;
  getComputedStyle(element: unknown): { outlineStyle: string };
  DataTransfer: new () => { items: { add(file: unknown): void } };
  File: new (parts: string[], name: string, options: { type: string }) => unknown;
  notReloaded?: boolean;
}

/** Where a failing browser test leaves its screenshot (gitignored). */
export const FAILURES = path.resolve(__dirname, '../../../.tmp/console-e2e');

/**
 * A browser test: a fresh context (its own session storage, downloads accepted) at the
 * desktop size; when it fails, the page as it was goes to FAILURES/<test name>.png.
 */
export function browserTest(browser: () => Browser, name: string, body: (page: Page) => Promise<void>, timeoutMs = 60_000): void {
  it(
    name,
    async () => {
      const context = await browser().newContext({ viewport: DESKTOP, acceptDownloads: true });
      const page = await context.newPage();
      // A step that waits in vain fails well before the test's own timeout, with a screenshot.
      page.setDefaultTimeout(Math.min(30_000, timeoutMs / 2));
      const errors: string[] = [];
      page.on('pageerror', (err) => errors.push(err.message));
      try {
        await body(page);
        expect(errors).toEqual([]);
      } catch (err) {
        fs.mkdirSync(FAILURES, { recursive: true });
        const file = path.join(FAILURES, `${name.replace(/[^a-z0-9]+/gi, '-').slice(0, 80)}.png`);
        await page.screenshot({ path: file, fullPage: true }).catch(() => undefined);
        throw Object.assign(err as Error, { message: `${(err as Error).message}\n(screenshot: ${file})` });
      } finally {
        await context.close();
      }
    },
    timeoutMs,
  );
}

/** Signs in with the sign-in page's development button, as `npm start` allows. */
export async function signInAsLocalAdmin(page: Page, consoleUrl: string): Promise<void> {
  await page.goto(consoleUrl);
  await page.getByRole('button', { name: 'Sign in as a local admin' }).click();
  await page.getByRole('heading', { name: 'Orders', level: 1 }).waitFor();
}

/** Signs in by pasting a token, as an operator with a token from elsewhere does. */
export async function signInWithToken(page: Page, consoleUrl: string, token: string): Promise<void> {
  await page.goto(consoleUrl);
  await page.getByLabel('Bearer token').fill(token);
  await page.getByRole('button', { name: 'Sign in', exact: true }).click();
  await page.getByRole('heading', { name: 'Orders', level: 1 }).waitFor();
}

/** Goes to a view by its hash route and waits for its heading. */
export async function openView(page: Page, consoleUrl: string, route: string, heading: string): Promise<void> {
  await page.goto(`${consoleUrl}#/${route}`);
  await page.getByRole('heading', { name: heading, level: 1 }).waitFor();
}

/** The text of a locator, trimmed, once it is there. */
export const textOf = async (page: Page, selector: string): Promise<string> => ((await page.locator(selector).first().textContent()) ?? '').trim();

/**
 * Publishes something that is not an event as `order.created` on the system's order.events:
 * every queue bound to it (inventory's and notification's) parks it at once as MESSAGE.INVALID.
 */
export async function publishInvalid(topologyPrefix: string, messageId: string): Promise<void> {
  const connection = await amqplib.connect(AMQP_URL);
  try {
    const channel = await connection.createConfirmChannel();
    channel.publish(`${topologyPrefix}order.events`, 'order.created', Buffer.from('not an event'), { messageId, persistent: true });
    await channel.waitForConfirms();
  } finally {
    await connection.close();
  }
}

/** Sends a request to the gateway with a bearer token; the parsed JSON answer and the status. */
export async function call(gateway: string, method: string, route: string, authorization: string, body?: unknown, headers: Record<string, string> = {}): Promise<{ status: number; body: any }> {
  const res = await fetch(`${gateway}${route}`, {
    method,
    headers: { Authorization: authorization, ...(body === undefined ? {} : { 'Content-Type': 'application/json' }), ...headers },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await res.text();
  try {
    return { status: res.status, body: JSON.parse(text) };
  } catch {
    return { status: res.status, body: text };
  }
}
