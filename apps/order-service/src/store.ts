import { outboxInsert, type OutgoingEvent } from '@orderflow/messaging';
import { type SqlClient, type SqlTx } from '@orderflow/db';
import type { OrderStatus } from './decide';

/** What the saga needs of an order, read under a row lock. */
export interface OrderState {
  id: string;
  status: OrderStatus;
  customerId: string;
  /** Null until the order is priced (a line had no client price and inventory has not priced it yet). */
  total: number | null;
  /** The import that created the order (null for orders placed through the API). */
  importId: string | null;
}

export interface StatusChange {
  orderId: string;
  status: OrderStatus;
  reason: string;
  at: Date;
}

interface StateRow {
  id: string;
  status: OrderStatus;
  customer_id: string;
  total: number | null;
  import_id: string | null;
}
const STATE_COLUMNS = `o.id::text, o.status::text AS status, o.customer_id, o.total::float8 AS total, o.import_id::text`;
const stateOf = (r: StateRow): OrderState => ({ id: r.id, status: r.status, customerId: r.customer_id, total: r.total === null ? null : Number(r.total), importId: r.import_id });

/** Locks the orders (in id order, so concurrent batches cannot deadlock) and returns their state. */
export async function lockOrders(tx: SqlClient, ids: readonly string[]): Promise<Map<string, OrderState>> {
  const rows = await tx.$queryRawUnsafe<StateRow[]>(`SELECT ${STATE_COLUMNS} FROM orders AS o WHERE o.id = ANY($1::uuid[]) ORDER BY o.id FOR UPDATE`, [...ids]);
  return new Map(rows.map((r) => [r.id, stateOf(r)]));
}

/**
 * Claims open orders whose deadline passed: up to `limit` of the interactive ones (last change
 * before `interactiveBefore`) and as many of the open orders of imports not completed (before
 * `importedBefore`), oldest first — two precise ranges of order_deadlines (imported, since).
 * The deadline row and the order row are both locked, SKIP LOCKED: concurrent sweepers claim
 * disjoint orders, and a change that committed meanwhile is seen (a deadline row moves or goes
 * in the same transaction as its order's status).
 */
export async function claimOverdue(tx: SqlClient, o: { interactiveBefore: Date; importedBefore: Date; limit: number }): Promise<OrderState[]> {
  const overdue = `SELECT ${STATE_COLUMNS} FROM order_deadlines d JOIN orders o ON o.id = d.order_id`;
  const interactive = await tx.$queryRawUnsafe<StateRow[]>(
    `${overdue}
      WHERE NOT d.imported AND d.since < $1::timestamptz AND o.status IN ('PENDING', 'STOCK_RESERVED')
      ORDER BY d.since LIMIT $2 FOR UPDATE OF d, o SKIP LOCKED`,
    o.interactiveBefore.toISOString(),
    o.limit,
  );
  const imported = await tx.$queryRawUnsafe<StateRow[]>(
    `${overdue}
      WHERE d.imported AND d.since < $1::timestamptz AND o.status IN ('PENDING', 'STOCK_RESERVED')
        AND o.import_id IN (SELECT id FROM imports WHERE state <> 'COMPLETED')
      ORDER BY d.since LIMIT $2 FOR UPDATE OF d, o SKIP LOCKED`,
    o.importedBefore.toISOString(),
    o.limit,
  );
  return [...interactive, ...imported].map(stateOf);
}

/**
 * Prices an event fixed for an order: inventory's (the catalog total and each line's unit
 * price, in line order) or payment's (the amount charged: the total only).
 */
export interface Pricing {
  orderId: string;
  total: number;
  unitPrices: readonly number[] | null;
}

/**
 * Records prices in ONE statement, whatever the number of orders. Only what differs is written
 * (idempotent): first the lines' unit prices, then the totals — of the orders whose lines
 * changed, and the amounts charged. The prices a client claimed are the catalog's (inventory
 * refuses an order otherwise), so for an imported chunk whose rows all had prices this reads
 * the lines' keys and writes nothing, and reads no order at all. The later pricing of an order
 * in `prices` wins; its lines keep the last unit prices given.
 */
