import { randomUUID } from 'node:crypto';
import { Client } from 'pg';
import { cloneDatabase } from '@orderflow/testkit';

type Database = 'order' | 'inventory' | 'payment';
type Row = Record<string, unknown>;

/**
 * The CHECK constraints of the migrations (Prisma's schema language cannot declare them): the
 * database itself refuses negative stock, quantities and money, whatever code writes the row.
 * Each case inserts a valid row first (so a refusal is the constraint's, not a missing column's).
 */
describe('CHECK constraints: the databases refuse negative stock, quantities and amounts (real PostgreSQL)', () => {
  const clients = new Map<Database, Client>();
  const drops: Array<() => Promise<void>> = [];

  beforeAll(async () => {
    for (const database of ['order', 'inventory', 'payment'] as const) {
      const db = await cloneDatabase(database);
      drops.push(db.drop);
      const client = new Client({ connectionString: db.url });
      await client.connect();
      clients.set(database, client);
    }
  });
  afterAll(async () => {
    for (const c of clients.values()) await c.end();
    for (const drop of drops) await drop();
  });

  const now = new Date();
  const rows: Record<string, { database: Database; row: () => Row }> = {
    products: { database: 'inventory', row: () => ({ id: `P-${randomUUID()}`, name: 'Widget', price: 1, available: 1, reserved: 0, updated_at: now }) },
    reservations: { database: 'inventory', row: () => ({ order_id: randomUUID(), product_id: 'P-1', quantity: 1, status: 'RESERVED', updated_at: now }) },
    stock_adjustments: { database: 'inventory', row: () => ({ product_id: 'P-1', delta: 1, reason: 'restock', adjusted_by: 'ops', available_after: 1 }) },
    orders: { database: 'order', row: () => ({ id: randomUUID(), customer_id: 'alice', status: 'PENDING', payment_method: 'pm_card_ok', total: 0, updated_at: now }) },
    order_lines: { database: 'order', row: () => ({ order_id: randomUUID(), line_no: 0, product_id: 'P-1', quantity: 1, unit_price: 0 }) },
    payments: { database: 'payment', row: () => ({ id: randomUUID(), order_id: randomUUID(), customer_id: 'alice', type: 'CHARGE', status: 'SUCCEEDED', amount: 0, updated_at: now }) },
  };

  const insert = (table: string, row: Row) => {
    const { database } = rows[table]!;
    const columns = Object.keys(row);
    return clients.get(database)!.query(`INSERT INTO ${table} (${columns.join(', ')}) VALUES (${columns.map((_, i) => `$${i + 1}`).join(', ')})`, Object.values(row));
  };

  it.each([
    ['products', { available: -1 }, 'products_available_non_negative'],
    ['products', { reserved: -1 }, 'products_reserved_non_negative'],
    ['products', { price: -0.01 }, 'products_price_non_negative'],
    ['reservations', { quantity: 0 }, 'reservations_quantity_positive'],
    ['reservations', { quantity: -2 }, 'reservations_quantity_positive'],
    ['stock_adjustments', { delta: 0 }, 'stock_adjustments_delta_non_zero'],
    ['stock_adjustments', { available_after: -1 }, 'stock_adjustments_available_after_non_negative'],
    ['orders', { total: -0.01 }, 'orders_total_non_negative'],
    ['order_lines', { quantity: 0 }, 'order_lines_quantity_positive'],
    ['order_lines', { unit_price: -1 }, 'order_lines_unit_price_non_negative'],
    ['payments', { amount: -5 }, 'payments_amount_non_negative'],
  ])('%s: %j is refused by %s', async (table, bad, constraint) => {
    await expect(insert(table, rows[table]!.row())).resolves.toMatchObject({ rowCount: 1 });
    await expect(insert(table, { ...rows[table]!.row(), ...bad })).rejects.toMatchObject({ code: '23514', constraint });
  });

  it('every CHECK constraint is validated: the rows that existed before it were checked too', async () => {
    for (const [database, client] of clients) {
      const { rows: checks } = await client.query<{ name: string; validated: boolean }>(
        `SELECT conname AS name, convalidated AS validated FROM pg_constraint WHERE contype = 'c' AND connamespace = 'public'::regnamespace ORDER BY 1`,
      );
      expect({ database, notValidated: checks.filter((c) => !c.validated).map((c) => c.name) }).toEqual({ database, notValidated: [] });
      expect(checks.length).toBeGreaterThan(0);
    }
  });
});
