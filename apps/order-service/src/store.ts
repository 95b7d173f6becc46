import { outboxInsert, type OutgoingEvent } from '@orderflow/messaging';
import { type SqlClient, type SqlTx } from '@orderflow/db';
import type { CopyValue } from '@orderflow/db';
import type { OrderStatus } from './decide';
import type { Contact, OrderEvent, OrderState, Placed } from './history';

export type { OrderState } from './history';

/** An `orders` row as `STATE_COLUMNS` reads it. */
export interface StateRow {
  id: string;
  status: OrderStatus;
  customer_id: string;
  total: number | null;
  unit_prices: number[] | null;
  import_id: string | null;
  customer_email: string | null;
  customer_phone: string | null;
  shipping_address: string | null;
  version: number;
  placed_at_ms: number;
}
/** The columns of an order's state, the table aliased `o`. */
export const STATE_COLUMNS = `o.id::text, o.status::text AS status, o.customer_id, o.total::float8 AS total, o.unit_prices::float8[] AS unit_prices,
  o.import_id::text, o.customer_email, o.customer_phone, o.shipping_address, o.version, (extract(epoch FROM o.created_at) * 1000)::float8 AS placed_at_ms`;
export const stateOf = (r: StateRow): OrderState => ({
  id: r.id,
  status: r.status,
  customerId: r.customer_id,
  total: r.total === null ? null : Number(r.total),
  unitPrices: r.unit_prices,
  importId: r.import_id,
  contact: { email: r.customer_email, phone: r.customer_phone, shippingAddress: r.shipping_address },
  version: r.version,
  placedAtMs: r.placed_at_ms,
});

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

/** Which of these customers an administrator blocked (one look-up in a table of the few with a status). */
export async function blockedCustomers(sql: SqlClient, customerIds: readonly string[]): Promise<Set<string>> {
  if (customerIds.length === 0) return new Set();
  const rows = await sql.$queryRawUnsafe<Array<{ id: string }>>(`SELECT id FROM customers WHERE status = 'BLOCKED' AND id = ANY($1::text[])`, [...new Set(customerIds)]);
  return new Set(rows.map((r) => r.id));
}

/** Statuses with a deadline: the saga still owes the order an answer. */
export const OPEN: ReadonlySet<OrderStatus> = new Set(['PENDING', 'STOCK_RESERVED']);

/** An event's columns as COPY writes them (data as JSON text). */
export const eventRow = (e: OrderEvent): CopyValue[] => [e.orderId, e.seq, e.type, e.status, e.reason, e.data === null ? null : JSON.stringify(e.data), e.at];
export const EVENT_COLUMNS = ['order_id', 'seq', 'type', 'status', 'reason', 'data', 'at'] as const;

/** A column of the projection the live path writes: its SQL type and its value in a state. */
interface Column {
  name: string;
  type: string;
  value: (r: OrderState) => unknown;
}
const ALWAYS: readonly Column[] = [
  { name: 'status', type: 'text', value: (r) => r.status },
  { name: 'version', type: 'int', value: (r) => r.version },
];
const TOTAL: Column = { name: 'total', type: 'numeric', value: (r) => r.total };
const UNIT_PRICES: Column = { name: 'unit_prices', type: 'text', value: (r) => (r.unitPrices ? `{${r.unitPrices.join(',')}}` : null) };
const CONTACT: readonly Column[] = [
  { name: 'customer_email', type: 'text', value: (r) => r.contact.email },
  { name: 'customer_phone', type: 'text', value: (r) => r.contact.phone },
  { name: 'shipping_address', type: 'text', value: (r) => r.contact.shippingAddress },
];
const CAST: Record<string, string> = { status: '::"OrderStatus"', unit_prices: '::numeric[]' };

/**
 * Writes the orders' rows as their events left them, in ONE statement: the columns every event
 * moves (status, version, updated_at) and, only when an event of the batch can change them, the
 * total, the unit prices and the contact — the bulk lane's batches of payment answers then pass
 * three arrays, not nine. A column left out is one no event of the batch changed.
 */
