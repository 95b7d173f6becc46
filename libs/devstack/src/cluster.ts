/**
 * A local RabbitMQ cluster of three extra nodes beside the machine's own `rabbit@localhost`
 * (5672, never touched), for the failover tests and demos: `npm run cluster:start`. Each
 * node's files and process: cluster-node.ts.
 */
import fs from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import amqplib from 'amqplib';
import {
  clusterLayout,
  launchNode,
  nodePid,
  parseJson,
  portOpen,
  runCli,
  serverOwner,
  waitGone,
  writeNodeFiles,
  type ClusterNode,
  type ClusterOptions,
} from './cluster-node';

export interface QueueInfo {
  name: string;
  type: string;
  /** Node name of a quorum queue's leader (empty for other types). */
  leader: string;
  members: string[];
}

export interface QuorumMember {
  node: string;
  raftState: string;
  logIndex: number;
  commitIndex: number;
}

/**
 * Starts, stops and breaks the nodes of the local cluster. Every operation is idempotent
 * where that makes sense: `start` on a running cluster only checks it.
 */
export class LocalCluster {
  readonly dir: string;
  readonly nodes: ClusterNode[];
  private readonly say: (line: string) => void;
  private readonly owner = serverOwner();

  constructor(o: ClusterOptions = {}) {
    const layout = clusterLayout(o);
    this.dir = layout.dir;
    this.nodes = layout.nodes;
    this.say = o.say ?? (() => undefined);
  }

  /** Every node's AMQP URL: what AMQP_URLS gets. */
  get urls(): string[] {
    return this.nodes.map((n) => n.url);
  }

  node(nameOrShort: string): ClusterNode {
    const node = this.nodes.find((n) => n.name === nameOrShort || n.short === nameOrShort || String(n.amqpPort) === nameOrShort);
    if (!node) throw new Error(`no cluster node ${nameOrShort} (nodes: ${this.nodes.map((n) => n.short).join(', ')})`);
    return node;
  }

  /** The OS pid of a node's VM, if its pid file names a live process. */
  pidOf(node: ClusterNode): number | undefined {
    return nodePid(node);
  }

  isRunning(node: ClusterNode): boolean {
    return this.pidOf(node) !== undefined;
  }

  runningNodes(): ClusterNode[] {
    return this.nodes.filter((n) => this.isRunning(n));
  }

  /** rabbitmqctl against one node. */
  ctl(node: ClusterNode, ...args: string[]): Promise<string> {
    return runCli('rabbitmqctl', ['-n', node.name, ...args]);
  }

  /**
   * Starts every node that is not running (in parallel: a clustered node waits at boot for
   * the peers it saw last), joins the ones not in the cluster yet, enables every feature flag.
   */
  async start(): Promise<void> {
    const started = Date.now();
    const down = this.nodes.filter((n) => !this.isRunning(n));
    await Promise.all(down.map((n) => this.startNode(n)));
    const [first, ...others] = this.nodes;
    if (!first) return;
    for (const node of others) {
      if ((await this.members(first)).includes(node.name)) continue;
      await this.join(node, first);
    }
    await this.ctl(first, 'enable_feature_flag', 'all');
    this.say(`cluster of ${this.nodes.length} running (${((Date.now() - started) / 1000).toFixed(1)} s): ${this.nodes.map((n) => `${n.name} amqp ${n.amqpPort}`).join(', ')}`);
  }

  /** Stops every running node gracefully (the last one last). */
  async stop(): Promise<void> {
    for (const node of [...this.nodes].reverse()) if (this.isRunning(node)) await this.stopNode(node);
  }

  /** Starts one node (as it is: a member keeps its cluster) and waits until it runs. */
  async startNode(node: ClusterNode, { listen = true, peers = [] }: { listen?: boolean; peers?: readonly ClusterNode[] } = {}): Promise<void> {
    if (this.isRunning(node)) return;
    writeNodeFiles(this.dir, node, this.owner, listen, peers);
    await launchNode(node);
    await this.awaitStartup(node, listen);
  }

