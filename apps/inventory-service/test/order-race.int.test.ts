import { randomUUID } from 'node:crypto';
import type { Pool } from 'pg';
import { AppError, categorize } from '@orderflow/errors';
import { pgTransactions } from '@orderflow/db';
import { pooledDatabase } from '@orderflow/testkit';
import { insertOrderStatuses, lockKnownOrders } from '../src/store';

describe('two reservation passes for the same new order at once (real PostgreSQL)', () => {
  let pool: Pool;
  let close: () => Promise<void>;
  beforeAll(async () => {
    ({ pool, close } = await pooledDatabase('inventory'));
  });
  afterAll(() => close());

  it('the second one fails transiently (its batch is retried) and the order keeps the first decision', async () => {
    const orderId = randomUUID();
    const transaction = pgTransactions(pool);
    let releaseFirst!: () => void;
    const firstHolds = new Promise<void>((r) => (releaseFirst = r));
    let firstWrote!: () => void;
    const written = new Promise<void>((r) => (firstWrote = r));

    const first = transaction(async (tx) => {
      expect((await lockKnownOrders(tx, [orderId])).size).toBe(0);
      await insertOrderStatuses(tx, [{ orderId, status: 'RESERVED', reason: null }]);
      firstWrote();
      await firstHolds;
    });
    await written;
    const second = transaction(async (tx) => {
      // The first transaction has not committed: the order looks new here too.
      expect((await lockKnownOrders(tx, [orderId])).size).toBe(0);
      await insertOrderStatuses(tx, [{ orderId, status: 'FAILED', reason: 'out of stock' }]);
    });
    setTimeout(releaseFirst, 200);
    await first;
    const failure = await second.catch((err: unknown) => err);
    expect(failure).toBeInstanceOf(AppError);
    expect(categorize(failure)).toBe('transient');
    expect((failure as AppError).code).toBe('INVENTORY.ORDER_RACE');
    const { rows } = await pool.query('SELECT status FROM order_stock WHERE order_id = $1', [orderId]);
    expect(rows).toEqual([{ status: 'RESERVED' }]);
  });
});
