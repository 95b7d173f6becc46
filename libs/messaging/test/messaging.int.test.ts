import { randomUUID } from 'node:crypto';
import amqplib from 'amqplib';
import { createEvent } from '@orderflow/events';
import { OutboxRelay, enqueueEvents, eventFactory, pruneInbox } from '../src';
import { Harness } from './harness';
import { AMQP_URL, logger, waitFor, workRequested } from './support';

describe('messaging conformance (real RabbitMQ and PostgreSQL)', () => {
  let h: Harness;

  beforeAll(async () => {
    h = await Harness.create({ retryDelaysMs: [200, 400, 800], relayPollIntervalMs: 60_000 });
    await h.messaging.start(h.subscriptions());
  });
  afterAll(() => h.close());

  it('when a state change commits with an event, the consumer handles it once and the outbox row is deleted once published', async () => {
    const [eventId] = await h.request('hello');
    const ledger = await waitFor(async () => (await h.ledger('hello')).length === 1 && h.ledger('hello'), 'the effect');
    expect(ledger).toEqual([{ key: 'hello', eventId }]);
    await waitFor(async () => (await h.db.prisma.outboxEvent.count({ where: { eventId } })) === 0, 'the outbox row deleted');
  });

  it('an event is published straight after its commit: it reaches the consumer long before the (60 s) sweep', async () => {
    const started = Date.now();
    await h.request('prompt');
    await waitFor(async () => (await h.ledger('prompt')).length === 1, 'the effect', 10_000);
    // Typically far less; the bound leaves room for a loaded CI machine and is still far below the poll.
    expect(Date.now() - started).toBeLessThan(3_000);
  });

  it('when the handler fails transiently, it is retried with growing delays and succeeds', async () => {
    h.behaviours.set('flaky', { transientFailures: 2 });
    await h.request('flaky');
    await waitFor(async () => (await h.ledger('flaky')).length === 1, 'the effect after retries');
    const times = h.attempts.get('flaky')!;
    expect(times).toHaveLength(3);
    const [first, second, third] = times as [number, number, number];
    // Each wait is at least its step of the ladder (200 ms, then 400 ms): the delays grow.
    expect(h.topology.retryLevels.map((l) => l.delayMs)).toEqual([200, 400, 800]);
    expect(second - first).toBeGreaterThanOrEqual(180);
    expect(third - second).toBeGreaterThanOrEqual(380);
    expect(await h.messaging.deadLetters.list({ originalQueue: h.topology.queues[0]!.name })).toEqual(
      expect.not.arrayContaining([expect.objectContaining({ eventType: 'work.requested' })]),
    );
  });

  it('when transient failures outlast the retries, the message is parked with the error, attempts and routing key', async () => {
    h.behaviours.set('hopeless', { transientFailures: 100 });
    const [eventId] = await h.request('hopeless');
    const [parked] = await waitFor(async () => {
      const list = await h.messaging.deadLetters.list();
      return list.some((m) => m.eventId === eventId) && list.filter((m) => m.eventId === eventId);
    }, 'the parked message');
    expect(parked).toMatchObject({
      reason: 'retries-exhausted',
      errorCode: 'TEST.FLAKY',
      error: 'flaky dependency for hopeless',
      attempts: 4,
      originalRoutingKey: 'work.requested',
      originalExchange: `${h.prefix}work.events`,
      originalQueue: `${h.prefix}worker.work-requested`,
    });
    expect(h.attempts.get('hopeless')).toHaveLength(4);
    expect(await h.ledger('hopeless')).toEqual([]);
    await h.messaging.deadLetters.discard({ parkedId: parked!.parkedId });
  });

  it('when the handler fails permanently, the message is parked at once; after the fix, replay applies it once', async () => {
    h.behaviours.set('broken', { permanent: true });
    const [eventId] = await h.request('broken');
    const parked = await waitFor(
      async () => (await h.messaging.deadLetters.list()).find((m) => m.eventId === eventId),
      'the parked message',
    );
    expect(parked).toMatchObject({ reason: 'permanent-failure', errorCode: 'TEST.BROKEN', attempts: 1 });
    expect(h.attempts.get('broken')).toHaveLength(1);

    h.behaviours.delete('broken');
    expect(await h.messaging.deadLetters.replay({ parkedId: parked.parkedId })).toBe(1);
    await waitFor(async () => (await h.ledger('broken')).length === 1, 'the replayed effect');
    expect(await h.ledger('broken')).toEqual([{ key: 'broken', eventId }]);
    expect((await h.messaging.deadLetters.list()).find((m) => m.eventId === eventId)).toBeUndefined();
  });

  describe('invalid messages go to the dead-letter queue at once, with the reason', () => {
    let conn: amqplib.ChannelModel;
    let ch: amqplib.ConfirmChannel;
    beforeAll(async () => {
      conn = await amqplib.connect(AMQP_URL);
      ch = await conn.createConfirmChannel();
    });
    afterAll(() => conn.close());

    const send = async (body: string, messageId: string): Promise<void> => {
      ch.publish(`${h.prefix}work.events`, 'work.requested', Buffer.from(body), { messageId, persistent: true });
      await ch.waitForConfirms();
    };
    const parkedWith = (id: string) =>
      waitFor(async () => (await h.messaging.deadLetters.list()).find((m) => m.eventId === id), `parked ${id}`);

    it('a body that is not JSON', async () => {
      const id = randomUUID();
      await send('{not json', id);
      expect(await parkedWith(id)).toMatchObject({ reason: 'invalid-message', error: 'message body is not valid JSON', body: '{not json' });
    });

    it('an envelope without an eventId names the field', async () => {
      const id = randomUUID();
      const event = createEvent(workRequested, { key: 'x' }, { source: 't', correlationId: 'c' });
      await send(JSON.stringify({ ...event, eventId: undefined }), id);
      expect((await parkedWith(id)).error).toMatch(/eventId/);
    });

    it('a payload that breaks the contract names the field, and the handler never runs', async () => {
      const id = randomUUID();
      const event = createEvent(workRequested, { key: 'never-run' }, { source: 't', correlationId: 'c' });
      await send(JSON.stringify({ ...event, payload: { key: '' } }), id);
      const parked = await parkedWith(id);
      expect(parked.error).toMatch(/payload\.key/);
      expect(h.attempts.get('never-run')).toBeUndefined();

      // Replaying it sends it through validation again: it comes back parked, nothing is lost.
      expect(await h.messaging.deadLetters.replay({ parkedId: parked.parkedId })).toBe(1);
      await waitFor(
        async () => (await h.messaging.deadLetters.list()).find((m) => m.eventId === id && m.parkedId !== parked.parkedId),
        'the message parked again',
      );
      expect(await h.messaging.deadLetters.discard({ errorCode: 'MESSAGE.INVALID' })).toBeGreaterThanOrEqual(3);
      expect((await h.messaging.deadLetters.list({ errorCode: 'MESSAGE.INVALID' })).length).toBe(0);
    });
  });

  it('when the same event is delivered twice (republished outbox row, duplicate publish), the effect happens once', async () => {
    // Written behind the direct path's back: only a sweep publishes it.
    const event = h.messaging.event(workRequested, { key: 'dup' }, { correlationId: 'dup' });
    const { eventId } = event.envelope;
    const enqueue = () => h.messaging.transaction((tx) => enqueueEvents(tx, [event]));
    const published = () => waitFor(async () => (await h.db.prisma.outboxEvent.count({ where: { eventId } })) === 0, 'published and deleted');
    await enqueue();
    h.messaging.relay.wake();
    await published();
    // A relay that crashed after the broker confirmed but before deleting the row: the row is
    // still there after restart, and it is published again.
    await enqueue();
    h.messaging.relay.wake();
    await published();
    // And a third copy straight onto the exchange.
    const conn = await amqplib.connect(AMQP_URL);
    const ch = await conn.createConfirmChannel();
    ch.publish(event.exchange, event.routingKey, Buffer.from(JSON.stringify(event.envelope)), { messageId: eventId });
    await ch.waitForConfirms();
    await conn.close();

    await waitFor(async () => (h.attempts.get('dup') ?? []).length >= 1 && (await h.ledger('dup')).length === 1, 'the effect');
    // Give the two copies time to arrive: they are acked as duplicates without running the handler.
    await waitFor(async () => {
      const rows = await h.db.pool.query("SELECT count(*)::int AS n FROM processed_events WHERE event_id = $1", [eventId]);
      return rows.rows[0].n === 1 && (await queueIsEmpty(h.topology.queues[0]!.name));
    }, 'all copies consumed');
    expect(await h.ledger('dup')).toEqual([{ key: 'dup', eventId }]);
    expect(h.attempts.get('dup')).toHaveLength(1);
  });

  it('two relays on one outbox (two replicas) never publish the same row twice', async () => {
    const topology = h.topology;
    const newEvent = eventFactory(topology);
    const tap = await amqplib.connect(AMQP_URL);
    const tapCh = await tap.createChannel();
    const { queue } = await tapCh.assertQueue('', { exclusive: true });
    await tapCh.bindQueue(queue, `${h.prefix}work.events`, 'work.requested');
    const seen = new Map<string, number>();
    await tapCh.consume(queue, (m) => m && seen.set(m.properties.messageId as string, (seen.get(m.properties.messageId as string) ?? 0) + 1), { noAck: true });

    // Rows written without waking anyone: only the two extra relays below drain them.
    const total = 3_000;
    const events = Array.from({ length: total }, (_, i) => newEvent(workRequested, { key: `replica-${i}` }, { correlationId: 'replicas' }));
    for (let i = 0; i < total; i += 500) {
      await h.db.prisma.$transaction((tx) => enqueueEvents(tx, events.slice(i, i + 500)));
    }
    const replicaA = new OutboxRelay({ pool: h.db.pool, broker: h.messaging.broker, logger, batchSize: 100, pollIntervalMs: 60_000 });
    const replicaB = new OutboxRelay({ pool: h.db.pool, broker: h.messaging.broker, logger, batchSize: 100, pollIntervalMs: 60_000 });
    await Promise.all([replicaA.start(), replicaB.start()]);
    await waitFor(() => seen.size === total, `${total} distinct events on the exchange`, 30_000);
    await Promise.all([replicaA.stop(), replicaB.stop()]);
    await waitFor(async () => (await h.ledger()).filter((r) => r.key.startsWith('replica-')).length === total, 'all handled');
    await tap.close();

    expect([...seen.values()].every((n) => n === 1)).toBe(true);
    expect(replicaA.published + replicaB.published + h.messaging.relay.published).toBeGreaterThanOrEqual(total);
    expect(replicaA.published).toBeGreaterThan(0);
    expect(replicaB.published).toBeGreaterThan(0);
  });

  /**
   * Runs `fn` with `sweeper` (grace 1 s) as the outbox's only relay: the harness's own steps
   * aside, and comes back after (its start sweeps without grace: what is left goes out).
   */
  async function withSweeper(pollIntervalMs: number, fn: (sweeper: OutboxRelay) => Promise<void>): Promise<void> {
    await h.messaging.relay.stop();
    const sweeper = new OutboxRelay({ pool: h.db.pool, broker: h.messaging.broker, logger, pollIntervalMs, sweepGraceMs: 1_000 });
    await sweeper.start();
    try {
      // After start's own sweep has run (it found nothing): only the sweeper's next sweeps can publish a row.
      expect(await sweeper.flush()).toBe(0);
      await fn(sweeper);
    } finally {
      await sweeper.stop();
      await h.messaging.relay.start();
    }
  }

  it('a row nobody published (its writer died before publishing) goes out with the periodic sweep once past the grace, without a wake', async () => {
    await withSweeper(200, async (sweeper) => {
      const event = eventFactory(h.topology)(workRequested, { key: 'orphan' }, { correlationId: 'orphan' });
      const writtenAt = Date.now();
      await h.db.prisma.$transaction((tx) => enqueueEvents(tx, [event]));
      await waitFor(async () => (await h.db.prisma.outboxEvent.count({ where: { eventId: event.envelope.eventId } })) === 0, 'the orphan row published and deleted', 10_000);
      // Not before the grace: the young row was the direct path's to publish.
      expect(Date.now() - writtenAt).toBeGreaterThanOrEqual(1_000);
      expect(sweeper.published).toBe(1);
      await waitFor(async () => (await h.ledger('orphan')).length === 1, 'the orphan handled');
    });
  });

  it('a row whose transaction outlasted the grace is still the direct path\'s when it commits: the grace counts from the write, not from BEGIN', async () => {
    // A handler's transaction may stay open for seconds (a slow payment gateway, a lock wait);
    // its rows must not be overdue the moment they commit, or a replica's sweep publishes them
    // beside the direct path.
    await withSweeper(60_000, async (sweeper) => {
      const event = eventFactory(h.topology)(workRequested, { key: 'long-transaction' }, { correlationId: 'long-transaction' });
      await h.db.prisma.$transaction(
        async (tx) => {
          await tx.$executeRawUnsafe('SELECT pg_sleep(1.5)');
          await enqueueEvents(tx, [event]);
        },
        { timeout: 10_000 },
      );
      expect(await sweeper.relayBatch(1_000)).toBe(0);
    });
    await waitFor(async () => (await h.ledger('long-transaction')).length === 1, 'the row published once its writer\'s relay is back');
  });
});

