/**
 * The broker-node faults of `npm run chaos -- --cluster`: the system runs against the local
 * 3-node cluster (AMQP_URLS) and loses one node at a time, as a machine would.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import type { LocalCluster } from './cluster';
import type { ClusterNode } from './cluster-node';

/** The saga queues of a system (one per service; `prefix` + name). */
export const SAGA_QUEUES = ['order.saga', 'inventory.saga', 'payment.saga', 'notification.events'] as const;

export type BrokerNodeFault =
  /** SIGKILL of the node leading most saga queues; restarted after `downSeconds`. */
  | { kind: 'kill-broker-node'; downSeconds?: number }
  /** A graceful stop (`rabbitmqctl stop`) of the node leading most saga queues; started after `downSeconds`. */
  | { kind: 'stop-broker-node'; downSeconds?: number }
  /** A node loses its disk: stopped, forgotten, its data deleted, rejoined, added back to every queue. */
  | { kind: 'wipe-broker-node' };

export const isBrokerNodeFault = (fault: { kind: string }): fault is BrokerNodeFault =>
  fault.kind === 'kill-broker-node' || fault.kind === 'stop-broker-node' || fault.kind === 'wipe-broker-node';

/** The node that leads the most of this system's saga queues (a quorum queue's leader takes every publish and delivery). */
export async function sagaLeader(cluster: LocalCluster, prefix: string): Promise<{ node: ClusterNode; leads: number }> {
  const names = new Set(SAGA_QUEUES.map((q) => `${prefix}${q}`));
  const counts = new Map<string, number>();
  for (const q of await cluster.queues()) if (names.has(q.name) && q.leader) counts.set(q.leader, (counts.get(q.leader) ?? 0) + 1);
  const [name, leads] = [...counts.entries()].sort((a, b) => b[1] - a[1])[0] ?? [];
  const node = cluster.nodes.find((n) => n.name === name) ?? cluster.runningNodes()[0];
  if (!node) throw new Error('no cluster node is running');
  return { node, leads: leads ?? 0 };
}

/** Injects one broker-node fault and undoes it; returns what happened, for the report. */
export async function injectBrokerNodeFault(cluster: LocalCluster, fault: BrokerNodeFault, prefix: string): Promise<string> {
  const t = Date.now();
  const took = (): string => `${((Date.now() - t) / 1000).toFixed(1)} s`;
  if (fault.kind === 'wipe-broker-node') {
    // Not the leader: the point is a replica rebuilt from nothing, not another failover.
    const { node: leader } = await sagaLeader(cluster, prefix);
    const node = cluster.nodes.find((n) => n !== leader && cluster.isRunning(n)) ?? leader;
    await cluster.wipeAndRejoin(node);
    return `wiped broker node ${node.short}, rejoined (${took()})`;
  }
  const { node, leads } = await sagaLeader(cluster, prefix);
  if (fault.kind === 'kill-broker-node') await cluster.kill(node);
  else await cluster.stopNode(node);
  await sleep((fault.downSeconds ?? 10) * 1000);
  await cluster.restart(node);
  const verb = fault.kind === 'kill-broker-node' ? 'kill -9' : 'graceful stop of';
  return `${verb} broker node ${node.short} (leader of ${leads}/${SAGA_QUEUES.length} saga queues; back after ${took()})`;
}
