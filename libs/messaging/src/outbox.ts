import type { ConfirmChannel } from 'amqplib';
import type { Pool, PoolClient } from 'pg';
import { createEvent, type EnvelopeMeta, type Envelope, type EventContract, type PayloadOf } from '@orderflow/events';
import type { Logger } from '@orderflow/logging';
import { takeReturn, type Broker, type ManagedChannel, type Returned } from './broker';
import { withClient, type SqlClient } from '@orderflow/db';
import type { Topology } from './topology';

/** An event on its way to the broker: what one outbox row holds. */
export interface OutgoingEvent {
  exchange: string;
  routingKey: string;
  envelope: Envelope;
}

/** An event's envelope as JSON, made once: the outbox row and the direct publish send the same text. */
const serialized = new WeakMap<OutgoingEvent, string>();
function jsonOf(e: OutgoingEvent): string {
  let json = serialized.get(e);
  if (json === undefined) {
    json = JSON.stringify(e.envelope);
    serialized.set(e, json);
  }
  return json;
}

/** Builds outgoing events for one service: envelope filled in, exchange resolved from its topology. */
export function eventFactory(topology: Topology) {
  return <C extends EventContract>(
    contract: C,
    payload: PayloadOf<C>,
    meta: Omit<EnvelopeMeta, 'source'>,
  ): OutgoingEvent => ({
    exchange: topology.exchangeFor(contract),
    routingKey: contract.type,
    envelope: createEvent(contract, payload, { ...meta, source: topology.service }),
  });
}

/**
 * The outbox insert as SQL text and parameters numbered from `$first`, for a service that
 * writes its state change and its events in one statement (a data-modifying CTE is atomic
 * without a transaction). `condition` (SQL over the event's columns `e.event_id`, `e.exchange`,
 * `e.routing_key`, `e.envelope`, and `e.key` when `keys` gives a uuid per event) limits the
 * insert, e.g. to events whose state change happened: `e.key IN (SELECT id FROM inserted)`.
 *
 * Each envelope is a parameter of its own (`ARRAY[$n, …]`): as one text[] literal, pg would
 * escape every quote of the JSON and PostgreSQL parse it back — for a bulk event of ~100 KB
 * that was ≈ 2.5 ms per hop.
 */
export function outboxInsert(
  events: readonly OutgoingEvent[],
  first = 1,
  condition?: string,
  keys?: readonly string[],
): { sql: string; params: unknown[] } {
  const p = (i: number): string => `$${first + i}`;
  const fixed = keys ? 4 : 3;
  const envelopes = events.map((_, i) => `${p(fixed + i)}::text`).join(', ');
  return {
    sql: `INSERT INTO outbox_events (event_id, exchange, routing_key, envelope)
     SELECT e.event_id, e.exchange, e.routing_key, e.envelope
       FROM unnest(${p(0)}::uuid[], ${p(1)}::text[], ${p(2)}::text[], ARRAY[${envelopes}]::text[]${keys ? `, ${p(3)}::uuid[]` : ''})
         AS e(event_id, exchange, routing_key, envelope${keys ? ', key' : ''})${condition ? `\n      WHERE ${condition}` : ''}`,
    params: [
      events.map((e) => e.envelope.eventId),
      events.map((e) => e.exchange),
      events.map((e) => e.routingKey),
      ...(keys ? [keys] : []),
      ...events.map(jsonOf),
    ],
  };
}

/** Writes events to the outbox inside the caller's transaction: one statement for up to 10,000. */
export async function enqueueEvents(tx: SqlClient, events: readonly OutgoingEvent[]): Promise<void> {
  // A statement takes at most 65,535 parameters, and each envelope is one.
  for (let i = 0; i < events.length; i += ENVELOPES_PER_STATEMENT) {
    const { sql, params } = outboxInsert(events.slice(i, i + ENVELOPES_PER_STATEMENT));
    await tx.$executeRawUnsafe(sql, ...params);
  }
}

