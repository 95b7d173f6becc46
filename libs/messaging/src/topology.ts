import type { Channel, ChannelModel } from 'amqplib';
import type { EventContract } from '@orderflow/events';

/** A consumer queue and the events bound to it. */
export interface QueueSpec {
  name: string;
  /** The part of the name after `<service>.`: the key of `consumes` and of the subscriptions. */
  purpose: string;
  /** The contracts routed into the queue, each version apart: the handlers must take exactly these. */
  contracts: readonly EventContract[];
  bindings: Array<{ exchange: string; routingKey: string }>;
}

/** A delay step of the retry ladder: a fanout exchange into a TTL queue that dead-letters back. */
export interface RetryLevel {
  delayMs: number;
  exchange: string;
  queue: string;
}

/**
 * Everything one service needs on the broker, as plain data. `assertTopology` declares it;
 * the management UI shows exactly these names.
 */
export interface Topology {
  service: string;
  /** Prepended to every name (tests); '' in production. */
  prefix: string;
  /** Durable topic exchanges the service publishes to or consumes from. */
  exchanges: string[];
  /**
   * The topic exchanges of the events it publishes: the only ones it declares. The others of
   * `exchanges` belong to the services that publish on them and are only checked (a service's
   * broker user may not declare them: see `brokerPermissions`).
   */
  ownExchanges: string[];
  /**
   * The service's own direct exchange, `<service>.direct`: every queue of the service is bound
   * to it by its name, so it routes a message to the queue its routing key names — what the
   * default exchange did for retries, parking and replays, limited to this service's queues
   * (writing to the default exchange would let a service write into any queue).
   */
  directExchange: string;
  queues: QueueSpec[];
  retryLevels: RetryLevel[];
  deadLetterQueue: string;
  /** Maps a contract's logical exchange (`order.events`) to the declared name (prefixed in tests). */
  exchangeFor(contract: EventContract): string;
}

export interface TopologyDefinition {
  service: string;
  /** Contracts this service publishes (their exchanges are declared). */
  publishes: readonly EventContract[];
  /** Queue purpose (the part after `<service>.`) → contracts routed into that queue. */
  consumes: Record<string, readonly EventContract[]>;
  /** Growing delays between attempts; a message is tried `retryDelaysMs.length + 1` times. */
  retryDelaysMs: readonly number[];
  /** Prepended to every name: isolates tests sharing one broker. */
  prefix?: string;
}

/** The retry ladder of every service unless configured otherwise (`RETRY_DELAYS_MS`). */
export const DEFAULT_RETRY_DELAYS_MS: readonly number[] = [1000, 5000, 30000];

/** A service's topology, given the prefix (tests) and retry ladder (configuration) of the process. */
export type ServiceTopology = (prefix?: string, retryDelaysMs?: readonly number[]) => Topology;

/**
 * What a service declares once — its name, what it publishes, what each of its queues
 * consumes — as the topology of any process of it.
 */
export function serviceTopology(def: Omit<TopologyDefinition, 'prefix' | 'retryDelaysMs'>): ServiceTopology {
  return (prefix = '', retryDelaysMs = DEFAULT_RETRY_DELAYS_MS) => defineTopology({ ...def, prefix, retryDelaysMs });
}

/** Builds a service's topology from the contracts it publishes and consumes. */
export function defineTopology(def: TopologyDefinition): Topology {
  const prefix = def.prefix ?? '';
  const exchangeFor = (contract: EventContract): string => `${prefix}${contract.exchange}`;
  const consumed = Object.values(def.consumes).flat();
  const exchanges = [...new Set([...def.publishes, ...consumed].map(exchangeFor))].sort();
  const ownExchanges = [...new Set(def.publishes.map(exchangeFor))].sort();
  const queues = Object.entries(def.consumes).map(([purpose, contracts]) => ({
    name: `${prefix}${def.service}.${purpose}`,
    purpose,
    contracts,
    // One binding per event type: the versions of an event share their routing key.
    bindings: [...new Map(contracts.map((c) => [`${exchangeFor(c)} ${c.type}`, { exchange: exchangeFor(c), routingKey: c.type }])).values()],
  }));
  const retryLevels = [...new Set(def.retryDelaysMs)].map((delayMs) => ({
    delayMs,
    exchange: `${prefix}${def.service}.retry.${delayMs}ms`,
    queue: `${prefix}${def.service}.retry.${delayMs}ms`,
  }));
  return {
    service: def.service,
    prefix,
    exchanges,
    ownExchanges,
    directExchange: `${prefix}${def.service}.direct`,
    queues,
    retryLevels,
    deadLetterQueue: `${prefix}${def.service}.dead-letter`,
    exchangeFor,
  };
}

