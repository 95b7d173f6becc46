import amqplib from 'amqplib';
import { LocalCluster, type ClusterNode } from '@orderflow/devstack';
import type { Topology } from '../src';
import { Harness } from './harness';
import { waitFor } from './support';

/**
 * Losing a broker node, on the local 3-node cluster (`npm run cluster:start`; this file starts
 * it when none of its nodes runs, and stops it again then). The queues are quorum queues, one
 * member on each node.
 */
const cluster = new LocalCluster({ say: process.env.TEST_LOG_LEVEL ? (l) => process.stdout.write(`[cluster] ${l}\n`) : undefined });
let startedHere = false;

beforeAll(async () => {
  startedHere = cluster.runningNodes().length === 0;
  await cluster.start();
}, 150_000);

afterAll(async () => {
  if (startedHere && !process.env.ORDERFLOW_CLUSTER_KEEP) await cluster.stop();
}, 90_000);

const addressOf = (node: ClusterNode): string => `127.0.0.1:${node.amqpPort}`;
const pause = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Removes a test topology from the cluster (the harness's own clean-up talks to the machine's broker). */
async function deleteFromCluster(topology: Topology): Promise<void> {
  const node = cluster.runningNodes()[0];
  if (!node) return;
  const conn = await amqplib.connect(node.url);
  try {
    const ch = await conn.createChannel();
    for (const q of [...topology.queues.map((x) => x.name), ...topology.retryLevels.map((l) => l.queue), topology.deadLetterQueue]) await ch.deleteQueue(q);
    for (const e of [...topology.exchanges, ...topology.retryLevels.map((l) => l.exchange), topology.directExchange]) await ch.deleteExchange(e);
  } finally {
    await conn.close().catch(() => undefined);
  }
}

async function close(h: Harness): Promise<void> {
  await h.messaging.stop(2_000).catch(() => undefined);
  await deleteFromCluster(h.topology).catch(() => undefined);
  await h.db.drop();
}

/** Publishes `rounds` batches through the outbox, one every `everyMs`, calling `at(round)` before each. */
async function stream(h: Harness, tag: string, rounds: number, perRound: number, everyMs: number, at: (round: number) => Promise<void> = async () => undefined): Promise<string[]> {
  const keys: string[] = [];
  for (let round = 0; round < rounds; round++) {
    await at(round);
    const batch = Array.from({ length: perRound }, (_, i) => `${tag}-${round}-${i}`);
    keys.push(...batch);
    await h.request(...batch);
    await pause(everyMs);
  }
  return keys;
}

describe('messaging on a 3-node RabbitMQ cluster', () => {
  it('when the node leading the queue is killed mid-stream, consumers go on on the survivors and every message is handled exactly once', async () => {
    const h = await Harness.create({ amqpUrl: cluster.urls, relayPollIntervalMs: 500 });
    const queue = h.topology.queues[0]!.name;
    try {
      await h.messaging.start(h.subscriptions());
      const declared = (await cluster.queues()).find((q) => q.name === queue);
      expect(declared?.type).toBe('quorum');
      expect([...(declared?.members ?? [])].sort()).toEqual(cluster.nodes.map((n) => n.name).sort());
      const leader = await waitFor(() => cluster.leaderOf(queue), `a leader for ${queue}`);
      const connectedTo = h.messaging.broker.node;

      let killedAt = 0;
      const keys = await stream(h, 'kill', 30, 30, 50, async (round) => {
        if (round !== 10) return;
        await cluster.kill(leader);
        killedAt = Date.now();
      });
      await waitFor(async () => (await h.ledger()).length >= keys.length, 'every message handled on the survivors', 45_000);
      const caughtUpS = (Date.now() - killedAt) / 1000;

      // Nothing lost, nothing handled twice (redeliveries and republished rows stop at the inbox).
      const ledger = await h.ledger();
      expect(ledger.map((r) => r.key).sort()).toEqual([...keys].sort());
      await waitFor(async () => (await h.db.prisma.outboxEvent.count()) === 0, 'the outbox drained');
      // All of it while the node was down, on a new leader; the client moved if it was on that node.
      expect(cluster.isRunning(leader)).toBe(false);
      expect((await cluster.leaderOf(queue))?.name).not.toBe(leader.name);
      if (connectedTo === addressOf(leader)) expect(h.messaging.broker.node).not.toBe(connectedTo);
      await waitFor(() => h.messaging.isReady(), 'ready on the survivors');
      expect(caughtUpS).toBeLessThan(45);

      // The node comes back as a follower and catches up.
      await cluster.restart(leader);
      await waitFor(() => cluster.inSync(queue, leader), `${leader.name} back in sync`, 30_000);
      const after = await stream(h, 'after-restart', 1, 20, 0);
      await waitFor(async () => (await h.ledger()).length === keys.length + after.length, 'handled after the restart');
    } finally {
      await close(h);
    }
  }, 120_000);

  it('a node that lost its data rejoins the cluster, is a member of the queue again and catches up, while consumers go on', async () => {
    const h = await Harness.create({ amqpUrl: cluster.urls, relayPollIntervalMs: 500 });
    const queue = h.topology.queues[0]!.name;
    try {
      await h.messaging.start(h.subscriptions());
      // The node this client is on: a graceful stop moves it too.
      const victim = cluster.nodes.find((n) => addressOf(n) === h.messaging.broker.node)!;
      expect(victim).toBeDefined();
      const before = await stream(h, 'before-wipe', 5, 40, 20);
      await waitFor(async () => (await h.ledger()).length === before.length, 'handled before the wipe');

      let wiped = false;
      const wipe = cluster.wipeAndRejoin(victim).finally(() => (wiped = true));
      const during: string[] = [];
      while (!wiped) during.push(...(await stream(h, `during-wipe-${during.length}`, 1, 10, 200)));
      await wipe;
      await waitFor(async () => (await h.ledger()).length === before.length + during.length, 'everything published during the wipe handled', 30_000);
      expect((await h.ledger()).map((r) => r.key).sort()).toEqual([...before, ...during].sort());
      expect(h.messaging.broker.node).not.toBeUndefined();

      const survivor = cluster.nodes.find((n) => n !== victim)!;
      expect(await cluster.members(survivor)).toContain(victim.name);
      await waitFor(async () => (await cluster.queues()).find((q) => q.name === queue)?.members.includes(victim.name), `${victim.name} a member of ${queue} again`);
      await waitFor(() => cluster.inSync(queue, victim), `${victim.name} caught up`, 30_000);
    } finally {
      await close(h);
    }
  }, 120_000);
});