const ENVELOPES_PER_STATEMENT = 10_000;

export interface RelayOptions {
  pool: Pool;
  broker: Broker;
  logger: Logger;
  /** Rows a sweep publishes per transaction (one confirm window). */
  batchSize?: number;
  /** How often the sweep looks for rows the direct path did not publish (crash, broker down). */
  pollIntervalMs?: number;
  /** A periodic sweep leaves rows younger than this to the direct path that is publishing them. */
  sweepGraceMs?: number;
  /** How long confirmed rows gather before one statement deletes them (default 50 ms). */
  deleteDelayMs?: number;
  confirmTimeoutMs?: number;
  /**
   * When an event the broker returned as unroutable is published again: `initialMs` after its
   * first return, doubling with each further return, at most `maxMs` (defaults 1 s and 60 s).
   */
  unroutableRetry?: { initialMs?: number; maxMs?: number };
}

interface OutboxRow {
  id: string;
  event_id: string;
  exchange: string;
  routing_key: string;
  envelope: string;
  correlation_id: string | null;
  attempts: number;
}

/** An event the broker returned, whose row waits for its next attempt. */
interface ReturnedEvent {
  eventId: string;
  returned: Returned;
}

/** A published row is deleted: the outbox holds only what is still to publish. */
const DELETE_PUBLISHED = 'DELETE FROM outbox_events WHERE event_id = ANY($1::uuid[])';

/**
 * Rows a sweep publishes: those never tried past the grace `$n` seconds (younger ones are the
 * direct path's), those the broker returned once their next attempt is due.
 */
const due = (graceParam: string): string => `coalesce(next_attempt_at, created_at + make_interval(secs => ${graceParam})) <= now()`;

/**
 * The periodic sweep's first look: one statement outside a transaction. Nearly always there
 * is nothing overdue, and three round trips (BEGIN, a locking SELECT, COMMIT) every second in
 * every process were most of what an idle service cost.
 */
const ANY_OVERDUE = `SELECT EXISTS (SELECT 1 FROM outbox_events WHERE ${due('$1')}) AS overdue`;

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
 * Publishes committed outbox rows with publisher confirms and deletes them once confirmed
 * (the outbox holds only the backlog), two ways:
 *
 * - **Direct**: the writer hands over the events it has just committed (`publish`); they go
 *   to the broker at once, and the confirmed rows are deleted together in one statement per
 *   round — no read-back of the rows, no transaction, one statement for many events.
 * - **Sweep**: rows still unsent — the process died between commit and confirm, the broker
 *   was away, another process wrote them — are claimed with `FOR UPDATE SKIP LOCKED` (so
 *   replicas never publish the same row twice in normal operation), published and deleted in
 *   one transaction. Periodically for rows older than a grace period (after one cheap look
 *   for any), at once on `wake()` (start, reconnect).
 *
 * Both publish `mandatory`: an event no queue takes (a binding deleted, a queue not declared
 * yet) is returned by the broker before its confirm, matched by event id, and keeps its row —
 * with a count of returns and the time of its next attempt, which the sweep waits for (a delay
 * that grows with each return). Each such event is logged once, at its first return.
 *
 * A crash between confirm and delete republishes; consumers dedupe by event id.
 */
export class OutboxRelay {
  private channel: ManagedChannel<ConfirmChannel> | undefined;
  private running: Promise<void> | undefined;
  private again = false;
  private timer: NodeJS.Timeout | undefined;
  private stopped = false;
  private readonly batchSize: number;
  /** Event ids confirmed by the broker whose rows are not deleted yet. */
  private confirmed: string[] = [];
  /** Events the broker returned (direct path) whose rows are not postponed yet. */
  private returned: ReturnedEvent[] = [];
  private writing: Promise<void> | undefined;
  /** Direct publishes the broker has not confirmed (or refused) yet. */
  private unconfirmed = 0;
  private settled: Array<() => void> = [];
  private refused = 0;
  private lastRefusedLog = 0;
  /** Rows published since start: for benchmarks and metrics. */
  published = 0;

