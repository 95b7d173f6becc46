import { Registry } from 'prom-client';
import type { SqlClient } from '@orderflow/db';
import { CANCEL_REASONS, type OrderStatus } from '../src/decide';
import { fold, type OrderNews } from '../src/evolve';
import { NO_CONTACT, type OrderState } from '../src/history';
import { countingTransactions, countImported, countOutcomes, orderMetrics, reasonCode } from '../src/metrics';

const placedAt = Date.parse('2026-01-02T03:04:00Z');
const at = new Date(placedAt + 1500);
const order = (id: string, status: OrderStatus, o: { version?: number; importId?: string } = {}): OrderState => ({
  id,
  status,
  customerId: `c-${id}`,
  total: 20,
  unitPrices: null,
  importId: o.importId ?? null,
  contact: NO_CONTACT,
  version: o.version ?? 1,
  placedAtMs: placedAt,
});

/** A transaction runner without a database: `commits` false makes its COMMIT fail after the work. */
const runner = (commits = true) => async <T>(fn: (tx: SqlClient) => Promise<T>): Promise<T> => {
  const tx = {} as SqlClient;
  const result = await fn(tx);
  if (!commits) throw new Error('commit failed');
  return result;
};

/** The value of one sample of the registry's text (0 when absent). */
async function sample(registry: Registry, line: RegExp): Promise<number> {
  const text = await registry.metrics();
  const hit = text.split('\n').find((l) => line.test(l));
  return hit ? Number(hit.slice(hit.lastIndexOf(' ') + 1)) : 0;
}

/** Folds the news over the states and counts the outcomes in one transaction of `run`, as `transition` does. */
async function transact(run: ReturnType<typeof runner>, registry: Registry, states: OrderState[], news: OrderNews[][]): Promise<void> {
  const before = new Map(states.map((s) => [s.id, s]));
  await countingTransactions(run, orderMetrics(registry))(async (tx) => {
    countOutcomes(tx, fold(before, news, at).history, before);
  });
}

