import { transientOnDuplicateKey } from '@orderflow/errors';
import type { SqlClient, SqlTx } from '@orderflow/db';
import type { OrderStatus } from './decide';
import type { OrderEvent } from './history';
import { EVENT_COLUMNS, eventRow, type OrderState } from './store';

// The SQL of imports: creating a chunk's orders (COPY, a few statements per chunk), and the read side's
// counters (one row per import, moved per chunk and per batch, never per row).

export interface ImportedOrder {
  id: string;
  orderRef: string;
  customerId: string;
  paymentMethod: string;
  /** The file's total for the order; null when a row had no price (the catalog prices it). */
  total: number | null;
  /** `unitPrice`: the row's price, if its cell was not empty. */
  items: ReadonlyArray<{ productId: string; quantity: number; unitPrice?: number | undefined }>;
}

/** The OrderPlaced event of an imported order. */
export const importedEvent = (o: ImportedOrder, importId: string, at: Date): OrderEvent => ({
  type: 'OrderPlaced',
  data: { customerId: o.customerId, paymentMethod: o.paymentMethod, total: o.total, importId, orderRef: o.orderRef },
  orderId: o.id,
  seq: 1,
  status: 'PENDING',
  reason: 'order imported',
  at,
});

/**
 * Creates a chunk's orders, their lines, OrderPlaced events and deadlines once per
 * (import, chunk): a chunk delivered again (a retried publish) inserts nothing. An orderRef
 * that exists already (an earlier import, or an upload of the same file again) creates
 * nothing, and so does a second order with the same orderRef in the chunk. Returns whether the
 * chunk was new and the orders it created.
 *
 * The rows go in with COPY (one per table), after one indexed look-up of the
 * chunk's orderRefs. If another transaction creates one of them meanwhile (the same file
 * uploaded twice at once), the COPY fails on order_ref's key: transient — the chunk is
 * retried and then finds those orders.
 */
export async function insertChunkOrders(
  tx: SqlTx,
  chunk: { importId: string; chunkNo: number; orders: readonly ImportedOrder[] },
  at: Date,
): Promise<{ applied: boolean; created: ImportedOrder[] }> {
  const { importId, chunkNo, orders } = chunk;
  const claimed = await tx.$executeRawUnsafe(
    `INSERT INTO import_chunks (import_id, chunk_no, orders, applied_at) VALUES ($1::uuid, $2, $3, $4::timestamptz) ON CONFLICT DO NOTHING`,
    importId,
    chunkNo,
    orders.length,
    at.toISOString(),
  );
  if (claimed === 0) return { applied: false, created: [] };
  const existing = await tx.$queryRawUnsafe<Array<{ order_ref: string }>>(
    `SELECT order_ref FROM orders WHERE order_ref = ANY($1::text[])`,
    orders.map((o) => o.orderRef),
  );
  const taken = new Set(existing.map((r) => r.order_ref));
  const fresh: ImportedOrder[] = [];
  for (const o of orders) {
    if (taken.has(o.orderRef)) continue;
    taken.add(o.orderRef);
    fresh.push(o);
  }
  await transientOnDuplicateKey('IMPORT.ORDER_RACE', 'another transaction imported one of these orderRefs first; retrying the chunk', async () => {
    await tx.$copyFrom(
      'orders',
      ['id', 'customer_id', 'status', 'payment_method', 'total', 'import_id', 'order_ref', 'created_at', 'updated_at'],
      fresh.map((o) => [o.id, o.customerId, 'PENDING', o.paymentMethod, o.total, importId, o.orderRef, at, at]),
    );
    await tx.$copyFrom(
      'order_lines',
      ['order_id', 'line_no', 'product_id', 'quantity', 'unit_price'],
      fresh.flatMap((o) => o.items.map((l, i) => [o.id, i + 1, l.productId, l.quantity, l.unitPrice])),
    );
    await tx.$copyFrom(
      'order_events',
      EVENT_COLUMNS,
      fresh.map((o) => eventRow(importedEvent(o, importId, at))),
    );
    await tx.$copyFrom('order_deadlines', ['order_id', 'imported', 'since'], fresh.map((o) => [o.id, true, at]));
  });
  return { applied: true, created: fresh };
}

