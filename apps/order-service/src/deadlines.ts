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
  total: number | null;
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
    // Two precise ranges of order_deadlines (imported, since): the open interactive orders,
    // and the open orders of imports not completed. Both rows are claimed (SKIP LOCKED), so a
    // change that committed meanwhile is seen: a deadline row moves or goes in the same
    // transaction as its order's status.
    const columns = `SELECT o.id::text, o.status::text AS status, o.customer_id, o.total::float8 AS total, o.import_id::text
                       FROM order_deadlines d JOIN orders o ON o.id = d.order_id`;
    const limit = o.batchSize ?? 500;
    const interactive = await tx.$queryRawUnsafe<OverdueRow[]>(
      `${columns}
        WHERE NOT d.imported AND d.since < $1::timestamptz AND o.status IN ('PENDING', 'STOCK_RESERVED')
        ORDER BY d.since LIMIT $2 FOR UPDATE OF d, o SKIP LOCKED`,
      new Date(at.getTime() - o.deadlineMs).toISOString(),
      limit,
    );
    const imported = await tx.$queryRawUnsafe<OverdueRow[]>(
      `${columns}
        WHERE d.imported AND d.since < $1::timestamptz AND o.status IN ('PENDING', 'STOCK_RESERVED')
          AND o.import_id IN (SELECT id FROM imports WHERE state <> 'COMPLETED')
        ORDER BY d.since LIMIT $2 FOR UPDATE OF d, o SKIP LOCKED`,
      new Date(at.getTime() - (o.importDeadlineMs ?? o.deadlineMs)).toISOString(),
      limit,
    );
    const rows = [...interactive, ...imported];
    const changes: StatusChange[] = [];
    const orders: OrderState[] = [];
    for (const r of rows) {
      const order: OrderState = { id: r.id, status: r.status, customerId: r.customer_id, total: r.total === null ? null : Number(r.total), importId: r.import_id };
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
