import type { SqlClient, SqlTx, TransactionRunner } from '@orderflow/db';
import type { OrderStatus } from './decide';
import { replay, type OrderEvent, type OrderRow } from './history';
import { STATE_COLUMNS, stateOf, type StateRow } from './store';

// The projection's upkeep (docs/operations.md, "Order history"): read an order's events,
// check that every `orders` row is what its events fold to, and rebuild the table from the
// events alone. The fold is `replay` (history.ts), the function the live path applies.

interface EventRecord {
  order_id: string;
  seq: number;
  type: OrderEvent['type'];
  status: OrderStatus;
  reason: string | null;
  data: unknown;
  at: Date;
}

const asEvent = (r: EventRecord): OrderEvent => ({ orderId: r.order_id, seq: r.seq, type: r.type, status: r.status, reason: r.reason, data: r.data, at: new Date(r.at) }) as OrderEvent;

/** The events of these orders, each order's in sequence order. */
export async function readEvents(sql: SqlClient, orderIds: readonly string[]): Promise<OrderEvent[]> {
  const rows = await sql.$queryRawUnsafe<EventRecord[]>(
    `SELECT order_id::text, seq, type, status::text AS status, reason, data, at FROM order_events WHERE order_id = ANY($1::uuid[]) ORDER BY order_id, seq`,
    [...orderIds],
  );
  return rows.map(asEvent);
}

/** Each order's row from its events (absent: no events, or they do not start with OrderPlaced). */
export async function projectOrders(sql: SqlClient, orderIds: readonly string[]): Promise<Map<string, OrderRow>> {
  const byOrder = new Map<string, OrderEvent[]>();
  for (const e of await readEvents(sql, orderIds)) byOrder.set(e.orderId, [...(byOrder.get(e.orderId) ?? []), e]);
  const rows = new Map<string, OrderRow>();
  for (const [id, events] of byOrder) {
    const row = replay(events);
    if (row) rows.set(id, row);
  }
  return rows;
}

/** The whole row: the state `lockOrders` reads, and what the placement fixed. */
const ROW_COLUMNS = `${STATE_COLUMNS}, o.payment_method, o.idempotency_key, o.order_ref, o.created_at, o.updated_at`;

interface RowRecord extends StateRow {
  payment_method: string;
  idempotency_key: string | null;
  order_ref: string | null;
  created_at: Date;
  updated_at: Date;
}

// Object.assign, not a spread: see `append` in evolve.ts (a spread plus added fields is slow in V8).
const rowOf = (r: RowRecord): OrderRow =>
  Object.assign(stateOf(r), {
    paymentMethod: r.payment_method,
    idempotencyKey: r.idempotency_key,
    orderRef: r.order_ref,
    createdAt: new Date(r.created_at),
    updatedAt: new Date(r.updated_at),
  });

/** The fields of a row compared, as comparable values (money in cents, times in ms). */
function comparable(r: OrderRow): Record<string, unknown> {
  const cents = (n: number | null): number | null => (n === null ? null : Math.round(n * 100));
  return {
    customerId: r.customerId,
    status: r.status,
    paymentMethod: r.paymentMethod,
    total: cents(r.total),
    unitPrices: r.unitPrices === null ? null : r.unitPrices.map(cents).join(','),
    idempotencyKey: r.idempotencyKey,
    importId: r.importId,
    orderRef: r.orderRef,
    email: r.contact.email,
    phone: r.contact.phone,
    shippingAddress: r.contact.shippingAddress,
    version: r.version,
    createdAt: r.createdAt.getTime(),
    updatedAt: r.updatedAt.getTime(),
  };
}

/** The fields in which a row differs from the projection of its events (empty: they agree). */
export function differences(row: OrderRow | undefined, projected: OrderRow | undefined): string[] {
  if (!row || !projected) return [row ? 'no events' : 'no row'];
  const a = comparable(row);
  const b = comparable(projected);
  return Object.keys(a).filter((k) => a[k] !== b[k]);
}