async function updateProjection(tx: SqlTx, rows: readonly OrderState[], history: readonly OrderEvent[], lastAt: ReadonlyMap<string, Date>): Promise<void> {
  const has = (test: (e: OrderEvent) => boolean): boolean => history.some(test);
  const columns = [
    ...ALWAYS,
    ...(has((e) => e.type === 'PaymentCompleted' || ((e.type === 'StockReserved' || e.type === 'OrderPriced') && e.data !== null)) ? [TOTAL] : []),
    ...(has((e) => (e.type === 'StockReserved' || e.type === 'OrderPriced') && e.data?.unitPrices != null) ? [UNIT_PRICES] : []),
    ...(has((e) => e.type === 'OrderUpdated') ? CONTACT : []),
  ];
  const sets = columns.map((c) => `${c.name} = v.${c.name}${CAST[c.name] ?? ''}`).join(', ');
  const arrays = columns.map((c, i) => `$${i + 3}::${c.type}[]`).join(', ');
  await tx.$executeRawUnsafe(
    `UPDATE orders AS o SET ${sets}, updated_at = v.at
       FROM unnest($1::uuid[], $2::timestamptz[], ${arrays}) AS v(id, at, ${columns.map((c) => c.name).join(', ')})
      WHERE o.id = v.id`,
    rows.map((r) => r.id),
    rows.map((r) => lastAt.get(r.id)!.toISOString()),
    ...columns.map((c) => rows.map(c.value)),
  );
}

/**
 * Records orders' new events and their projection: the events (COPY), each order's row as its
 * last event left it (one UPDATE of the projection's columns), and the deadlines of those whose
 * status moved (moved while open, gone once terminal) — three or four statements, whatever the
 * number of orders. `before`: the orders' states the events were decided from.
 */
