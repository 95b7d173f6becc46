import { randomUUID } from 'node:crypto';
import amqplib from 'amqplib';
import { Broker, MessageHeaders as H, assertTopology, discardParked, parkedSnapshot, replayParked, type Messaging, type Topology } from '../src';
import type { DeadLetterQueue } from '../src/dead-letters';
import { Harness, type Tx } from './harness';
import { AMQP_URL, deleteTopology, logger, readyCount, testTopology, uniqueName, waitFor } from './support';

/**
 * Parks `n` messages of the topology's work queue with the error code `code` straight into its
 * dead-letter queue; answers their parked ids, oldest first.
 */
async function parkInto(ch: amqplib.ConfirmChannel, topology: Topology, n: number, code: string): Promise<string[]> {
  const ids = Array.from({ length: n }, () => randomUUID());
  for (const id of ids) {
    const headers = { [H.parkedId]: id, [H.parkReason]: 'permanent-failure', [H.errorCode]: code, [H.error]: 'broken', [H.originalQueue]: topology.queues[0]!.name };
    ch.publish(topology.directExchange, topology.deadLetterQueue, Buffer.from(JSON.stringify({ id })), { persistent: true, messageId: id, headers });
  }
  await ch.waitForConfirms();
  return ids;
}

/**
 * The dead-letter operations of one process on one queue, without a consumer: messages are
 * parked straight into the dead-letter queue, so what a walk sees is all that is there. No
 * database: the walks take turns within the process only.
 */
describe('walks of a dead-letter queue (real RabbitMQ)', () => {
  const topology = testTopology(`${uniqueName('t')}.`);
  const workQueue = topology.queues[0]!.name;
  let broker: Broker;
  let conn: amqplib.ChannelModel;
  let ch: amqplib.ConfirmChannel;
  let dlq: DeadLetterQueue;

  beforeAll(async () => {
    broker = new Broker({
      url: AMQP_URL,
      connectionName: uniqueName('dead-letters'),
      logger,
      onConnect: async (model) => {
        const setup = await model.createChannel();
        await assertTopology(setup, topology);
        await setup.close();
      },
    });
    await broker.connect();
    dlq = { broker, topology };
    conn = await amqplib.connect(AMQP_URL);
    ch = await conn.createConfirmChannel();
  });
  afterAll(async () => {
    await conn.close();
    await broker.close();
    await deleteTopology(topology);
  });

  const park = (n: number, code: string): Promise<string[]> => parkInto(ch, topology, n, code);

  it('a selection is one set: unknown ids are ignored, and an empty one selects nothing', async () => {
    const ids = await park(5, 'SET.A');
    expect(await discardParked(dlq, { parkedIds: [] })).toBe(0);
    expect(await discardParked(dlq, { parkedIds: new Set([ids[1]!, ids[3]!, randomUUID()]) })).toBe(2);
    const { depth, items } = await parkedSnapshot(dlq);
    expect({ depth, ids: items.map((m) => m.parkedId) }).toEqual({ depth: 3, ids: [ids[0], ids[2], ids[4]] });
    expect(await discardParked(dlq, { errorCode: 'SET.A' })).toBe(3);
  });

  it('walks started together in one process take turns: each list sees every message and the depth it reports, and the replay and discard beside them miss none', async () => {
    const ids = await park(200, 'BUSY.A');
    // The oldest: what a walk holds first.
    const toReplay = ids.slice(0, 3);
    const toDiscard = ids.slice(3, 5);
    const [before, replayed, during, discarded] = await Promise.all([
      parkedSnapshot(dlq),
      replayParked(dlq, { parkedIds: toReplay }),
      parkedSnapshot(dlq),
      discardParked(dlq, { parkedIds: toDiscard }),
    ]);
    expect({ replayed, discarded }).toEqual({ replayed: 3, discarded: 2 });
    expect({ depth: before.depth, items: before.items.length }).toEqual({ depth: 200, items: 200 });
    // In the order they were called: after the replay, before the discard.
    expect({ depth: during.depth, items: during.items.length }).toEqual({ depth: 197, items: 197 });
    expect(await readyCount(workQueue)).toBe(3);
    expect(await discardParked(dlq, { errorCode: 'BUSY.A' })).toBe(195);
    expect((await parkedSnapshot(dlq)).depth).toBe(0);
  });
});

/**
 * Two processes of one service (replicas behind the gateway) on one database and one
 * dead-letter queue: their walks must take turns as a process's own walks do.
 */
describe('walks of a dead-letter queue by two replicas (real RabbitMQ and PostgreSQL)', () => {
  let h: Harness;
  let replicaA: Messaging<Tx>;
  let replicaB: Messaging<Tx>;
  let conn: amqplib.ChannelModel;
  let ch: amqplib.ConfirmChannel;

  beforeAll(async () => {
    h = await Harness.create();
    replicaA = h.messaging;
    replicaB = h.newMessaging({ connectionName: uniqueName('replica-b') });
    // No subscriptions: no consumer takes a replayed message off its work queue.
    await replicaA.start();
    await replicaB.start();
    conn = await amqplib.connect(AMQP_URL);
    ch = await conn.createConfirmChannel();
  });
  afterAll(async () => {
    await conn.close();
    await replicaB.stop(2_000);
    await h.close();
  });

  it('a replay on one replica waits for the list another replica is walking: it replays the oldest message that list holds, and the list still answers every message', async () => {
    const ids = await parkInto(ch, h.topology, 3_000, 'REPLICAS.A');
    let listEnded = false;
    const listed = replicaA.deadLetters.snapshot({}, 5_000).finally(() => {
      listEnded = true;
    });
    // Replica A's walk is under way: it holds the oldest messages (fewer are ready).
    await waitFor(async () => (await ch.checkQueue(h.topology.deadLetterQueue)).messageCount < ids.length, "replica A's list holding messages");
    expect(listEnded).toBe(false);
    const replayed = await replicaB.deadLetters.replay({ parkedId: ids[0]! });
    const { depth, items } = await listed;
    expect(replayed).toBe(1);
    expect({ depth, items: items.length, first: items[0]?.parkedId }).toEqual({ depth: ids.length, items: ids.length, first: ids[0] });
    expect(await readyCount(h.topology.queues[0]!.name)).toBe(1);
    expect(await replicaB.deadLetters.discard({ errorCode: 'REPLICAS.A' })).toBe(ids.length - 1);
  });
});
