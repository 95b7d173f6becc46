import { randomUUID } from 'node:crypto';
import type { Pool } from 'pg';
import { AppError, categorize } from '@orderflow/errors';
import { pgTransactions } from '@orderflow/db';
import { pooledDatabase } from '@orderflow/testkit';
import { insertChunkOrders, type ImportedOrder } from '../src/import-store';

describe('the same orderRefs imported by two chunks at once (real PostgreSQL)', () => {
  let pool: Pool;
  let close: () => Promise<void>;
  beforeAll(async () => {
    ({ pool, close } = await pooledDatabase('order'));
  });
  afterAll(() => close());

  const order = (orderRef: string): ImportedOrder => ({
    id: randomUUID(),
    orderRef,
    customerId: 'race',
    paymentMethod: 'pm_card_ok',
    total: 3,
    items: [{ productId: 'P1', quantity: 1, unitPrice: 3 }],
  });
  const count = async (sql: string, ...params: unknown[]) => Number((await pool.query<{ n: string }>(sql, params)).rows[0]!.n);

  it('the second chunk fails transiently and rolls back whole; retried, it finds the orders and creates nothing', async () => {
    const transaction = pgTransactions(pool);
    const refs = ['RACE-1', 'RACE-2'];
    const at = new Date();
    const [a, b] = [randomUUID(), randomUUID()];
    let releaseFirst!: () => void;
    const firstHolds = new Promise<void>((r) => (releaseFirst = r));
    let firstWrote!: () => void;
    const written = new Promise<void>((r) => (firstWrote = r));

    const first = transaction(async (tx) => {
      expect((await insertChunkOrders(tx, { importId: a, chunkNo: 0, orders: refs.map(order) }, at)).created.map((o) => o.orderRef)).toEqual(refs);
      firstWrote();
      await firstHolds;
    });
    await written;
    // Not committed yet: the second transaction's look-up does not see the first one's orders.
    const second = transaction((tx) => insertChunkOrders(tx, { importId: b, chunkNo: 0, orders: [order('RACE-0'), ...refs.map(order)] }, at));
    setTimeout(releaseFirst, 200);
    await first;
    const failure = await second.catch((err: unknown) => err);
    expect(failure).toBeInstanceOf(AppError);
    expect(categorize(failure)).toBe('transient');
    expect((failure as AppError).code).toBe('IMPORT.ORDER_RACE');
    // Nothing of the second chunk stayed: not its claim, not RACE-0.
    expect(await count('SELECT count(*) AS n FROM import_chunks WHERE import_id = $1', b)).toBe(0);
    expect(await count(`SELECT count(*) AS n FROM orders WHERE order_ref = 'RACE-0'`)).toBe(0);

    const retried = await transaction((tx) => insertChunkOrders(tx, { importId: b, chunkNo: 0, orders: [order('RACE-0'), ...refs.map(order)] }, at));
    expect(retried.applied).toBe(true);
    expect(retried.created.map((o) => o.orderRef)).toEqual(['RACE-0']);
    expect(await count(`SELECT count(*) AS n FROM orders WHERE order_ref LIKE 'RACE-%'`)).toBe(3);
    expect(await count(`SELECT count(*) AS n FROM order_lines l JOIN orders o ON o.id = l.order_id WHERE o.order_ref LIKE 'RACE-%'`)).toBe(3);
    expect(await count(`SELECT count(*) AS n FROM order_deadlines d JOIN orders o ON o.id = d.order_id WHERE o.order_ref LIKE 'RACE-%'`)).toBe(3);
  });

  it('a chunk that repeats an orderRef creates that order once (the first one)', async () => {
    const importId = randomUUID();
    const first = order('DUP-1');
    const again = { ...order('DUP-1'), total: 99 };
    const result = await pgTransactions(pool)((tx) => insertChunkOrders(tx, { importId, chunkNo: 0, orders: [first, again] }, new Date()));
    expect(result.created).toEqual([first]);
    const { rows } = await pool.query(`SELECT id::text, total::float8 AS total FROM orders WHERE order_ref = 'DUP-1'`);
    expect(rows).toEqual([{ id: first.id, total: 3 }]);
  });
});
