import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import amqplib from 'amqplib';
import { assertTopology, BROKER_DELIVERY_LIMIT, MIGRATE_QUEUES_COMMAND, QueueMismatchError } from '../src';
import { Harness } from './harness';
import { AMQP_URL, deleteTopology, testTopology, uniqueName, waitFor } from './support';

const run = promisify(execFile);

/** Each queue whose name starts with `prefix`: its type and its x-arguments, as the broker reports them. */
async function queuesOnBroker(prefix: string): Promise<Map<string, { type: string; arguments: string }>> {
  const { stdout } = await run('rabbitmqctl', ['-q', 'list_queues', 'name', 'type', 'arguments', '--no-table-headers']);
  const found = new Map<string, { type: string; arguments: string }>();
  for (const line of stdout.split('\n')) {
    const [name, type, args] = line.split('\t');
    if (name?.startsWith(prefix)) found.set(name, { type: type!.trim(), arguments: (args ?? '').trim() });
  }
  return found;
}

async function withChannel<T>(fn: (ch: amqplib.ConfirmChannel) => Promise<T>): Promise<T> {
  const conn = await amqplib.connect(AMQP_URL);
  try {
    const ch = await conn.createConfirmChannel();
    ch.on('error', () => undefined);
    return await fn(ch);
  } finally {
    await conn.close().catch(() => undefined);
  }
}

describe('quorum queues (real RabbitMQ)', () => {
  it('every queue of a topology is a quorum queue: work queues with a delivery limit far above MAX_DELIVERIES and at-least-once dead-lettering into the dead-letter queue, retry queues with their TTL dead-lettering back at least once', async () => {
    const prefix = `${uniqueName('q')}.`;
    const topology = testTopology(prefix, [200, 400]);
    try {
      await withChannel((ch) => assertTopology(ch, topology));
      const queues = await queuesOnBroker(prefix);
      const work = topology.queues[0]!.name;
      expect([...queues.keys()].sort()).toEqual([work, ...topology.retryLevels.map((l) => l.queue), topology.deadLetterQueue].sort());
      for (const q of queues.values()) expect(q.type).toBe('quorum');

      // rabbitmqctl prints an empty string as [].
      const shown = (value: string | number): string => (value === '' ? '[]' : typeof value === 'string' ? `"${value}"` : String(value));
      const has = (queue: string, key: string, value: string | number): void => expect(queues.get(queue)!.arguments).toContain(`{"${key}",${shown(value)}}`);
      expect(BROKER_DELIVERY_LIMIT).toBeGreaterThanOrEqual(20 * 5);
      has(work, 'x-delivery-limit', BROKER_DELIVERY_LIMIT);
      has(work, 'x-dead-letter-exchange', topology.directExchange);
      has(work, 'x-dead-letter-routing-key', topology.deadLetterQueue);
      has(work, 'x-dead-letter-strategy', 'at-least-once');
      has(work, 'x-overflow', 'reject-publish');
      for (const level of topology.retryLevels) {
        has(level.queue, 'x-message-ttl', level.delayMs);
        has(level.queue, 'x-dead-letter-exchange', topology.directExchange);
        has(level.queue, 'x-dead-letter-strategy', 'at-least-once');
        has(level.queue, 'x-overflow', 'reject-publish');
        expect(queues.get(level.queue)!.arguments).not.toContain('x-delivery-limit');
      }
      // Listing the dead-letter queue gives every message back: no delivery limit there.
      expect(queues.get(topology.deadLetterQueue)!.arguments).not.toContain('x-delivery-limit');

      // Declaring again (every reconnect does) is accepted as it is.
      await withChannel((ch) => assertTopology(ch, topology));
    } finally {
      await deleteTopology(topology);
    }
  });

  it('a classic queue left by an earlier version makes the declaration fail with a message that names the migration command', async () => {
    const prefix = `${uniqueName('q')}.`;
    const topology = testTopology(prefix, [200]);
    try {
      await withChannel((ch) => ch.assertQueue(topology.queues[0]!.name, { durable: true }));
      const err = await withChannel((ch) => assertTopology(ch, topology).then(() => undefined, (e: unknown) => e));
      expect(err).toBeInstanceOf(QueueMismatchError);
      expect((err as Error).message).toContain(topology.queues[0]!.name);
      expect((err as Error).message).toContain(MIGRATE_QUEUES_COMMAND);
    } finally {
      await deleteTopology(topology);
    }
  });
});

