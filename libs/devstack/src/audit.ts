import amqplib from 'amqplib';
import { Client } from 'pg';
import { GATEWAY_CHECK, keptAtGateway, keptMismatches } from './audit-gateway';

/**
 * The invariant auditor: reads every service's state and reports what must never happen —
 * orders that never finish, stock that does not add up, double or unrefunded charges, money the
 * payment gateway kept that the payments do not account for, failed orders still holding stock,
 * events stuck in an outbox (or that no queue takes), parked messages.
 */
export interface AuditOptions {
  /** Database URL per service database (`order`, `inventory`, `payment`, `notification`, …). */
  databases: Map<string, string>;
  /** The payment gateway simulator's ledger database; without it, its check is listed as not run. */
  paymentGatewayDatabase?: string;
  amqpUrl: string;
  topologyPrefix?: string;
  /** An order not terminal this long after it was placed is a violation. */
  orderDeadlineS?: number;
  /** Compensations (refund, release) get this long after an order became terminal. */
  graceS?: number;
  /** Outbox rows unsent for longer than this are a violation. */
  outboxMaxAgeS?: number;
}

export interface Violation {
  check: string;
  count: number;
  examples: string[];
}

export interface AuditReport {
  ok: boolean;
  /** `notRun`: the check could not look (its database not given); it did not pass. */
  checks: Array<{ check: string; ok: boolean; detail: string; notRun?: true }>;
  violations: Violation[];
  figures: {
    orders: Record<string, number>;
    doubleCharged: number;
    oversold: number;
    deadLettered: number;
    notTerminal: number;
    unrefunded: number;
    heldByFailedOrders: number;
    staleOutbox: number;
    /** Outbox rows the broker returned as unroutable: events no queue is bound for. */
    unroutableOutbox: number;
    /** Orders whose money at the payment gateway differs from the payments' (null: not checked). */
    gatewayMismatch: number | null;
  };
}

const DEAD_LETTER_SERVICES = ['order', 'inventory', 'payment', 'notification', 'import-worker'];

async function withClient<T>(url: string | undefined, fn: (c: Client) => Promise<T>): Promise<T | undefined> {
  if (!url) return undefined;
  const c = new Client({ connectionString: url });
  await c.connect();
  try {
    return await fn(c);
  } finally {
    await c.end();
  }
}