/** The command that turns an installation's classic queues into the quorum queues declared here. */
export const MIGRATE_QUEUES_COMMAND = 'npm run broker:migrate-queues';

/**
 * How many deliveries of one message a work queue allows before the broker dead-letters it
 * itself (`x-delivery-limit`, reason `delivery_limit`, into the service's dead-letter queue).
 * A backstop, far above the consumer's own limit (`maxDeliveries`, default 5): a quorum
 * queue's count also includes every delivery this service gave back on purpose (database
 * away, a move the broker refused, a graceful stop), and those must not park a healthy
 * message. The consumer counts only deliveries that ended without an outcome, so its count
 * decides; the broker's catches what it cannot see (a message that kills its process before
 * it is counted). See docs/decisions.md, "A message's delivery count".
 */
export const BROKER_DELIVERY_LIMIT = 100;

/** A queue as the broker declares it: name, x-arguments and bindings. */
export interface QueueDeclaration {
  name: string;
  arguments: Record<string, string | number>;
  bindings: Array<{ exchange: string; routingKey: string }>;
}

/**
 * Where the broker dead-letters a quorum queue's messages, with publisher confirms (not
 * dropped when the target is missing or refuses: retried until a queue takes them). RabbitMQ
 * 3.10+ needs `x-overflow: reject-publish` for it (and the `stream_queue` feature flag);
 * without a length limit reject-publish never refuses a publish.
 */
const AT_LEAST_ONCE = { 'x-dead-letter-strategy': 'at-least-once', 'x-overflow': 'reject-publish' } as const;

/**
 * Every queue of the topology as declared: all quorum queues (replicated; a message survives
 * the loss of a broker node).
 * - work queues: a broker-side delivery limit (a backstop, see `BROKER_DELIVERY_LIMIT`; with
 *   one, a requeued message also keeps its place) that dead-letters into the dead-letter queue
 *   (through the service's direct exchange);
 * - retry queues: the TTL of their step, then dead-lettered back (the service's direct
 *   exchange, the message's routing key = the queue that failed);
 * - the dead-letter queue: nothing else. No delivery limit: listing it takes every message
 *   and gives it back, which counts as a delivery.
 * Work queues and the dead-letter queue are bound to the direct exchange by their names.
 * Dead-lettering goes through that exchange, not the default one: declaring a queue with a
 * dead-letter exchange needs write permission on that exchange, and write on the default
 * exchange would let the service publish into any queue.
 * Retry queues come first: an upgrade from classic queues moves them before the queues they
 * dead-letter into (see `migrateQueues`).
 */
export function queueDeclarations(topology: Topology): QueueDeclaration[] {
  const quorum = { 'x-queue-type': 'quorum' } as const;
  return [
    ...topology.retryLevels.map((level) => ({
      name: level.queue,
      arguments: { ...quorum, 'x-message-ttl': level.delayMs, 'x-dead-letter-exchange': topology.directExchange, ...AT_LEAST_ONCE },
      bindings: [{ exchange: level.exchange, routingKey: '' }],
    })),
    { name: topology.deadLetterQueue, arguments: { ...quorum }, bindings: [{ exchange: topology.directExchange, routingKey: topology.deadLetterQueue }] },
    ...topology.queues.map((queue) => ({
      name: queue.name,
      arguments: {
        ...quorum,
        'x-delivery-limit': BROKER_DELIVERY_LIMIT,
        'x-dead-letter-exchange': topology.directExchange,
        'x-dead-letter-routing-key': topology.deadLetterQueue,
        ...AT_LEAST_ONCE,
      },
      bindings: [...queue.bindings, { exchange: topology.directExchange, routingKey: queue.name }],
    })),
  ];
}

/** A queue exists with other arguments (or type) than the code declares: PRECONDITION_FAILED. */
export class QueueMismatchError extends Error {
  constructor(readonly queue: string, cause: unknown) {
    super(
      `queue ${queue} exists on the broker with other arguments than this version declares ` +
        `(${cause instanceof Error ? cause.message : String(cause)}). ` +
        `Classic queues of an earlier version become quorum queues with their messages by: ${MIGRATE_QUEUES_COMMAND} ` +
        '(stop the services first; see docs/operations.md, "Upgrading to quorum queues")',
    );
    this.name = 'QueueMismatchError';
  }
}

