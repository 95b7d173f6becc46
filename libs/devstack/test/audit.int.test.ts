import { randomUUID } from 'node:crypto';
import { Client } from 'pg';
import { AMQP_URL, cloneDatabase, PG_ADMIN_URL, uniqueName, uniquePrefix, urlFor } from '@orderflow/testkit';
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
    const [stuck, doubled, unrefunded, rejectedHolding, refundedConfirmed] = [randomUUID(), randomUUID(), randomUUID(), randomUUID(), randomUUID()];
    await order(stuck, 'PENDING');
    // Confirmed, but its money was given back: the order says it was paid for.
    await order(refundedConfirmed, 'CONFIRMED');
    await payment(refundedConfirmed, 'CHARGE', 'SUCCEEDED');
    await payment(refundedConfirmed, 'REFUND', 'SUCCEEDED');
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
    expect(failed['money balances: cancelled and rejected orders are refunded, confirmed orders charged their total']).toContain(refundedConfirmed);
    expect(failed['stock is conserved and never oversold (reserved = live reservations, nothing negative)']).toContain('P-BAD');
    expect(failed['rejected and cancelled orders hold no reservation; confirmed orders hold theirs']).toContain(rejectedHolding);
    expect(failed['no event waits in an outbox']).toContain('order: 1 unsent');
    expect(failed['no event is unroutable (returned by the broker: no queue bound for it)']).toMatch(
      /^inventory: 1 inventory\.reserved event\(s\) to exchange inventory\.events, routing key inventory\.reserved, unroutable, waiting since \d{4}-.* \(up to 3 attempts; returned by the broker: 312 NO_ROUTE\)/,
    );
    expect(report.figures).toMatchObject({ doubleCharged: 1, oversold: 1, notTerminal: 1, unroutableOutbox: 1 });
    expect(formatReport(report)).toMatch(/audit FAILED/);
  });

  describe("against the payment gateway's ledger", () => {
    const GATEWAY_CHECK = 'the payment gateway kept what the payments say, order by order';
    let ledgerUrl: string;
    let ledgerName: string;
    const admin = async (sql: string): Promise<void> => {
      const c = new Client({ connectionString: PG_ADMIN_URL });
      await c.connect();
      try {
        await c.query(sql);
      } finally {
        await c.end();
      }
    };
    // The simulator creates its ledger itself (apps/payment-gateway/src/ledger-schema.ts), and a
    // lib may not import an app: the columns the audit reads are declared here, with their kinds and statuses.
    beforeEach(async () => {
      ledgerName = uniqueName('payment_gateway');
      ledgerUrl = urlFor(ledgerName);
      await admin(`CREATE DATABASE "${ledgerName}"`);
      const c = new Client({ connectionString: ledgerUrl });
      await c.connect();
      await c.query(`CREATE TABLE gateway_ledger (
        idempotency_key text PRIMARY KEY,
        kind text NOT NULL CHECK (kind IN ('charge', 'refund')),
        order_id text NOT NULL,
        amount numeric(14, 2) NOT NULL CHECK (amount >= 0),
        charge_key text,
        status text NOT NULL CHECK (status IN ('approved', 'declined', 'pending', 'voided', 'refunded')),
        updated_at timestamptz NOT NULL DEFAULT now(),
        CHECK ((kind = 'refund') = (charge_key IS NOT NULL)))`);
      await c.end();
    });
    afterEach(() => admin(`DROP DATABASE IF EXISTS "${ledgerName}" WITH (FORCE)`));

    /** A ledger row as the simulator writes it: `charge:<order>`, its refund `refund:<order>`. */
    const atGateway = async (orderId: string, kind: 'charge' | 'refund', status: string, amount = 10, at = old): Promise<void> => {
      const c = new Client({ connectionString: ledgerUrl });
      await c.connect();
      try {
        await c.query(`INSERT INTO gateway_ledger (idempotency_key, kind, order_id, amount, charge_key, status, updated_at) VALUES ($1, $2, $3, $4, $5, $6, ${at})`, [
          `${kind}:${orderId}`,
          kind,
          orderId,
          amount,
          kind === 'refund' ? `charge:${orderId}` : null,
          status,
        ]);
      } finally {
        await c.end();
      }
    };
    const settledPayment = (orderId: string, type: string, status: string, amount = 10) =>
      exec(dbs.payment!, `INSERT INTO payments (id, order_id, customer_id, type, status, amount, updated_at) VALUES ($1, $2, 'c', $3, $4, $5, ${old})`, [randomUUID(), orderId, type, status, amount]);

    it('when the gateway kept what the payments say, order by order, the check passes (money still moving is not judged yet)', async () => {
      const [confirmed, cancelled, declined, voided, moving] = [randomUUID(), randomUUID(), randomUUID(), randomUUID(), randomUUID()];
      await order(confirmed, 'CONFIRMED');
      await settledPayment(confirmed, 'CHARGE', 'SUCCEEDED');
      await atGateway(confirmed, 'charge', 'approved');
      await product('P-GW', 5, 1);
      await reservation(confirmed, 'P-GW', 1, 'RESERVED');
      await order(cancelled, 'CANCELLED');
      await settledPayment(cancelled, 'CHARGE', 'SUCCEEDED');
      await settledPayment(cancelled, 'REFUND', 'SUCCEEDED');
      await atGateway(cancelled, 'charge', 'approved');
      await atGateway(cancelled, 'refund', 'refunded');
      await order(declined, 'REJECTED');
      await settledPayment(declined, 'CHARGE', 'FAILED');
      await atGateway(declined, 'charge', 'declined');
      // Cancelled before its charge: the payment row and the gateway's tombstone both voided.
      await order(voided, 'CANCELLED');
      await settledPayment(voided, 'CHARGE', 'VOIDED');
      await atGateway(voided, 'charge', 'voided');
      // Approved a moment ago, its answer on its way to the payment service: not yet a mismatch.
      await atGateway(moving, 'charge', 'approved', 10, 'now()');

      const report = await audit({ databases: databases(), paymentGatewayDatabase: ledgerUrl, amqpUrl: AMQP_URL, topologyPrefix: uniquePrefix() });
      expect(report.checks.find((c) => c.check === GATEWAY_CHECK)).toMatchObject({ ok: true });
      expect(report.figures.gatewayMismatch).toBe(0);
      expect(report.violations).toEqual([]);
      expect(report.ok).toBe(true);
    });

    it('when the gateway kept money the payments do not account for, the check fails naming each order', async () => {
      const [neverCharged, refundMissing, unknown, refundUnrecorded] = [randomUUID(), randomUUID(), randomUUID(), randomUUID()];
      // The payment service voided the charge, but the gateway had approved it (an answer lost).
      await order(neverCharged, 'CANCELLED');
      await settledPayment(neverCharged, 'CHARGE', 'VOIDED');
      await atGateway(neverCharged, 'charge', 'approved');
      // Refunded, the payments say; the gateway never made the refund.
      await order(refundMissing, 'CANCELLED');
      await settledPayment(refundMissing, 'CHARGE', 'SUCCEEDED');
      await settledPayment(refundMissing, 'REFUND', 'SUCCEEDED');
      await atGateway(refundMissing, 'charge', 'approved');
      // Money at the gateway for an order the payments have no row for.
      await atGateway(unknown, 'charge', 'approved', 7);
      // Confirmed and charged, the payments say; the gateway refunded the charge.
      await order(refundUnrecorded, 'CONFIRMED');
      await settledPayment(refundUnrecorded, 'CHARGE', 'SUCCEEDED');
      await atGateway(refundUnrecorded, 'charge', 'approved');
      await atGateway(refundUnrecorded, 'refund', 'refunded');
      await product('P-GW', 5, 1);
      await reservation(refundUnrecorded, 'P-GW', 1, 'RESERVED');

      const report = await audit({ databases: databases(), paymentGatewayDatabase: ledgerUrl, amqpUrl: AMQP_URL, topologyPrefix: uniquePrefix() });
      // Every other check passes: only the gateway's ledger shows the money.
      expect(report.violations.map((v) => v.check)).toEqual([GATEWAY_CHECK]);
      const examples = report.violations[0]!.examples;
      expect(examples).toEqual(
        expect.arrayContaining([
          `${neverCharged}: the gateway kept 10, the payments say 0`,
          `${refundMissing}: the gateway kept 10, the payments say 0`,
          `${unknown}: the gateway kept 7, the payments have no row for it`,
          `${refundUnrecorded}: the gateway kept 0, the payments say 10`,
        ]),
      );
      expect(report.figures.gatewayMismatch).toBe(4);
      expect(report.ok).toBe(false);
      expect(formatReport(report)).toContain(`FAIL  ${GATEWAY_CHECK}`);
    });

    it('without the gateway database the check is listed as not run, never as passed', async () => {
      const report = await audit({ databases: databases(), amqpUrl: AMQP_URL, topologyPrefix: uniquePrefix() });
      expect(report.checks.find((c) => c.check === GATEWAY_CHECK)).toEqual({ check: GATEWAY_CHECK, ok: false, notRun: true, detail: expect.stringMatching(/^not run: no payment gateway database/) });
      expect(report.figures.gatewayMismatch).toBeNull();
      expect(formatReport(report)).toContain(`not run  ${GATEWAY_CHECK}`);
    });
  });
});