  constructor(private readonly options: RelayOptions) {
    this.batchSize = options.batchSize ?? 500;
  }

  async start(): Promise<void> {
    this.stopped = false;
    this.channel = await this.options.broker.openChannel<ConfirmChannel>('outbox-relay', true, async () => {
      // Fresh channel after a reconnect: publish whatever piled up meanwhile.
      setImmediate(() => this.wake());
    });
    this.timer = setInterval(() => this.sweep(this.options.sweepGraceMs ?? 5_000), this.options.pollIntervalMs ?? 1_000);
    this.timer.unref();
    this.wake();
  }

  /**
   * The direct path: call right after the commit that wrote these events to the outbox.
   * Without a channel nothing is lost — the rows stay unsent and a sweep publishes them.
   */
  publish(events: readonly OutgoingEvent[]): void {
    const channel = this.channel?.current;
    if (this.stopped || !channel || events.length === 0) return;
    const timestamp = Math.floor(Date.now() / 1000);
    for (const e of events) {
      this.unconfirmed++;
      const { eventId } = e.envelope;
      try {
        channel.publish(e.exchange, e.routingKey, Buffer.from(jsonOf(e)), propertiesOf(eventId, e.routingKey, e.envelope.correlationId, timestamp), (err) => {
          if (err) this.unconfirmedWarning(String(err));
          else {
            // Confirmed is not delivered: a mandatory message no queue took was returned first.
            const returned = takeReturn(channel, eventId);
            if (returned) this.postpone({ eventId, returned });
            else this.forget(eventId);
          }
          this.confirmedOne();
        });
      } catch (err) {
        // The channel closed under us (no callback will come): the reconnect's sweep publishes the rows.
        this.unconfirmedWarning((err as Error).message);
        this.confirmedOne();
        return;
      }
    }
  }

  private confirmedOne(): void {
    this.unconfirmed--;
    if (this.unconfirmed === 0) for (const resolve of this.settled.splice(0)) resolve();
  }

  /** One warning per second however many publishes a lost channel took with it. */
  private unconfirmedWarning(err: string): void {
    this.refused++;
    if (Date.now() - this.lastRefusedLog < 1_000) return;
    this.lastRefusedLog = Date.now();
    this.options.logger.warn('direct publishes not confirmed; the sweep republishes them', { refusedSoFar: this.refused, err });
  }

  /**
   * Deletes the row of a confirmed event. Coalesced: the rows confirmed within
   * `deleteDelayMs` go in one statement — nothing waits for it (the event is out). A row left
   * a little longer may be published again by a sweep without grace (`wake`, `flush`): a
   * duplicate the consumers' inbox drops, and its return, if any, is matched on its own.
   */
  private forget(eventId: string): void {
    this.confirmed.push(eventId);
    this.write();
  }

  /** Keeps the row of a returned event for a later attempt; coalesced like `forget`. */
  private postpone(event: ReturnedEvent): void {
    this.returned.push(event);
    this.write();
  }

  private write(): void {
    if (this.writing) return;
    this.writing = (async () => {
      await new Promise((r) => setTimeout(r, this.options.deleteDelayMs ?? 50));
      while (this.confirmed.length > 0 || this.returned.length > 0) {
        const ids = this.confirmed.splice(0, 5_000);
        const returned = this.returned.splice(0, 5_000);
        if (ids.length > 0) {
          try {
            await this.options.pool.query(DELETE_PUBLISHED, [ids]);
            this.published += ids.length;
          } catch (err) {
            // Left unsent: a sweep republishes them and consumers drop the duplicates.
            this.options.logger.warn('could not delete published outbox rows', { rows: ids.length, err: (err as Error).message });
          }
        }
        if (returned.length > 0) {
          // Without the delay a sweep publishes them again once past its grace.
          await this.markReturned(this.options.pool, returned).catch((err: Error) =>
            this.options.logger.warn('could not record unroutable outbox events', { rows: returned.length, err: err.message }),
          );
        }
      }
    })().finally(() => {
      this.writing = undefined;
      // Confirms that came in after the last look.
      if (this.confirmed.length > 0 || this.returned.length > 0) this.write();
    });
  }

