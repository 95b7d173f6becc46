import { outboxInsert, type OutgoingEvent, type SqlClient } from '@orderflow/messaging';
import type { OrderStatus } from './decide';

/** What the saga needs of an order, read under a row lock. */
export interface OrderState {
  id: string;
  status: OrderStatus;
  customerId: string;
  total: number;
  /** The import that created the order (null for orders placed through the API). */
  importId: string | null;
}

export interface StatusChange {
  orderId: string;
  status: OrderStatus;
  reason: string;
  at: Date;
}

/** Locks the orders (in id order, so concurrent batches cannot deadlock) and returns their state. */
export async function lockOrders(tx: SqlClient, ids: readonly string[]): Promise<Map<string, OrderState>> {
  const rows = await tx.$queryRawUnsafe<Array<{ id: string; status: OrderStatus; customer_id: string; total: number; import_id: string | null }>>(
    `SELECT id::text, status::text AS status, customer_id, total::float8 AS total, import_id::text
       FROM orders WHERE id = ANY($1::uuid[]) ORDER BY id FOR UPDATE`,
    [...ids],
  );
  return new Map(rows.map((r) => [r.id, { id: r.id, status: r.status, customerId: r.customer_id, total: Number(r.total), importId: r.import_id }]));
}

/** Applies status changes: the last status of each order, and every change on its timeline. Two statements. */
export async function recordChanges(tx: SqlClient, changes: readonly StatusChange[]): Promise<void> {
  if (changes.length === 0) return;
  const last = new Map(changes.map((c) => [c.orderId, c]));
  await tx.$executeRawUnsafe(
    `UPDATE orders AS o SET status = v.status::"OrderStatus", updated_at = v.at
       FROM unnest($1::uuid[], $2::text[], $3::timestamptz[]) AS v(id, status, at)
      WHERE o.id = v.id`,
    [...last.keys()],
    [...last.values()].map((c) => c.status),
    [...last.values()].map((c) => c.at.toISOString()),
  );
  await tx.$executeRawUnsafe(
    `INSERT INTO order_status_changes (order_id, status, reason, at)
     SELECT v.id, v.status::"OrderStatus", v.reason, v.at
       FROM unnest($1::uuid[], $2::text[], $3::text[], $4::timestamptz[]) AS v(id, status, reason, at)`,
    changes.map((c) => c.orderId),
    changes.map((c) => c.status),
    changes.map((c) => c.reason),
    changes.map((c) => c.at.toISOString()),
  );
}

export interface NewOrder {
  id: string;
  customerId: string;
  paymentMethod: string;
  total: number;
  idempotencyKey: string | null;
  lines: ReadonlyArray<{ productId: string; quantity: number; unitPrice: number }>;
  at: Date;
}

/**
 * Places an order in ONE statement — the order, its lines, its first timeline entry and its
 * order.created outbox row, as data-modifying CTEs, atomic without a transaction (one round
 * trip instead of six). With an idempotency key this customer already used, nothing is
 * inserted and the existing order's id is returned.
 */
export async function insertOrder(sql: SqlClient, o: NewOrder, created: OutgoingEvent): Promise<{ id: string; created: boolean }> {
  const outbox = outboxInsert([created], 11, 'EXISTS (SELECT 1 FROM o)');
  const inserted = await sql.$queryRawUnsafe<Array<{ id: string }>>(
    `WITH o AS (
       INSERT INTO orders (id, customer_id, status, payment_method, total, idempotency_key, created_at, updated_at)
       VALUES ($1::uuid, $2, 'PENDING', $3, $4::numeric, $5, $6::timestamptz, $6::timestamptz)
       ON CONFLICT (customer_id, idempotency_key) DO NOTHING RETURNING id
     ), lines AS (
       INSERT INTO order_lines (order_id, line_no, product_id, quantity, unit_price)
       SELECT o.id, v.n, v.product_id, v.quantity, v.unit_price
         FROM o, unnest($7::int[], $8::text[], $9::int[], $10::numeric[]) AS v(n, product_id, quantity, unit_price)
     ), timeline AS (
       INSERT INTO order_status_changes (order_id, status, reason, at)
       SELECT o.id, 'PENDING', 'order placed', $6::timestamptz FROM o
     ), outbox AS (
       ${outbox.sql}
     )
     SELECT id::text FROM o`,
    o.id,
    o.customerId,
    o.paymentMethod,
    o.total,
    o.idempotencyKey,
    o.at.toISOString(),
    o.lines.map((_, i) => i + 1),
    o.lines.map((l) => l.productId),
    o.lines.map((l) => l.quantity),
    o.lines.map((l) => l.unitPrice),
    ...outbox.params,
  );
  if (inserted.length === 1) return { id: o.id, created: true };
  const [existing] = await sql.$queryRawUnsafe<Array<{ id: string }>>(
    'SELECT id::text FROM orders WHERE customer_id = $1 AND idempotency_key = $2',
    o.customerId,
    o.idempotencyKey,
  );
  if (!existing) throw new Error('idempotency conflict without an existing order');
  return { id: existing.id, created: false };
}
