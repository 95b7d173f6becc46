import type { ConfirmChannel } from 'amqplib';
import type { Pool, PoolClient } from 'pg';
import { createEvent, type EnvelopeMeta, type Envelope, type EventContract, type PayloadOf } from '@orderflow/events';
import type { Logger } from '@orderflow/logging';
import type { Broker, ManagedChannel } from './broker';
import type { SqlClient } from './sql';
import type { Topology } from './topology';

/** An event on its way to the broker: what one outbox row holds. */
export interface OutgoingEvent {
  exchange: string;
  routingKey: string;
  envelope: Envelope;
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
 * without a transaction). `condition` (SQL) limits the insert, e.g. to when the state change
 * happened: `EXISTS (SELECT 1 FROM inserted)`.
 */
export function outboxInsert(events: readonly OutgoingEvent[], first = 1, condition?: string): { sql: string; params: unknown[] } {
  const p = (i: number): string => `$${first + i}`;
  return {
    sql: `INSERT INTO outbox_events (event_id, exchange, routing_key, envelope)
     SELECT * FROM unnest(${p(0)}::uuid[], ${p(1)}::text[], ${p(2)}::text[], ${p(3)}::text[]::jsonb[])${condition ? ` WHERE ${condition}` : ''}`,
    params: [
      events.map((e) => e.envelope.eventId),
      events.map((e) => e.exchange),
      events.map((e) => e.routingKey),
      events.map((e) => JSON.stringify(e.envelope)),
    ],
  };
}

/** Writes events to the outbox inside the caller's transaction: one statement for any number. */
export async function enqueueEvents(tx: SqlClient, events: readonly OutgoingEvent[]): Promise<void> {
  if (events.length === 0) return;
  const { sql, params } = outboxInsert(events);
  await tx.$executeRawUnsafe(sql, ...params);
}

export interface RelayOptions {
  pool: Pool;
  broker: Broker;
  logger: Logger;
  /** Rows published per transaction (one confirm window). */
  batchSize?: number;
  /** Safety net for rows written by other processes or left by a crash; commits wake the relay at once. */
  pollIntervalMs?: number;
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

/**
 * Publishes committed outbox rows with publisher confirms and marks them sent. Rows are
 * claimed with `FOR UPDATE SKIP LOCKED`, so replicas never publish the same row twice in
 * normal operation; a crash between confirm and commit republishes (consumers dedupe).
 */
export class OutboxRelay {
  private channel: ManagedChannel<ConfirmChannel> | undefined;
  private running: Promise<void> | undefined;
  private again = false;
  private timer: NodeJS.Timeout | undefined;
  private stopped = false;
  private readonly batchSize: number;
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
    this.timer = setInterval(() => this.wake(), this.options.pollIntervalMs ?? 1_000);
    this.timer.unref();
    this.wake();
  }

  /** Call after a commit that wrote outbox rows; cheap and coalescing. */
  wake(): void {
    if (this.stopped) return;
    if (this.running) {
      this.again = true;
      return;
    }
    this.running = this.drain().finally(() => {
      this.running = undefined;
      if (this.again && !this.stopped) this.wake();
    });
  }

  private async drain(): Promise<void> {
    do {
      this.again = false;
      let relayed: number;
      do {
        try {
          relayed = await this.relayBatch();
        } catch (err) {
          this.options.logger.warn('outbox relay batch failed; will retry', { err: (err as Error).message });
          return;
        }
      } while (relayed === this.batchSize && !this.stopped);
    } while (this.again && !this.stopped);
  }

  /** Publishes one batch; returns how many rows it marked sent. */
  async relayBatch(): Promise<number> {
    const channel = this.channel?.current;
    if (!channel) return 0;
    const client = await this.options.pool.connect();
    let failed: Error | undefined;
    try {
      await client.query('BEGIN');
      const { rows } = await client.query<OutboxRow>(
        `SELECT id::text, event_id::text, exchange, routing_key, envelope::text, envelope->>'correlationId' AS correlation_id
           FROM outbox_events WHERE sent_at IS NULL ORDER BY id
           LIMIT $1 FOR UPDATE SKIP LOCKED`,
        [this.batchSize],
      );
      if (rows.length === 0) {
        await client.query('COMMIT');
        return 0;
      }
      await this.publish(channel, rows);
      await client.query('UPDATE outbox_events SET sent_at = now() WHERE id = ANY($1::bigint[])', [rows.map((r) => r.id)]);
      await client.query('COMMIT');
      this.published += rows.length;
      return rows.length;
    } catch (err) {
      failed = err as Error;
      await client.query('ROLLBACK').catch(() => undefined);
      throw err;
    } finally {
      client.release(failed && isConnectionError(failed) ? failed : undefined);
    }
  }

  private async publish(channel: ConfirmChannel, rows: OutboxRow[]): Promise<void> {
    const timestamp = Math.floor(Date.now() / 1000);
    for (const row of rows) {
      channel.publish(row.exchange, row.routing_key, Buffer.from(row.envelope), {
        persistent: true,
        contentType: 'application/json',
        messageId: row.event_id,
        correlationId: row.correlation_id ?? undefined,
        type: row.routing_key,
        timestamp,
      });
    }
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

  /** Publishes until no unsent row is left or the time is up; returns the rows still unsent. */
  async flush(timeoutMs = 10_000): Promise<number> {
    const deadline = Date.now() + timeoutMs;
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
      'SELECT count(*)::text AS n FROM outbox_events WHERE sent_at IS NULL',
    );
    return Number(rows[0]?.n ?? 0);
  }

  /** Age in seconds of the oldest unsent row (0 when none): the outbox lag. */
  async lagSeconds(): Promise<number> {
    const { rows } = await this.options.pool.query<{ lag: string | null }>(
      'SELECT extract(epoch FROM now() - min(created_at))::text AS lag FROM outbox_events WHERE sent_at IS NULL',
    );
    return Number(rows[0]?.lag ?? 0);
  }

  async stop(): Promise<void> {
    this.stopped = true;
    clearInterval(this.timer);
    await this.running;
    await this.channel?.close();
  }
}

function isConnectionError(err: Error): boolean {
  return /connection|terminat/i.test(err.message);
}
