import type { Logger } from '@orderflow/logging';
import type { Messaging } from '@orderflow/messaging';
import type { Tx } from './db';
import { applyDecision } from './handlers';
import { applyTallies, talliesOf } from './import-store';
import { recordChanges, type OrderState, type StatusChange } from './store';

interface OverdueRow {
  id: string;
  status: OrderState['status'];
  customer_id: string;
  total: number;
  import_id: string | null;
}

export interface SweeperOptions {
  messaging: Messaging<Tx>;
  logger: Logger;
  now: () => Date;
  /** An order still PENDING or STOCK_RESERVED this long after its last change is timed out. */
  deadlineMs: number;
  /** Imported orders wait behind a whole file's backlog: they get their own, longer deadline. */
  importDeadlineMs?: number;
  intervalMs: number;
  batchSize?: number;
}

/**
 * One sweep: cancels overdue orders with reason "timeout" through the same decision and
 * compensations as a customer cancel (inventory releases, payment voids or refunds). Rows are
 * claimed with SKIP LOCKED, so two replicas sweep disjoint orders. Returns how many it cancelled.
 */
export async function sweepOverdue(o: SweeperOptions): Promise<number> {
  const at = o.now();
  return o.messaging.transaction(async (tx, publish) => {
    // Two precise index ranges (status, import_id, updated_at): interactive orders, and the
    // orders of each import not yet completed. One query over both would scan every open
    // imported order — a million during a big import — on every sweep.
    const columns = `SELECT id::text, status::text AS status, customer_id, total::float8 AS total, import_id::text FROM orders`;
    const limit = o.batchSize ?? 500;
    const interactive = await tx.$queryRawUnsafe<OverdueRow[]>(
      `${columns}
        WHERE status IN ('PENDING', 'STOCK_RESERVED') AND import_id IS NULL AND updated_at < $1::timestamptz
        ORDER BY updated_at LIMIT $2 FOR UPDATE SKIP LOCKED`,
      new Date(at.getTime() - o.deadlineMs).toISOString(),
      limit,
    );
    const imported = await tx.$queryRawUnsafe<OverdueRow[]>(
      `${columns}
        WHERE status IN ('PENDING', 'STOCK_RESERVED') AND updated_at < $1::timestamptz
          AND import_id IN (SELECT id FROM imports WHERE state <> 'COMPLETED')
        ORDER BY updated_at LIMIT $2 FOR UPDATE SKIP LOCKED`,
      new Date(at.getTime() - (o.importDeadlineMs ?? o.deadlineMs)).toISOString(),
      limit,
    );
    const rows = [...interactive, ...imported];
    const changes: StatusChange[] = [];
    const orders: OrderState[] = [];
    for (const r of rows) {
      const order: OrderState = { id: r.id, status: r.status, customerId: r.customer_id, total: Number(r.total), importId: r.import_id };
      orders.push(order);
      applyDecision(order, { type: 'cancel', reason: 'timeout' }, { publish: (c, p, m) => publish(c, p, { correlationId: order.id, ...m }) }, changes, at);
    }
    await recordChanges(tx, changes);
    // Timed-out imported orders count as cancelled on their import's progress.
    await applyTallies(tx, talliesOf(new Map(rows.map((r) => [r.id, r.status])), orders), at);
    if (rows.length > 0) o.logger.warn('overdue orders cancelled', { count: rows.length, deadlineMs: o.deadlineMs });
    return rows.length;
  });
}

/** Runs sweeps every interval until stopped; a failed sweep is logged and retried next time. */
export function startSweeper(o: SweeperOptions): { stop: () => Promise<void> } {
  let running: Promise<unknown> | undefined;
  const timer = setInterval(() => {
    if (running) return;
    running = sweepOverdue(o)
      .catch((err: Error) => o.logger.warn('deadline sweep failed; retrying next interval', { err: err.message }))
      .finally(() => {
        running = undefined;
      });
  }, o.intervalMs);
  timer.unref();
  return {
    async stop() {
      clearInterval(timer);
      await running;
    },
  };
}