async function queueIsEmpty(name: string): Promise<boolean> {
  const conn = await amqplib.connect(AMQP_URL);
  try {
    const ch = await conn.createChannel();
    const q = await ch.checkQueue(name);
    return q.messageCount === 0;
  } finally {
    await conn.close();
  }
}

describe('a consumer that lingers for company only while busy (real RabbitMQ and PostgreSQL)', () => {
  const LINGER_MS = 2_000;
  let h: Harness;

  beforeAll(async () => {
    h = await Harness.create({ relayPollIntervalMs: 60_000, lingerMs: LINGER_MS });
    await h.messaging.start(h.subscriptions());
  });
  afterAll(() => h.close());

  it('handles a message that comes after a quiet spell at once, not after the linger', async () => {
    const started = Date.now();
    await h.request('after-quiet');
    await waitFor(async () => (await h.ledger('after-quiet')).length === 1, 'the effect', 10_000);
    expect(Date.now() - started).toBeLessThan(LINGER_MS * 0.75);
  });

  it('while busy, gathers what arrives within the linger into one batch', async () => {
    await h.request('first');
    await waitFor(async () => (await h.ledger('first')).length === 1, 'the first effect', 10_000);
    // Its batch just ended, so the lane is busy: the next two, 300 ms apart, are handled together.
    const sent = Date.now();
    await h.request('second');
    await new Promise((r) => setTimeout(r, 300));
    await h.request('third');
    await waitFor(async () => (await h.ledger('second')).length === 1 && (await h.ledger('third')).length === 1, 'both effects', 10_000);
    const second = h.attempts.get('second')![0]!;
    const third = h.attempts.get('third')![0]!;
    expect(third - second).toBeLessThan(200);
    expect(second - sent).toBeGreaterThanOrEqual(LINGER_MS / 2);
  });
});