export async function recordHistory(tx: SqlTx, history: readonly OrderEvent[], before: ReadonlyMap<string, OrderState>, after: ReadonlyMap<string, OrderState>): Promise<void> {
  if (history.length === 0) return;
  const lastAt = new Map(history.map((e) => [e.orderId, e.at]));
  const rows = [...lastAt.keys()].map((id) => after.get(id)!);
  // A key violation here means another writer appended to one of these orders first: its
  // lock was not held (a defect), and the transaction fails rather than fork the history.
  await tx.$copyFrom('order_events', EVENT_COLUMNS, history.map(eventRow));
  await updateProjection(tx, rows, history, lastAt);
  const moved = rows.filter((r) => before.get(r.id)?.status !== r.status);
  const open = moved.filter((r) => OPEN.has(r.status));
  const closed = moved.filter((r) => !OPEN.has(r.status)).map((r) => r.id);
  if (open.length > 0) {
    await tx.$executeRawUnsafe(
      `UPDATE order_deadlines AS d SET since = v.at FROM unnest($1::uuid[], $2::timestamptz[]) AS v(id, at) WHERE d.order_id = v.id`,
      open.map((r) => r.id),
      open.map((r) => lastAt.get(r.id)!.toISOString()),
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
  contact: Contact;
  at: Date;
}

export interface Placement {
  order: NewOrder;
  /** Its order.created event, written to the outbox with it (null: none, the order is rejected at once). */
  created: OutgoingEvent | null;
}

export type PlacementResult = { id: string; created: boolean; blocked: boolean };

/** The OrderPlaced event of an order placed through the API (only the fields it has). */
export function placedEvent(order: NewOrder): OrderEvent {
  const data: Placed = { customerId: order.customerId, paymentMethod: order.paymentMethod, total: order.total };
  if (order.idempotencyKey !== null) data.idempotencyKey = order.idempotencyKey;
  const { email, phone, shippingAddress } = order.contact;
  if (email !== null || phone !== null || shippingAddress !== null) {
    const contact: Partial<Contact> = {};
    if (email !== null) contact.email = email;
    if (phone !== null) contact.phone = phone;
    if (shippingAddress !== null) contact.shippingAddress = shippingAddress;
    data.contact = contact;
  }
  return { type: 'OrderPlaced', data, orderId: order.id, seq: 1, status: 'PENDING', reason: 'order placed', at: order.at };
}

/**
 * Places orders in ONE statement — each order, its lines, its OrderPlaced event, its deadline
 * and its order.created outbox row, as data-modifying CTEs over arrays, atomic without a
 * transaction: one round trip and one commit for any number of orders. An order whose
 * idempotency key its customer already used is not inserted; its existing id is returned. An
 * order of a blocked customer is not inserted either (`blocked`): the caller places it through
 * `placeRejected` — unless `admitBlocked` (that path), when it is inserted without a check.
 */
export async function insertOrders(sql: SqlClient, orders: readonly Placement[], o: { admitBlocked?: boolean } = {}): Promise<PlacementResult[]> {
  const lines = orders.flatMap(({ order }) => order.lines.map((l, i) => ({ orderId: order.id, n: i + 1, ...l })));
  const events = orders.map(({ order }) => placedEvent(order));
  const announced = orders.filter((p) => p.created !== null);
  // Only the events of orders actually inserted (not of idempotent replays).
  const outbox = outboxInsert(
    announced.map((p) => p.created!),
    {
      // $1 … $16 of the statement below; the outbox insert's placeholders follow them.
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
        orders.map(({ order }) => order.contact.email),
        orders.map(({ order }) => order.contact.phone),
        orders.map(({ order }) => order.contact.shippingAddress),
        events.map((e) => JSON.stringify(e.data)),
        o.admitBlocked === true,
      ],
      where: `e.key IN (SELECT id FROM o)`,
      keys: announced.map((p) => p.order.id),
    },
  );
  const rows = await sql.$queryRawUnsafe<Array<{ id: string; blocked: boolean }>>(
    `WITH v AS (
       SELECT * FROM unnest($1::uuid[], $2::text[], $3::text[], $4::numeric[], $5::text[], $6::timestamptz[], $12::text[], $13::text[], $14::text[], $15::jsonb[])
         AS v(id, customer_id, payment_method, total, idempotency_key, at, email, phone, address, placed)
     ), blocked AS (
       SELECT id FROM customers WHERE NOT $16::boolean AND status = 'BLOCKED' AND id IN (SELECT customer_id FROM v)
     ), o AS (
       INSERT INTO orders (id, customer_id, status, payment_method, total, idempotency_key, customer_email, customer_phone, shipping_address, created_at, updated_at)
       SELECT v.id, v.customer_id, 'PENDING', v.payment_method, v.total, v.idempotency_key, v.email, v.phone, v.address, v.at, v.at
         FROM v WHERE v.customer_id NOT IN (SELECT id FROM blocked)
       ON CONFLICT (customer_id, idempotency_key) WHERE idempotency_key IS NOT NULL DO NOTHING RETURNING id, created_at
     ), lines AS (
       INSERT INTO order_lines (order_id, line_no, product_id, quantity, unit_price)
       SELECT l.order_id, l.n, l.product_id, l.quantity, l.unit_price
         FROM unnest($7::uuid[], $8::int[], $9::text[], $10::int[], $11::numeric[]) AS l(order_id, n, product_id, quantity, unit_price)
        WHERE l.order_id IN (SELECT id FROM o)
     ), history AS (
       INSERT INTO order_events (order_id, seq, type, status, reason, data, at)
       SELECT v.id, 1, 'OrderPlaced', 'PENDING', 'order placed', v.placed, v.at FROM v WHERE v.id IN (SELECT id FROM o)
     ), deadlines AS (
       INSERT INTO order_deadlines (order_id, imported, since) SELECT o.id, false, o.created_at FROM o
     ), outbox AS (
       ${outbox.sql}
     )
     SELECT id::text, false AS blocked FROM o
     UNION ALL SELECT v.id::text, true FROM v WHERE v.customer_id IN (SELECT id FROM blocked)`,
    ...outbox.params,
  );
  const fresh = new Set(rows.filter((r) => !r.blocked).map((r) => r.id));
  const blocked = new Set(rows.filter((r) => r.blocked).map((r) => r.id));
  return Promise.all(
    orders.map(async ({ order }) => {
      if (fresh.has(order.id)) return { id: order.id, created: true, blocked: false };
      if (blocked.has(order.id)) return { id: order.id, created: false, blocked: true };
      const [existing] = await sql.$queryRawUnsafe<Array<{ id: string }>>(
        'SELECT id::text FROM orders WHERE customer_id = $1 AND idempotency_key = $2',
        order.customerId,
        order.idempotencyKey,
      );
      if (!existing) throw new Error('idempotency conflict without an existing order');
      return { id: existing.id, created: false, blocked: false };
    }),
  );
}
