import type { EventContract } from '@orderflow/events';
import { AppError } from '@orderflow/errors';
import type { SqlClient } from '@orderflow/db';
import type { HandlerSpec, QueueSubscription, Subscriptions } from './handlers';
import type { Topology } from './topology';

/** A subscription as its parts: handlers and the queue's own consumer settings. */
export function partsOf<Tx extends SqlClient>(subscription: Subscriptions<Tx>[string]): QueueSubscription<Tx> {
  return 'handlers' in subscription ? subscription : { handlers: subscription };
}

const keyOf = (c: EventContract): string => `${c.type} v${c.version}`;
const listOf = (keys: Iterable<string>): string => [...keys].sort().join(', ');

/**
 * Where the subscriptions and the topology disagree, one sentence per queue (none: they
 * agree). The topology binds a queue to its contracts' routing keys, and the consumer takes
 * only what its handlers name: an event routed to a queue without a handler is parked, a
 * handler whose event is not routed there never runs. Both must list the same contracts.
 * `subscriptions` are all of the service's, whichever lanes this process runs: a topology
 * queue without a subscription is a queue nobody consumes.
 */
export function subscriptionMismatches<Tx extends SqlClient>(topology: Topology, subscriptions: Subscriptions<Tx>): string[] {
  const problems: string[] = [];
  const queues = new Map(topology.queues.map((q) => [q.purpose, q]));
  for (const [purpose, subscription] of Object.entries(subscriptions)) {
    const queue = queues.get(purpose);
    if (!queue) {
      problems.push(`subscription "${purpose}" names no queue of the ${topology.service} topology (its queues: ${listOf(queues.keys()) || 'none'})`);
      continue;
    }
    const routed = new Map(queue.contracts.map((c) => [keyOf(c), c]));
    const handled = new Map(partsOf(subscription).handlers.flatMap((h: HandlerSpec<Tx>) => h.contracts).map((c) => [keyOf(c), c]));
    const unhandled = [...routed.keys()].filter((k) => !handled.has(k));
    const unrouted = [...handled.keys()].filter((k) => !routed.has(k));
    if (unhandled.length > 0) problems.push(`queue ${queue.name} receives ${listOf(unhandled)} but no handler of subscription "${purpose}" takes it (it would be parked)`);
    if (unrouted.length > 0) problems.push(`subscription "${purpose}" handles ${listOf(unrouted)} but the topology does not route it to queue ${queue.name} (the handler would never run)`);
  }
  for (const queue of topology.queues) {
    if (!(queue.purpose in subscriptions)) problems.push(`queue ${queue.name} (${listOf(queue.contracts.map(keyOf))}) has no subscription "${queue.purpose}": nothing would consume it`);
  }
  return problems;
}

/**
 * Throws `MESSAGING.SUBSCRIPTION_MISMATCH` when `subscriptionMismatches` finds any: a queue's
 * contracts are declared in the topology and again by its handlers, and a process must not
 * start with the two apart.
 */
export function assertSubscriptions<Tx extends SqlClient>(topology: Topology, subscriptions: Subscriptions<Tx>): void {
  const problems = subscriptionMismatches(topology, subscriptions);
  if (problems.length === 0) return;
  throw new AppError('MESSAGING.SUBSCRIPTION_MISMATCH', `subscriptions do not match the ${topology.service} topology: ${problems.join('; ')}`, {
    category: 'permanent',
    details: { problems },
  });
}