describe('the outbox and inbox tables (real PostgreSQL)', () => {
  const hour = 3_600_000;
  let h: Harness;

  beforeAll(async () => {
    h = await Harness.create();
  });
  afterAll(() => h.close());

  /** Event ids handled 200 h ago (older than a week's retention) and an hour ago. */
  const handled = async (old: number, recent: number): Promise<{ old: string[]; recent: string[] }> => {
    const ids = { old: Array.from({ length: old }, () => randomUUID()), recent: Array.from({ length: recent }, () => randomUUID()) };
    await h.db.prisma.processedEvent.createMany({
      data: [
        ...ids.old.map((eventId, i) => ({ consumer: 'q.old', eventId, processedAt: new Date(Date.now() - 200 * hour - i * 1000) })),
        ...ids.recent.map((eventId) => ({ consumer: 'q.recent', eventId, processedAt: new Date(Date.now() - hour) })),
      ],
    });
    return ids;
  };
  const inbox = async (): Promise<string[]> => (await h.db.prisma.processedEvent.findMany({ select: { eventId: true } })).map((r) => r.eventId).sort();

  it('the inbox retention deletes the event ids handled longer ago than the retention, in batches, and keeps the recent ones', async () => {
    const { recent } = await handled(7, 3);
    // Batches of 3: three statements for the 7 old rows.
    expect(await pruneInbox(h.db.pool, 168 * hour, 3)).toBe(7);
    expect(await inbox()).toEqual([...recent].sort());
    expect(await pruneInbox(h.db.pool, 168 * hour, 3)).toBe(0);
    await h.db.prisma.processedEvent.deleteMany();
  });

  it('a Messaging given a retention prunes the inbox when it starts', async () => {
    const { recent } = await handled(4, 2);
    const messaging = h.newMessaging({ inboxRetentionMs: 168 * hour });
    await messaging.start();
    try {
      await waitFor(async () => (await inbox()).length === 2, 'the old event ids pruned');
      expect(await inbox()).toEqual([...recent].sort());
    } finally {
      await messaging.stop();
    }
  });

  it('the outbox stores every event of a transaction that writes more than one statement takes (65,535 parameters)', async () => {
    const newEvent = eventFactory(h.topology);
    const events = Array.from({ length: 70_000 }, (_, i) => newEvent(workRequested, { key: `many-${i}` }, { correlationId: 'many' }));
    await h.db.prisma.$transaction((tx) => enqueueEvents(tx, events), { timeout: 60_000 });
    const rows = await h.db.prisma.outboxEvent.findMany({ select: { eventId: true, envelope: true } });
    expect(rows).toHaveLength(70_000);
    // The envelope is stored as the JSON text that will be sent.
    const last = rows.find((r) => r.eventId === events[69_999]!.envelope.eventId)!;
    expect(JSON.parse(last.envelope)).toEqual(events[69_999]!.envelope);
  });
});
