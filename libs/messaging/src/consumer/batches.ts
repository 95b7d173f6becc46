import type { SqlClient } from '@orderflow/db';
import { attemptOf } from '../headers';
import { decode, type Decoded, type Delivery, type HandlerTable } from './delivery';
import type { PoisonGuard } from './poison';
import type { Settlement } from './settlement';
import { outageOf, type Outage } from './outage';
import type { HandlerTransaction } from './transaction';

export interface BatchOptions<Tx extends SqlClient> {
  queue: string;
  sql: SqlClient;
  handlers: HandlerTable<Tx>;
  transaction: HandlerTransaction<Tx>;
  settlement: Settlement;
  poison: PoisonGuard;
}

/** Deliveries left unhandled because a dependency is away, and which one. */
export interface Interrupted {
  unhandled: Delivery[];
  outage: Outage;
}

/**
 * Handles what a lane took from the prefetch window: parks what cannot be decoded, runs the
 * rest in groups (see `PoisonGuard.groupsOf`), each in one transaction, and settles each
 * message. A failed group is re-run message by message so only the failing one is retried
 * (transient, with growing delay) or parked — unless the failure is an outage (see `outageOf`),
 * which is no message's fault.
 */
export class BatchProcessor<Tx extends SqlClient> {
  constructor(private readonly o: BatchOptions<Tx>) {}

  /**
   * Returns the deliveries left unhandled because a dependency (the database, or one a handler
   * declared unavailable) is away — no message's fault: they go back to the queue as they came,
   * and the consumer takes no more until it answers. Undefined when every delivery has an outcome.
   */
  async process(batch: Delivery[]): Promise<Interrupted | undefined> {
    const decoded: Decoded[] = [];
    for (const d of batch) {
      const result = decode(d, this.o.handlers, this.o.queue);
      if ('reason' in result) await this.o.settlement.park(d, 'invalid-message', result.reason, 'MESSAGE.INVALID', attemptOf(d.msg.properties.headers));
      else decoded.push(result);
    }
    if (decoded.length === 0) return undefined;
    const groups = this.o.poison.groupsOf(decoded);
    for (let g = 0; g < groups.length; g++) {
      const interrupted = await this.runGroup(groups[g]!);
      if (interrupted) return { ...interrupted, unhandled: [...interrupted.unhandled, ...groups.slice(g + 1).flat()] };
    }
    return undefined;
  }

  /**
   * Handles a group in one transaction; a failed group is re-run message by message so only
   * the failing one is retried or parked. Returns the messages left unhandled because a
   * dependency is away: none of them is retried or parked for that (nor re-run one by one:
   * each would only meet the same outage).
   */
  private async runGroup(group: Decoded[]): Promise<Interrupted | undefined> {
    const started = process.hrtime.bigint();
    const { settlement, poison } = this.o;
    try {
      if (group[0]!.suspect && (await poison.parkedAtDeliveryLimit(group[0]!))) return undefined;
      settlement.settle(group, await this.o.transaction.run(group), started);
      return undefined;
    } catch (err) {
      const outage = await outageOf(err, this.o.sql);
      if (outage) return { unhandled: group, outage };
      if (group.length === 1) {
        await settlement.fail(group[0]!, err, started);
        // The handler failed: an outcome (retried, parked, or requeued when the move failed).
        // The limit is on deliveries in a row that end without one.
        if (group[0]!.counted) await poison.forgetDeliveries(group[0]!);
        return undefined;
      }
      // One message spoiled the batch: find it by handling each alone.
      for (let i = 0; i < group.length; i++) {
        const d = group[i]!;
        const one = process.hrtime.bigint();
        try {
          settlement.settle([d], await this.o.transaction.run([d]), one);
        } catch (e) {
          const outage = await outageOf(e, this.o.sql);
          if (outage) return { unhandled: group.slice(i), outage };
          await settlement.fail(d, e, one);
        }
      }
      return undefined;
    }
  }
}