  private async awaitStartup(node: ClusterNode, listen = true, timeoutMs = 90_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      try {
        await this.ctl(node, 'await_startup', '--timeout', String(Math.ceil(Math.max(5_000, deadline - Date.now()) / 1000)));
        if (!listen || (await portOpen(node.amqpPort))) return;
      } catch (err) {
        if (Date.now() > deadline) throw err;
      }
      if (Date.now() > deadline) throw new Error(`${node.name} does not listen on ${node.amqpPort} after ${timeoutMs} ms`);
      await sleep(500);
    }
  }

  /** Joins `node` (running) to the cluster of `peer`. */
  async join(node: ClusterNode, peer: ClusterNode): Promise<void> {
    await this.ctl(node, 'stop_app');
    await this.ctl(node, 'join_cluster', peer.name);
    await this.ctl(node, 'start_app');
    await this.awaitStartup(node);
    this.say(`${node.name} joined ${peer.name}`);
  }

  /** The disc nodes of the cluster as `node` sees it. */
  async members(node: ClusterNode): Promise<string[]> {
    const status = parseJson<{ disk_nodes?: string[]; running_nodes?: string[] }>(await this.ctl(node, 'cluster_status', '--formatter', 'json'));
    return status.disk_nodes ?? [];
  }

  /** The nodes running in the cluster as `node` sees it. */
  async runningMembers(node: ClusterNode): Promise<string[]> {
    const status = parseJson<{ running_nodes?: string[] }>(await this.ctl(node, 'cluster_status', '--formatter', 'json'));
    return status.running_nodes ?? [];
  }

  /** Stops a node gracefully (`rabbitmqctl stop`: connections closed, queues handed over) and waits until its VM is gone. */
  async stopNode(node: ClusterNode): Promise<void> {
    const pid = this.pidOf(node);
    if (pid === undefined) return;
    await this.ctl(node, 'stop').catch((err: Error) => this.say(`stop ${node.name}: ${err.message}`));
    await waitGone(node, pid);
    this.say(`${node.name} stopped`);
  }

  /** Kills a node's VM with SIGKILL, as a crash or a lost machine would; resolves once it is gone. */
  async kill(node: ClusterNode): Promise<void> {
    const pid = this.pidOf(node);
    if (pid === undefined) return;
    process.kill(pid, 'SIGKILL');
    await waitGone(node, pid);
    this.say(`${node.name} killed (SIGKILL, pid ${pid})`);
  }

  /** Starts a node that was killed or stopped (it rejoins its cluster). */
  async restart(node: ClusterNode): Promise<void> {
    await this.startNode(node);
    this.say(`${node.name} restarted`);
  }

  /**
   * A node that lost its disk: stopped (if running), forgotten by the cluster (which also
   * drops it from the quorum queues' members), its data directory deleted, started blank with
   * the survivors as its peers (it joins them while it boots, before it takes connections);
   * then it is added back to every quorum queue (`grow`), whose leader sends it the log (or a
   * snapshot) until it catches up. Should it come up on its own all the same, it is joined as
   * the recipe does (stop_app, reset, join_cluster, start_app) without a listener: a client
   * publishing to a cluster of one would lose its messages to the reset.
   */
  async wipeAndRejoin(node: ClusterNode): Promise<void> {
    const survivors = this.nodes.filter((n) => n !== node && this.isRunning(n));
    const survivor = survivors[0];
    if (!survivor) throw new Error(`no running node besides ${node.name} to rejoin`);
    const t = Date.now();
    const step = (what: string): void => this.say(`${node.name} ${what} (${((Date.now() - t) / 1000).toFixed(1)} s)`);
    await this.stopNode(node);
    await this.ctl(survivor, 'forget_cluster_node', node.name);
    fs.rmSync(node.mnesiaBase, { recursive: true, force: true });
    step(`forgotten by ${survivor.name}, its data deleted`);
    await this.startNode(node, { peers: survivors });
    if (!(await this.members(node)).includes(survivor.name)) {
      step('came up on its own: joining it by hand');
      await this.stopNode(node);
      await this.startNode(node, { listen: false });
      await this.ctl(node, 'stop_app');
      await this.ctl(node, 'reset');
      await this.ctl(node, 'join_cluster', survivor.name);
      await this.ctl(node, 'start_app');
      await this.awaitStartup(node, false);
      await this.stopNode(node);
      await this.startNode(node);
    }
    step(`back in the cluster of ${survivor.name}`);
    await runCli('rabbitmq-queues', ['-n', survivor.name, 'grow', node.name, 'all']);
    step('added to every quorum queue');
  }

  /** Queues as a running node sees them: type, leader and members (quorum queues). */
  async queues(): Promise<QueueInfo[]> {
    const node = this.runningNodes()[0];
    if (!node) throw new Error('no cluster node is running');
    const rows = parseJson<Array<{ name: string; type: string; leader?: string; members?: string[] | string }>>(
      await this.ctl(node, 'list_queues', 'name', 'type', 'leader', 'members', '--formatter', 'json'),
    );
    return rows.map((r) => ({
      name: r.name,
      type: r.type,
      leader: typeof r.leader === 'string' ? r.leader : '',
      // An array in JSON, or its printed form on some versions.
      members: Array.isArray(r.members) ? r.members : (String(r.members ?? '').match(/[\w.-]+@[\w.-]+/g) ?? []),
    }));
  }

  /** The node leading a quorum queue (undefined: no such queue, or no leader right now). */
  async leaderOf(queue: string): Promise<ClusterNode | undefined> {
    const info = (await this.queues()).find((q) => q.name === queue);
    return info?.leader ? this.nodes.find((n) => n.name === info.leader) : undefined;
  }

  /** Each member of a quorum queue: its Raft state and how far its log is (`rabbitmq-queues quorum_status`). */
  async quorumStatus(queue: string): Promise<QuorumMember[]> {
    const node = this.runningNodes()[0];
    if (!node) throw new Error('no cluster node is running');
    const rows = parseJson<Array<Record<string, unknown>>>(await runCli('rabbitmq-queues', ['-n', node.name, 'quorum_status', queue, '--formatter', 'json']));
    const field = (row: Record<string, unknown>, pattern: RegExp): unknown => Object.entries(row).find(([k]) => pattern.test(k))?.[1];
    return rows.map((row) => ({
      node: String(field(row, /node/i) ?? ''),
      raftState: String(field(row, /raft state/i) ?? ''),
      logIndex: Number(field(row, /log index/i) ?? NaN),
      commitIndex: Number(field(row, /commit index/i) ?? NaN),
    }));
  }

  /** Deletes every queue and exchange whose name starts with `prefix` (a test system's topology). */
  async deleteByPrefix(prefix: string): Promise<void> {
    if (!prefix) throw new Error('refusing to delete with an empty prefix');
    const node = this.runningNodes()[0];
    if (!node) return;
    const exchanges = parseJson<Array<{ name: string }>>(await this.ctl(node, 'list_exchanges', 'name', '--formatter', 'json'));
    const conn = await amqplib.connect(node.url);
    try {
      const ch = await conn.createChannel();
      for (const q of await this.queues()) if (q.name.startsWith(prefix)) await ch.deleteQueue(q.name);
      for (const e of exchanges) if (e.name.startsWith(prefix)) await ch.deleteExchange(e.name);
    } finally {
      await conn.close().catch(() => undefined);
    }
  }

  /** Whether `node` is a member of the quorum queue, following its leader and as far as its commit index. */
  async inSync(queue: string, node: ClusterNode): Promise<boolean> {
    const members = await this.quorumStatus(queue);
    const leader = members.find((m) => m.raftState === 'leader');
    const member = members.find((m) => m.node === node.name);
    if (!leader || !member) return false;
    // Its log holds every entry the leader committed (a follower's own commit index may trail by a beat).
    return (member === leader || member.raftState === 'follower') && member.logIndex >= leader.commitIndex;
  }
}
