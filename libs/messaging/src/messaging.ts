import type { Pool } from 'pg';
import type { EventContract, PayloadOf, EnvelopeMeta } from '@orderflow/events';
import type { Logger } from '@orderflow/logging';
import { Broker } from './broker/connection';
import { QueueConsumer } from './consumer/queue-consumer';
import type { ConsumerStatus } from './consumer/options';
import { discardParked, listParked, parkedCount, parkedSnapshot, replayParked, type DeadLetterQueue, type ParkedFilter, type ParkedMessage } from './dead-letters';
import { selectLanes, type Lanes, type Subscriptions } from './handlers';
import { assertSubscriptions, partsOf } from './subscriptions';
import { startInboxRetention } from './inbox';
import { enqueueEvents, eventFactory, type OutgoingEvent } from './outbox/write';
import { OutboxRelay } from './outbox/relay';
import { pgStatements, type SqlClient, type TransactionRunner } from '@orderflow/db';
import type { Tracing } from '@orderflow/tracing';
import { assertTopology, declareBoundExchanges, QueueMismatchError, type Topology } from './topology';

export interface MessagingOptions<Tx extends SqlClient> {
  topology: Topology;
  /** The broker's URL, or the URLs of a cluster's nodes (connects to any, moves to another when its node is lost). */
  amqpUrl: string | readonly string[];
  /** Connection name in the management UI, e.g. `order-service@host-1234`. */
  connectionName: string;
  /**
   * The service's pg pool (shared with its Prisma adapter, the one `transaction` runs on): the
   * relay claims rows with it, consumers count redeliveries on it and probe it when it fails,
   * and the service's processes take turns walking the dead-letter queue through it.
   */
  pool: Pool;
  transaction: TransactionRunner<Tx>;
  logger: Logger;
  prefetch?: number;
  batchSize?: number;
  /** Batches in flight per queue (lanes by correlation id). Default 1. */
  concurrency?: number;
  /** Wait for more deliveries before handling a partial batch (ms; default 0). */
  lingerMs?: number;
  relayBatchSize?: number;
  relayPollIntervalMs?: number;
  /** Inbox rows older than this are pruned (hourly; from start). Without it the inbox keeps every event id. */
  inboxRetentionMs?: number;
  /**
   * Deliveries of a message that may end without an outcome (its process dies while handling
   * it) before it is parked in the dead-letter queue instead (reason `delivery-limit`). Default 5.
   */
  maxDeliveries?: number;
  observe?: (outcome: 'ack' | 'retry' | 'park' | 'duplicate', seconds: number, eventType: string) => void;
  /**
   * Tracing, when on: events carry the context of the code that emitted them through the
   * outbox (`trace_context`) into their message's headers; publishes, consumer batches and
   * handlers are spans. Off (undefined), none of it runs.
   */
  tracing?: Tracing;
}

/** What publishing code gets: `publish` buffers an event that commits with the transaction. */
export type Publish = <C extends EventContract>(
  contract: C,
  payload: PayloadOf<C>,
  meta: Omit<EnvelopeMeta, 'source'>,
) => void;

export interface MessagingStatus {
  /** Whether the broker connection is up, and since when it is (or is not). */
  broker: { connected: boolean; since: Date };
  /** Each consumer by queue name. */
  consumers: Record<string, ConsumerStatus>;
}

/**
 * A service's whole messaging: one broker connection, the outbox relay, one consumer per
 * queue of its topology, and the dead-letter operations.
 */
export class Messaging<Tx extends SqlClient> {
  readonly broker: Broker;
  readonly relay: OutboxRelay;
  private consumers: Array<QueueConsumer<Tx>> = [];
  private inboxRetention: { stop: () => Promise<void> } | undefined;
  private readonly newEvent;
  private connection = { connected: false, since: new Date() };
  private refuseTopology: (err: Error) => void = () => undefined;
  /** Rejects when the broker refuses a queue as declared (see `QueueMismatchError`). */
  private readonly topologyRefused = new Promise<never>((_, reject) => {
    this.refuseTopology = reject;
  });

  constructor(private readonly o: MessagingOptions<Tx>) {
    this.broker = new Broker({
      url: o.amqpUrl,
      connectionName: o.connectionName,
      logger: o.logger,
      onConnect: async (model) => {
        await declareBoundExchanges(model, o.topology);
        const ch = await model.createChannel();
        try {
          await assertTopology(ch, o.topology);
        } catch (err) {
          // A queue of an earlier version (a classic queue): retrying cannot help, start fails.
          if (err instanceof QueueMismatchError) this.refuseTopology(err);
          throw err;
        } finally {
          await ch.close().catch(() => undefined);
        }
      },
    });
    this.topologyRefused.catch(() => undefined);
    this.relay = new OutboxRelay({
      pool: o.pool,
      broker: this.broker,
      logger: o.logger,
      batchSize: o.relayBatchSize,
      pollIntervalMs: o.relayPollIntervalMs,
      tracing: o.tracing,
    });
    this.newEvent = eventFactory(o.topology, o.tracing);
    this.broker.onStateChange(() => this.connectionNow());
  }

  private connectionNow(): MessagingStatus['broker'] {
    const connected = this.broker.isConnected();
    if (connected !== this.connection.connected) this.connection = { connected, since: new Date() };
    return { ...this.connection };
  }

  get topology(): Topology {
    return this.o.topology;
  }

