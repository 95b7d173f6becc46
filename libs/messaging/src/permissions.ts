import type { Topology } from './topology';

/** A broker user's permissions in a vhost: one regular expression per kind of access, as RabbitMQ takes them. */
export interface BrokerPermissions {
  configure: string;
  write: string;
  read: string;
}

const escape = (name: string): string => name.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

/** Matches exactly one of the names (already escaped patterns), nothing else. */
const exactly = (patterns: readonly string[]): string => `^(?:${[...new Set(patterns)].sort().join('|')})$`;

/**
 * The least permissions a service's broker user needs to run `topology` (RabbitMQ access
 * control: configure = declare/delete, write = publish to an exchange or bind a queue,
 * read = consume/get/purge a queue or bind from an exchange):
 * - configure: its queues, the exchanges it publishes on, its retry and direct exchanges;
 * - write: those exchanges (publishing, a queue's dead-letter exchange), and its queues (binding);
 * - read: its queues (consuming, listing parked messages, declaring a queue with a dead-letter
 *   exchange), and the exchanges it binds them to: other services' events, its retry and
 *   direct exchanges.
 * Never the default exchange (`amq.default`): publishing there reaches any queue by its name.
 * Other services' exchanges are only bound from, never declared: they exist before (the broker
 * definitions, `npm start`) or the service waits for them (`declareBoundExchanges`). Passive
 * declarations (checking that something exists, a queue's depth) need no permission.
 * Retry levels match by pattern, whatever the delays (`RETRY_DELAYS_MS`).
 */
export function brokerPermissions(topology: Topology): BrokerPermissions {
  const queues = [...topology.queues.map((q) => q.name), topology.deadLetterQueue].map(escape);
  const retry = `${escape(`${topology.prefix}${topology.service}.retry.`)}\\d+ms`;
  const direct = escape(topology.directExchange);
  const published = topology.ownExchanges.map(escape);
  const boundFrom = [...new Set(topology.queues.flatMap((q) => q.bindings.map((b) => b.exchange)))].map(escape);
  return {
    configure: exactly([...queues, retry, direct, ...published]),
    write: exactly([...queues, retry, direct, ...published]),
    read: exactly([...queues, retry, direct, ...boundFrom]),
  };
}

/** Whether `permissions` grant `access` to the resource `name`, as the broker decides it. */
export function permits(permissions: BrokerPermissions, access: keyof BrokerPermissions, name: string): boolean {
  const pattern = permissions[access];
  // The broker's name for the default exchange in permission checks.
  return pattern !== '' && new RegExp(pattern).test(name === '' ? 'amq.default' : name);
}