export async function recordPrices(tx: SqlClient, prices: readonly Pricing[]): Promise<void> {
  if (prices.length === 0) return;
  const byOrder = new Map<string, { total: number; unitPrices: readonly number[] | null; charged: boolean }>();
  for (const p of prices) {
    const earlier = byOrder.get(p.orderId);
    byOrder.set(p.orderId, { total: p.total, unitPrices: p.unitPrices ?? earlier?.unitPrices ?? null, charged: p.unitPrices === null || (earlier?.charged ?? false) });
  }
  // In order id order: rows an UPDATE changes are locked as it meets them.
  const orders = [...byOrder].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  const lines = orders.flatMap(([orderId, p]) => (p.unitPrices ?? []).map((unitPrice, i) => ({ orderId, n: i + 1, unitPrice })));
  await tx.$executeRawUnsafe(
    `WITH lines AS (
       UPDATE order_lines AS l SET unit_price = v.unit_price
         FROM unnest($1::uuid[], $2::int[], $3::numeric[]) AS v(order_id, line_no, unit_price)
        WHERE l.order_id = v.order_id AND l.line_no = v.line_no AND l.unit_price IS DISTINCT FROM v.unit_price
       RETURNING l.order_id
     )
     UPDATE orders AS o SET total = v.total
       FROM (SELECT * FROM unnest($4::uuid[], $5::numeric[], $6::boolean[]) AS v(id, total, charged)
              WHERE v.charged OR v.id IN (SELECT order_id FROM lines)) AS v
      WHERE o.id = v.id AND o.total IS DISTINCT FROM v.total`,
    lines.map((l) => l.orderId),
    lines.map((l) => l.n),
    lines.map((l) => l.unitPrice),
    orders.map(([id]) => id),
    orders.map(([, p]) => p.total),
    orders.map(([, p]) => p.charged),
  );
}

/** Statuses with a deadline: the saga still owes the order an answer. */
export const OPEN: ReadonlySet<OrderStatus> = new Set(['PENDING', 'STOCK_RESERVED']);

/**
 * Applies status changes: the last status of each order, every change on its timeline, and
 * the orders' deadlines (moved while open, gone once terminal). Three or four statements.
 */
export async function recordChanges(tx: SqlTx, changes: readonly StatusChange[]): Promise<void> {
  if (changes.length === 0) return;
  const latest = [...new Map(changes.map((c) => [c.orderId, c])).values()];
  const open = latest.filter((c) => OPEN.has(c.status));
  const closed = latest.filter((c) => !OPEN.has(c.status)).map((c) => c.orderId);
  await tx.$executeRawUnsafe(
    `UPDATE orders AS o SET status = v.status::"OrderStatus", updated_at = v.at
       FROM unnest($1::uuid[], $2::text[], $3::timestamptz[]) AS v(id, status, at)
      WHERE o.id = v.id`,
    latest.map((c) => c.orderId),
    latest.map((c) => c.status),
    latest.map((c) => c.at.toISOString()),
  );
  await tx.$copyFrom('order_status_changes', ['order_id', 'status', 'reason', 'at'], changes.map((c) => [c.orderId, c.status, c.reason, c.at]));
  if (open.length > 0) {
    await tx.$executeRawUnsafe(
      `UPDATE order_deadlines AS d SET since = v.at FROM unnest($1::uuid[], $2::timestamptz[]) AS v(id, at) WHERE d.order_id = v.id`,
      open.map((c) => c.orderId),
      open.map((c) => c.at.toISOString()),
    );
  }
  if (closed.length > 0) await tx.$executeRawUnsafe(`DELETE FROM order_deadlines WHERE order_id = ANY($1::uuid[])`, closed);
}

