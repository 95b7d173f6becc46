import { randomUUID } from 'node:crypto';
import { Client } from 'pg';
import { AMQP_URL, cloneDatabase, uniquePrefix } from '@orderflow/testkit';
import { audit, formatReport } from '../src';

type Db = Awaited<ReturnType<typeof cloneDatabase>>;

async function exec(db: Db, sql: string, params: unknown[] = []): Promise<void> {
  const c = new Client({ connectionString: db.url });
  await c.connect();
  try {
    await c.query(sql, params);
  } finally {
    await c.end();
  }
}

describe('the invariant auditor (real PostgreSQL and RabbitMQ)', () => {
  const dbs: Record<string, Db> = {};
  const databases = () => new Map(Object.entries(dbs).map(([k, v]) => [k, v.url]));
  const old = "now() - interval '10 minutes'";

  beforeEach(async () => {
    for (const name of ['order', 'inventory', 'payment']) dbs[name] = await cloneDatabase(name);
  });
  afterEach(async () => {
    for (const db of Object.values(dbs)) await db.drop();
  });

  const order = (id: string, status: string, total = 10) =>
    exec(dbs.order!, `INSERT INTO orders (id, customer_id, status, payment_method, total, created_at, updated_at) VALUES ($1, 'c', $2, 'pm_card_ok', $3, ${old}, ${old})`, [id, status, total]);
  const payment = (orderId: string, type: string, status: string, amount = 10) =>
    exec(dbs.payment!, `INSERT INTO payments (id, order_id, customer_id, type, status, amount, updated_at) VALUES ($1, $2, 'c', $3, $4, $5, now())`, [randomUUID(), orderId, type, status, amount]);
  const reservation = (orderId: string, productId: string, quantity: number, status: string) =>
    exec(dbs.inventory!, `INSERT INTO reservations (order_id, product_id, quantity, status, updated_at) VALUES ($1, $2, $3, $4, now())`, [orderId, productId, quantity, status]);
  const product = (id: string, available: number, reserved: number) =>
    exec(dbs.inventory!, `INSERT INTO products (id, name, price, available, reserved, updated_at) VALUES ($1, $1, 1, $2, $3, now())`, [id, available, reserved]);

  it('a consistent system passes: confirmed and charged, cancelled and refunded, rejected and released', async () => {
    const [confirmed, cancelled, rejected] = [randomUUID(), randomUUID(), randomUUID()];
    await order(confirmed, 'CONFIRMED');
    await order(cancelled, 'CANCELLED');
    await order(rejected, 'REJECTED');
    await payment(confirmed, 'CHARGE', 'SUCCEEDED');
    await payment(cancelled, 'CHARGE', 'SUCCEEDED');
    await payment(cancelled, 'REFUND', 'SUCCEEDED');
    await product('P-OK', 5, 2);
    await reservation(confirmed, 'P-OK', 2, 'RESERVED');
    await reservation(cancelled, 'P-OK', 1, 'RELEASED');
    const report = await audit({ databases: databases(), amqpUrl: AMQP_URL, topologyPrefix: uniquePrefix() });
    expect(formatReport(report)).toContain('audit passed');
    expect(report.ok).toBe(true);
  });

  it('each broken invariant is reported, with an example, and the audit fails', async () => {
    const [stuck, doubled, unrefunded, rejectedHolding] = [randomUUID(), randomUUID(), randomUUID(), randomUUID()];
    await order(stuck, 'PENDING');
    await order(doubled, 'CONFIRMED');
    await order(unrefunded, 'CANCELLED');
    await order(rejectedHolding, 'REJECTED');
    await payment(doubled, 'CHARGE', 'SUCCEEDED');
    // The unique (order, type) constraint stops a second CHARGE row; a second refund-less charge shows as a REFUND pair.
    await payment(doubled, 'REFUND', 'SUCCEEDED');
    await exec(dbs.payment!, `ALTER TABLE payments DROP CONSTRAINT IF EXISTS payments_order_id_type_key; DROP INDEX IF EXISTS payments_order_id_type_key`);
    await payment(doubled, 'CHARGE', 'SUCCEEDED');
    await payment(unrefunded, 'CHARGE', 'SUCCEEDED');
    await product('P-BAD', 3, 5);
    await reservation(rejectedHolding, 'P-BAD', 2, 'RESERVED');
    await exec(dbs.order!, `INSERT INTO outbox_events (event_id, exchange, routing_key, envelope, created_at) VALUES ($1, 'order.events', 'order.created', '{}', ${old})`, [randomUUID()]);
    // Returned by the broker a moment ago (no queue bound): young, but still a violation.
    await exec(
      dbs.inventory!,
      `INSERT INTO outbox_events (event_id, exchange, routing_key, envelope, attempts, next_attempt_at, last_error)
       VALUES ($1, 'inventory.events', 'inventory.reserved', '{"eventType":"inventory.reserved"}', 3, now() + interval '4 seconds', 'returned by the broker: 312 NO_ROUTE')`,
      [randomUUID()],
    );

    const report = await audit({ databases: databases(), amqpUrl: AMQP_URL, topologyPrefix: uniquePrefix() });
    expect(report.ok).toBe(false);
    const failed = Object.fromEntries(report.violations.map((v) => [v.check, v.examples.join(' | ')]));
    expect(failed['every order reaches a terminal status in time']).toContain(stuck);
    expect(failed['no order is charged more than once']).toContain(doubled);
    expect(failed['money balances: cancelled and rejected orders are refunded, confirmed orders charged their total']).toContain(unrefunded);
    expect(failed['stock is conserved and never oversold (reserved = live reservations, nothing negative)']).toContain('P-BAD');
    expect(failed['rejected and cancelled orders hold no reservation; confirmed orders hold theirs']).toContain(rejectedHolding);
    expect(failed['no event waits in an outbox']).toContain('order: 1 unsent');
    expect(failed['no event is unroutable (returned by the broker: no queue bound for it)']).toMatch(
      /^inventory: 1 inventory\.reserved event\(s\) to exchange inventory\.events, routing key inventory\.reserved, unroutable, waiting since \d{4}-.* \(up to 3 attempts; returned by the broker: 312 NO_ROUTE\)/,
    );
    expect(report.figures).toMatchObject({ doubleCharged: 1, oversold: 1, notTerminal: 1, unroutableOutbox: 1 });
    expect(formatReport(report)).toMatch(/audit FAILED/);
  });
});
