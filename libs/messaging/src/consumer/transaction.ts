import type { Envelope } from '@orderflow/events';
import { withLogContext, type Logger } from '@orderflow/logging';
import type { SqlClient, TransactionRunner } from '@orderflow/db';
import { startHandler, type StartedSpan, type Tracing } from '@orderflow/tracing';
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
  /** On: a span per handled message, and the events a handler emits carry the context of the message that caused them. */
  tracing?: Tracing;
}

/** The trace context (`Tracing.capture`) an emitted event keeps: its causing message's handler span. */
type TraceOf = (causationId: string | null | undefined) => string | undefined;

/** A handler span whose handler returned or threw, waiting for its transaction's outcome. */
interface Handled {
  span: StartedSpan;
  /** When its handler returned or threw (`performance.now()`): the span's end. */
  at: number;
  error?: unknown;
}

/**
 * Ends the spans of a transaction's handlers with its outcome: a handler that returned in a
 * transaction that then rolled back (a later handler of the batch threw, or the COMMIT failed)
 * changed nothing, and its re-run, alone, gets a span of its own. Each ends when its handler did.
 */
function endHandled(handled: readonly Handled[], rollback?: unknown): void {
  const why = rollback === undefined ? undefined : `rolled back: ${rollback instanceof Error ? rollback.message : String(rollback)}`;
  for (const h of handled) h.span.end(h.error ?? why, h.at);
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
    const handled: Handled[] = [];
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
          const fn = first.spec.fn;
          await this.invoke(handled, group, (traceOf) => fn(group.map((d) => d.event), this.context(tx, first, emitted, group, traceOf)));
          i = j;
        } else {
          const fn = first.spec.fn as (e: Envelope, c: MessageContext<SqlClient>) => Promise<void>;
          await this.invoke(handled, [first], (traceOf) =>
            withLogContext(
              { correlationId: first.event.correlationId, eventId: first.event.eventId, causationId: first.event.causationId ?? undefined },
              () => fn(first.event, this.context(tx, first, emitted, [first], traceOf)),
            ),
          );
          i++;
        }
      }
      await enqueueEvents(tx, emitted);
      return result;
    }).catch((err: unknown) => {
      endHandled(handled, err);
      throw err;
    });
    endHandled(handled);
    if (emitted.length > 0) this.o.onEventsEnqueued(emitted);
    return outcomes;
  }

  /**
   * Calls a handler with its messages. With tracing on, each message gets a handler span, the
   * child of its publish; the handler runs in the span of its message when it has one, in the
   * batch's span when it has several (what it calls itself, a payment gateway's client span,
   * descends from that), and each event it emits is captured from the span of the message
   * that caused it (its `causationId`), so every order's trace goes on through a shared batch.
   * The spans go to `handled`, to end with the transaction's outcome (`endHandled`).
   */
  private invoke(handled: Handled[], group: Decoded[], call: (traceOf?: TraceOf) => Promise<void>): Promise<void> {
    // Off: the handler's own promise, nothing more.
    return this.o.tracing ? this.traced(this.o.tracing, handled, group, call) : call();
  }

  private async traced(tracing: Tracing, handled: Handled[], group: Decoded[], call: (traceOf: TraceOf) => Promise<void>): Promise<void> {
    const spans = new Map<string, StartedSpan>();
    for (const d of group) {
      const { eventType, eventId, correlationId } = d.event;
      spans.set(eventId, startHandler(tracing, { queue: this.o.queue, eventType, eventId, correlationId, attempt: d.attempt, headers: d.msg.properties.headers }));
    }
    const first = spans.get(group[0]!.event.eventId)!;
    const captured = new Map<StartedSpan, string | undefined>();
    const traceOf: TraceOf = (causationId) => {
      const span = (causationId ? spans.get(causationId) : undefined) ?? first;
      if (!captured.has(span)) captured.set(span, tracing.capture(span.context));
      return captured.get(span);
    };
    try {
      await tracing.run(spans.size === 1 ? first.context : tracing.active(), () => call(traceOf));
    } catch (error) {
      const at = performance.now();
      for (const span of spans.values()) handled.push({ span, at, error });
      throw error;
    }
    const at = performance.now();
    for (const span of spans.values()) handled.push({ span, at });
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

  private context(tx: SqlClient, d: Decoded, emitted: OutgoingEvent[], group: Decoded[], traceOf: TraceOf | undefined): MessageContext<SqlClient> {
    const attempts = new Map(group.map((g) => [g.event.eventId, g.attempt]));
    return {
      tx,
      attempt: d.attempt,
      attemptOf: (event) => attempts.get(event.eventId) ?? 1,
      logger: this.o.logger,
      publish: (contract, payload, meta) => {
        const event = this.newEvent(contract, payload, {
          correlationId: d.event.correlationId,
          causationId: d.event.eventId,
          ...meta,
        });
        if (traceOf) {
          const traceContext = traceOf(event.envelope.causationId);
          if (traceContext !== undefined) event.traceContext = traceContext;
        }
        emitted.push(event);
      },
    };
  }
}