export interface Verification {
  orders: number;
  /** Orders whose row is not what their events fold to, with the fields that differ (up to `examples`). */
  mismatched: number;
  examples: Array<{ orderId: string; fields: string[] }>;
}

/** Checks every order's row against its events, a page of orders at a time. */
export async function verifyProjection(sql: SqlClient, o: { pageSize?: number; examples?: number } = {}): Promise<Verification> {
  const pageSize = o.pageSize ?? 5000;
  const result: Verification = { orders: 0, mismatched: 0, examples: [] };
  let after = '00000000-0000-0000-0000-000000000000';
  for (;;) {
    const rows = (await sql.$queryRawUnsafe<RowRecord[]>(`SELECT ${ROW_COLUMNS} FROM orders AS o WHERE o.id > $1::uuid ORDER BY o.id LIMIT $2`, after, pageSize)).map(rowOf);
    if (rows.length === 0) break;
    const projected = await projectOrders(sql, rows.map((r) => r.id));
    for (const row of rows) {
      const fields = differences(row, projected.get(row.id));
      if (fields.length === 0) continue;
      result.mismatched++;
      if (result.examples.length < (o.examples ?? 10)) result.examples.push({ orderId: row.id, fields });
    }
    result.orders += rows.length;
    after = rows[rows.length - 1]!.id;
  }
  // Events of an order that has no row.
  const [orphans] = await sql.$queryRawUnsafe<Array<{ n: number }>>(`SELECT count(DISTINCT e.order_id)::int AS n FROM order_events e WHERE NOT EXISTS (SELECT 1 FROM orders o WHERE o.id = e.order_id)`);
  result.mismatched += orphans?.n ?? 0;
  return result;
}

const COPY_COLUMNS = [
  'id', 'customer_id', 'status', 'payment_method', 'total', 'unit_prices', 'idempotency_key', 'import_id', 'order_ref',
  'customer_email', 'customer_phone', 'shipping_address', 'version', 'created_at', 'updated_at',
] as const;
const copyRow = (r: OrderRow) => [
  r.id, r.customerId, r.status, r.paymentMethod, r.total, r.unitPrices ? `{${r.unitPrices.join(',')}}` : null, r.idempotencyKey, r.importId, r.orderRef,
  r.contact.email, r.contact.phone, r.contact.shippingAddress, r.version, r.createdAt, r.updatedAt,
];

/** Projects the orders of a page of event order ids into `table`. */
async function projectInto(tx: SqlTx, table: string, orderIds: readonly string[]): Promise<number> {
  const rows = [...(await projectOrders(tx, orderIds)).values()];
  await tx.$copyFrom(table, COPY_COLUMNS, rows.map(copyRow));
  return rows.length;
}

const LOCK_NOT_AVAILABLE = '55P03';
const SWAP_LOCK_TIMEOUT_MS = 3000;
const SWAP_ATTEMPTS = 20;

export interface Rebuilt {
  orders: number;
  /** Orders that changed while the table was being built, projected again under the lock. */
  caughtUp: number;
  ms: number;
}

/**
 * Rebuilds `orders` from the events: a fresh table (same columns, constraints, storage and
 * indexes, then analysed) filled a page of orders at a time while the services run; then, in one
 * short transaction holding the table exclusively (reads and writes wait), the orders that moved
 * meanwhile (their version in `orders` is not the fresh one) are projected again and the tables
 * are swapped. The old table is dropped in the same transaction: the events are the record.
 */
