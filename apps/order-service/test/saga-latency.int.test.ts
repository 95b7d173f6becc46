import { randomUUID } from 'node:crypto';
import type { Pool } from 'pg';
import { pgStatements } from '@orderflow/db';
import { pooledDatabase } from '@orderflow/testkit';
import { sagaLatency } from '../src/admin/metrics-summary';

const minutes = (n: number): number => n * 60_000;

/** One order and its timeline, written as the order service writes them: placement, then each event at its time. */
async function order(pool: Pool, o: { placedAt: number; importId?: string; events: Array<[type: string, status: string, at: number]> }): Promise<void> {
  const id = randomUUID();
  const final = o.events.at(-1)?.[1] ?? 'PENDING';
  await pool.query(
    `INSERT INTO orders (id, customer_id, status, payment_method, import_id, created_at, updated_at, version) VALUES ($1, 'c', $2, 'pm_card_ok', $3, $4, $4, $5)`,
    [id, final, o.importId ?? null, new Date(o.placedAt), o.events.length + 1],
  );
  const placed = o.importId ? { importId: o.importId } : {};
  await pool.query(`INSERT INTO order_events (order_id, seq, type, status, reason, data, at) VALUES ($1, 1, 'OrderPlaced', 'PENDING', 'order placed', $2, $3)`, [id, placed, new Date(o.placedAt)]);
  for (const [i, [type, status, at]] of o.events.entries()) {
    await pool.query(`INSERT INTO order_events (order_id, seq, type, status, reason, at) VALUES ($1, $2, $3, $4, 'test', $5)`, [id, i + 2, type, status, new Date(at)]);
  }
}

describe("the saga's percentiles of GET /api/admin/metrics (real PostgreSQL)", () => {
  let db: Awaited<ReturnType<typeof pooledDatabase>>;
  beforeAll(async () => {
    db = await pooledDatabase('order');
  });
  afterAll(() => db?.close());

  it('while an import finishes many orders, the sample still holds every order placed through the API that finished in the window', async () => {
    const at = Date.parse('2026-03-01T12:00:00.000Z');
    await order(db.pool, { placedAt: at - minutes(5), events: [['PaymentCompleted', 'CONFIRMED', at - minutes(5) + 10_000]] });
    await order(db.pool, { placedAt: at - minutes(4), events: [['OrderRejected', 'REJECTED', at - minutes(4) + 20_000]] });
    const importId = randomUUID();
    for (let i = 0; i < 5; i++) await order(db.pool, { placedAt: at - minutes(10), importId, events: [['PaymentCompleted', 'CONFIRMED', at - minutes(1) + i]] });

    const saga = await sagaLatency(pgStatements(db.pool), new Date(at), { sample: 3 });
    expect(saga).toEqual({ windowMinutes: 15, since: new Date(at - minutes(15)).toISOString(), orders: 2, p50: 15, p95: expect.closeTo(19.5, 5), p99: expect.closeTo(19.9, 5) });
  });

  it('when more orders finished in the window than the sample holds, the newest are taken and `since` says how far back they go; a cancel after confirmation is not the end of a saga', async () => {
    const at = Date.parse('2026-03-02T12:00:00.000Z');
    for (const [placed, took] of [[9, 4], [7, 3], [5, 2], [3, 1]] as const) {
      await order(db.pool, { placedAt: at - minutes(placed), events: [['StockReserved', 'STOCK_RESERVED', at - minutes(placed) + 500], ['PaymentCompleted', 'CONFIRMED', at - minutes(placed) + took * 1000]] });
    }
    // Confirmed before the window, cancelled in it: its saga ended long ago.
    await order(db.pool, { placedAt: at - minutes(20), events: [['PaymentCompleted', 'CONFIRMED', at - minutes(19)], ['OrderCancelled', 'CANCELLED', at - minutes(1)]] });
    // Confirmed in the window and cancelled later: counted once, at its confirmation.
    await order(db.pool, { placedAt: at - minutes(2), events: [['PaymentCompleted', 'CONFIRMED', at - minutes(2) + 6_000], ['OrderCancelled', 'CANCELLED', at - 1000]] });

    const saga = await sagaLatency(pgStatements(db.pool), new Date(at), { sample: 3 });
    // The three newest outcomes: 6 s (2 min ago), 1 s (3 min ago), 2 s (5 min ago).
    expect(saga).toEqual({ windowMinutes: 15, since: new Date(at - minutes(5) + 2000).toISOString(), orders: 3, p50: 2, p95: expect.closeTo(5.6, 5), p99: expect.closeTo(5.92, 5) });
    expect(await sagaLatency(pgStatements(db.pool), new Date(at))).toMatchObject({ since: new Date(at - minutes(15)).toISOString(), orders: 5, p50: 3 });
  });
});
