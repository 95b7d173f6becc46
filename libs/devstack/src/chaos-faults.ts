/**
 * The faults of a chaos run (runChaos, chaos.ts): a service killed or stopped, the broker's
 * connections dropped or the broker restarted, PostgreSQL restarted or down for a while, the
 * bindings of an event deleted for a while and, on the local cluster, a broker node lost
 * (cluster-chaos.ts). Each is injected and undone; what happened is returned for the report.
 */
import { execFile } from 'node:child_process';
import { setTimeout as sleep } from 'node:timers/promises';
import { promisify } from 'node:util';
import amqplib from 'amqplib';
import type { LocalCluster } from './cluster';
import { injectBrokerNodeFault, isBrokerNodeFault, type BrokerNodeFault } from './cluster-chaos';
import type { RunningSystem } from './system';

const run = promisify(execFile);

export type Fault =
  | { kind: 'kill'; app: string }
  /** A graceful stop (SIGTERM, as on a rolling deploy) and a restart. */
  | { kind: 'stop'; app: string }
  | { kind: 'drop-broker-connections' }
  | { kind: 'restart-broker' }
  | { kind: 'restart-database' }
  /** PostgreSQL stopped for this long, then started: consumers must pause, not retry or park. */
  | { kind: 'database-outage'; seconds: number }
  /**
   * An operator deletes the bindings that route order.created and puts them back `seconds`
   * later: the events published meanwhile are unroutable and must not be lost.
   */
  | { kind: 'unbind'; seconds: number }
  /** Needs `cluster`: a broker node killed, stopped or wiped (see cluster-chaos.ts). */
  | BrokerNodeFault;

/** What a fault hits, and where it tells what it does. */
export interface FaultTarget {
  system: RunningSystem;
  topologyPrefix: string;
  /** The local cluster the system runs on, for the broker-node faults. */
  cluster?: LocalCluster;
  say: (line: string) => void;
}

/**
 * When each fault starts: spread evenly over the load, each after the time the ones before it
 * last (an outage's seconds), so the load goes on through all of them.
 */
export function faultSchedule(faults: readonly Fault[], started: number, loadSeconds: number): number[] {
  const lasting = (f: Fault): number => ('seconds' in f ? f.seconds * 1000 : 0);
  const gap = Math.max(0, loadSeconds * 1000 - faults.reduce((sum, f) => sum + lasting(f), 0)) / (faults.length + 1);
  return faults.map((_, i) => started + (i + 1) * gap + faults.slice(0, i).reduce((sum, f) => sum + lasting(f), 0));
}

/** Injects one fault and undoes it (a killed service restarted, as an orchestrator would); returns what happened. */
export async function injectFault(fault: Fault, { system, topologyPrefix, cluster, say }: FaultTarget): Promise<string> {
  const t = Date.now();
  const took = (): string => `${((Date.now() - t) / 1000).toFixed(1)} s`;
  switch (fault.kind) {
    case 'kill':
      await system.kill(fault.app, 'SIGKILL');
      say(`kill -9 ${fault.app}`);
      await sleep(1000);
      await system.restart(fault.app);
      return `kill -9 ${fault.app} (back in ${took()})`;
    case 'stop': {
      const exit = await system.kill(fault.app, 'SIGTERM');
      await system.restart(fault.app);
      return `SIGTERM ${fault.app} (exit ${exit.code ?? exit.signal} after ${took()}, back)`;
    }
    case 'drop-broker-connections':
      return `dropped ${await dropConnections(system.instanceTag)} broker connections`;
    case 'restart-broker':
      await restartBroker();
      return `restarted RabbitMQ (${took()})`;
    case 'restart-database':
      await pgCluster('restart');
      return `restarted PostgreSQL (${took()})`;
    case 'database-outage':
      await pgCluster('stop');
      say(`PostgreSQL stopped for ${fault.seconds} s`);
      await sleep(fault.seconds * 1000);
      await pgCluster('start');
      return `PostgreSQL down for ${took()}`;
    case 'unbind':
      say(`order.created bindings deleted for ${fault.seconds} s`);
      await unbindFor(topologyPrefix, fault.seconds);
      return `order.created unroutable for ${took()}`;
    default:
      if (!isBrokerNodeFault(fault) || !cluster) throw new Error(`fault ${fault.kind} needs a cluster`);
      return injectBrokerNodeFault(cluster, fault, topologyPrefix);
  }
}

/** Drops this system's broker connections (not other systems'), as a network fault would. */
async function dropConnections(tag: string): Promise<number> {
  const { stdout } = await run('rabbitmqctl', ['-q', 'list_connections', 'pid', 'client_properties', '--no-table-headers']);
  const pids = stdout.split('\n').filter((l) => l.includes(tag)).map((l) => l.split('\t')[0]!);
  for (const pid of pids) await run('rabbitmqctl', ['-q', 'close_connection', pid, 'chaos: connection dropped']);
  return pids.length;
}

async function restartBroker(): Promise<void> {
  await run('rabbitmqctl', ['-q', 'stop_app']);
  await run('rabbitmqctl', ['-q', 'start_app']);
  await run('rabbitmqctl', ['-q', 'await_startup', '--timeout', '60']);
}

async function pgCluster(action: 'restart' | 'stop' | 'start'): Promise<void> {
  const { stdout } = await run('sh', ['-c', 'ls /etc/postgresql | head -n1']);
  await run('pg_ctlcluster', ['--skip-systemctl-redirect', stdout.trim(), 'main', action]);
}

/**
 * Removes every binding of order.created (inventory's saga queue and notification's) for
 * `seconds`, then restores them. With no queue bound the broker returns the event to its
 * publisher, which must keep it. (A binding deleted while another still routes the event is
 * invisible to a publisher: RabbitMQ has no per-binding mandatory; the order deadline cancels
 * such an order, with its compensations.)
 */
async function unbindFor(prefix: string, seconds: number): Promise<void> {
  const conn = await amqplib.connect(process.env.AMQP_URL ?? 'amqp://guest:guest@127.0.0.1:5672');
  try {
    const ch = await conn.createChannel();
    const bindings = ['inventory.saga', 'notification.events'].map((q) => [`${prefix}${q}`, `${prefix}order.events`, 'order.created'] as const);
    for (const b of bindings) await ch.unbindQueue(...b);
    await sleep(seconds * 1000);
    for (const b of bindings) await ch.bindQueue(...b);
  } finally {
    await conn.close();
  }
}