export interface ChunkCounts {
  importId: string;
  rows: { read: number; accepted: number; rejected: number };
  chunks: number;
  created: number;
  alreadyImported: number;
  /** Orders rejected as they were created (their customer is blocked). */
  rejected: number;
  at: Date;
}

/** Adds what applied chunks brought to their import (creating the row if the chunk came first). */
export async function addChunkCounts(tx: SqlClient, c: ChunkCounts): Promise<void> {
  await tx.$executeRawUnsafe(
    `INSERT INTO imports AS i (id, state, chunk_rows_read, chunk_rows_accepted, chunk_rows_rejected, chunks_applied, orders_created, orders_already_imported, orders_rejected, started_at, updated_at)
     VALUES ($1::uuid, 'RECEIVING', $2, $3, $4, $5, $6, $7, $9, $8::timestamptz, $8::timestamptz)
     ON CONFLICT (id) DO UPDATE SET
       chunk_rows_read = i.chunk_rows_read + EXCLUDED.chunk_rows_read,
       chunk_rows_accepted = i.chunk_rows_accepted + EXCLUDED.chunk_rows_accepted,
       chunk_rows_rejected = i.chunk_rows_rejected + EXCLUDED.chunk_rows_rejected,
       chunks_applied = i.chunks_applied + EXCLUDED.chunks_applied,
       orders_created = i.orders_created + EXCLUDED.orders_created,
       orders_already_imported = i.orders_already_imported + EXCLUDED.orders_already_imported,
       orders_rejected = i.orders_rejected + EXCLUDED.orders_rejected,
       updated_at = EXCLUDED.updated_at`,
    c.importId,
    c.rows.read,
    c.rows.accepted,
    c.rows.rejected,
    c.chunks,
    c.created,
    c.alreadyImported,
    c.at.toISOString(),
    c.rejected,
  );
}

export async function recordStarted(tx: SqlClient, importId: string, at: Date): Promise<void> {
  await tx.$executeRawUnsafe(
    `INSERT INTO imports AS i (id, state, started_at, updated_at) VALUES ($1::uuid, 'RECEIVING', $2::timestamptz, $2::timestamptz)
     ON CONFLICT (id) DO UPDATE SET started_at = LEAST(i.started_at, EXCLUDED.started_at)`,
    importId,
    at.toISOString(),
  );
}

export interface Ending {
  importId: string;
  rows: { read: number; accepted: number; rejected: number };
  chunks: number;
  at: Date;
}

/** The upload was accepted: its totals are final, the import is PROCESSING until every order is terminal. */
export async function recordReceived(tx: SqlClient, e: Ending & { bytes: number }): Promise<void> {
  await tx.$executeRawUnsafe(
    `INSERT INTO imports AS i (id, state, rows_read, rows_accepted, rows_rejected, chunks_total, bytes, received_at, started_at, updated_at)
     VALUES ($1::uuid, 'PROCESSING', $2, $3, $4, $5, $6, $7::timestamptz, $7::timestamptz, $7::timestamptz)
     ON CONFLICT (id) DO UPDATE SET
       state = CASE WHEN i.state = 'RECEIVING' THEN 'PROCESSING'::"ImportState" ELSE i.state END,
       rows_read = EXCLUDED.rows_read, rows_accepted = EXCLUDED.rows_accepted, rows_rejected = EXCLUDED.rows_rejected,
       chunks_total = EXCLUDED.chunks_total, bytes = EXCLUDED.bytes, received_at = EXCLUDED.received_at, updated_at = EXCLUDED.updated_at`,
    e.importId,
    e.rows.read,
    e.rows.accepted,
    e.rows.rejected,
    e.chunks,
    e.bytes,
    e.at.toISOString(),
  );
}

