import { transientOnDuplicateKey } from '@orderflow/errors';
import type { Tx } from './db';
import type { Move, OrderStatus, StockLevel } from './stock';

// The SQL of the saga hot path: a fixed handful of statements per delivered batch, whatever
// its size. Locks are always taken in the same order — first the orders (sorted), then the
// products (sorted) — so two replicas never deadlock on one batch kind.

/**
 * Claims the orders (ids sorted, distinct): inserts `NEW` for an order never heard of and
 * row-locks the existing ones. The upsert waits for a concurrent transaction holding the same
 * order, so exactly one of them sees `NEW`. Returns each order's status before this batch.
 */
export async function claimOrders(tx: Tx, orderIds: readonly string[]): Promise<Map<string, OrderStatus>> {
  const rows = await tx.$queryRawUnsafe<Array<{ order_id: string; status: OrderStatus }>>(
    `INSERT INTO order_stock (order_id, status)
     SELECT id, 'NEW'::"OrderStockStatus" FROM unnest($1::uuid[]) AS id
     ON CONFLICT (order_id) DO UPDATE SET status = order_stock.status
     RETURNING order_id::text, status::text`,
    orderIds,
  );
  return new Map(rows.map((r) => [r.order_id, r.status]));
}

/**
 * The orders inventory has heard of among `orderIds` (sorted, distinct), row-locked, with their
 * status; an absent id is an order never heard of (NEW). The reservation pass then writes each
 * new order's row once, with its decision (`insertOrderStatuses`), instead of claiming it NEW
 * and changing it in the same transaction: one row version and one index entry, not two.
 */
export async function lockKnownOrders(tx: Tx, orderIds: readonly string[]): Promise<Map<string, OrderStatus>> {
  const rows = await tx.$queryRawUnsafe<Array<{ order_id: string; status: OrderStatus }>>(
    `SELECT order_id::text, status::text FROM order_stock WHERE order_id = ANY($1::uuid[]) ORDER BY order_id FOR UPDATE`,
    orderIds,
  );
  return new Map(rows.map((r) => [r.order_id, r.status]));
}

/**
 * Writes the first status of orders inventory had not heard of, in one COPY. If another
 * transaction wrote one of them meanwhile (the same order.created handled twice at once), the
 * insert fails on the key: transient — the batch is retried and then finds that row.
 */
export async function insertOrderStatuses(tx: Tx, changes: readonly StatusChange[]): Promise<void> {
  if (changes.length === 0) return;
  await transientOnDuplicateKey('INVENTORY.ORDER_RACE', 'another transaction recorded one of these orders first; retrying the batch', () =>
    tx.$copyFrom('order_stock', ['order_id', 'status', 'reason'], changes.map((c) => [c.orderId, c.status, c.reason])),
  );
}

/**
 * Locks the products (sorted) and returns their stock and catalog price; unknown ids are
 * absent. The price is read under the same lock as the stock, so an order is priced at the
 * price of the moment it is reserved (a concurrent price change waits for the lock or follows).
 */
export async function lockStock(tx: Tx, productIds: readonly string[]): Promise<Map<string, StockLevel>> {
  if (productIds.length === 0) return new Map();
  const rows = await tx.$queryRawUnsafe<Array<{ id: string; available: number; reserved: number; price: string }>>(
    `SELECT id, available, reserved, price::text AS price FROM products WHERE id = ANY($1::text[]) ORDER BY id FOR UPDATE`,
    [...new Set(productIds)].sort(),
  );
  return new Map(rows.map((r) => [r.id, { available: r.available, reserved: r.reserved, price: Number(r.price) }]));
}

/**
 * Moves quantities between available and reserved for every product in one statement:
 * `direction` 1 reserves, -1 releases. The locks make the decisions exact; the guard in the
 * WHERE clause keeps a bug from ever writing negative stock (it fails the batch instead).
 */
export async function moveStock(tx: Tx, moves: readonly Move[], direction: 1 | -1): Promise<void> {
  const net = new Map<string, number>();
  for (const m of moves) net.set(m.productId, (net.get(m.productId) ?? 0) + direction * m.quantity);
  if (net.size === 0) return;
  const updated = await tx.$executeRawUnsafe(
    `UPDATE products AS p
        SET available = p.available - m.delta, reserved = p.reserved + m.delta, updated_at = now()
       FROM unnest($1::text[], $2::int[]) AS m(product_id, delta)
      WHERE p.id = m.product_id AND p.available - m.delta >= 0 AND p.reserved + m.delta >= 0`,
    [...net.keys()],
    [...net.values()],
  );
  if (updated !== net.size) {
    throw new Error(`stock moved for ${updated} of ${net.size} products: a decision did not match the locked stock`);
  }
}

export interface OrderMoves {
  orderId: string;
  moves: readonly Move[];
}

/** One reservation row per (order, product) for the reserved orders, in one COPY. */
export async function insertReservations(tx: Tx, reserved: readonly OrderMoves[]): Promise<void> {
  const at = new Date();
  const rows = reserved.flatMap((o) => o.moves.map((m) => [o.orderId, m.productId, m.quantity, 'RESERVED', at]));
  await tx.$copyFrom('reservations', ['order_id', 'product_id', 'quantity', 'status', 'updated_at'], rows);
}

/** What the orders still hold (their RESERVED rows), by order id. */
export async function heldBy(tx: Tx, orderIds: readonly string[]): Promise<Map<string, Move[]>> {
  const held = new Map<string, Move[]>();
  if (orderIds.length === 0) return held;
  const rows = await tx.$queryRawUnsafe<Array<{ order_id: string; product_id: string; quantity: number }>>(
    `SELECT order_id::text, product_id, quantity FROM reservations
      WHERE order_id = ANY($1::uuid[]) AND status = 'RESERVED' ORDER BY order_id, product_id`,
    orderIds,
  );
  for (const r of rows) {
    const moves = held.get(r.order_id) ?? [];
    moves.push({ productId: r.product_id, quantity: r.quantity });
    held.set(r.order_id, moves);
  }
  return held;
}

export async function markReservationsReleased(tx: Tx, orderIds: readonly string[]): Promise<void> {
  if (orderIds.length === 0) return;
  await tx.$executeRawUnsafe(
    `UPDATE reservations SET status = 'RELEASED', updated_at = now()
      WHERE order_id = ANY($1::uuid[]) AND status = 'RESERVED'`,
    orderIds,
  );
}

export interface StatusChange {
  orderId: string;
  status: Exclude<OrderStatus, 'NEW'>;
  reason: string | null;
}

/** Sets the new status of every changed order in one statement. */
export async function setOrderStatuses(tx: Tx, changes: readonly StatusChange[]): Promise<void> {
  if (changes.length === 0) return;
  await tx.$executeRawUnsafe(
    `UPDATE order_stock AS s
        SET status = u.status::"OrderStockStatus", reason = u.reason, updated_at = now()
       FROM unnest($1::uuid[], $2::text[], $3::text[]) AS u(order_id, status, reason)
      WHERE s.order_id = u.order_id`,
    changes.map((c) => c.orderId),
    changes.map((c) => c.status),
    changes.map((c) => c.reason),
  );
}
