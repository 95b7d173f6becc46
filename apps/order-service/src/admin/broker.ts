import { defineTopology, type Broker } from '@orderflow/messaging';
import { checkQueues, type QueueStat } from '@orderflow/service';

// What the order service reads of the broker for the admin endpoints. Passive declares on its
// own connection: RabbitMQ checks no permission for them, so the order service's broker user
// reads every service's queues as it is — no management API, no other credentials, no new
// network path (k8s/rabbitmq/definitions.json).

/** The services with a dead-letter queue, by the names of their topologies (and of `/api/dead-letters/<service>`). */
export const SERVICES = ['order', 'inventory', 'payment', 'notification', 'import-worker'] as const;
export type ServiceName = (typeof SERVICES)[number];

/** A service's dead-letter queue, named as its topology names it (`prefix`: TOPOLOGY_PREFIX). */
export const deadLetterQueueOf = (service: string, prefix: string): string =>
  defineTopology({ service, prefix, publishes: [], consumes: {}, retryDelaysMs: [] }).deadLetterQueue;

/**
 * Messages parked in each service's dead-letter queue; null for a service whose queue the
 * broker does not have (never started) and for all of them while the broker cannot be asked.
 */
export async function deadLetterDepths(broker: Broker, prefix: string): Promise<Record<ServiceName, number | null>> {
  const queues = SERVICES.map((service) => deadLetterQueueOf(service, prefix));
  const stats = await checkQueues(broker, queues).catch(() => null);
  const depths = {} as Record<ServiceName, number | null>;
  SERVICES.forEach((service, i) => {
    depths[service] = stats?.get(queues[i]!)?.messages ?? null;
  });
  return depths;
}

/** Any queues' ready messages and consumers (null: no such queue); rejects while the broker cannot be asked. */
export function queueStats(broker: Broker, queues: readonly string[]): Promise<Map<string, QueueStat | null>> {
  return checkQueues(broker, queues);
}