export async function rebuildOrders(sql: SqlClient, transaction: TransactionRunner<SqlTx>, o: { pageSize?: number; log?: (line: string) => void } = {}): Promise<Rebuilt> {
  const started = Date.now();
  const pageSize = o.pageSize ?? 5000;
  const log = o.log ?? (() => undefined);
  await sql.$executeRawUnsafe(`DROP TABLE IF EXISTS orders_rebuild`);
  const [storage] = await sql.$queryRawUnsafe<Array<{ options: string[] | null }>>(`SELECT reloptions AS options FROM pg_class WHERE oid = 'orders'::regclass`);
  const withOptions = storage?.options?.length ? ` WITH (${storage.options.join(', ')})` : '';
  await sql.$executeRawUnsafe(`CREATE TABLE orders_rebuild (LIKE orders INCLUDING DEFAULTS INCLUDING CONSTRAINTS INCLUDING STORAGE)${withOptions}`);
  let orders = 0;
  let after = '00000000-0000-0000-0000-000000000000';
  for (;;) {
    const page = await sql.$queryRawUnsafe<Array<{ id: string }>>(
      `SELECT DISTINCT order_id::text AS id FROM order_events WHERE order_id > $1::uuid ORDER BY 1 LIMIT $2`,
      after,
      pageSize,
    );
    if (page.length === 0) break;
    orders += await transaction((tx) => projectInto(tx, 'orders_rebuild', page.map((p) => p.id)));
    after = page[page.length - 1]!.id;
    log(`projected ${orders} orders`);
  }
  // The same indexes as `orders` (named *_rebuild until the swap), built once the rows are in.
  const indexes = await sql.$queryRawUnsafe<Array<{ name: string; def: string; primary: boolean }>>(
    `SELECT c.relname AS name, pg_get_indexdef(i.indexrelid) AS def, i.indisprimary AS primary
       FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid WHERE i.indrelid = 'orders'::regclass`,
  );
  for (const ix of indexes) {
    await sql.$executeRawUnsafe(ix.def.replace(` INDEX ${ix.name} ON `, ` INDEX ${ix.name}_rebuild ON `).replace(/ ON (public\.)?orders /, ' ON $1orders_rebuild '));
  }
  await sql.$executeRawUnsafe(`ANALYZE orders_rebuild`);
  let caughtUp = 0;
  let total = 0;
  const swap = () =>
    transaction(async (tx) => {
      // The whole swap under one ACCESS EXCLUSIVE lock, taken first: no lock upgrade to deadlock
      // on. A lock wait is bounded: readers and writers queue behind it, so it gives up after a
      // few seconds (an import transaction holding the table) and is tried again.
      await tx.$executeRawUnsafe(`SET LOCAL lock_timeout = '${SWAP_LOCK_TIMEOUT_MS}ms'`);
      await tx.$executeRawUnsafe(`LOCK TABLE orders IN ACCESS EXCLUSIVE MODE`);
      const moved = await tx.$queryRawUnsafe<Array<{ id: string }>>(
        `SELECT o.id::text FROM orders o LEFT JOIN orders_rebuild r ON r.id = o.id WHERE r.id IS NULL OR r.version <> o.version`,
      );
      caughtUp = 0;
      if (moved.length > 0) {
        const ids = moved.map((m) => m.id);
        await tx.$executeRawUnsafe(`DELETE FROM orders_rebuild WHERE id = ANY($1::uuid[])`, ids);
        caughtUp = await projectInto(tx, 'orders_rebuild', ids);
      }
      const [count] = await tx.$queryRawUnsafe<Array<{ n: number }>>(`SELECT count(*)::int AS n FROM orders_rebuild`);
      total = count?.n ?? 0;
      await tx.$executeRawUnsafe(`DROP TABLE orders`);
      await tx.$executeRawUnsafe(`ALTER TABLE orders_rebuild RENAME TO orders`);
      for (const ix of indexes) {
        await tx.$executeRawUnsafe(`ALTER INDEX "${ix.name}_rebuild" RENAME TO "${ix.name}"`);
        if (ix.primary) await tx.$executeRawUnsafe(`ALTER TABLE orders ADD CONSTRAINT "${ix.name}" PRIMARY KEY USING INDEX "${ix.name}"`);
      }
    });
  for (let attempt = 1; ; attempt++) {
    try {
      await swap();
      break;
    } catch (err) {
      if ((err as { code?: string }).code !== LOCK_NOT_AVAILABLE || attempt >= SWAP_ATTEMPTS) throw err;
      log(`the table is busy; swap attempt ${attempt + 1} of ${SWAP_ATTEMPTS}`);
    }
  }
  return { orders: total, caughtUp, ms: Date.now() - started };
}
