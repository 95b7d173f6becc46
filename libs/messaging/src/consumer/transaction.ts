import type { Envelope } from '@orderflow/events';
import { withLogContext, type Logger } from '@orderflow/logging';
import type { SqlClient, TransactionRunner } from '@orderflow/db';
import type { MessageContext } from '../handlers';
import { enqueueEvents, eventFactory, type OutgoingEvent } from '../outbox/write';
import type { Topology } from '../topology';
import type { Decoded } from './delivery';
import type { Outcome } from './options';
import { FORGET_DELIVERIES } from './poison';

export interface HandlerTransactionOptions<Tx extends SqlClient> {
  topology: Topology;
  queue: string;
  transaction: TransactionRunner<Tx>;
  logger: Logger;
  onEventsEnqueued: (events: readonly OutgoingEvent[]) => void;
}

/**
 * Runs a group of decoded messages in ONE transaction: their inbox records (a redelivered
 * event changes nothing), their handlers, the events those emit (outbox rows) and, for a
 * counted message, the deletion of its delivery counter. Hands the emitted events to the
 * relay once committed.
 */
export class HandlerTransaction<Tx extends SqlClient> {
  private readonly newEvent;

  constructor(private readonly o: HandlerTransactionOptions<Tx>) {
    this.newEvent = eventFactory(o.topology);
  }

  /** Returns each message's outcome: `ack` (handled) or `duplicate` (in the inbox already). */
  async run(batch: Decoded[]): Promise<Outcome[]> {
    const emitted: OutgoingEvent[] = [];
    const outcomes = await this.o.transaction(async (tx) => {
      const fresh = await this.claim(tx, batch.map((d) => d.event.eventId));
      const result: Outcome[] = batch.map((d) => (fresh.delete(d.event.eventId) ? 'ack' : 'duplicate'));
      // A counted message runs alone; its outcome commits here, and its delivery counter with it.
      if (batch.length === 1 && batch[0]!.counted) {
        await tx.$executeRawUnsafe(FORGET_DELIVERIES, this.o.queue, batch[0]!.event.eventId);
      }
      const todo = batch.filter((_, i) => result[i] === 'ack');
      // Consecutive events for the same batch handler (any of its event types) go to it in one call.
      for (let i = 0; i < todo.length; ) {
        const first = todo[i]!;
        if (first.spec.kind === 'batch') {
          let j = i;
          while (j < todo.length && todo[j]!.spec === first.spec) j++;
          const group = todo.slice(i, j);
          await first.spec.fn(group.map((d) => d.event), this.context(tx, first, emitted, group));
          i = j;
        } else {
          const ctx = this.context(tx, first, emitted);
          await withLogContext(
            { correlationId: first.event.correlationId, eventId: first.event.eventId, causationId: first.event.causationId ?? undefined },
            () => (first.spec.fn as (e: Envelope, c: MessageContext<SqlClient>) => Promise<void>)(first.event, ctx),
          );
          i++;
        }
      }
      await enqueueEvents(tx, emitted);
      return result;
    });
    if (emitted.length > 0) this.o.onEventsEnqueued(emitted);
    return outcomes;
  }

  /** Records event ids in the inbox; returns those not seen before. */
  private async claim(tx: SqlClient, eventIds: string[]): Promise<Set<string>> {
    const rows = await tx.$queryRawUnsafe<Array<{ event_id: string }>>(
      `INSERT INTO processed_events (consumer, event_id)
       SELECT $1, unnest($2::uuid[]) ON CONFLICT DO NOTHING RETURNING event_id::text`,
      this.o.queue,
      eventIds,
    );
    return new Set(rows.map((r) => r.event_id));
  }

  private context(tx: SqlClient, d: Decoded, emitted: OutgoingEvent[], group: Decoded[] = [d]): MessageContext<SqlClient> {
    const attempts = new Map(group.map((g) => [g.event.eventId, g.attempt]));
    return {
      tx,
      attempt: d.attempt,
      attemptOf: (event) => attempts.get(event.eventId) ?? 1,
      logger: this.o.logger,
      publish: (contract, payload, meta) => {
        emitted.push(
          this.newEvent(contract, payload, {
            correlationId: d.event.correlationId,
            causationId: d.event.eventId,
            ...meta,
          }),
        );
      },
    };
  }
}