  /**
   * Postpones the rows of returned events (see POSTPONE_RETURNED) and logs each event once,
   * at its first return, grouped by where it was sent.
   */
  private async markReturned(db: Pool | PoolClient, events: readonly ReturnedEvent[]): Promise<void> {
    const retry = this.options.unroutableRetry;
    const { rows } = await db.query<{ event_id: string; exchange: string; routing_key: string; attempts: number }>(POSTPONE_RETURNED, [
      events.map((e) => e.eventId),
      (retry?.initialMs ?? 1_000) / 1000,
      (retry?.maxMs ?? 60_000) / 1000,
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
      this.options.logger.warn('events unroutable: no queue is bound for them; they stay in the outbox and are retried with a growing delay', {
        exchange,
        routingKey,
        events: eventIds.length,
        eventIds: eventIds.slice(0, 20),
      });
    }
  }

  /** Sweeps every unsent row now (start, reconnect, tests); cheap and coalescing. */
  wake(): void {
    this.sweep(0);
  }

  private sweep(graceMs: number): void {
    if (this.stopped) return;
    if (this.running) {
      this.again = true;
      return;
    }
    this.running = this.drain(graceMs).finally(() => {
      this.running = undefined;
      if (this.again && !this.stopped) this.sweep(graceMs);
    });
  }

  private async drain(graceMs: number): Promise<void> {
    if (graceMs > 0 && !this.again) {
      try {
        const { rows } = await this.options.pool.query<{ overdue: boolean }>(ANY_OVERDUE, [graceMs / 1000]);
        if (!rows[0]?.overdue) return;
      } catch (err) {
        this.options.logger.warn('outbox sweep could not look for unsent rows; will retry', { err: (err as Error).message });
        return;
      }
    }
    do {
      this.again = false;
      let relayed: number;
      do {
        try {
          relayed = await this.relayBatch(graceMs);
        } catch (err) {
          this.options.logger.warn('outbox relay batch failed; will retry', { err: (err as Error).message });
          return;
        }
      } while (relayed === this.batchSize && !this.stopped);
    } while (this.again && !this.stopped);
  }

  /** Publishes one batch of unsent rows at least `graceMs` old; returns how many it published. */
  async relayBatch(graceMs = 0): Promise<number> {
    const channel = this.channel?.current;
    if (!channel) return 0;
    return withClient(this.options.pool, async (client) => {
      try {
        await client.query('BEGIN');
        const { rows } = await client.query<OutboxRow>(
          `SELECT id::text, event_id::text, exchange, routing_key, envelope, envelope::jsonb->>'correlationId' AS correlation_id, attempts
             FROM outbox_events WHERE ${due('$2')}
            ORDER BY id LIMIT $1 FOR UPDATE SKIP LOCKED`,
          [this.batchSize, graceMs / 1000],
        );
        if (rows.length === 0) {
          await client.query('COMMIT');
          return 0;
        }
        const returned = await this.publishRows(channel, rows);
        const kept = new Set(returned.map((r) => r.eventId));
        const routed = kept.size === 0 ? rows : rows.filter((r) => !kept.has(r.event_id));
        if (routed.length > 0) await client.query('DELETE FROM outbox_events WHERE id = ANY($1::bigint[])', [routed.map((r) => r.id)]);
        if (returned.length > 0) await this.markReturned(client, returned);
        await client.query('COMMIT');
        this.published += routed.length;
        const recovered = routed.filter((r) => r.attempts > 0).length;
        if (recovered > 0) this.options.logger.info('unroutable events published: a queue takes them again', { events: recovered });
        return rows.length;
      } catch (err) {
        await client.query('ROLLBACK').catch(() => undefined);
        throw err;
      }
    });
  }

  /** Publishes rows as one confirm window; returns the events the broker returned. */
  private async publishRows(channel: ConfirmChannel, rows: OutboxRow[]): Promise<ReturnedEvent[]> {
    const timestamp = Math.floor(Date.now() / 1000);
    const returned: ReturnedEvent[] = [];
    for (const row of rows) {
      const eventId = row.event_id;
      channel.publish(row.exchange, row.routing_key, Buffer.from(row.envelope), propertiesOf(eventId, row.routing_key, row.correlation_id, timestamp), (err) => {
        const r = err ? undefined : takeReturn(channel, eventId);
        if (r) returned.push({ eventId, returned: r });
      });
    }
    await this.confirms(channel);
    return returned;
  }

  private async confirms(channel: ConfirmChannel): Promise<void> {
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(
        () => reject(new Error('publisher confirms timed out')),
        this.options.confirmTimeoutMs ?? 15_000,
      );
    });
    try {
      await Promise.race([channel.waitForConfirms(), timeout]);
    } finally {
      clearTimeout(timer);
    }
  }

  /** Waits for direct publishes to be confirmed and their rows deleted (bounded). */
  private async settle(timeoutMs: number): Promise<void> {
    if (this.unconfirmed > 0) {
      await Promise.race([
        new Promise<void>((resolve) => this.settled.push(resolve)),
        new Promise<void>((resolve) => setTimeout(resolve, timeoutMs).unref()),
      ]);
    }
    while (this.writing) await this.writing;
  }

  /**
   * Publishes until no row is left to try now (events waiting for a queue to take them wait
   * out their delay) or the time is up; returns the rows still unsent.
   */
  async flush(timeoutMs = 10_000): Promise<number> {
    const deadline = Date.now() + timeoutMs;
    await this.settle(timeoutMs);
    for (;;) {
      await this.running;
      const relayed = await this.relayBatch().catch(() => 0);
      const { rows } = await this.options.pool.query<{ unsent: string; due: string }>(
        `SELECT count(*)::text AS unsent, count(*) FILTER (WHERE ${due('0')})::text AS due FROM outbox_events`,
      );
      const unsent = Number(rows[0]?.unsent ?? 0);
      if (Number(rows[0]?.due ?? 0) === 0 || Date.now() > deadline) return unsent;
      if (relayed === 0) await new Promise((r) => setTimeout(r, 100));
    }
  }

  async unsentCount(): Promise<number> {
    const { rows } = await this.options.pool.query<{ n: string }>(
      'SELECT count(*)::text AS n FROM outbox_events',
    );
    return Number(rows[0]?.n ?? 0);
  }

  /** Age in seconds of the oldest unsent row (0 when none): the outbox lag. */
  async lagSeconds(): Promise<number> {
    const { rows } = await this.options.pool.query<{ lag: string | null }>(
      'SELECT extract(epoch FROM now() - min(created_at))::text AS lag FROM outbox_events',
    );
    return Number(rows[0]?.lag ?? 0);
  }

  async stop(): Promise<void> {
    this.stopped = true;
    clearInterval(this.timer);
    await this.running;
    await this.settle(5_000);
    await this.channel?.close();
  }
}

/** AMQP properties of an outbox event: the same whichever path publishes it. */
function propertiesOf(eventId: string, routingKey: string, correlationId: string | null | undefined, timestamp: number) {
  return {
    persistent: true,
    // No queue bound for it (a binding deleted, a queue not declared yet): returned, not dropped.
    mandatory: true,
    contentType: 'application/json',
    messageId: eventId,
    correlationId: correlationId ?? undefined,
    type: routingKey,
    timestamp,
  };
}
