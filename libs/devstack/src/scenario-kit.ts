/**
 * What the scenarios (scenarios.ts) stand on: a client of the gateway's public API with the
 * tokens the CLI mints, waiting helpers, and the lines they print.
 */
import { setTimeout as sleep } from 'node:timers/promises';

/** An answer of the gateway: status and parsed JSON body (or the text when it is not JSON). */
export interface Answer {
  status: number;
  body: any;
}

/** Calls the gateway as a principal (a bearer token). */
export type Call = (method: string, path: string, options: { as: string; body?: unknown; headers?: Record<string, string> }) => Promise<Answer>;

/**
 * A gateway client that behaves as the contract asks of clients: a 429 is sent again after its
 * `Retry-After` (the gateway limits orders per client address, and a batch is many orders from
 * one address).
 */
export function gatewayCall(baseUrl: string, options: { maxRetries?: number } = {}): Call {
  const maxRetries = options.maxRetries ?? 30;
  return async (method, path, { as, body, headers }) => {
    for (let attempt = 0; ; attempt++) {
      const res = await fetch(new URL(path, baseUrl), {
        method,
        headers: { Authorization: `Bearer ${as}`, ...(body !== undefined ? { 'Content-Type': 'application/json' } : {}), ...headers },
        body: body === undefined ? undefined : JSON.stringify(body),
      });
      const text = await res.text();
      if (res.status === 429 && attempt < maxRetries) {
        await sleep(1000 * Math.max(1, Number(res.headers.get('retry-after')) || 1));
        continue;
      }
      let parsed: unknown = text;
      try {
        parsed = JSON.parse(text);
      } catch {
        // Not JSON (an HTML error page of something else listening there): keep the text.
      }
      return { status: res.status, body: parsed };
    }
  };
}

export interface Product {
  productId: string;
  name: string;
  price: number;
  available: number;
  reserved: number;
}

export interface Order {
  orderId: string;
  customerId: string;
  status: string;
  total: number | null;
  timeline: Array<{ status: string; reason: string }>;
}

export interface Payment {
  type: 'CHARGE' | 'REFUND';
  status: string;
  amount: number;
  reason: string | null;
}

export interface Notification {
  id: string;
  sentAt: string;
  channel: 'EMAIL' | 'SMS';
  recipient: string;
  template: string;
  subject: string | null;
  body: string;
  orderId: string;
}

export interface ScenarioOptions {
  call: Call;
  /** Tokens of an administrator (restock, reading everything) and of a customer. */
  adminToken: string;
  customerToken: (customerId: string) => string;
  /** Orders of the payment-failure batch. */
  orders: number;
  /** Tells the customer ids of this run apart from earlier runs (the batch is listed by customer). */
  runId: string;
  say: (line: string) => void;
  /** Longest wait for one scenario's orders, compensations and notifications. */
  timeoutMs?: number;
}

export interface ScenarioResult {
  name: string;
  ok: boolean;
  /** What did not end as expected. */
  failures: string[];
}

export const TERMINAL = new Set(['CONFIRMED', 'REJECTED', 'CANCELLED']);
export const money = (n: number | null): string => (n === null ? '—' : n.toFixed(2));

/** The order number customers read in their notifications: the last 8 hex digits of its id. */
export const shortId = (orderId: string): string => orderId.replace(/-/g, '').slice(-8).toLowerCase();

/** A notification as the log line users of those systems look for. */
export function notificationLine(n: Pick<Notification, 'channel' | 'recipient' | 'subject' | 'body' | 'template'>): string {
  return n.channel === 'EMAIL' ? `EMAIL NOTIFICATION SENT to ${n.recipient}: ${n.subject ?? n.template}` : `SMS NOTIFICATION SENT to ${n.recipient}: ${n.body}`;
}

/** Stock before → after of one product, one line. */
export function stockLine(before: Product, after: Product): string {
  const move = (a: number, b: number): string => (a === b ? `${a}` : `${a} → ${b}`);
  return `stock ${before.productId} ${before.name}: available ${move(before.available, after.available)}, reserved ${move(before.reserved, after.reserved)}`;
}

/** Payments of one order, one line: `CHARGE SUCCEEDED 25.00, REFUND SUCCEEDED 25.00`. */
export function paymentsLine(payments: readonly Payment[]): string {
  return payments.length === 0 ? 'payments: none' : `payments: ${payments.map((p) => `${p.type} ${p.status} ${money(p.amount)}${p.reason ? ` (${p.reason})` : ''}`).join(', ')}`;
}

/** Counts of equal strings, most frequent first: `41 × CONFIRMED, 9 × CANCELLED`. */
export function tally(values: readonly string[]): Array<[string, number]> {
  const counts = new Map<string, number>();
  for (const v of values) counts.set(v, (counts.get(v) ?? 0) + 1);
  return [...counts].sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : 1));
}

/**
 * Many orders' notifications in a few lines: each distinct line with the order number masked,
 * with its count (`41 × EMAIL NOTIFICATION SENT to …: Order #… - Payment Successful!`).
 */
