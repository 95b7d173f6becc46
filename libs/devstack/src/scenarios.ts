/**
 * The classic scenarios of the order-saga systems Orderflow replaces (their READMEs' "testing
 * scenarios"; docs/contract.md), run through the gateway against a running
 * system: a successful order, insufficient inventory, a batch showing the payment failure rate
 * with its compensations, and a cancel after confirmation. Each prints what their users look
 * at — the orders' outcomes, the stock before and after, the payments and the notifications
 * sent — and says whether it ended as expected.
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

interface Order {
  orderId: string;
  customerId: string;
  status: string;
  total: number | null;
  timeline: Array<{ status: string; reason: string }>;
}

interface Payment {
  type: 'CHARGE' | 'REFUND';
  status: string;
  amount: number;
  reason: string | null;
}

interface Notification {
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

const TERMINAL = new Set(['CONFIRMED', 'REJECTED', 'CANCELLED']);
const money = (n: number | null): string => (n === null ? '—' : n.toFixed(2));

/** The order number customers read in their notifications: the last 8 hex digits of its id. */
const shortId = (orderId: string): string => orderId.replace(/-/g, '').slice(-8).toLowerCase();

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
async function until<T>(probe: () => Promise<T | undefined | false>, timeoutMs: number, intervalMs = 250): Promise<T | undefined> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== undefined && value !== false) return value;
    if (Date.now() > deadline) return undefined;
    await sleep(intervalMs);
  }
}

