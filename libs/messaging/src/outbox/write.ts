import { createEvent, type EnvelopeMeta, type Envelope, type EventContract, type PayloadOf } from '@orderflow/events';
import { AppError } from '@orderflow/errors';
import type { SqlClient } from '@orderflow/db';
import type { Tracing } from '@orderflow/tracing';
import type { Topology } from '../topology';

/** An event on its way to the broker: what one outbox row holds. */
export interface OutgoingEvent {
  exchange: string;
  routingKey: string;
  envelope: Envelope;
  /**
   * The trace context of the code that emitted it (`Tracing.capture`), kept in the row so the
   * publish after the commit continues its trace. Only set while tracing is on.
   */
  traceContext?: string;
}

/** An event's envelope as JSON, made once: the outbox row and the direct publish send the same text. */
const serialized = new WeakMap<OutgoingEvent, string>();
export function jsonOf(e: OutgoingEvent): string {
  let json = serialized.get(e);
  if (json === undefined) {
    json = JSON.stringify(e.envelope);
    serialized.set(e, json);
  }
  return json;
}

/**
 * Builds outgoing events for one service: envelope filled in, exchange resolved from its
 * topology and, with `tracing`, the active trace context captured (the request or handler
 * that emits the event). Without it nothing is captured: tracing off costs no work per event.
 */
export function eventFactory(topology: Topology, tracing?: Tracing) {
  const make = <C extends EventContract>(contract: C, payload: PayloadOf<C>, meta: Omit<EnvelopeMeta, 'source'>): OutgoingEvent => ({
    exchange: topology.exchangeFor(contract),
    routingKey: contract.type,
    envelope: createEvent(contract, payload, { ...meta, source: topology.service }),
  });
  if (!tracing) return make;
  return <C extends EventContract>(contract: C, payload: PayloadOf<C>, meta: Omit<EnvelopeMeta, 'source'>): OutgoingEvent => {
    const event = make(contract, payload, meta);
    const traceContext = tracing.capture();
    if (traceContext !== undefined) event.traceContext = traceContext;
    return event;
  };
}

/** PostgreSQL's limit on the parameters of one statement (their count is a 16-bit field). */
const MAX_PARAMS = 65_535;

export interface OutboxInsertOptions {
  /**
   * The parameters the enclosing statement uses before the outbox's (`$1` … `$n`): the
   * insert's placeholders continue after them, and the returned `params` begin with them.
   */
  params?: readonly unknown[];
  /**
   * SQL over the event's columns `e.event_id`, `e.exchange`, `e.routing_key`, `e.envelope`
   * (and `e.key` with `keys`) that limits the insert, e.g. to events whose state change
   * happened: `e.key IN (SELECT id FROM inserted)`.
   */
  where?: string;
  /** A uuid per event (in the order of `events`), as `e.key` for `where`. */
  keys?: readonly string[];
}

/**
 * The one way events are written to the outbox: an `INSERT … SELECT` as SQL text with its
 * parameters. Alone (`enqueueEvents`), or inside a caller's statement — a data-modifying CTE
 * is atomic without a transaction, so a service can write its state change and its events in
 * one round trip: pass the statement's own parameters as `params` and send the returned
 * `params`, whose numbering the returned `sql` follows.
 *
 * Each envelope is a parameter of its own (`ARRAY[$n, …]`): as one text[] literal, pg would
 * escape every quote of the JSON and PostgreSQL parse it back, which costs a bulk event
 * dearly (see docs/performance.md).
 *
 * `created_at` is the clock at the write, not the column's default (the transaction's start):
 * a sweep's grace counts from it, and a transaction that stayed open past the grace (a slow
 * gateway call, a lock wait) would otherwise commit rows already overdue, which a replica's
 * sweep would publish beside the direct path.
 *
 * Events that carry a trace context (tracing on) add the `trace_context` column; without any,
 * the statement is the one it always was.
 */
export function outboxInsert(events: readonly OutgoingEvent[], options: OutboxInsertOptions = {}): { sql: string; params: unknown[] } {
  const { params: before = [], where, keys } = options;
  if (keys && keys.length !== events.length) {
    throw new AppError('OUTBOX.KEYS_MISMATCH', `${keys.length} keys for ${events.length} outbox events`, { category: 'permanent' });
  }
  const traced = events.some((e) => e.traceContext !== undefined);
  const fixed = 3 + (keys ? 1 : 0) + (traced ? 1 : 0);
  if (before.length + fixed + events.length > MAX_PARAMS) {
    throw new AppError('OUTBOX.TOO_MANY_PARAMETERS', `${before.length} parameters and ${events.length} events exceed one statement's ${MAX_PARAMS}`, { category: 'permanent' });
  }
  const p = (i: number): string => `$${before.length + 1 + i}`;
  const envelopes = events.map((_, i) => `${p(fixed + i)}::text`).join(', ');
  const trace = traced ? { column: ', trace_context', value: ', e.trace_context', array: `, ${p(fixed - 1)}::text[]` } : { column: '', value: '', array: '' };
  return {
    sql: `INSERT INTO outbox_events (event_id, exchange, routing_key, envelope, created_at${trace.column})
     SELECT e.event_id, e.exchange, e.routing_key, e.envelope, clock_timestamp()${trace.value}
       FROM unnest(${p(0)}::uuid[], ${p(1)}::text[], ${p(2)}::text[], ARRAY[${envelopes}]::text[]${keys ? `, ${p(3)}::uuid[]` : ''}${trace.array})
         AS e(event_id, exchange, routing_key, envelope${keys ? ', key' : ''}${trace.column})${where ? `\n      WHERE ${where}` : ''}`,
    params: [
      ...before,
      events.map((e) => e.envelope.eventId),
      events.map((e) => e.exchange),
      events.map((e) => e.routingKey),
      ...(keys ? [keys] : []),
      ...(traced ? [events.map((e) => e.traceContext ?? null)] : []),
      ...events.map(jsonOf),
    ],
  };
}

/** Envelopes per statement of `enqueueEvents`: each is a parameter, and a statement takes at most `MAX_PARAMS`. */
const ENVELOPES_PER_STATEMENT = 10_000;

/** Writes events to the outbox inside the caller's transaction (`outboxInsert`, one statement per `ENVELOPES_PER_STATEMENT`). */
export async function enqueueEvents(tx: SqlClient, events: readonly OutgoingEvent[]): Promise<void> {
  for (let i = 0; i < events.length; i += ENVELOPES_PER_STATEMENT) {
    const { sql, params } = outboxInsert(events.slice(i, i + ENVELOPES_PER_STATEMENT));
    await tx.$executeRawUnsafe(sql, ...params);
  }
}