export interface NewOrder {
  id: string;
  customerId: string;
  paymentMethod: string;
  /** The client's claimed total; null when a line has no price. */
  total: number | null;
  idempotencyKey: string | null;
  /** `unitPrice`: the client's claimed price, if any (the catalog prices the line at reservation). */
  lines: ReadonlyArray<{ productId: string; quantity: number; unitPrice?: number | undefined }>;
  at: Date;
}

export interface Placement {
  order: NewOrder;
  /** Its order.created event, written to the outbox with it. */
  created: OutgoingEvent;
}

/**
 * Places orders in ONE statement — each order, its lines, its first timeline entry, its
 * deadline and its order.created outbox row, as data-modifying CTEs over arrays, atomic without a
 * transaction: one round trip and one commit for any number of orders. An order whose
 * idempotency key its customer already used is not inserted; its existing id is returned.
 */
export async function insertOrders(sql: SqlClient, orders: readonly Placement[]): Promise<Array<{ id: string; created: boolean }>> {
  const lines = orders.flatMap(({ order }) => order.lines.map((l, i) => ({ orderId: order.id, n: i + 1, ...l })));
  // Only the events of orders actually inserted (not of idempotent replays).
  const outbox = outboxInsert(
    orders.map((o) => o.created),
    {
      // $1 … $11 of the statement below; the outbox insert's placeholders follow them.
      params: [
        orders.map(({ order }) => order.id),
        orders.map(({ order }) => order.customerId),
        orders.map(({ order }) => order.paymentMethod),
        orders.map(({ order }) => order.total),
        orders.map(({ order }) => order.idempotencyKey),
        orders.map(({ order }) => order.at.toISOString()),
        lines.map((l) => l.orderId),
        lines.map((l) => l.n),
        lines.map((l) => l.productId),
        lines.map((l) => l.quantity),
        lines.map((l) => l.unitPrice ?? null),
      ],
      where: `e.key IN (SELECT id FROM o)`,
      keys: orders.map((o) => o.order.id),
    },
  );
  const inserted = await sql.$queryRawUnsafe<Array<{ id: string }>>(
    `WITH o AS (
       INSERT INTO orders (id, customer_id, status, payment_method, total, idempotency_key, created_at, updated_at)
       SELECT v.id, v.customer_id, 'PENDING', v.payment_method, v.total, v.idempotency_key, v.at, v.at
         FROM unnest($1::uuid[], $2::text[], $3::text[], $4::numeric[], $5::text[], $6::timestamptz[]) AS v(id, customer_id, payment_method, total, idempotency_key, at)
       ON CONFLICT (customer_id, idempotency_key) WHERE idempotency_key IS NOT NULL DO NOTHING RETURNING id, created_at
     ), lines AS (
       INSERT INTO order_lines (order_id, line_no, product_id, quantity, unit_price)
       SELECT v.order_id, v.n, v.product_id, v.quantity, v.unit_price
         FROM unnest($7::uuid[], $8::int[], $9::text[], $10::int[], $11::numeric[]) AS v(order_id, n, product_id, quantity, unit_price)
        WHERE v.order_id IN (SELECT id FROM o)
     ), timeline AS (
       INSERT INTO order_status_changes (order_id, status, reason, at)
       SELECT o.id, 'PENDING', 'order placed', o.created_at FROM o
     ), deadlines AS (
       INSERT INTO order_deadlines (order_id, imported, since) SELECT o.id, false, o.created_at FROM o
     ), outbox AS (
       ${outbox.sql}
     )
     SELECT id::text FROM o`,
    ...outbox.params,
  );
  const fresh = new Set(inserted.map((r) => r.id));
  return Promise.all(
    orders.map(async ({ order }) => {
      if (fresh.has(order.id)) return { id: order.id, created: true };
      const [existing] = await sql.$queryRawUnsafe<Array<{ id: string }>>(
        'SELECT id::text FROM orders WHERE customer_id = $1 AND idempotency_key = $2',
        order.customerId,
        order.idempotencyKey,
      );
      if (!existing) throw new Error('idempotency conflict without an existing order');
      return { id: existing.id, created: false };
    }),
  );
}