export function notificationSummary(notifications: readonly Notification[]): string[] {
  const masked = notifications.map((n) => notificationLine(n).replace(/#[0-9a-f]{8}/g, '#…'));
  return tally(masked).map(([line, count]) => `${String(count).padStart(4)} × ${line}`);
}

/** Polls `probe` until it returns a value other than undefined/false, or the time is up (undefined). */
export async function until<T>(probe: () => Promise<T | undefined | false>, timeoutMs: number, intervalMs = 250): Promise<T | undefined> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== undefined && value !== false) return value;
    if (Date.now() > deadline) return undefined;
    await sleep(intervalMs);
  }
}

/** Runs `fn` over `items`, `limit` at a time (the gateway limits requests per client). */
export async function mapLimited<T, R>(items: readonly T[], limit: number, fn: (item: T) => Promise<R>): Promise<R[]> {
  const results: R[] = new Array(items.length);
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(limit, items.length) }, async () => {
      while (next < items.length) {
        const i = next++;
        results[i] = await fn(items[i]!);
      }
    }),
  );
  return results;
}

export class ScenarioError extends Error {}

/** The scenarios' view of the system, through the gateway. */
export function api(o: ScenarioOptions) {
  const { call, adminToken } = o;
  const ok = async (what: string, answer: Promise<Answer>, expected: number[] = [200]): Promise<any> => {
    const res = await answer;
    if (!expected.includes(res.status)) throw new ScenarioError(`${what}: HTTP ${res.status} ${typeof res.body === 'string' ? res.body.slice(0, 200) : JSON.stringify(res.body)}`);
    return res.body;
  };
  return {
    product: async (id: string): Promise<Product> => ok(`GET /api/inventory/${id}`, call('GET', `/api/inventory/${id}`, { as: adminToken })),
    restock: async (id: string, delta: number): Promise<Product> =>
      ok(`restock ${id}`, call('POST', `/api/inventory/${id}/adjustments`, { as: adminToken, body: { delta, reason: 'npm run scenarios: restock' } })),
    place: async (customerId: string, body: unknown): Promise<string> =>
      (await ok('POST /api/orders', call('POST', '/api/orders', { as: o.customerToken(customerId), body }), [202])).orderId as string,
    order: async (id: string): Promise<Order> => ok(`GET /api/orders/${id}`, call('GET', `/api/orders/${id}`, { as: adminToken })),
    ordersOf: async (customerId: string): Promise<Order[]> => {
      const all: Order[] = [];
      let cursor: string | null = null;
      do {
        const query = `customerId=${encodeURIComponent(customerId)}&limit=100${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''}`;
        const page: { items: Order[]; nextCursor: string | null } = await ok('GET /api/orders', call('GET', `/api/orders?${query}`, { as: adminToken }));
        all.push(...page.items);
        cursor = page.nextCursor;
      } while (cursor);
      return all;
    },
    /** The customer cancels its own order. */
    cancel: async (id: string, customerId: string): Promise<void> => {
      await ok(`cancel ${id}`, call('POST', `/api/orders/${id}/cancel`, { as: o.customerToken(customerId) }), [202]);
    },
    payments: async (id: string): Promise<Payment[]> => (await ok('GET /api/payments', call('GET', `/api/payments?orderId=${id}`, { as: adminToken }))).items,
    /** Oldest first, in the order they were sent (ids are time-ordered). */
    notifications: async (query: string): Promise<Notification[]> =>
      ((await ok('GET /api/notifications', call('GET', `/api/notifications?${query}&limit=500`, { as: adminToken }))).items as Notification[]).sort((x, y) =>
        x.sentAt < y.sentAt ? -1 : x.sentAt > y.sentAt ? 1 : x.id < y.id ? -1 : 1,
      ),
  };
}

export type Api = ReturnType<typeof api>;

/**
 * Restocks `productId` by an admin adjustment when it has fewer than `needed` available, so
 * the scenarios can be run again and again; says so.
 */
export async function ensureStock(a: Api, productId: string, needed: number, say: (line: string) => void): Promise<void> {
  const p = await a.product(productId);
  if (p.available >= needed) return;
  const after = await a.restock(productId, needed - p.available);
  say(`restocked ${productId} ${p.name} by +${needed - p.available} (admin adjustment "npm run scenarios: restock"): available ${p.available} → ${after.available}`);
}

/**
 * Why the order has its status: the reason of the change to it (the timeline's later notes on
 * the same status — stock released, payment refunded — are the compensations, not the cause).
 */
export function statusReason(order: Pick<Order, 'status' | 'timeline'>): string | undefined {
  return order.timeline.find((t) => t.status === order.status)?.reason;
}

/** The statuses an order went through, each once. */
export const statusPath = (order: Order): string => order.timeline.map((t) => t.status).filter((s, i, all) => s !== all[i - 1]).join(' → ');

/** One order's story in a few lines: outcome, timeline, its payments and notifications. */
export function orderLines(order: Order, payments: readonly Payment[], notifications: readonly Notification[]): string[] {
  const reason = order.status === 'CONFIRMED' ? undefined : statusReason(order);
  return [
    `order ${order.orderId} (#${shortId(order.orderId)}): ${order.status}${reason ? ` — ${reason}` : ''}${order.total === null ? '' : `, total ${money(order.total)}`}`,
    `  timeline: ${statusPath(order)}`,
    `  ${paymentsLine(payments)}`,
    `  notifications:`,
    ...notifications.map((n) => `    ${notificationLine(n)}`),
  ];
}
