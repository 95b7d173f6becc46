import { newId, orderBatchConcluded, orderBatchCreated, type EventOf } from '@orderflow/events';
import { onBatch, type HandlerSpec } from '@orderflow/messaging';
import type { Tx } from './db';
import { totalOf } from './decide';
import { addChunkCounts, insertChunkOrders, recordFailed, recordReceived, recordStarted, settleImports, type ChunkCounts, type ImportedOrder } from './import-store';
import { countImported } from './metrics';
import { IMPORT, IMPORT_STATUS } from './queues';
import { blockedCustomers } from './store';
import { transition } from './transition';

type Chunk = EventOf<(typeof IMPORT)[number]>;

/** A chunk's orders: each a tuple `[orderRef, customerId, paymentMethod, [[line, productId, quantity, unitPrice], …]]`. */
function ordersOf(chunk: Chunk): Array<Omit<ImportedOrder, 'id' | 'total'>> {
  return chunk.payload.orders.map(([orderRef, customerId, paymentMethod, items]) => ({
    orderRef,
    customerId,
    paymentMethod,
    items: items.map(([, productId, quantity, unitPrice]) => ({ productId, quantity, unitPrice: unitPrice ?? undefined })),
  }));
}

/**
 * `import.chunk` → the chunk's orders, created PENDING in one statement, and ONE
 * order.batch-created for them: the bulk lane's first hop. The rest of the saga is the same
 * as for an order placed through the API (same statuses, timeline, decisions, compensations).
 */
export function createImportedOrders(deps: { now: () => Date; newId?: () => string }): HandlerSpec<Tx> {
  const makeId = deps.newId ?? newId;
  return onBatch<(typeof IMPORT)[number], Tx>(IMPORT, async (events, ctx) => {
    const at = deps.now();
    let created = 0;
    const counts = new Map<string, ChunkCounts>();
    for (const event of events) {
      const { importId, chunkNo, rows } = event.payload;
      const orders: ImportedOrder[] = ordersOf(event).map((o) => ({ id: makeId(), ...o, total: totalOf(o.items) }));
      const result = await insertChunkOrders(ctx.tx, { importId, chunkNo, orders }, at);
      if (!result.applied) {
        ctx.logger.info('import chunk applied before; ignored', { importId, chunkNo });
        continue;
      }
      created += result.created.length;
      countImported(ctx.tx, result.created.length);
      // A blocked customer's imported orders are rejected here, before inventory hears of them.
      const blocked = await blockedCustomers(ctx.tx, result.created.map((o) => o.customerId));
      const fresh = result.created.filter((o) => !blocked.has(o.customerId));
      if (blocked.size > 0) {
        const rejected = result.created.filter((o) => blocked.has(o.customerId)).map((o) => ({ orderId: o.id, inputs: [{ type: 'customer-blocked' } as const] }));
        // Counted with the chunk's counts below (the import's row may not exist yet), not by the transition.
        const [effect] = (await transition(ctx.tx, [rejected], { at, countImports: false })).events;
        const outcomes = effect!.outcomes.map((x) => x.payload);
        ctx.publish(orderBatchConcluded, { importId, confirmed: [], rejected: outcomes, cancelled: [] }, { correlationId: importId, causationId: event.eventId });
      }
      if (fresh.length > 0) {
        ctx.publish(
          orderBatchCreated,
          { importId, orders: fresh.map((o) => ({ orderId: o.id, customerId: o.customerId, items: [...o.items], total: o.total ?? undefined, paymentMethod: o.paymentMethod })) },
          { correlationId: importId, causationId: event.eventId },
        );
      }
      const c = counts.get(importId) ?? { importId, rows: { read: 0, accepted: 0, rejected: 0 }, chunks: 0, created: 0, alreadyImported: 0, rejected: 0, at };
      c.rows.read += rows.read;
      c.rows.accepted += rows.accepted;
      c.rows.rejected += rows.rejected;
      c.chunks++;
      c.created += result.created.length;
      c.alreadyImported += orders.length - result.created.length;
      c.rejected += result.created.length - fresh.length;
      counts.set(importId, c);
    }
    // Last, so the import's row is locked only for the commit (the bulk lane updates it too).
    for (const c of [...counts.values()].sort((a, b) => (a.importId < b.importId ? -1 : 1))) await addChunkCounts(ctx.tx, c);
    await settleImports(ctx.tx, [...counts.keys()], at);
    ctx.logger.debug('import chunks applied', { chunks: events.length, created });
  });
}

/** The import's lifecycle from the worker: started, received (accepted), failed. */
export function recordImportLifecycle(): HandlerSpec<Tx> {
  return onBatch<(typeof IMPORT_STATUS)[number], Tx>(IMPORT_STATUS, async (events, ctx) => {
    for (const e of events) {
      const at = new Date(e.occurredAt);
      switch (e.eventType) {
        case 'import.started':
          await recordStarted(ctx.tx, e.payload.importId, at);
          break;
        case 'import.received': {
          const { importId, rows, chunks, bytes } = e.payload;
          await recordReceived(ctx.tx, { importId, rows, chunks, bytes, at });
          // Every chunk may have been applied and every order be terminal already.
          await settleImports(ctx.tx, [importId], at);
          break;
        }
        case 'import.failed': {
          const { importId, rows, chunks, reason } = e.payload;
          await recordFailed(ctx.tx, { importId, rows, chunks, reason, at });
          break;
        }
      }
    }
  });
}
