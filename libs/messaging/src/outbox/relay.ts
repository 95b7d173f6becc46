import type { ConfirmChannel } from 'amqplib';
import type { Pool } from 'pg';
import type { Logger } from '@orderflow/logging';
import { withClient } from '@orderflow/db';
import { startPublish, type PublishSpan } from '@orderflow/tracing';
import type { ManagedChannel } from '../broker/channels';
import type { Broker } from '../broker/connection';
import { takeReturn } from '../broker/returns';
import { DirectPublisher, type DirectPublisherOptions } from './direct';
import { postponeReturned, propertiesOf, type ReturnedEvent } from './returns';
import type { OutgoingEvent } from './write';

export interface RelayOptions extends DirectPublisherOptions {
  pool: Pool;
  broker: Broker;
  logger: Logger;
  /** Rows a sweep publishes per transaction (one confirm window). */
  batchSize?: number;
  /** How often the sweep looks for rows the direct path did not publish (crash, broker down). */
  pollIntervalMs?: number;
  /** A periodic sweep leaves rows younger than this to the direct path that is publishing them. */
  sweepGraceMs?: number;
  confirmTimeoutMs?: number;
}

interface OutboxRow {
  id: string;
  event_id: string;
  exchange: string;
  routing_key: string;
  envelope: string;
  correlation_id: string | null;
  attempts: number;
  /** Selected only while tracing is on. */
  trace_context?: string | null;
}

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
 * Publishes committed outbox rows with publisher confirms and deletes them once confirmed
 * (the outbox holds only the backlog), two ways:
 *
 * - **Direct** (`DirectPublisher`): the writer hands over the events it has just committed
 *   (`publish`); they go to the broker at once, and the confirmed rows are deleted together in
 *   one statement per round — no read-back of the rows, no transaction.
 * - **Sweep**: rows still unsent — the process died between commit and confirm, the broker
 *   was away, another process wrote them — are claimed with `FOR UPDATE SKIP LOCKED` (so
 *   replicas never publish the same row twice in normal operation), published and deleted in
 *   one transaction. Periodically for rows older than a grace period (after one cheap look
 *   for any), at once on `wake()` (start, reconnect).
 *
 * Both publish `mandatory`: an event no queue takes (a binding deleted, a queue not declared
 * yet) is returned by the broker before its confirm, matched by event id, and keeps its row —
 * with a count of returns and the time of its next attempt, which the sweep waits for (a delay
 * that grows with each return: `postponeReturned`). Each such event is logged once, at its
 * first return.
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
  private readonly direct: DirectPublisher;
  /** Rows the sweep published. */
  private swept = 0;

  /** The sweep's claim; it reads the rows' trace context only while tracing is on. */
  private readonly claim: string;

  constructor(private readonly options: RelayOptions) {
    this.batchSize = options.batchSize ?? 500;
    this.direct = new DirectPublisher(options);
    this.claim = `SELECT id::text, event_id::text, exchange, routing_key, envelope, envelope::jsonb->>'correlationId' AS correlation_id, attempts${options.tracing ? ', trace_context' : ''}
             FROM outbox_events WHERE ${due('$2')}
            ORDER BY id LIMIT $1 FOR UPDATE SKIP LOCKED`;
  }

  /** Rows published since start (both paths): for benchmarks and metrics. */
  get published(): number {
    return this.swept + this.direct.published;
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
    this.direct.publish(channel, events);
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
        const { rows } = await client.query<OutboxRow>(this.claim, [this.batchSize, graceMs / 1000]);
        if (rows.length === 0) {
          await client.query('COMMIT');
          return 0;
        }
        const returned = await this.publishRows(channel, rows);
        const kept = new Set(returned.map((r) => r.eventId));
        const routed = kept.size === 0 ? rows : rows.filter((r) => !kept.has(r.event_id));
        if (routed.length > 0) await client.query('DELETE FROM outbox_events WHERE id = ANY($1::bigint[])', [routed.map((r) => r.id)]);
        if (returned.length > 0) await postponeReturned(client, returned, this.options.unroutableRetry, this.options.logger);
        await client.query('COMMIT');
        this.swept += routed.length;
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
    const { tracing } = this.options;
    const spans: PublishSpan[] = [];
    try {
      for (const row of rows) {
        const eventId = row.event_id;
        const span = tracing
          ? startPublish(tracing, { exchange: row.exchange, routingKey: row.routing_key, eventId, correlationId: row.correlation_id, traceContext: row.trace_context })
          : undefined;
        if (span) spans.push(span);
        channel.publish(row.exchange, row.routing_key, Buffer.from(row.envelope), propertiesOf(eventId, row.routing_key, row.correlation_id, timestamp, span?.headers), (err) => {
          const r = err ? undefined : takeReturn(channel, eventId);
          if (r) returned.push({ eventId, returned: r });
          span?.end(err ? `not confirmed: ${String(err)}` : r ? `returned: ${r.replyText}` : undefined);
        });
      }
      await this.confirms(channel);
    } catch (err) {
      // The spans whose confirm came keep its outcome (a span ends once); the others fail with the batch.
      for (const span of spans) span.end(err);
      throw err;
    }
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

  /**
   * Publishes until no row is left to try now (events waiting for a queue to take them wait
   * out their delay) or the time is up; returns the rows still unsent.
   */
  async flush(timeoutMs = 10_000): Promise<number> {
    const deadline = Date.now() + timeoutMs;
    await this.direct.settle(timeoutMs);
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

  /**
   * Age in seconds of the oldest unsent row (0 when none): the outbox lag. Never below 0: a row
   * is dated at its write, rounded to the millisecond, so one written just before the commit of
   * a long transaction can be dated a fraction of a millisecond after this statement's `now()`.
   */
  async lagSeconds(): Promise<number> {
    const { rows } = await this.options.pool.query<{ lag: string | null }>(
      'SELECT greatest(0, extract(epoch FROM now() - min(created_at)))::text AS lag FROM outbox_events',
    );
    return Number(rows[0]?.lag ?? 0);
  }

  async stop(): Promise<void> {
    this.stopped = true;
    clearInterval(this.timer);
    await this.running;
    await this.direct.settle(5_000);
    await this.channel?.close();
  }
}