/** Runs `fn` over `items`, `limit` at a time (the gateway limits requests per client). */
async function mapLimited<T, R>(items: readonly T[], limit: number, fn: (item: T) => Promise<R>): Promise<R[]> {
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

class ScenarioError extends Error {}

/** The scenarios' view of the system, through the gateway. */
function api(o: ScenarioOptions) {
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

type Api = ReturnType<typeof api>;

/**
 * Restocks `productId` by an admin adjustment when it has fewer than `needed` available, so
 * the scenarios can be run again and again; says so.
 */
async function ensureStock(a: Api, productId: string, needed: number, say: (line: string) => void): Promise<void> {
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
const statusPath = (order: Order): string => order.timeline.map((t) => t.status).filter((s, i, all) => s !== all[i - 1]).join(' → ');

/** One order's story in a few lines: outcome, timeline, its payments and notifications. */
function orderLines(order: Order, payments: readonly Payment[], notifications: readonly Notification[]): string[] {
  const reason = order.status === 'CONFIRMED' ? undefined : statusReason(order);
  return [
    `order ${order.orderId} (#${shortId(order.orderId)}): ${order.status}${reason ? ` — ${reason}` : ''}${order.total === null ? '' : `, total ${money(order.total)}`}`,
    `  timeline: ${statusPath(order)}`,
    `  ${paymentsLine(payments)}`,
    `  notifications:`,
    ...notifications.map((n) => `    ${notificationLine(n)}`),
  ];
}

interface Scenario {
  name: (o: ScenarioOptions) => string;
  run: (a: Api, o: ScenarioOptions, expect: (ok: boolean, failure: string) => void, say: (line: string) => void) => Promise<void>;
}

const MOUSE = 'PROD-002';
const LAPTOP = 'PROD-001';

const terminal = (a: Api, id: string, timeoutMs: number) => until(async () => {
  const order = await a.order(id);
  return TERMINAL.has(order.status) && order;
}, timeoutMs);

/** The notifications of an order once one of `template` has been sent (or what there is when the time is up). */
async function notifiedOf(a: Api, orderId: string, template: string, timeoutMs: number): Promise<Notification[]> {
  const found = await until(async () => {
    const list = await a.notifications(`orderId=${orderId}`);
    return list.some((n) => n.template === template) && list;
  }, timeoutMs);
  return found ?? (await a.notifications(`orderId=${orderId}`));
}

const SCENARIOS: Scenario[] = [
  {
    name: () => `Successful order: ${MOUSE} Mouse × 1 with an email and a phone → CONFIRMED`,
    async run(a, o, expect, say) {
      const timeout = o.timeoutMs ?? 60_000;
      const before = await a.product(MOUSE);
      const email = 'alice@example.com';
      const phone = '+1 555 0100';
      // Reference B's request, with the catalog's price as their `price` and the contact of E.
      const id = await a.place('alice', {
        items: [{ productId: MOUSE, productName: 'Mouse', quantity: 1, price: before.price }],
        paymentMethod: 'pm_card_ok',
        customerEmail: email,
        customerPhone: phone,
      });
      const order = (await terminal(a, id, timeout)) ?? (await a.order(id));
      const notifications = await notifiedOf(a, id, 'order-confirmed', timeout);
      const payments = await a.payments(id);
      const after = await a.product(MOUSE);
      for (const line of orderLines(order, payments, notifications)) say(line);
      say(stockLine(before, after));
      expect(order.status === 'CONFIRMED', `the order is ${order.status}, not CONFIRMED`);
      expect(payments.some((p) => p.type === 'CHARGE' && p.status === 'SUCCEEDED' && p.amount === before.price), `no successful charge of ${money(before.price)}`);
      expect(after.available === before.available - 1 && after.reserved === before.reserved + 1, 'one Mouse did not move from available to reserved');
      expect(notifications.some((n) => n.channel === 'EMAIL' && n.recipient === email && n.subject?.endsWith('Payment Successful!')), `no "Payment Successful!" email to ${email}`);
      expect(notifications.some((n) => n.channel === 'SMS' && n.recipient === phone && n.template === 'order-confirmed'), `no SMS to ${phone}`);
    },
  },
  {
    name: () => `Insufficient inventory: ${LAPTOP} Laptop × 100 → REJECTED, stock untouched`,
    async run(a, o, expect, say) {
      const timeout = o.timeoutMs ?? 60_000;
      const before = await a.product(LAPTOP);
      // Someone may have restocked beyond 100: ask for more than there is, as the scenario means.
      const quantity = Math.max(100, before.available + 1);
      if (quantity !== 100) say(`(${before.available} Laptops available: ordering ${quantity})`);
      const id = await a.place('bob', { items: [{ productId: LAPTOP, quantity }], paymentMethod: 'pm_card_ok', customerEmail: 'bob@example.com' });
      const order = (await terminal(a, id, timeout)) ?? (await a.order(id));
      const notifications = await notifiedOf(a, id, 'order-rejected', timeout);
      const payments = await a.payments(id);
      const after = await a.product(LAPTOP);
      for (const line of orderLines(order, payments, notifications)) say(line);
      say(stockLine(before, after));
      expect(order.status === 'REJECTED', `the order is ${order.status}, not REJECTED`);
      expect(statusReason(order)?.includes('insufficient stock') === true, 'the reason does not say "insufficient stock"');
      expect(payments.every((p) => p.status !== 'SUCCEEDED'), 'something was charged');
      expect(after.available === before.available && after.reserved === before.reserved, 'the Laptop stock moved');
      expect(notifications.some((n) => n.subject?.endsWith('Out of Stock')), 'no "Out of Stock" email');
    },
  },
  {
    name: (o) => `Payment failures: ${o.orders} orders of ${MOUSE} × 1 without a payment method (approved at PAYMENT_SUCCESS_RATE, default 0.8) → about 20 % CANCELLED, their stock released`,
    async run(a, o, expect, say) {
      const timeout = Math.max(o.timeoutMs ?? 60_000, o.orders * 1000);
      const customer = `batch-${o.runId}`;
      const before = await a.product(MOUSE);
      // Reference A's shape: no customerId (the token's), no payment method; the catalog prices it.
      const ids = await mapLimited(Array.from({ length: o.orders }), 4, () => a.place(customer, { items: [{ productId: MOUSE, quantity: 1 }] }));
      const orders =
        (await until(async () => {
          const list = await a.ordersOf(customer);
          return list.length >= ids.length && list.every((x) => TERMINAL.has(x.status)) && list;
        }, timeout)) ?? (await a.ordersOf(customer));
      const confirmed = orders.filter((x) => x.status === 'CONFIRMED').length;
      const cancelled = orders.filter((x) => x.status === 'CANCELLED');
      // The compensation: what the failed payments reserved goes back.
      const after =
        (await until(async () => {
          const p = await a.product(MOUSE);
          return p.available === before.available - confirmed && p.reserved === before.reserved + confirmed && p;
        }, timeout)) ?? (await a.product(MOUSE));
      const payments = (await mapLimited(ids, 4, (id) => a.payments(id))).flat();
      const notifications =
        (await until(async () => {
          const list = await a.notifications(`customerId=${customer}`);
          return list.filter((n) => n.channel === 'SMS').length >= orders.length && list;
        }, timeout)) ?? (await a.notifications(`customerId=${customer}`));
      const statuses = tally(orders.map((x) => x.status)).map(([s, n]) => `${n} ${s}`).join(', ');
      const failureRate = orders.length === 0 ? 0 : (100 * cancelled.length) / orders.length;
      say(`${ids.length} orders placed: ${statuses} — payment failure rate ${failureRate.toFixed(0)} %`);
      for (const [reason, n] of tally(cancelled.map((x) => statusReason(x) ?? '?'))) say(`  ${n} × CANCELLED: ${reason}`);
      say(stockLine(before, after) + (cancelled.length > 0 ? `  (the ${cancelled.length} failed orders' stock released)` : ''));
      say(`payments: ${tally(payments.map((p) => `${p.type} ${p.status}`)).map(([s, n]) => `${n} × ${s}`).join(', ') || 'none'}`);
      say(`notifications: ${notifications.length} sent`);
      for (const line of notificationSummary(notifications)) say(`  ${line}`);
      expect(orders.length === ids.length && orders.every((x) => x.status === 'CONFIRMED' || x.status === 'CANCELLED'), `not every order ended CONFIRMED or CANCELLED (${statuses})`);
      expect(cancelled.every((x) => statusReason(x)?.startsWith('payment failed') === true), 'an order was cancelled for another reason than its payment');
      expect(payments.filter((p) => p.type === 'CHARGE' && p.status === 'SUCCEEDED').length === confirmed, 'the successful charges are not the confirmed orders');
      expect(after.available === before.available - confirmed && after.reserved === before.reserved + confirmed, "the failed orders' stock was not released (or other orders moved it meanwhile)");
    },
  },
  {
    name: () => `Cancel after confirmation: ${MOUSE} Mouse × 1 CONFIRMED, then cancelled → refunded, stock released`,
    async run(a, o, expect, say) {
      const timeout = o.timeoutMs ?? 60_000;
      const before = await a.product(MOUSE);
      const email = 'carol@example.com';
      const id = await a.place('carol', { items: [{ productId: MOUSE, quantity: 1 }], paymentMethod: 'pm_card_ok', customerEmail: email });
      const confirmed = (await terminal(a, id, timeout)) ?? (await a.order(id));
      expect(confirmed.status === 'CONFIRMED', `the order is ${confirmed.status} before the cancel, not CONFIRMED`);
      if (confirmed.status === 'CONFIRMED') await a.cancel(id, 'carol');
      const order = (await until(async () => {
        const x = await a.order(id);
        return x.status === 'CANCELLED' && x;
      }, timeout)) ?? (await a.order(id));
      const payments =
        (await until(async () => {
          const list = await a.payments(id);
          return list.some((p) => p.type === 'REFUND') && list;
        }, timeout)) ?? (await a.payments(id));
      const after =
        (await until(async () => {
          const p = await a.product(MOUSE);
          return p.available === before.available && p.reserved === before.reserved && p;
        }, timeout)) ?? (await a.product(MOUSE));
      const notifications = await notifiedOf(a, id, 'payment-refunded', timeout);
      for (const line of orderLines(order, payments, notifications)) say(line);
      say(stockLine(before, after));
      expect(order.status === 'CANCELLED', `the order is ${order.status}, not CANCELLED`);
      expect(payments.some((p) => p.type === 'REFUND' && p.status === 'SUCCEEDED'), 'no successful refund');
      expect(after.available === before.available && after.reserved === before.reserved, 'the stock was not released');
      expect(notifications.some((n) => n.recipient === email && n.subject?.endsWith('Refunded')), `no "Refunded" email to ${email}`);
    },
  },
];

/** Runs every scenario in turn; one that fails (or cannot run) does not stop the next. */
export async function runScenarios(o: ScenarioOptions): Promise<ScenarioResult[]> {
  const a = api(o);
  const say = o.say;
  // Stock for every scenario: 1 (success) + the batch + 1 (cancel, released again).
  await ensureStock(a, MOUSE, o.orders + 2, say);
  const results: ScenarioResult[] = [];
  for (const [i, scenario] of SCENARIOS.entries()) {
    say('');
    const name = scenario.name(o);
    say(`${i + 1}. ${name}`);
    const failures: string[] = [];
    const indent = (line: string) => say(`   ${line}`);
    try {
      await scenario.run(a, o, (ok, failure) => void (ok || failures.push(failure)), indent);
    } catch (err) {
      failures.push(err instanceof ScenarioError ? err.message : `could not run: ${(err as Error).message}`);
    }
    indent(failures.length === 0 ? 'PASS' : `FAIL: ${failures.join('; ')}`);
    results.push({ name, ok: failures.length === 0, failures });
  }
  return results;
}
