import type { SqlClient } from '@orderflow/db';
import type { Logger } from '@orderflow/logging';
import { startBatch, type Tracing } from '@orderflow/tracing';
import { attemptOf } from '../headers';
import { decode, idOf, type Decoded, type Delivery, type HandlerTable } from './delivery';
import type { PoisonGuard } from './poison';
import type { Settlement } from './settlement';
import { OUTAGE_STRIKES, outageOf, type Outage } from './outage';
import type { HandlerTransaction } from './transaction';

export interface BatchOptions<Tx extends SqlClient> {
  queue: string;
  sql: SqlClient;
  logger: Logger;
  handlers: HandlerTable<Tx>;
  transaction: HandlerTransaction<Tx>;
  settlement: Settlement;
  poison: PoisonGuard;
  /** On: each batch is a span, linking its messages' contexts, in which their handlers' spans start. */
  tracing?: Tracing;
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
  /**
   * Outages met in a row by the message heading a group (by message id), tried requests only:
   * see `OUTAGE_STRIKES`. Forgotten with the message's outcome; bounded.
   */
  private readonly strikes = new Map<string, number>();

  constructor(private readonly o: BatchOptions<Tx>) {}

  /**
   * Returns the deliveries left unhandled because a dependency (the database, or one a handler
   * declared unavailable) is away — no message's fault: they go back to the queue as they came,
   * and the consumer takes no more until it answers. Undefined when every delivery has an outcome.
   */
  process(batch: Delivery[]): Promise<Interrupted | undefined> {
    return this.o.tracing ? this.traced(this.o.tracing, batch) : this.handle(batch);
  }

  /** `handle` inside the batch's span, which it ends with the outcome. */
  private async traced(tracing: Tracing, batch: Delivery[]): Promise<Interrupted | undefined> {
    const span = startBatch(tracing, this.o.queue, batch.map((d) => d.msg.properties.headers));
    try {
      const interrupted = await tracing.run(span.context, () => this.handle(batch));
      span.end(interrupted ? `${interrupted.outage.dependency} unavailable: ${interrupted.outage.reason}` : undefined);
      return interrupted;
    } catch (err) {
      span.end(err);
      throw err;
    }
  }

  private async handle(batch: Delivery[]): Promise<Interrupted | undefined> {
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
      this.forgetStrikes(group);
      return undefined;
    } catch (err) {
      const outage = await this.outageFor(group[0]!, err);
      if (outage) return { unhandled: group, outage };
      if (group.length === 1) {
        await settlement.fail(group[0]!, err, started);
        this.forgetStrikes(group);
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
          const outage = await this.outageFor(d, e);
          if (outage) return { unhandled: group.slice(i), outage };
          await settlement.fail(d, e, one);
        }
        this.forgetStrikes([d]);
      }
      return undefined;
    }
  }

  /**
   * The outage `err` reveals (see `outageOf`), unless the message heading the failed group has
   * met it `OUTAGE_STRIKES` times in a row with its request tried: then the dependency answers
   * its probe but not this request, and the failure is taken for the message's own (retried on
   * the ladder, parked when that is spent). A group so failed is re-run message by message, so
   * the others are handled and only the one whose request fails alone is retried.
   */
  private async outageFor(head: Decoded, err: unknown): Promise<Outage | undefined> {
    const outage = await outageOf(err, this.o.sql);
    if (!outage || !outage.tried) return outage;
    const id = idOf(head);
    if (id === undefined) return outage;
    const strikes = (this.strikes.get(id) ?? 0) + 1;
    this.strikes.delete(id);
    this.strikes.set(id, strikes);
    if (this.strikes.size > 1_000) this.strikes.delete(this.strikes.keys().next().value!);
    if (strikes < OUTAGE_STRIKES) return outage;
    this.o.logger.warn(`${outage.dependency} answers its probe but failed this message's request ${strikes} times in a row: handled as the message's own failure`, {
      queue: this.o.queue, eventType: head.event.eventType, eventId: head.event.eventId, correlationId: head.event.correlationId, dependency: outage.dependency, code: outage.code, err: outage.reason,
    });
    return undefined;
  }

  /** A probe of the dependency failed during a pause: the failures that struck were the outage's. */
  outageConfirmed(): void {
    this.strikes.clear();
  }

  /** The messages have an outcome: their strikes are over. */
  private forgetStrikes(done: readonly Decoded[]): void {
    if (this.strikes.size === 0) return;
    for (const d of done) {
      const id = idOf(d);
      if (id !== undefined) this.strikes.delete(id);
    }
  }
}