describe('the order service counts outcomes once their transaction commits', () => {
  it('each outcome counts by status and reason code; the saga duration is observed from placement', async () => {
    const registry = new Registry();
    await transact(runner(), registry, [order('a', 'STOCK_RESERVED', { version: 2 }), order('b', 'PENDING'), order('c', 'PENDING')], [
      [{ orderId: 'a', inputs: [{ type: 'payment-completed', amount: 20 }] }],
      [{ orderId: 'b', inputs: [{ type: 'stock-failed', reason: 'insufficient stock for P1 (requested 5, available 1)' }] }],
      [{ orderId: 'c', inputs: [{ type: 'stock-reserved' }, { type: 'payment-failed', reason: 'card declined' }] }],
    ]);
    expect(await sample(registry, /^orderflow_orders_finished_total\{status="CONFIRMED",reason="none"\}/)).toBe(1);
    expect(await sample(registry, /^orderflow_orders_finished_total\{status="REJECTED",reason="INSUFFICIENT_STOCK"\}/)).toBe(1);
    expect(await sample(registry, /^orderflow_orders_finished_total\{status="CANCELLED",reason="PAYMENT_FAILED"\}/)).toBe(1);
    expect(await sample(registry, /^orderflow_saga_duration_seconds_count\{status="CONFIRMED"\}/)).toBe(1);
    expect(await sample(registry, /^orderflow_saga_duration_seconds_sum\{status="CONFIRMED"\}/)).toBe(1.5);
    expect(await sample(registry, /^orderflow_saga_duration_seconds_bucket\{le="1",status="CONFIRMED"\}/)).toBe(0);
    expect(await sample(registry, /^orderflow_saga_duration_seconds_bucket\{le="2.5",status="CONFIRMED"\}/)).toBe(1);
  });

  it('a cancel after confirmation counts as an outcome but is not the end of the saga; a cancel of an open order is', async () => {
    const registry = new Registry();
    await transact(runner(), registry, [order('a', 'CONFIRMED', { version: 3 }), order('b', 'PENDING')], [
      [{ orderId: 'a', inputs: [{ type: 'cancel', reason: CANCEL_REASONS.customer }] }],
      [{ orderId: 'b', inputs: [{ type: 'cancel', reason: CANCEL_REASONS.deadline }] }],
    ]);
    expect(await sample(registry, /^orderflow_orders_finished_total\{status="CANCELLED",reason="CUSTOMER_CANCELLED"\}/)).toBe(1);
    expect(await sample(registry, /^orderflow_orders_finished_total\{status="CANCELLED",reason="DEADLINE_EXPIRED"\}/)).toBe(1);
    expect(await sample(registry, /^orderflow_saga_duration_seconds_count\{status="CANCELLED"\}/)).toBe(1);
  });

  it('a transaction whose commit fails counts nothing; events that decide nothing (a repeated payment) count nothing', async () => {
    const registry = new Registry();
    await expect(transact(runner(false), registry, [order('a', 'PENDING')], [[{ orderId: 'a', inputs: [{ type: 'customer-blocked' }] }]])).rejects.toThrow('commit failed');
    await transact(runner(), registry, [order('a', 'CONFIRMED', { version: 3 })], [[{ orderId: 'a', inputs: [{ type: 'payment-completed', amount: 20 }] }]]);
    expect(await sample(registry, /^orderflow_orders_finished_total\{status="REJECTED"/)).toBe(0);
    expect(await sample(registry, /^orderflow_orders_finished_total\{status="CONFIRMED",reason="none"\}/)).toBe(0);
  });

  it('imported orders count as placed by import and by outcome, outside the saga duration (they wait behind their file)', async () => {
    const registry = new Registry();
    await countingTransactions(runner(), orderMetrics(registry))(async (tx) => countImported(tx, 3));
    await transact(runner(), registry, [order('a', 'PENDING', { importId: 'i' }), order('b', 'PENDING', { importId: 'i' })], [
      [
        { orderId: 'a', inputs: [{ type: 'stock-reserved' }, { type: 'payment-completed', amount: 20 }] },
        { orderId: 'b', inputs: [{ type: 'customer-blocked' }] },
      ],
    ]);
    expect(await sample(registry, /^orderflow_orders_placed_total\{source="import"\}/)).toBe(3);
    expect(await sample(registry, /^orderflow_import_orders_total\{outcome="CONFIRMED"\}/)).toBe(1);
    expect(await sample(registry, /^orderflow_import_orders_total\{outcome="REJECTED"\}/)).toBe(1);
    expect(await sample(registry, /^orderflow_orders_finished_total\{status="REJECTED",reason="CUSTOMER_BLOCKED"\}/)).toBe(1);
    expect(await sample(registry, /^orderflow_saga_duration_seconds_count/)).toBe(0);
  });

  // Inventory's reasons exactly as its decisions write them (apps/inventory-service/test/stock.unit.test.ts
  // pins the same texts; both sides spell the beginnings with STOCK_FAILURE_REASONS of @orderflow/events).
  it.each([
    ['PRICE_MISMATCH: line 2 (A): client price 0.01, catalog price 10.00', 'PRICE_MISMATCH'],
    ['PRICE_MISMATCH: total: client total 2599.99, catalog total 2499.99', 'PRICE_MISMATCH'],
    ['PRICE_MISMATCH: line 1 (A): client price 9.99, catalog price 10.00; unknown product NOPE; insufficient stock for A (requested 2, available 1)', 'PRICE_MISMATCH'],
    ['unknown product NOPE', 'UNKNOWN_PRODUCT'],
    ['insufficient stock for A (requested 2, available 1)', 'INSUFFICIENT_STOCK'],
    ['CUSTOMER_BLOCKED', 'CUSTOMER_BLOCKED'],
    ['something new', 'OTHER'],
  ])('a rejection for "%s" has the reason code %s', (reason, code) => {
    expect(reasonCode({ type: 'OrderRejected', reason })).toBe(code);
  });
});