describe('the delivery count on quorum queues (real RabbitMQ and PostgreSQL)', () => {
  let h: Harness;
  beforeAll(async () => {
    h = await Harness.create({ relayPollIntervalMs: 60_000 });
  });
  afterAll(() => h.close());

  it('a message given back many times (x-delivery-count far above MAX_DELIVERIES) is still handled: only deliveries without an outcome count', async () => {
    // The broker's own starts: topology declared, nothing consumes yet.
    await h.messaging.start();
    const [eventId] = await h.request('given-back');
    const queue = h.topology.queues[0]!.name;
    await withChannel(async (ch) => {
      // As a consumer whose database is away gives its messages back, again and again.
      for (let i = 0; i < 12; i++) {
        const msg = await waitFor(async () => (await ch.get(queue, { noAck: false })) || undefined, 'the message');
        ch.nack(msg, false, true);
      }
      const msg = await waitFor(async () => (await ch.get(queue, { noAck: false })) || undefined, 'the message');
      expect(Number(msg.properties.headers?.['x-delivery-count'])).toBeGreaterThanOrEqual(12);
      ch.nack(msg, false, true);
    });
    const consumer = h.newMessaging({ connectionName: `${h.connectionName}-consumer` });
    await consumer.start(h.subscriptions());
    try {
      await waitFor(async () => (await h.ledger('given-back')).length === 1, 'the message handled');
      expect(await h.ledger('given-back')).toEqual([{ key: 'given-back', eventId }]);
      expect(await h.messaging.deadLetters.count()).toBe(0);
    } finally {
      await consumer.stop(1_000);
    }
  });

  it('a message the broker dead-letters at its delivery limit lands in the dead-letter queue, listed with the reason, and a replay sends it back', async () => {
    const [eventId] = await h.request('requeued-forever');
    const queue = h.topology.queues[0]!.name;
    await withChannel(async (ch) => {
      // A consumer that requeues the message for ever (nobody else consumes: the harness only publishes).
      for (let i = 0; i <= BROKER_DELIVERY_LIMIT + 5; i++) {
        const msg = await ch.get(queue, { noAck: false });
        if (!msg) break;
        ch.nack(msg, false, true);
      }
    });
    const parked = await waitFor(async () => (await h.messaging.deadLetters.list()).find((m) => m.eventId === eventId), 'the message in the dead-letter queue');
    expect(parked).toMatchObject({
      reason: 'delivery-limit',
      errorCode: 'MESSAGE.DELIVERY_LIMIT',
      originalQueue: queue,
      originalRoutingKey: 'work.requested',
      eventType: 'work.requested',
    });
    expect(parked.error).toMatch(/dead-lettered by the broker from .*x-delivery-limit.*x-death reason delivery_limit/);
    expect(parked.parkedId).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-5[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    expect(parked.parkedAt).not.toBeNull();
    // The same id on every listing: an operator can act on it.
    expect((await h.messaging.deadLetters.list({ parkedId: parked.parkedId })).map((m) => m.eventId)).toEqual([eventId]);

    expect(await h.messaging.deadLetters.replay({ parkedId: parked.parkedId })).toBe(1);
    const consumer = h.newMessaging({ connectionName: `${h.connectionName}-replay` });
    await consumer.start(h.subscriptions());
    try {
      await waitFor(async () => (await h.ledger('requeued-forever')).length === 1, 'the replayed message handled');
      expect(await h.messaging.deadLetters.count()).toBe(0);
    } finally {
      await consumer.stop(1_000);
    }
  });
});
