import { randomUUID } from 'node:crypto';
import amqplib from 'amqplib';
import { createEvent } from '@orderflow/events';
import { MessageHeaders as H, assertTopology, enqueueEvents, type Returned } from '../src';
import { Harness } from './harness';
import { AMQP_URL, readyCount, refusePublishes, waitFor, workRequested } from './support';

/** Outbox rows of these events: how often the broker returned each, and why. */
async function outboxRows(h: Harness, eventIds: string[]): Promise<Array<{ eventId: string; attempts: number; lastError: string | null }>> {
  const { rows } = await h.db.pool.query<{ eventId: string; attempts: number; lastError: string | null }>(
    'SELECT event_id::text AS "eventId", attempts, last_error AS "lastError" FROM outbox_events WHERE event_id = ANY($1::uuid[])',
    [eventIds],
  );
  return rows;
}

async function onChannel<T>(fn: (ch: amqplib.ConfirmChannel) => Promise<T>): Promise<T> {
  const conn = await amqplib.connect(AMQP_URL);
  try {
    return await fn(await conn.createConfirmChannel());
  } finally {
    await conn.close();
  }
}

describe('an event no queue takes is not lost (real RabbitMQ and PostgreSQL)', () => {
  let h: Harness;
  const returns: Array<Returned & { at: number }> = [];

  beforeAll(async () => {
    // The periodic sweep looks often, so a returned row is retried as soon as its delay is over.
    h = await Harness.create({ relayPollIntervalMs: 100 });
    h.messaging.broker.onReturn((r) => returns.push({ ...r, at: Date.now() }));
    await h.messaging.start(h.subscriptions());
  });
  afterAll(() => h.close());

  it('when the binding is deleted while events are published, they wait in the outbox, counted as unroutable; once it is back, the consumer gets every one', async () => {
    const queue = h.topology.queues[0]!.name;
    const exchange = `${h.prefix}work.events`;
    await onChannel((ch) => ch.unbindQueue(queue, exchange, 'work.requested'));

    const keptAfterReturn = (eventIds: string[]) =>
      waitFor(async () => {
        const rows = await outboxRows(h, eventIds);
        return rows.length === eventIds.length && rows.every((r) => r.attempts >= 1) && rows;
      }, 'every event kept in the outbox after the broker returned it');
    // Published straight after the commit (the direct path)…
    const keys = Array.from({ length: 20 }, (_, i) => `unbound-${i}`);
    const ids = await h.request(...keys);
    await keptAfterReturn(ids);
    // …and one row written behind its back, which only a sweep publishes.
    const swept = h.messaging.event(workRequested, { key: 'unbound-swept' }, { correlationId: 'unbound-swept' });
    await h.messaging.transaction((tx) => enqueueEvents(tx, [swept]));
    h.messaging.relay.wake();
    const all = [...ids, swept.envelope.eventId];
    const kept = await keptAfterReturn(all);
    expect(kept.map((r) => r.lastError)).toEqual(all.map(() => expect.stringMatching(/NO_ROUTE/)));
    const returnedIds = new Set(returns.filter((r) => r.exchange === exchange && r.routingKey === 'work.requested').map((r) => r.messageId));
    expect(all.every((id) => returnedIds.has(id))).toBe(true);

    // Still unroutable: retried later, not hammered — the second try waits out the delay.
    await waitFor(async () => (await outboxRows(h, all)).every((r) => r.attempts >= 2), 'every event tried again');
    const times = returns.filter((r) => r.messageId === ids[0]).map((r) => r.at);
    expect(times[1]! - times[0]!).toBeGreaterThanOrEqual(500);
    expect(await h.ledger()).toEqual([]);

    await onChannel((ch) => ch.bindQueue(queue, exchange, 'work.requested'));
    await waitFor(async () => (await h.ledger()).length === all.length, 'every event handled once the binding is back', 30_000);
    expect((await h.ledger()).map((r) => r.eventId).sort()).toEqual([...all].sort());
    await waitFor(async () => (await outboxRows(h, all)).length === 0, 'the outbox rows deleted once published');
  });

  it('a replay to a queue that is gone leaves the message parked and reports it', async () => {
    const retired = `${h.prefix}worker.retired`;
    const event = createEvent(workRequested, { key: 'retired' }, { source: 'test', correlationId: 'retired' });
    const parkedId = randomUUID();
    await onChannel(async (ch) => {
      ch.sendToQueue(h.topology.deadLetterQueue, Buffer.from(JSON.stringify(event)), {
        persistent: true,
        messageId: event.eventId,
        type: event.eventType,
        headers: { [H.parkedId]: parkedId, [H.parkReason]: 'permanent-failure', [H.originalQueue]: retired, [H.attempts]: 1 },
      });
      await ch.waitForConfirms();
    });

    await expect(h.messaging.deadLetters.replay({ parkedId })).rejects.toMatchObject({
      code: 'DEAD_LETTER.NOT_REPLAYED',
      message: expect.stringContaining(retired),
    });
    expect(await h.messaging.deadLetters.list({ parkedId })).toEqual([expect.objectContaining({ eventId: event.eventId, originalQueue: retired })]);
    await h.messaging.deadLetters.discard({ parkedId });
  });
});

describe('a move the broker refuses never lets a later ack settle the original (real RabbitMQ and PostgreSQL)', () => {
  let h: Harness;

  beforeEach(async () => {
    h = await Harness.create({ relayPollIntervalMs: 60_000 });
    await h.messaging.start(h.subscriptions());
  });
  afterEach(() => h.close());

  const parked = (eventId: string) =>
    waitFor(async () => (await h.messaging.deadLetters.list()).find((m) => m.eventId === eventId), `${eventId} parked`);

  it('when the dead-letter queue refuses the message (nack), it stays on the broker, is redelivered after the good ones are acked, and is parked once it can be', async () => {
    const refusal = await refusePublishes(h.topology.deadLetterQueue, (ch) => assertTopology(ch, h.topology));
    let doomed: string | undefined;
    try {
      h.behaviours.set('doomed', { permanent: true });
      [doomed] = await h.request('doomed', 'fine-1', 'fine-2', 'fine-3');
      await waitFor(async () => (await h.ledger()).length === 3, 'the good messages handled');
      // The good messages' ack did not settle it: the broker hands it out again.
      await waitFor(() => (h.attempts.get('doomed') ?? []).length >= 2, 'the refused message redelivered');
      expect(await readyCount(h.topology.deadLetterQueue)).toBe(0);
    } finally {
      await refusal.lift();
    }
    expect(await parked(doomed!)).toMatchObject({ reason: 'permanent-failure', errorCode: 'TEST.BROKEN' });
    expect(await readyCount(h.topology.queues[0]!.name)).toBe(0);
  });

  it('when the dead-letter queue is gone (the move is returned), the message stays on the broker and is parked once the queue is back', async () => {
    await onChannel((ch) => ch.deleteQueue(h.topology.deadLetterQueue));
    h.behaviours.set('homeless', { permanent: true });
    const [homeless] = await h.request('homeless', 'fine-a', 'fine-b');
    await waitFor(async () => (await h.ledger()).length === 2, 'the good messages handled');
    await waitFor(() => (h.attempts.get('homeless') ?? []).length >= 2, 'the returned message redelivered');

    // Back as the topology declares it (a quorum queue).
    await onChannel((ch) => assertTopology(ch, h.topology));
    expect(await parked(homeless!)).toMatchObject({ reason: 'permanent-failure', errorCode: 'TEST.BROKEN' });
  });
});
