import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import amqplib, { type ChannelModel, type ConfirmChannel, type GetMessage } from 'amqplib';
import { assertTopology, holdingQueueOf, migrateQueues, queueDeclarations, QueueMismatchError, type Topology } from '../src';
import { AMQP_URL, deleteTopology, testTopology, uniqueName } from './support';

const run = promisify(execFile);

async function typesOnBroker(prefix: string): Promise<Map<string, string>> {
  const { stdout } = await run('rabbitmqctl', ['-q', 'list_queues', 'name', 'type', '--no-table-headers']);
  return new Map(
    stdout
      .split('\n')
      .map((line) => line.split('\t').map((s) => s.trim()))
      .filter(([name]) => name?.startsWith(prefix))
      .map(([name, type]) => [name!, type!]),
  );
}

/** The topology as the previous version declared it: classic queues. */
async function declareClassic(ch: ConfirmChannel, t: Topology): Promise<void> {
  for (const e of t.exchanges) await ch.assertExchange(e, 'topic', { durable: true });
  for (const q of t.queues) {
    await ch.assertQueue(q.name, { durable: true });
    for (const b of q.bindings) await ch.bindQueue(q.name, b.exchange, b.routingKey);
  }
  for (const l of t.retryLevels) {
    await ch.assertExchange(l.exchange, 'fanout', { durable: true });
    await ch.assertQueue(l.queue, { durable: true, arguments: { 'x-message-ttl': l.delayMs, 'x-dead-letter-exchange': '' } });
    await ch.bindQueue(l.queue, l.exchange, '');
  }
  await ch.assertQueue(t.deadLetterQueue, { durable: true });
}

/** Everything a queue holds, taken and given back: id, body and headers of each message. */
async function contents(conn: ChannelModel, queue: string): Promise<Array<{ id: string; body: string; headers: Record<string, unknown>; persistent: boolean }>> {
  const ch = await conn.createChannel();
  const found: Array<{ id: string; body: string; headers: Record<string, unknown>; persistent: boolean }> = [];
  for (;;) {
    const msg: GetMessage | false = await ch.get(queue, { noAck: false });
    if (!msg) break;
    const { 'x-delivery-count': _count, ...headers } = (msg.properties.headers ?? {}) as Record<string, unknown>;
    found.push({ id: String(msg.properties.messageId), body: msg.content.toString(), headers, persistent: msg.properties.deliveryMode === 2 });
  }
  await ch.close(); // gives them all back
  return found.sort((a, b) => a.id.localeCompare(b.id));
}

