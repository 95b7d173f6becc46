import { execFile } from 'node:child_process';
import { cpSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { Client } from 'pg';
import { dropDatabase, ensureDatabase } from '@orderflow/migrate';
import { urlFor, uniqueName } from '@orderflow/testkit';
import { readEvents, verifyProjection } from '../src/rebuild';

const PRISMA = path.resolve(__dirname, '../../../prisma/order');
const MIGRATIONS = path.join(PRISMA, 'migrations');
const EVENT_SOURCING = '20261206145325_order_events';

/**
 * Applies a migrations folder the way `npm run db:migrate` does, in a child process: the wasm
 * schema engine's glue is an ES module, which Jest's CommonJS loader refuses.
 */
async function migrate(url: string, migrationsDir: string): Promise<void> {
  const script = `import('@orderflow/migrate').then((m) => (m.applyMigrations ?? m.default.applyMigrations)(${JSON.stringify({ url, migrationsDir, schemaPath: path.join(PRISMA, 'schema.prisma') })}))`;
  await promisify(execFile)(process.execPath, ['--import', 'tsx', '-e', script], { cwd: path.resolve(__dirname, '../../..') });
}

/**
 * Upgrading an installation: the order_events migration carries the orders' timelines over as
 * their events, and every migrated row is then what its events fold to (what `npm run audit`
 * checks first) — orders confirmed, rejected before any price, cancelled with compensations,
 * imported.
 */
describe('the event-sourcing migration on a database with orders (real PostgreSQL)', () => {
  const url = urlFor(uniqueName('order_upgrade'));
  const before = mkdtempSync(path.join(tmpdir(), 'order-migrations-'));
  let client: Client;

  beforeAll(async () => {
    // The migrations as they were before the event-sourcing one.
    for (const entry of readdirSync(MIGRATIONS)) {
      if (entry >= EVENT_SOURCING && entry !== 'migration_lock.toml') continue;
      cpSync(path.join(MIGRATIONS, entry), path.join(before, entry), { recursive: true });
    }
    await ensureDatabase(url);
    await migrate(url, before);
    client = new Client({ connectionString: url });
    await client.connect();
  }, 60_000);
  afterAll(async () => {
    await client?.end();
    await dropDatabase(url);
    rmSync(before, { recursive: true, force: true });
  });

  it('each order gets its timeline as events, the first an OrderPlaced with its data, and the rows agree with their events', async () => {
    const at = (s: number) => new Date(Date.UTC(2026, 11, 1, 12, 0, s));
    const orders = [
      { id: '00000000-0000-4000-8000-000000000001', status: 'CONFIRMED', total: 50, key: 'k-1', importId: null, ref: null, timeline: [['PENDING', 'order placed'], ['STOCK_RESERVED', 'stock reserved'], ['CONFIRMED', 'payment of 50.00 completed']] },
      { id: '00000000-0000-4000-8000-000000000002', status: 'REJECTED', total: null, key: null, importId: null, ref: null, timeline: [['PENDING', 'order placed'], ['REJECTED', 'insufficient stock for PROD-001 (requested 100, available 10)']] },
      {
        id: '00000000-0000-4000-8000-000000000003', status: 'CANCELLED', total: 20, key: null, importId: null, ref: null,
        timeline: [['PENDING', 'order placed'], ['STOCK_RESERVED', 'stock reserved'], ['CONFIRMED', 'payment of 20.00 completed'], ['CANCELLED', 'cancelled by the customer'], ['CANCELLED', 'stock released (order cancelled)'], ['CANCELLED', 'payment of 20.00 refunded']],
      },
      { id: '00000000-0000-4000-8000-000000000004', status: 'CANCELLED', total: 12.5, key: null, importId: '00000000-0000-4000-8000-0000000000aa', ref: 'R-1', timeline: [['PENDING', 'order imported'], ['STOCK_RESERVED', 'stock reserved'], ['CANCELLED', 'payment failed: card declined'], ['CANCELLED', 'stock released (payment failed: card declined)']] },
    ];
    for (const o of orders) {
      const last = at(o.timeline.length - 1);
      await client.query(
        `INSERT INTO orders (id, customer_id, status, payment_method, total, idempotency_key, import_id, order_ref, created_at, updated_at)
         VALUES ($1, 'alice', $2, 'pm_card_ok', $3, $4, $5, $6, $7, $8)`,
        [o.id, o.status, o.total, o.key, o.importId, o.ref, at(0), last],
      );
      await client.query(`INSERT INTO order_lines (order_id, line_no, product_id, quantity, unit_price) VALUES ($1, 1, 'PROD-002', 2, 25)`, [o.id]);
      for (const [i, [status, reason]] of o.timeline.entries()) {
        await client.query(`INSERT INTO order_status_changes (order_id, status, reason, at) VALUES ($1, $2, $3, $4)`, [o.id, status, reason, at(i)]);
      }
    }

    await migrate(url, MIGRATIONS);

    const sql = {
      $queryRawUnsafe: async <T>(q: string, ...values: unknown[]) => (await client.query(q, values)).rows as T,
      $executeRawUnsafe: async (q: string, ...values: unknown[]) => (await client.query(q, values)).rowCount ?? 0,
    };
    const events = await readEvents(sql, orders.map((o) => o.id));
    expect(events.filter((e) => e.orderId === orders[2]!.id).map((e) => [e.seq, e.type, e.status])).toEqual([
      [1, 'OrderPlaced', 'PENDING'],
      [2, 'StockReserved', 'STOCK_RESERVED'],
      [3, 'PaymentCompleted', 'CONFIRMED'],
      [4, 'OrderCancelled', 'CANCELLED'],
      [5, 'StockReleased', 'CANCELLED'],
      [6, 'PaymentRefunded', 'CANCELLED'],
    ]);
    expect(events.filter((e) => e.orderId === orders[3]!.id).map((e) => e.type)).toEqual(['OrderPlaced', 'StockReserved', 'PaymentFailed', 'StockReleased']);
    expect(events.find((e) => e.orderId === orders[1]!.id && e.seq === 1)!.data).toEqual({ customerId: 'alice', paymentMethod: 'pm_card_ok', total: null });
    expect(events.find((e) => e.orderId === orders[3]!.id && e.seq === 1)!.data).toEqual({ customerId: 'alice', paymentMethod: 'pm_card_ok', total: 12.5, importId: orders[3]!.importId, orderRef: 'R-1' });
    expect(await verifyProjection(sql)).toEqual({ orders: 4, mismatched: 0, examples: [] });
    const versions = await client.query(`SELECT id::text, version FROM orders ORDER BY id`);
    expect(versions.rows.map((r) => r.version)).toEqual(orders.map((o) => o.timeline.length));
    expect((await client.query(`SELECT to_regclass('order_status_changes') AS t`)).rows[0].t).toBeNull();
  }, 60_000);
});
