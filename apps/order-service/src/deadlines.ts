import type { Logger } from '@orderflow/logging';
import type { Messaging } from '@orderflow/messaging';
import type { Tx } from './db';
import { CANCEL_REASONS } from './decide';
import { claimOverdue } from './store';
import { outcomeContract, transition } from './transition';

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
 * One sweep: cancels overdue orders with reason "timeout" through the same transition as a
 * customer cancel, so the same compensations follow (inventory releases, payment voids or
 * refunds) and a timed-out imported order counts as cancelled on its import. Orders are claimed
 * with SKIP LOCKED, so two replicas sweep disjoint orders. Returns how many it cancelled.
 */
export async function sweepOverdue(o: SweeperOptions): Promise<number> {
  const at = o.now();
  return o.messaging.transaction(async (tx, publish) => {
    const overdue = await claimOverdue(tx, {
      interactiveBefore: new Date(at.getTime() - o.deadlineMs),
      importedBefore: new Date(at.getTime() - (o.importDeadlineMs ?? o.deadlineMs)),
      limit: o.batchSize ?? 500,
    });
    const timeout = overdue.map((order) => ({ orderId: order.id, inputs: [{ type: 'cancel', reason: CANCEL_REASONS.deadline } as const] }));
    const { events } = await transition(tx, [timeout], { at, locked: overdue });
    for (const { type, payload } of events.flatMap((e) => e.outcomes)) publish(outcomeContract[type], payload, { correlationId: payload.orderId });
    if (overdue.length > 0) o.logger.warn('overdue orders cancelled', { count: overdue.length, deadlineMs: o.deadlineMs });
    return overdue.length;
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
