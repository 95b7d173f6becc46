import type { Options } from 'amqplib';
import type { Pool, PoolClient } from 'pg';
import type { Logger } from '@orderflow/logging';
import type { Returned } from '../broker/returns';

/** An event the broker returned, whose row waits for its next attempt. */
export interface ReturnedEvent {
  eventId: string;
  returned: Returned;
}

/** When a returned event is published again (see `DirectPublisherOptions.unroutableRetry`). */
export interface ReturnBackoff {
  initialMs?: number;
  maxMs?: number;
}

/**
 * A returned event keeps its row: one more attempt, the broker's reason, and the next attempt
 * after a delay that doubles with each return (`$2` s at first, at most `$3` s), so a missing
 * binding costs a publish per event now and then, not one per sweep. Returns the new counts:
 * 1 is an event's first return, the one that is logged.
 */
const POSTPONE_RETURNED = `UPDATE outbox_events o
    SET attempts = o.attempts + 1,
        next_attempt_at = now() + make_interval(secs => least($3::float8, $2::float8 * 2 ^ least(o.attempts, 30))),
        last_error = r.error
   FROM unnest($1::uuid[], $4::text[]) AS r(event_id, error)
  WHERE o.event_id = r.event_id
  RETURNING o.event_id::text, o.exchange, o.routing_key, o.attempts`;

/**
 * Postpones the rows of returned events (see POSTPONE_RETURNED) and logs each event once,
 * at its first return, grouped by where it was sent. `db`: the pool (direct path) or the
 * sweep's transaction.
 */
export async function postponeReturned(db: Pool | PoolClient, events: readonly ReturnedEvent[], backoff: ReturnBackoff | undefined, logger: Logger): Promise<void> {
  const { rows } = await db.query<{ event_id: string; exchange: string; routing_key: string; attempts: number }>(POSTPONE_RETURNED, [
    events.map((e) => e.eventId),
    (backoff?.initialMs ?? 1_000) / 1000,
    (backoff?.maxMs ?? 60_000) / 1000,
    events.map((e) => `returned by the broker: ${e.returned.replyText}`),
  ]);
  const first = new Map<string, { exchange: string; routingKey: string; eventIds: string[] }>();
  for (const row of rows) {
    if (row.attempts !== 1) continue;
    const key = `${row.exchange}\n${row.routing_key}`;
    const group = first.get(key) ?? { exchange: row.exchange, routingKey: row.routing_key, eventIds: [] };
    group.eventIds.push(row.event_id);
    first.set(key, group);
  }
  for (const { exchange, routingKey, eventIds } of first.values()) {
    logger.warn('events unroutable: no queue is bound for them; they stay in the outbox and are retried with a growing delay', {
      exchange,
      routingKey,
      events: eventIds.length,
      eventIds: eventIds.slice(0, 20),
    });
  }
}

/**
 * AMQP properties of an outbox event: the same whichever path (direct or sweep) publishes it.
 * `headers`: the publish's trace context, only while tracing is on.
 */
export function propertiesOf(eventId: string, routingKey: string, correlationId: string | null | undefined, timestamp: number, headers?: Record<string, string>) {
  const properties: Options.Publish = {
    persistent: true,
    // No queue bound for it (a binding deleted, a queue not declared yet): returned, not dropped.
    mandatory: true,
    contentType: 'application/json',
    messageId: eventId,
    correlationId: correlationId ?? undefined,
    type: routingKey,
    timestamp,
  };
  if (headers) properties.headers = headers;
  return properties;
}