/** The upload failed: FAILED with the reason (the chunks it published are still imported and counted). */
export async function recordFailed(tx: SqlClient, e: Ending & { reason: string }): Promise<void> {
  await tx.$executeRawUnsafe(
    `INSERT INTO imports AS i (id, state, rows_read, rows_accepted, rows_rejected, chunks_total, failure, failed_at, started_at, updated_at)
     VALUES ($1::uuid, 'FAILED', $2, $3, $4, $5, $6, $7::timestamptz, $7::timestamptz, $7::timestamptz)
     ON CONFLICT (id) DO UPDATE SET
       state = CASE WHEN i.state = 'COMPLETED' THEN i.state ELSE 'FAILED'::"ImportState" END,
       rows_read = EXCLUDED.rows_read, rows_accepted = EXCLUDED.rows_accepted, rows_rejected = EXCLUDED.rows_rejected,
       chunks_total = EXCLUDED.chunks_total, failure = EXCLUDED.failure, failed_at = EXCLUDED.failed_at, updated_at = EXCLUDED.updated_at`,
    e.importId,
    e.rows.read,
    e.rows.accepted,
    e.rows.rejected,
    e.chunks,
    e.reason,
    e.at.toISOString(),
  );
}

/** How many of an import's orders are in each terminal status: what changed in one batch. */
export interface Tally {
  importId: string;
  confirmed: number;
  rejected: number;
  cancelled: number;
}

const BUCKET: Partial<Record<OrderStatus, keyof Omit<Tally, 'importId'>>> = { CONFIRMED: 'confirmed', REJECTED: 'rejected', CANCELLED: 'cancelled' };

/** The moves between terminal statuses of imported orders, from their status before a batch to now. */
export function talliesOf(before: ReadonlyMap<string, OrderStatus>, orders: Iterable<OrderState>): Tally[] {
  const byImport = new Map<string, Tally>();
  for (const o of orders) {
    const was = before.get(o.id);
    if (!o.importId || was === undefined || was === o.status) continue;
    const t = byImport.get(o.importId) ?? { importId: o.importId, confirmed: 0, rejected: 0, cancelled: 0 };
    const from = BUCKET[was];
    const to = BUCKET[o.status];
    if (from) t[from]--;
    if (to) t[to]++;
    byImport.set(o.importId, t);
  }
  return [...byImport.values()].filter((t) => t.confirmed !== 0 || t.rejected !== 0 || t.cancelled !== 0);
}

/** Applies tallies (import ids in order: concurrent batches lock import rows in one order) and settles those imports. */
export async function applyTallies(tx: SqlClient, tallies: readonly Tally[], at: Date): Promise<void> {
  if (tallies.length === 0) return;
  const sorted = [...tallies].sort((a, b) => (a.importId < b.importId ? -1 : 1));
  await tx.$executeRawUnsafe(
    `UPDATE imports AS i SET orders_confirmed = i.orders_confirmed + t.c, orders_rejected = i.orders_rejected + t.r,
            orders_cancelled = i.orders_cancelled + t.x, updated_at = $5::timestamptz
       FROM unnest($1::uuid[], $2::int[], $3::int[], $4::int[]) AS t(id, c, r, x)
      WHERE i.id = t.id`,
    sorted.map((t) => t.importId),
    sorted.map((t) => t.confirmed),
    sorted.map((t) => t.rejected),
    sorted.map((t) => t.cancelled),
    at.toISOString(),
  );
  await settleImports(tx, sorted.map((t) => t.importId), at);
}

/** PROCESSING → COMPLETED once every chunk is applied and every order it created is terminal. */
export async function settleImports(tx: SqlClient, importIds: readonly string[], at: Date): Promise<void> {
  if (importIds.length === 0) return;
  await tx.$executeRawUnsafe(
    `UPDATE imports SET state = 'COMPLETED', completed_at = $2::timestamptz, updated_at = $2::timestamptz
      WHERE id = ANY($1::uuid[]) AND state = 'PROCESSING' AND chunks_applied >= chunks_total
        AND orders_confirmed + orders_rejected + orders_cancelled >= orders_created`,
    [...importIds],
    at.toISOString(),
  );
}
