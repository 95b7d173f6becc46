import { Client } from 'pg';
import { cloneDatabase } from '@orderflow/testkit';

/**
 * What the migrations set that the Prisma schemas cannot say (Prisma models neither column
 * collations nor index predicates, so a later migration could drop them unnoticed).
 */
describe('storage settings the migrations make (real PostgreSQL)', () => {
  const inspect = async <T>(database: 'order' | 'inventory' | 'notification', sql: string): Promise<T[]> => {
    const db = await cloneDatabase(database);
    const client = new Client({ connectionString: db.url });
    try {
      await client.connect();
      return (await client.query(sql)).rows as T[];
    } finally {
      await client.end();
      await db.drop();
    }
  };
  const collations = (database: 'order' | 'inventory' | 'notification', columns: string[]) =>
    inspect<{ col: string; collation: string }>(
      database,
      `SELECT c.relname || '.' || a.attname AS col, coalesce(co.collname, 'default') AS collation
         FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid LEFT JOIN pg_collation co ON co.oid = a.attcollation AND a.attcollation <> 100
        WHERE c.relname || '.' || a.attname IN (${columns.map((x) => `'${x}'`).join(', ')}) ORDER BY 1`,
    );

  it.each([
    ['order', ['orders.customer_id', 'orders.idempotency_key', 'orders.order_ref']],
    ['inventory', ['products.id', 'reservations.product_id']],
    ['notification', ['notifications.customer_id']],
  ] as const)('%s: identifier columns in indexes compare bytes (collation "C"), not the locale', async (database, columns) => {
    expect(await collations(database, [...columns])).toEqual(columns.map((col) => ({ col, collation: 'C' })));
  });

  it('order: only orders with an Idempotency-Key have an entry in its unique index', async () => {
    const [index] = await inspect<{ unique: boolean; predicate: string }>(
      'order',
      `SELECT i.indisunique AS unique, pg_get_expr(i.indpred, i.indrelid) AS predicate FROM pg_index i
        WHERE i.indexrelid = 'orders_customer_id_idempotency_key_key'::regclass`,
    );
    expect(index).toEqual({ unique: true, predicate: '(idempotency_key IS NOT NULL)' });
  });
});
