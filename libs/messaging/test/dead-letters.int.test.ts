import { randomUUID } from 'node:crypto';
import amqplib from 'amqplib';
import { Broker, MessageHeaders as H, assertTopology, discardParked, parkedSnapshot, replayParked } from '../src';
import { AMQP_URL, deleteTopology, logger, readyCount, testTopology, uniqueName } from './support';

/**
 * The dead-letter operations of one process on one queue, without a consumer: messages are
 * parked straight into the dead-letter queue, so what a walk sees is all that is there.
 */
describe('walks of a dead-letter queue (real RabbitMQ)', () => {
  const topology = testTopology(`${uniqueName('t')}.`);
  const workQueue = topology.queues[0]!.name;
  let broker: Broker;
  let conn: amqplib.ChannelModel;
  let ch: amqplib.ConfirmChannel;

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
    conn = await amqplib.connect(AMQP_URL);
    ch = await conn.createConfirmChannel();
  });
  afterAll(async () => {
    await conn.close();
    await broker.close();
    await deleteTopology(topology);
  });

  /** Parks `n` messages with the error code `code`; answers their parked ids, oldest first. */
  const park = async (n: number, code: string): Promise<string[]> => {
    const ids = Array.from({ length: n }, () => randomUUID());
    for (const id of ids) {
      const headers = { [H.parkedId]: id, [H.parkReason]: 'permanent-failure', [H.errorCode]: code, [H.error]: 'broken', [H.originalQueue]: workQueue };
      ch.publish(topology.directExchange, topology.deadLetterQueue, Buffer.from(JSON.stringify({ id })), { persistent: true, messageId: id, headers });
    }
    await ch.waitForConfirms();
    return ids;
  };

  it('a selection is one set: unknown ids are ignored, and an empty one selects nothing', async () => {
    const ids = await park(5, 'SET.A');
    expect(await discardParked(broker, topology, { parkedIds: [] })).toBe(0);
    expect(await discardParked(broker, topology, { parkedIds: new Set([ids[1]!, ids[3]!, randomUUID()]) })).toBe(2);
    const { depth, items } = await parkedSnapshot(broker, topology);
    expect({ depth, ids: items.map((m) => m.parkedId) }).toEqual({ depth: 3, ids: [ids[0], ids[2], ids[4]] });
    expect(await discardParked(broker, topology, { errorCode: 'SET.A' })).toBe(3);
  });

  it('walks started together in one process take turns: each list sees every message and the depth it reports, and the replay and discard beside them miss none', async () => {
    const ids = await park(200, 'BUSY.A');
    // The oldest: what a walk holds first.
    const toReplay = ids.slice(0, 3);
    const toDiscard = ids.slice(3, 5);
    const [before, replayed, during, discarded] = await Promise.all([
      parkedSnapshot(broker, topology),
      replayParked(broker, topology, { parkedIds: toReplay }),
      parkedSnapshot(broker, topology),
      discardParked(broker, topology, { parkedIds: toDiscard }),
    ]);
    expect({ replayed, discarded }).toEqual({ replayed: 3, discarded: 2 });
    expect({ depth: before.depth, items: before.items.length }).toEqual({ depth: 200, items: 200 });
    // In the order they were called: after the replay, before the discard.
    expect({ depth: during.depth, items: during.items.length }).toEqual({ depth: 197, items: 197 });
    expect(await readyCount(workQueue)).toBe(3);
    expect(await discardParked(broker, topology, { errorCode: 'BUSY.A' })).toBe(195);
    expect((await parkedSnapshot(broker, topology)).depth).toBe(0);
  });
});
