import type { ConfirmChannel } from 'amqplib';
import type { Pool, PoolClient } from 'pg';
import { createEvent, type EnvelopeMeta, type Envelope, type EventContract, type PayloadOf } from '@orderflow/events';
import type { Logger } from '@orderflow/logging';
import type { Broker, ManagedChannel } from './broker';
import { withClient, type SqlClient } from './sql';
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
}

interface OutboxRow {
  id: string;
  event_id: string;
  exchange: string;
  routing_key: string;
  envelope: string;
  correlation_id: string | null;
}

/** A published row is deleted: the outbox holds only what is still to publish. */
const DELETE_PUBLISHED = 'DELETE FROM outbox_events WHERE event_id = ANY($1::uuid[])';

/**
 * The periodic sweep's first look: one statement outside a transaction. Nearly always there
 * is nothing overdue, and three round trips (BEGIN, a locking SELECT, COMMIT) every second in
 * every process were most of what an idle service cost.
 */
const ANY_OVERDUE = 'SELECT EXISTS (SELECT 1 FROM outbox_events WHERE created_at <= now() - make_interval(secs => $1)) AS overdue';

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
  private deleting: Promise<void> | undefined;
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
      try {
        channel.publish(e.exchange, e.routingKey, Buffer.from(jsonOf(e)), propertiesOf(e.envelope.eventId, e.routingKey, e.envelope.correlationId, timestamp), (err) => {
          if (err) this.unconfirmedWarning(String(err));
          else this.forget(e.envelope.eventId);
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
   * `deleteDelayMs` go in one statement — nothing waits for it (the event is out), and a
   * row left a little longer is no risk: the sweep only takes rows older than its grace.
   */
  private forget(eventId: string): void {
    this.confirmed.push(eventId);
    if (this.deleting) return;
    this.deleting = (async () => {
      await new Promise((r) => setTimeout(r, this.options.deleteDelayMs ?? 50));
      while (this.confirmed.length > 0) {
        const ids = this.confirmed.splice(0, 5_000);
        try {
          await this.options.pool.query(DELETE_PUBLISHED, [ids]);
          this.published += ids.length;
        } catch (err) {
          // Left unsent: a sweep republishes them and consumers drop the duplicates.
          this.options.logger.warn('could not delete published outbox rows', { rows: ids.length, err: (err as Error).message });
        }
      }
    })().finally(() => {
      this.deleting = undefined;
    });
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
          `SELECT id::text, event_id::text, exchange, routing_key, envelope, envelope::jsonb->>'correlationId' AS correlation_id
             FROM outbox_events WHERE created_at <= now() - make_interval(secs => $2)
            ORDER BY id LIMIT $1 FOR UPDATE SKIP LOCKED`,
          [this.batchSize, graceMs / 1000],
        );
        if (rows.length === 0) {
          await client.query('COMMIT');
          return 0;
        }
        await this.publishRows(channel, rows);
        await client.query('DELETE FROM outbox_events WHERE id = ANY($1::bigint[])', [rows.map((r) => r.id)]);
        await client.query('COMMIT');
        this.published += rows.length;
        return rows.length;
      } catch (err) {
        await client.query('ROLLBACK').catch(() => undefined);
        throw err;
      }
    });
  }

  private async publishRows(channel: ConfirmChannel, rows: OutboxRow[]): Promise<void> {
    const timestamp = Math.floor(Date.now() / 1000);
    for (const row of rows) {
      channel.publish(row.exchange, row.routing_key, Buffer.from(row.envelope), propertiesOf(row.event_id, row.routing_key, row.correlation_id, timestamp));
    }
    await this.confirms(channel);
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
    while (this.deleting) await this.deleting;
  }

  /** Publishes until no unsent row is left or the time is up; returns the rows still unsent. */
  async flush(timeoutMs = 10_000): Promise<number> {
    const deadline = Date.now() + timeoutMs;
    await this.settle(timeoutMs);
    for (;;) {
      await this.running;
      const relayed = await this.relayBatch().catch(() => 0);
      const unsent = await this.unsentCount();
      if (unsent === 0 || Date.now() > deadline) return unsent;
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
    contentType: 'application/json',
    messageId: eventId,
    correlationId: correlationId ?? undefined,
    type: routingKey,
    timestamp,
  };
}
