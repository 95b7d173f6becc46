import { randomUUID } from 'node:crypto';
import { permanentError, transientError } from '@orderflow/errors';
import { Messaging, on, type MessagingOptions, type Subscriptions } from '../src';
import type { Prisma } from './generated/prisma/client';
import { AMQP_URL, createTestDb, deleteTopology, logger, testTopology, uniqueName, workRequested, type TestDb } from './support';

export type Tx = Prisma.TransactionClient;

/** What the test handler does for a key: fail transiently n times, or fail for good. */
export interface Behaviour {
  transientFailures?: number;
  permanent?: boolean;
  /** Simulated work before the effect is written. */
  delayMs?: number;
  /** Work for another key the handler requests (publishes) with its effect. */
  then?: string;
}

/** The Messaging options a test may set; the rest are the harness's. */
type MessagingKnobs = Pick<MessagingOptions<Tx>, 'relayPollIntervalMs' | 'batchSize' | 'lingerMs' | 'inboxRetentionMs' | 'tracing'> & Partial<Pick<MessagingOptions<Tx>, 'amqpUrl'>>;

/**
 * One service-like setup per test file: its own database, its own prefixed topology, a
 * handler that records each effect in the ledger, and knobs to make it fail.
 */
export class Harness {
  readonly behaviours = new Map<string, Behaviour>();
  /** Times (ms) at which the handler was entered, per key. */
  readonly attempts = new Map<string, number[]>();
  /** Keys whose handler ran to the end (its transaction may still roll back). */
  readonly finished: string[] = [];
  readonly connectionName = uniqueName('conformance');
  readonly prefix = `${uniqueName('t')}.`;
  readonly topology;
  messaging!: Messaging<Tx>;

  private constructor(
    readonly db: TestDb,
    retryDelaysMs?: number[],
  ) {
    this.topology = testTopology(this.prefix, retryDelaysMs);
  }

  static async create(options: { retryDelaysMs?: number[] } & MessagingKnobs = {}): Promise<Harness> {
    const { retryDelaysMs, ...knobs } = options;
    const h = new Harness(await createTestDb(), retryDelaysMs);
    h.messaging = h.newMessaging(knobs);
    return h;
  }

  /** A fresh Messaging on the same database and topology: a restarted process or a second replica. */
  newMessaging(knobs: MessagingKnobs & { connectionName?: string } = {}): Messaging<Tx> {
    const { connectionName = this.connectionName, relayPollIntervalMs = 1_000, ...rest } = knobs;
    return new Messaging<Tx>({
      topology: this.topology,
      amqpUrl: AMQP_URL,
      connectionName,
      pool: this.db.pool,
      transaction: (fn) => this.db.prisma.$transaction(fn, { maxWait: 10_000, timeout: 30_000 }),
      logger,
      relayPollIntervalMs,
      ...rest,
    });
  }

  subscriptions(): Subscriptions<Tx> {
    return {
      'work-requested': [
        on(workRequested, async (event, ctx) => {
          const { key } = event.payload;
          this.attempts.set(key, [...(this.attempts.get(key) ?? []), Date.now()]);
          const b = this.behaviours.get(key);
          if (b?.permanent) throw permanentError('TEST.BROKEN', `handler is broken for ${key}`);
          if (b?.transientFailures) {
            b.transientFailures--;
            throw transientError('TEST.FLAKY', `flaky dependency for ${key}`);
          }
          if (b?.delayMs) await new Promise((r) => setTimeout(r, b.delayMs));
          await ctx.tx.ledgerEntry.create({ data: { key, eventId: event.eventId } });
          if (b?.then) ctx.publish(workRequested, { key: b.then });
          this.finished.push(key);
        }),
      ],
    };
  }

  /** Publishes work through the outbox, as a service does after a state change. */
  async request(...keys: string[]): Promise<string[]> {
    const ids = keys.map(() => randomUUID());
    await this.messaging.transaction(async (_tx, publish) => {
      keys.forEach((key, i) =>
        publish(workRequested, { key }, { correlationId: `corr-${key}`, eventId: ids[i] }),
      );
    });
    return ids;
  }

  async ledger(key?: string): Promise<Array<{ key: string; eventId: string | null }>> {
    return this.db.prisma.ledgerEntry.findMany({ where: key ? { key } : {}, select: { key: true, eventId: true }, orderBy: { id: 'asc' } });
  }

  async close(): Promise<void> {
    await this.messaging.stop(2_000).catch(() => undefined);
    await deleteTopology(this.topology);
    await this.db.drop();
  }
}