/** True when the broker refused a declaration as inequivalent (the channel is closed then). */
export const isPreconditionFailed = (err: unknown): boolean => (err as { code?: unknown } | null)?.code === 406;

/** Declares one queue as `declaration` says; a queue that exists otherwise is a `QueueMismatchError`. */
export async function declareQueue(channel: Channel, declaration: QueueDeclaration): Promise<void> {
  try {
    await channel.assertQueue(declaration.name, { durable: true, arguments: declaration.arguments });
  } catch (err) {
    if (isPreconditionFailed(err)) throw new QueueMismatchError(declaration.name, err);
    throw err;
  }
}

/** The exchanges the service binds its queues to but does not publish on: other services' (checked, not declared). */
export const boundExchanges = (topology: Topology): string[] => topology.exchanges.filter((e) => !topology.ownExchanges.includes(e));

/**
 * Declares the topology; idempotent (re-run on every reconnect). A retry message is published
 * to a level's fanout exchange with the *target queue's name* as routing key; when its TTL
 * expires the broker dead-letters it to the service's direct exchange, which routes by that key
 * straight back to the one queue that failed — other consumers of the event never see the retry.
 * Declares only what the service owns (the exchanges it publishes on, its retry and direct
 * exchanges, its queues); the exchanges of other services it binds to are checked passively
 * (which needs no permission) and must exist: see `declareBoundExchanges`.
 * A queue left from an earlier version with other arguments (a classic queue) fails with a
 * `QueueMismatchError` that names the migration command.
 */
export async function assertTopology(channel: Channel, topology: Topology): Promise<void> {
  for (const exchange of topology.ownExchanges) {
    await channel.assertExchange(exchange, 'topic', { durable: true });
  }
  for (const exchange of boundExchanges(topology)) await channel.checkExchange(exchange);
  for (const level of topology.retryLevels) {
    await channel.assertExchange(level.exchange, 'fanout', { durable: true });
  }
  await channel.assertExchange(topology.directExchange, 'direct', { durable: true });
  for (const declaration of queueDeclarations(topology)) {
    await declareQueue(channel, declaration);
    for (const b of declaration.bindings) await channel.bindQueue(declaration.name, b.exchange, b.routingKey);
  }
}

/** A bound exchange is missing and this broker user may not declare it (it belongs to another service). */
export class MissingExchangeError extends Error {
  constructor(readonly exchange: string, cause: unknown) {
    super(
      `exchange ${exchange} does not exist and this broker user may not declare it ` +
        `(${cause instanceof Error ? cause.message : String(cause)}): it belongs to the service that publishes on it. ` +
        'The broker definitions (k8s/rabbitmq/definitions.json) and `npm start` declare every exchange; ' +
        'otherwise start the publishing service first',
    );
    this.name = 'MissingExchangeError';
  }
}

/** Runs `fn` on a channel of its own: a refused operation (a declaration, a deletion) closes only that channel. */
export async function onOwnChannel<T>(connection: ChannelModel, fn: (ch: Channel) => Promise<T>): Promise<T> {
  const ch = await connection.createChannel();
  ch.on('error', () => undefined);
  try {
    return await fn(ch);
  } finally {
    await ch.close().catch(() => undefined);
  }
}

/**
 * Makes sure the other services' exchanges the topology binds to exist before `assertTopology`
 * checks them: each is checked passively and, when missing, declared — which only a user
 * allowed to (an administrator: tests, a local broker) can do. A service's own broker user is
 * refused (403), and this rejects with a `MissingExchangeError`; the connection is retried, so
 * the service comes up once the publishing service (or the definitions) declared it.
 */
export async function declareBoundExchanges(connection: ChannelModel, topology: Topology): Promise<void> {
  for (const exchange of boundExchanges(topology)) {
    try {
      await onOwnChannel(connection, (ch) => ch.checkExchange(exchange));
      continue;
    } catch (err) {
      if ((err as { code?: unknown } | null)?.code !== 404) throw err;
    }
    try {
      await onOwnChannel(connection, (ch) => ch.assertExchange(exchange, 'topic', { durable: true }));
    } catch (err) {
      if ((err as { code?: unknown } | null)?.code === 403) throw new MissingExchangeError(exchange, err);
      throw err;
    }
  }
}