  /**
   * Connects (declaring the topology), starts the relay and, for every queue in
   * `subscriptions` of the `lanes` this process runs (default all), a consumer. Resolves once
   * connected; keeps reconnecting afterwards.
   *
   * Pass all of the service's subscriptions (or none, for a process that only publishes):
   * before anything else it throws `MESSAGING.SUBSCRIPTION_MISMATCH` when they and the topology
   * disagree (see `subscriptionMismatches`). Rejects, naming the migration command, when a
   * queue exists with other arguments than declared (the classic queues of an earlier version).
   */
  async start(subscriptions: Subscriptions<Tx> = {}, options: { lanes?: Lanes } = {}): Promise<void> {
    if (Object.keys(subscriptions).length > 0) assertSubscriptions(this.o.topology, subscriptions);
    try {
      await Promise.race([this.broker.connect(), this.topologyRefused]);
    } catch (err) {
      await this.broker.close().catch(() => undefined);
      throw err;
    }
    await this.relay.start();
    if (this.o.inboxRetentionMs !== undefined && !this.inboxRetention) {
      this.inboxRetention = startInboxRetention({ pool: this.o.pool, logger: this.o.logger, retentionMs: this.o.inboxRetentionMs });
    }
    for (const [purpose, subscription] of Object.entries(selectLanes(subscriptions, options.lanes ?? 'all'))) {
      const { handlers, ...own } = partsOf(subscription);
      // Present: `assertSubscriptions` checked every subscription's queue.
      const queue = this.o.topology.queues.find((q) => q.purpose === purpose)!;
      const consumer = new QueueConsumer<Tx>({
        broker: this.broker,
        topology: this.o.topology,
        queue: queue.name,
        handlers,
        transaction: this.o.transaction,
        sql: pgStatements(this.o.pool),
        logger: this.o.logger,
        maxDeliveries: this.o.maxDeliveries,
        prefetch: own.prefetch ?? this.o.prefetch ?? 200,
        batchSize: own.batchSize ?? this.o.batchSize ?? 100,
        concurrency: own.concurrency ?? this.o.concurrency,
        lingerMs: own.lingerMs ?? this.o.lingerMs,
        onEventsEnqueued: (events) => this.relay.publish(events),
        observe: this.o.observe,
        tracing: this.o.tracing,
      });
      await consumer.start();
      this.consumers.push(consumer);
    }
  }

  /** Builds an outgoing event with the envelope filled in. */
  event<C extends EventContract>(contract: C, payload: PayloadOf<C>, meta: Omit<EnvelopeMeta, 'source'>): OutgoingEvent {
    return this.newEvent(contract, payload, meta);
  }

  /**
   * Runs `fn` in a transaction; events it publishes are written to the outbox in that same
   * transaction and published as soon as it commits.
   */
  async transaction<T>(fn: (tx: Tx, publish: Publish) => Promise<T>): Promise<T> {
    const emitted: OutgoingEvent[] = [];
    const publish: Publish = (contract, payload, meta) => emitted.push(this.newEvent(contract, payload, meta));
    const result = await this.o.transaction(async (tx) => {
      const value = await fn(tx, publish);
      await enqueueEvents(tx, emitted);
      return value;
    });
    this.relay.publish(emitted);
    return result;
  }

  status(): MessagingStatus {
    return {
      broker: this.connectionNow(),
      consumers: Object.fromEntries(this.consumers.map((c) => [c.queueName, c.status()])),
    };
  }

  /** Connected, and every consumer consuming. */
  isReady(): boolean {
    const s = this.status();
    return s.broker.connected && Object.values(s.consumers).every((c) => c.active);
  }

  /**
   * The queues whose consumer has been gone (not consuming although the broker is connected)
   * for longer than `ms`: they did not come back on their own, and a fresh process may.
   * Not while the broker or the database is away: a restart cannot bring those back.
   */
  consumersGoneLongerThan(ms: number, now: Date = new Date()): string[] {
    return this.consumers
      .map((c) => [c.queueName, c.status()] as const)
      .filter(([, s]) => s.state === 'gone' && now.getTime() - s.since.getTime() > ms)
      .map(([queue]) => queue);
  }

  /** The service's dead-letter queue: walked by one process of the service at a time (through `pool`). */
  private get deadLetterQueue(): DeadLetterQueue {
    return { broker: this.broker, topology: this.o.topology, pool: this.o.pool };
  }

  /**
   * Listing, replaying and discarding each walk the queue, one walk at a time across the
   * service's processes; one kept waiting too long fails with `DEAD_LETTER.BUSY` (transient).
   */
  readonly deadLetters = {
    list: (filter?: ParkedFilter, limit?: number): Promise<ParkedMessage[]> => listParked(this.deadLetterQueue, filter, limit),
    /** The depth and the first parked messages, from one walk (they agree). */
    snapshot: (filter?: ParkedFilter, limit?: number): Promise<{ depth: number; items: ParkedMessage[] }> => parkedSnapshot(this.deadLetterQueue, filter, limit),
    replay: (filter: ParkedFilter): Promise<number> => replayParked(this.deadLetterQueue, filter),
    discard: (filter: ParkedFilter): Promise<number> => discardParked(this.deadLetterQueue, filter),
    count: (): Promise<number> => parkedCount(this.deadLetterQueue),
  };

  /**
   * Graceful stop (SIGTERM): stop consuming, finish in-flight handlers, publish what the
   * outbox still holds, close the connection. Returns the outbox rows left unsent.
   */
  async stop(flushTimeoutMs = 10_000): Promise<number> {
    await Promise.all(this.consumers.map((c) => c.stop()));
    await this.inboxRetention?.stop();
    this.inboxRetention = undefined;
    let unsent = 0;
    if (this.broker.isConnected()) unsent = await this.relay.flush(flushTimeoutMs).catch(() => -1);
    await this.relay.stop();
    await this.broker.close();
    return unsent;
  }
}
