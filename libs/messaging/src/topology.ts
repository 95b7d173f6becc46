import type { Channel } from 'amqplib';
import type { EventContract } from '@orderflow/events';

/** A consumer queue and the events bound to it. */
export interface QueueSpec {
  name: string;
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
  /** Durable topic exchanges the service publishes to or consumes from. */
  exchanges: string[];
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

/** Builds a service's topology from the contracts it publishes and consumes. */
export function defineTopology(def: TopologyDefinition): Topology {
  const prefix = def.prefix ?? '';
  const exchangeFor = (contract: EventContract): string => `${prefix}${contract.exchange}`;
  const consumed = Object.values(def.consumes).flat();
  const exchanges = [...new Set([...def.publishes, ...consumed].map(exchangeFor))].sort();
  const queues = Object.entries(def.consumes).map(([purpose, contracts]) => ({
    name: `${prefix}${def.service}.${purpose}`,
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
    exchanges,
    queues,
    retryLevels,
    deadLetterQueue: `${prefix}${def.service}.dead-letter`,
    exchangeFor,
  };
}

/**
 * Declares the topology; idempotent (re-run on every reconnect). A retry message is published
 * to a level's fanout exchange with the *target queue's name* as routing key; when its TTL
 * expires the broker dead-letters it to the default exchange, which routes by that key straight
 * back to the one queue that failed — other consumers of the event never see the retry.
 */
export async function assertTopology(channel: Channel, topology: Topology): Promise<void> {
  for (const exchange of topology.exchanges) {
    await channel.assertExchange(exchange, 'topic', { durable: true });
  }
  for (const queue of topology.queues) {
    await channel.assertQueue(queue.name, { durable: true });
    for (const b of queue.bindings) await channel.bindQueue(queue.name, b.exchange, b.routingKey);
  }
  for (const level of topology.retryLevels) {
    await channel.assertExchange(level.exchange, 'fanout', { durable: true });
    await channel.assertQueue(level.queue, {
      durable: true,
      arguments: { 'x-message-ttl': level.delayMs, 'x-dead-letter-exchange': '' },
    });
    await channel.bindQueue(level.queue, level.exchange, '');
  }
  await channel.assertQueue(topology.deadLetterQueue, { durable: true });
}