describe('upgrading classic queues to quorum queues (real RabbitMQ)', () => {
  let conn: ChannelModel;
  let ch: ConfirmChannel;
  let topology: Topology;
  let prefix: string;

  beforeAll(async () => {
    conn = await amqplib.connect(AMQP_URL);
    ch = await conn.createConfirmChannel();
    ch.on('error', () => undefined);
  });
  afterAll(() => conn.close());

  beforeEach(async () => {
    prefix = `${uniqueName('mig')}.`;
    // A long retry delay: what waits in the retry queue stays there during the test.
    topology = testTopology(prefix, [60_000]);
    await declareClassic(ch, topology);
    // Declared by the migration command before it migrates (every exchange of the version it installs).
    await ch.assertExchange(topology.directExchange, 'direct', { durable: true });
  });
  afterEach(async () => {
    for (const d of queueDeclarations(topology)) await ch.deleteQueue(holdingQueueOf(d.name)).catch(() => undefined);
    await deleteTopology(topology);
  });

  const work = (): string => topology.queues[0]!.name;
  const retry = (): string => topology.retryLevels[0]!.queue;

  /** 50 events in the work queue, 3 waiting in the retry queue, 5 parked. */
  async function fill(): Promise<void> {
    for (let i = 0; i < 50; i++) {
      ch.publish(`${prefix}work.events`, 'work.requested', Buffer.from(JSON.stringify({ n: i })), { persistent: true, messageId: `work-${String(i).padStart(3, '0')}`, headers: { 'x-attempt': 1, note: `n${i}` } });
    }
    for (let i = 0; i < 3; i++) {
      ch.publish(topology.retryLevels[0]!.exchange, work(), Buffer.from(`retry ${i}`), { persistent: true, messageId: `retry-${i}`, headers: { 'x-attempt': 2, 'x-last-error': 'TEST.FLAKY: flaky' } });
    }
    for (let i = 0; i < 5; i++) {
      ch.sendToQueue(topology.deadLetterQueue, Buffer.from(`parked ${i}`), { persistent: true, messageId: `parked-${i}`, headers: { 'x-parked-id': `p-${i}`, 'x-error-code': 'TEST.BROKEN' } });
    }
    await ch.waitForConfirms();
  }

  it('each classic queue becomes a quorum queue of the same name holding the same messages; a re-run changes nothing', async () => {
    await fill();
    const before = { work: await contents(conn, work()), retry: await contents(conn, retry()), dead: await contents(conn, topology.deadLetterQueue) };
    expect(before.work).toHaveLength(50);
    expect(before.retry).toHaveLength(3);
    expect(before.dead).toHaveLength(5);
    const refused = await conn.createChannel();
    refused.on('error', () => undefined);
    await expect(assertTopology(refused, topology)).rejects.toBeInstanceOf(QueueMismatchError);

    const results = await migrateQueues(conn, queueDeclarations(topology));
    expect(Object.fromEntries(results.map((r) => [r.queue, [r.outcome, r.moved]]))).toEqual({
      [retry()]: ['migrated', 3],
      [topology.deadLetterQueue]: ['migrated', 5],
      [work()]: ['migrated', 50],
    });

    const types = await typesOnBroker(prefix);
    expect(Object.fromEntries(types)).toEqual({ [work()]: 'quorum', [retry()]: 'quorum', [topology.deadLetterQueue]: 'quorum' });
    expect(await contents(conn, work())).toEqual(before.work);
    expect(await contents(conn, retry())).toEqual(before.retry);
    expect(await contents(conn, topology.deadLetterQueue)).toEqual(before.dead);
    expect(before.work.every((m) => m.persistent)).toBe(true);

    // The services' own declaration is accepted now, and the bindings route into the new queue.
    const declare = await conn.createChannel();
    await assertTopology(declare, topology);
    await declare.close();
    ch.publish(`${prefix}work.events`, 'work.requested', Buffer.from('{}'), { persistent: true, messageId: 'work-after' });
    await ch.waitForConfirms();
    expect((await contents(conn, work())).map((m) => m.id)).toContain('work-after');

    const again = await migrateQueues(conn, queueDeclarations(topology));
    expect(again.map((r) => r.outcome)).toEqual(['declared', 'declared', 'declared']);
    expect(await contents(conn, work())).toHaveLength(51);
  });

  it('refuses a queue that has a consumer and leaves it as it was; once the consumer is gone, a re-run finishes', async () => {
    await fill();
    const consumerConn = await amqplib.connect(AMQP_URL);
    const consumer = await consumerConn.createChannel();
    consumer.on('error', () => undefined);
    await consumer.prefetch(1);
    await consumer.consume(work(), () => undefined, { noAck: false });

    await expect(migrateQueues(conn, queueDeclarations(topology))).rejects.toThrow(/consumer\(s\).*stop the services/);
    expect((await typesOnBroker(prefix)).get(work())).toBe('classic');
    await consumerConn.close(); // its unacked delivery goes back

    await migrateQueues(conn, queueDeclarations(topology));
    expect(Object.fromEntries(await typesOnBroker(prefix))).toEqual({ [work()]: 'quorum', [retry()]: 'quorum', [topology.deadLetterQueue]: 'quorum' });
    expect(await contents(conn, work())).toHaveLength(50);
  });

  it('finishes after a crash midway: the classic queue already deleted (its messages in the holding queue), or the move half done', async () => {
    await fill();
    const dead = topology.deadLetterQueue;
    const before = { work: await contents(conn, work()), dead: await contents(conn, dead) };
    // Crashed after deleting the dead-letter queue: its messages wait in the holding queue.
    await ch.assertQueue(holdingQueueOf(dead), { durable: true, arguments: { 'x-queue-type': 'quorum' } });
    for (;;) {
      const msg = await ch.get(dead, { noAck: false });
      if (!msg) break;
      ch.sendToQueue(holdingQueueOf(dead), msg.content, { ...msg.properties, headers: msg.properties.headers ?? {} });
      await ch.waitForConfirms();
      ch.ack(msg);
    }
    await ch.deleteQueue(dead);
    // Crashed while moving the work queue: 10 copies in the holding queue, the originals still there.
    await ch.assertQueue(holdingQueueOf(work()), { durable: true, arguments: { 'x-queue-type': 'quorum' } });
    for (const m of before.work.slice(0, 10)) ch.sendToQueue(holdingQueueOf(work()), Buffer.from(m.body), { persistent: true, messageId: m.id, headers: m.headers });
    await ch.waitForConfirms();

    await migrateQueues(conn, queueDeclarations(topology));
    const types = await typesOnBroker(prefix);
    expect(Object.fromEntries(types)).toEqual({ [work()]: 'quorum', [retry()]: 'quorum', [dead]: 'quorum' });
    expect(await contents(conn, dead)).toEqual(before.dead);
    // Nothing lost; the copies of the half-done move are duplicates, which the consumers' inbox drops.
    const after = await contents(conn, work());
    expect([...new Set(after.map((m) => m.id))].sort()).toEqual(before.work.map((m) => m.id));
    expect(after.length).toBeLessThanOrEqual(60);
  });
});