export async function audit(o: AuditOptions): Promise<AuditReport> {
  const deadline = o.orderDeadlineS ?? 180;
  const grace = o.graceS ?? 60;
  const outboxAge = o.outboxMaxAgeS ?? 60;
  const checks: AuditReport['checks'] = [];
  const violations: Violation[] = [];
  const check = (name: string, bad: string[], detail: string): number => {
    checks.push({ check: name, ok: bad.length === 0, detail });
    if (bad.length > 0) violations.push({ check: name, count: bad.length, examples: bad.slice(0, 5) });
    return bad.length;
  };
  const notRun = (name: string, detail: string): null => {
    checks.push({ check: name, ok: false, detail, notRun: true });
    return null;
  };

  // Orders and their statuses (the saga's state lives here).
  const orderRows = await withClient(o.databases.get('order'), async (c) => {
    const byStatus = await c.query<{ status: string; n: string }>('SELECT status::text, count(*)::text AS n FROM orders GROUP BY 1');
    const late = await c.query<{ id: string; status: string }>(
      `SELECT id::text, status::text FROM orders WHERE status IN ('PENDING','STOCK_RESERVED') AND created_at < now() - make_interval(secs => $1)`,
      [deadline],
    );
    const settled = await c.query<{ id: string; status: string; total: string }>(
      `SELECT id::text, status::text, total::text FROM orders WHERE status IN ('CONFIRMED','CANCELLED','REJECTED') AND updated_at < now() - make_interval(secs => $1)`,
      [grace],
    );
    return { byStatus: Object.fromEntries(byStatus.rows.map((r) => [r.status, Number(r.n)])), late: late.rows, settled: settled.rows };
  });
  const orders = orderRows ?? { byStatus: {}, late: [], settled: [] };
  const notTerminal = check('every order reaches a terminal status in time', orders.late.map((r) => `${r.id} still ${r.status}`), `deadline ${deadline}s`);

  // Money: at most one successful charge per order; cancelled orders refunded; confirmed orders charged.
  const money = await withClient(o.databases.get('payment'), async (c) =>
    (
      await c.query<{ order_id: string; charges: string; refunds: string; charged: string | null; refunded: string | null; moving: boolean }>(
        `SELECT order_id::text,
                count(*) FILTER (WHERE type = 'CHARGE' AND status = 'SUCCEEDED')::text AS charges,
                count(*) FILTER (WHERE type = 'REFUND' AND status = 'SUCCEEDED')::text AS refunds,
                sum(amount) FILTER (WHERE type = 'CHARGE' AND status = 'SUCCEEDED')::text AS charged,
                sum(amount) FILTER (WHERE type = 'REFUND' AND status = 'SUCCEEDED')::text AS refunded,
                bool_or(updated_at > now() - make_interval(secs => $1)) AS moving
           FROM payments GROUP BY order_id`,
        [grace],
      )
    ).rows,
  );
  const payments = new Map(
    (money ?? []).map((r) => [r.order_id, { charges: Number(r.charges), refunds: Number(r.refunds), charged: Number(r.charged ?? 0), refunded: Number(r.refunded ?? 0), moving: r.moving }]),
  );
  const doubleCharged = check(
    'no order is charged more than once',
    [...payments].filter(([, p]) => p.charges > 1 || p.refunds > 1).map(([id, p]) => `${id}: ${p.charges} charges, ${p.refunds} refunds`),
    'successful CHARGE and REFUND records per order',
  );
  const unrefunded = money
    ? check(
        'money balances: cancelled and rejected orders are refunded, confirmed orders charged their total',
        orders.settled.flatMap((r) => {
          const p = payments.get(r.id) ?? { charges: 0, refunds: 0, charged: 0, refunded: 0 };
          // Kept, not charged: a confirmed order whose money was given back is not paid for.
          if (r.status === 'CONFIRMED' && (p.charges !== 1 || Math.abs(p.charged - p.refunded - Number(r.total)) > 0.005)) {
            return [`${r.id} CONFIRMED but kept ${p.charged - p.refunded} of ${r.total} (charged ${p.charged}, refunded ${p.refunded})`];
          }
          if (r.status !== 'CONFIRMED' && p.charged - p.refunded > 0.005) return [`${r.id} ${r.status} but ${p.charged - p.refunded} kept`];
          return [];
        }),
        `orders terminal for more than ${grace}s`,
      )
    : 0;

  // Money at the payment gateway: its own ledger, order by order, against the payments.
  const atGateway = await withClient(o.paymentGatewayDatabase, (c) => keptAtGateway(c, grace));
  const gatewayMismatch =
    atGateway && money
      ? check(
          GATEWAY_CHECK,
          keptMismatches(atGateway, new Map([...payments].map(([id, p]) => [id, { kept: p.charged - p.refunded, moving: p.moving }]))),
          `charges minus refunds, orders whose money last moved more than ${grace}s ago`,
        )
      : notRun(GATEWAY_CHECK, atGateway ? 'not run: no payment database' : 'not run: no payment gateway database given');

  // Stock: reserved is exactly what live reservations hold, nothing is negative, failed orders hold nothing.
  const stock = await withClient(o.databases.get('inventory'), async (c) => ({
    products: (
      await c.query<{ id: string; available: number; reserved: number; held: string }>(
        `SELECT p.id, p.available, p.reserved, coalesce(sum(r.quantity) FILTER (WHERE r.status = 'RESERVED'), 0)::text AS held
           FROM products p LEFT JOIN reservations r ON r.product_id = p.id GROUP BY p.id`,
      )
    ).rows,
    held: (await c.query<{ order_id: string; held: string }>(`SELECT order_id::text, sum(quantity)::text AS held FROM reservations WHERE status = 'RESERVED' GROUP BY order_id`)).rows,
  }));
  const oversold = stock
    ? check(
        'stock is conserved and never oversold (reserved = live reservations, nothing negative)',
        stock.products.filter((p) => p.available < 0 || p.reserved < 0 || p.reserved !== Number(p.held)).map((p) => `${p.id}: available ${p.available}, reserved ${p.reserved}, held by reservations ${p.held}`),
        `${stock.products.length} products`,
      )
    : 0;
  const holding = new Map((stock?.held ?? []).map((r) => [r.order_id, Number(r.held)]));
  const heldByFailedOrders = stock
    ? check(
        'rejected and cancelled orders hold no reservation; confirmed orders hold theirs',
        orders.settled.flatMap((r) => {
          const held = holding.get(r.id) ?? 0;
          if (r.status !== 'CONFIRMED' && held > 0) return [`${r.id} ${r.status} still holds ${held}`];
          if (r.status === 'CONFIRMED' && held === 0) return [`${r.id} CONFIRMED but holds no stock`];
          return [];
        }),
        `orders terminal for more than ${grace}s`,
      )
    : 0;

  // Outboxes: nothing waits to be published for long.
  const stale: string[] = [];
  for (const [name, url] of o.databases) {
    const rows = await withClient(url, async (c) =>
      (await c.query<{ n: string; oldest: string | null }>(`SELECT count(*)::text AS n, min(created_at)::text AS oldest FROM outbox_events WHERE created_at < now() - make_interval(secs => $1)`, [outboxAge])).rows,
    ).catch(() => undefined);
    const n = Number(rows?.[0]?.n ?? 0);
    if (n > 0) stale.push(`${name}: ${n} unsent since ${rows?.[0]?.oldest}`);
  }
  const staleOutbox = check('no event waits in an outbox', stale, `older than ${outboxAge}s`);

  // Events the broker returned (published mandatory, no queue bound): they wait in the outbox
  // for a binding, however young; each group names what is missing.
  const unroutable: string[] = [];
  let unroutableOutbox = 0;
  for (const [name, url] of o.databases) {
    const groups = await withClient(url, async (c) =>
      (
        await c.query<{ event_type: string | null; exchange: string; routing_key: string; n: string; since: string; attempts: number; last_error: string | null }>(
          `SELECT envelope::jsonb->>'eventType' AS event_type, exchange, routing_key, count(*)::text AS n, min(created_at)::text AS since,
                  max(attempts) AS attempts, (array_agg(last_error ORDER BY id DESC))[1] AS last_error
             FROM outbox_events WHERE attempts > 0 GROUP BY 1, 2, 3 ORDER BY min(created_at)`,
        )
      ).rows,
    ).catch(() => undefined);
    for (const g of groups ?? []) {
      unroutableOutbox += Number(g.n);
      unroutable.push(
        `${name}: ${g.n} ${g.event_type ?? '?'} event(s) to exchange ${g.exchange}, routing key ${g.routing_key}, unroutable, waiting since ${g.since} (up to ${g.attempts} attempts; ${g.last_error ?? 'returned'}): no queue is bound for them`,
      );
    }
  }
  check('no event is unroutable (returned by the broker: no queue bound for it)', unroutable, 'outbox rows the broker returned');

  // Dead letters: every parked message is a failure someone must look at.
  const parked: string[] = [];
  let deadLettered = 0;
  const conn = await amqplib.connect(o.amqpUrl);
  try {
    for (const service of DEAD_LETTER_SERVICES) {
      const ch = await conn.createChannel();
      ch.on('error', () => undefined);
      try {
        const { messageCount } = await ch.checkQueue(`${o.topologyPrefix ?? ''}${service}.dead-letter`);
        deadLettered += messageCount;
        if (messageCount > 0) parked.push(`${service}: ${messageCount} parked (GET /api/dead-letters/${service})`);
        await ch.close();
      } catch {
        // No such queue: that service has never run here.
      }
    }
  } finally {
    await conn.close();
  }
  check('no message is parked in a dead-letter queue', parked, 'dead-letter queue depths');

  return {
    ok: violations.length === 0,
    checks,
    violations,
    figures: { orders: orders.byStatus, doubleCharged, oversold, deadLettered, notTerminal, unrefunded, heldByFailedOrders, staleOutbox, unroutableOutbox, gatewayMismatch },
  };
}

/** The report as text, for people. */
export function formatReport(r: AuditReport): string {
  const lines = [
    `orders: ${Object.entries(r.figures.orders).map(([s, n]) => `${s} ${n}`).join(', ') || 'none'}`,
    ...r.checks.map((c) => `${c.notRun ? 'not run' : c.ok ? 'ok  ' : 'FAIL'}  ${c.check} (${c.detail})`),
  ];
  for (const v of r.violations) lines.push('', `${v.check}: ${v.count} violation(s)`, ...v.examples.map((e) => `  - ${e}`));
  const notRun = r.checks.filter((c) => c.notRun).length;
  lines.push('', r.ok ? 'audit passed: no invariant is violated' : `audit FAILED: ${r.violations.length} invariant(s) violated`);
  if (notRun > 0) lines.push(`(${notRun} check(s) not run: see above)`);
  return lines.join('\n');
}
