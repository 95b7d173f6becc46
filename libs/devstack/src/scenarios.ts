/**
 * The classic scenarios of the order-saga systems Orderflow replaces (their READMEs' "testing
 * scenarios"; docs/contract.md), run through the gateway against a running
 * system: a successful order, insufficient inventory, a batch showing the payment failure rate
 * with its compensations, and a cancel after confirmation. Each prints what their users look
 * at — the orders' outcomes, the stock before and after, the payments and the notifications
 * sent — and says whether it ended as expected.
 */
import { api, type Api, ensureStock, mapLimited, money, type Notification, notificationSummary, orderLines, type Payment, ScenarioError, type ScenarioOptions, type ScenarioResult, statusReason, stockLine, tally, TERMINAL, until } from './scenario-kit';

export { gatewayCall, type Answer, type Call, type ScenarioOptions, type ScenarioResult } from './scenario-kit';

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