describe('upgrading quorum queues that dead-letter through the default exchange to their service\'s direct exchange (real RabbitMQ)', () => {
  it('re-creates each such queue with its messages and its new bindings; the dead-letter queue stays; then retries route back through the direct exchange', async () => {
    const conn = await amqplib.connect(AMQP_URL);
    const prefix = `${uniqueName('migq')}.`;
    const topology = testTopology(prefix, [60_000]);
    const declarations = queueDeclarations(topology);
    const work = topology.queues[0]!.name;
    const retry = topology.retryLevels[0]!;
    try {
      const ch = await conn.createConfirmChannel();
      // As the previous version declared them: the default exchange as dead-letter exchange, no direct exchange.
      for (const e of topology.exchanges) await ch.assertExchange(e, 'topic', { durable: true });
      await ch.assertExchange(retry.exchange, 'fanout', { durable: true });
      for (const d of declarations) {
        const args = 'x-dead-letter-exchange' in d.arguments ? { ...d.arguments, 'x-dead-letter-exchange': '' } : d.arguments;
        await ch.assertQueue(d.name, { durable: true, arguments: args });
        for (const b of d.bindings.filter((x) => x.exchange !== topology.directExchange)) await ch.bindQueue(d.name, b.exchange, b.routingKey);
      }
      for (let i = 0; i < 20; i++) ch.publish(`${prefix}work.events`, 'work.requested', Buffer.from(`w${i}`), { persistent: true, messageId: `work-${String(i).padStart(2, '0')}` });
      ch.publish(retry.exchange, work, Buffer.from('r'), { persistent: true, messageId: 'retry-0' });
      ch.sendToQueue(topology.deadLetterQueue, Buffer.from('p'), { persistent: true, messageId: 'parked-0' });
      await ch.waitForConfirms();
      // The migration command declares the exchanges of the version it installs first.
      await ch.assertExchange(topology.directExchange, 'direct', { durable: true });

      const results = await migrateQueues(conn, declarations);
      expect(Object.fromEntries(results.map((r) => [r.queue, [r.outcome, r.moved]]))).toEqual({
        [retry.queue]: ['migrated', 1],
        [topology.deadLetterQueue]: ['declared', 0],
        [work]: ['migrated', 20],
      });
      expect(Object.fromEntries(await typesOnBroker(prefix))).toEqual({ [work]: 'quorum', [retry.queue]: 'quorum', [topology.deadLetterQueue]: 'quorum' });
      expect((await contents(conn, work)).map((m) => m.id)).toEqual(Array.from({ length: 20 }, (_, i) => `work-${String(i).padStart(2, '0')}`));
      expect((await contents(conn, retry.queue)).map((m) => m.id)).toEqual(['retry-0']);

      // The services' own declaration is accepted now (it adds the dead-letter queue's binding).
      const declare = await conn.createChannel();
      await assertTopology(declare, topology);
      await declare.close();
      expect((await migrateQueues(conn, declarations)).map((r) => r.outcome)).toEqual(declarations.map(() => 'declared'));
      // A retry dead-letters back into the work queue through the direct exchange.
      ch.publish(topology.directExchange, work, Buffer.from('back'), { persistent: true, messageId: 'back-0' });
      await ch.waitForConfirms();
      expect((await contents(conn, work)).map((m) => m.id)).toContain('back-0');
      await ch.close();
    } finally {
      const ch = await conn.createChannel();
      for (const d of declarations) await ch.deleteQueue(holdingQueueOf(d.name)).catch(() => undefined);
      await conn.close();
      await deleteTopology(topology);
    }
  });
});
