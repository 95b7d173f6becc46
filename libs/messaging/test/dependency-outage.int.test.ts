import amqplib from 'amqplib';
import { DependencyUnavailableError } from '@orderflow/errors';
import { Messaging, onBatch } from '../src';
import { DeliveryLedger } from '../src/consumer/delivery';
import { OUTAGE_STRIKES } from '../src/consumer/outage';
import { Harness, type Tx } from './harness';
import { AMQP_URL, logger, waitFor, workRequested } from './support';

/**
 * The pause of a database outage, for a dependency the handler names: a handler that throws a
 * DependencyUnavailableError (a payment gateway that does not answer) gives its batch back and
 * the consumer waits for the error's probe, instead of spending the messages' retries.
 */
describe('a dependency a handler declares unavailable (real RabbitMQ and PostgreSQL)', () => {
  it('pauses the consumer until the probe answers: every message is handled once, none retried or parked', async () => {
    // Retries far shorter than the outage: were the failures retried, every message would use up the ladder.
    const h = await Harness.create({ retryDelaysMs: [100, 200, 400] });
    const outcomes: string[] = [];
    let gatewayUp = true;
    let probes = 0;
    let calls = 0;
    const answers = async (): Promise<boolean> => {
      probes++;
      return gatewayUp;
    };
    const consumer = new Messaging<Tx>({
      topology: h.topology,
      amqpUrl: AMQP_URL,
      connectionName: `${h.connectionName}-dependency`,
      pool: h.db.pool,
      transaction: (fn) => h.db.prisma.$transaction(fn, { maxWait: 10_000, timeout: 30_000 }),
      logger,
      relayPollIntervalMs: 60_000,
      batchSize: 20,
      maxDeliveries: 2,
      observe: (outcome) => outcomes.push(outcome),
    });
    const handled = async (): Promise<number> => (await h.ledger()).length;
    try {
      await h.messaging.start();
      await consumer.start({
        'work-requested': [
          onBatch([workRequested], async (events, ctx) => {
            calls++;
            if (!gatewayUp) throw new DependencyUnavailableError('TEST.GATEWAY_DOWN', 'the gateway does not answer', { dependency: 'test-gateway', answers });
            for (const e of events) await ctx.tx.ledgerEntry.create({ data: { key: e.payload.key, eventId: e.eventId } });
          }),
        ],
      });
      const keys: string[] = [];
      const publish = async (round: string): Promise<void> => {
        const batch = Array.from({ length: 20 }, (_, i) => `${round}-${i}`);
        keys.push(...batch);
        await h.request(...batch);
      };
      await publish('before');
      await waitFor(async () => (await handled()) === keys.length, 'the first messages handled');

      gatewayUp = false;
      const outageEnds = Date.now() + 2_500;
      for (let round = 0; Date.now() < outageEnds; round++) {
        await publish(`during-${round}`);
        await new Promise((r) => setTimeout(r, 200));
      }
      await waitFor(() => Object.values(consumer.status().consumers).every((c) => c.state === 'paused'), 'the consumer paused');
      // Paused for the dependency it names, probing it; not gone (a restart would not help).
      expect(Object.values(consumer.status().consumers).map((c) => [c.state, c.waitingFor])).toEqual([['paused', 'test-gateway']]);
      expect(consumer.consumersGoneLongerThan(0)).toEqual([]);
      await waitFor(() => probes >= 2, 'the dependency probed');
      const callsWhilePaused = calls;
      await new Promise((r) => setTimeout(r, 500));
      // Paused means nothing is taken: the handler is not called again until the probe answers.
      expect(calls).toBe(callsWhilePaused);
      expect(await handled()).toBe(20);

      gatewayUp = true;
      await publish('after');
      await waitFor(async () => (await handled()) + (await h.messaging.deadLetters.count()) >= keys.length, 'the backlog drained once the dependency answers', 30_000);
      await waitFor(() => consumer.isReady(), 'consuming again');
      expect(Object.values(consumer.status().consumers).map((c) => [c.state, c.waitingFor])).toEqual([['active', undefined]]);
      expect((await h.ledger()).map((r) => r.key).sort()).toEqual([...keys].sort());
      expect(outcomes.filter((o) => o === 'retry' || o === 'park')).toEqual([]);
      expect(await h.messaging.deadLetters.count()).toBe(0);
      const conn = await amqplib.connect(AMQP_URL);
      try {
        const ch = await conn.createChannel();
        for (const level of h.topology.retryLevels) expect((await ch.checkQueue(level.queue)).messageCount).toBe(0);
      } finally {
        await conn.close();
      }
    } finally {
      await consumer.stop(1_000).catch(() => undefined);
      await h.close();
    }
  }, 60_000);

  it('a dependency that keeps going down (each pause sees a probe fail) strikes nobody: the held messages wait through every outage and are handled, none retried', async () => {
    const h = await Harness.create({ retryDelaysMs: [100, 200, 400] });
    // Each outage: the request fails, the first probe fails, the second answers; then the next
    // outage starts with the next request. More outages than OUTAGE_STRIKES.
    const outages = OUTAGE_STRIKES + 2;
    let failed = 0;
    let probesThisOutage = 0;
    const answers = async (): Promise<boolean> => ++probesThisOutage >= 2;
    const { consumer, outcomes, start } = consumerOf(h, 'flapping', () => {
      if (failed < outages) {
        failed++;
        probesThisOutage = 0;
        throw new DependencyUnavailableError('TEST.GATEWAY_DOWN', 'the gateway went down again', { dependency: 'test-gateway', answers });
      }
    });
    try {
      await h.messaging.start();
      await start();
      const keys = Array.from({ length: 5 }, (_, i) => `flap-${i}`);
      await h.request(...keys);
      await waitFor(async () => (await h.ledger()).length === keys.length, 'handled once the dependency stays up', 30_000);
      expect(failed).toBe(outages);
      expect(outcomes.filter((o) => o === 'retry' || o === 'park')).toEqual([]);
      expect((await h.ledger()).map((r) => r.key).sort()).toEqual(keys);
    } finally {
      await consumer.stop(1_000).catch(() => undefined);
      await h.close();
    }
  }, 60_000);

  /** A consumer of `work.requested` on the harness's topology whose handler is `handle`, and the outcomes it observed. */
  function consumerOf(h: Harness, name: string, handle: (keys: string[]) => void) {
    const outcomes: string[] = [];
    const consumer = new Messaging<Tx>({
      topology: h.topology,
      amqpUrl: AMQP_URL,
      connectionName: `${h.connectionName}-${name}`,
      pool: h.db.pool,
      transaction: (fn) => h.db.prisma.$transaction(fn, { maxWait: 10_000, timeout: 30_000 }),
      logger,
      relayPollIntervalMs: 60_000,
      batchSize: 20,
      maxDeliveries: 2,
      observe: (outcome) => outcomes.push(outcome),
    });
    const start = () =>
      consumer.start({
        'work-requested': [
          onBatch([workRequested], async (events, ctx) => {
            handle(events.map((e) => e.payload.key));
            for (const e of events) await ctx.tx.ledgerEntry.create({ data: { key: e.payload.key, eventId: e.eventId } });
          }),
        ],
      });
    return { consumer, outcomes, start };
  }

  it('a request the dependency fails every time while its probe answers is the message\'s own failure: retried, then parked with its error; the others are handled, and no pause gives anything back', async () => {
    const h = await Harness.create({ retryDelaysMs: [100, 200] });
    let probes = 0;
    // The dependency answers its probe at once: only the poison's request fails (a payload it
    // answers 500 to, a call that always outlasts its timeout).
    const answers = async (): Promise<boolean> => {
      probes++;
      return true;
    };
    let poisonTries = 0;
    const { consumer, outcomes, start } = consumerOf(h, 'poison', (keys) => {
      if (!keys.includes('poison')) return;
      poisonTries++;
      throw new DependencyUnavailableError('TEST.GATEWAY_500', 'the gateway answers 500 to this request', { dependency: 'test-gateway', answers });
    });
    const givenBack = jest.spyOn(DeliveryLedger.prototype, 'giveBack');
    try {
      await h.messaging.start();
      await start();
      const healthy = Array.from({ length: 10 }, (_, i) => `healthy-${i}`);
      // One outbox transaction: the poison in the middle of the batch, healthy messages before and after it.
      await h.request(...healthy.slice(0, 3), 'poison', ...healthy.slice(3));
      await waitFor(async () => (await h.messaging.deadLetters.count()) >= 1 && (await h.ledger()).length >= healthy.length, 'the healthy messages handled and the poison parked', 40_000);
      // The relay publishes at least once: a second copy of the poison, if any, climbs its own
      // ladder. Wait until no copy is tried any more.
      for (let last = -1; last !== poisonTries; ) {
        last = poisonTries;
        await new Promise((r) => setTimeout(r, 2_000));
      }
      expect((await h.ledger()).map((r) => r.key).sort()).toEqual([...healthy].sort());
      // Parked by the service, with its error, after its retries — not dead-lettered by the
      // broker at its delivery limit after looping pause → probe answers → resume → fail.
      const parked = await h.messaging.deadLetters.list();
      expect(parked.length).toBeGreaterThanOrEqual(1);
      for (const p of parked) {
        expect(p).toEqual(expect.objectContaining({ reason: 'retries-exhausted', errorCode: 'TEST.GATEWAY_500', attempts: 3, eventType: 'work.requested' }));
        expect((p.body as { payload: { key: string } }).payload.key).toBe('poison');
        expect(p.error).toContain('the gateway answers 500 to this request');
      }
      expect(outcomes.filter((o) => o === 'retry')).toHaveLength(2 * parked.length);
      expect(outcomes.filter((o) => o === 'park')).toHaveLength(parked.length);
      // Each try of the poison met the "outage" OUTAGE_STRIKES times, with a probe that answered between them.
      expect(poisonTries).toBeGreaterThanOrEqual(3 * OUTAGE_STRIKES);
      expect(probes).toBeGreaterThanOrEqual(3 * (OUTAGE_STRIKES - 1));
      // The pauses kept what the consumer held (the interrupted batch, the prefetch window): nothing
      // went back to the queue, so the broker counted no return (x-delivery-count) for any of them.
      expect(givenBack).not.toHaveBeenCalled();
      await waitFor(() => consumer.isReady(), 'consuming again');
    } finally {
      givenBack.mockRestore();
      await consumer.stop(1_000).catch(() => undefined);
      await h.close();
    }
  }, 60_000);

  it('a request refused untried (an open circuit breaker) is no strike against its message: it waits, however often the probe answers', async () => {
    const h = await Harness.create({ retryDelaysMs: [100, 200] });
    let refusals = 3 * OUTAGE_STRIKES;
    const answers = async (): Promise<boolean> => true;
    const { consumer, outcomes, start } = consumerOf(h, 'untried', () => {
      if (refusals-- > 0) throw new DependencyUnavailableError('TEST.CIRCUIT_OPEN', 'circuit open, not tried', { dependency: 'test-gateway', answers, tried: false });
    });
    try {
      await h.messaging.start();
      await start();
      const keys = Array.from({ length: 5 }, (_, i) => `waits-${i}`);
      await h.request(...keys);
      await waitFor(async () => (await h.ledger()).length === keys.length, 'every message handled once the calls go through', 30_000);
      expect(refusals).toBeLessThan(0);
      expect(outcomes.filter((o) => o === 'retry' || o === 'park')).toEqual([]);
      expect(await h.messaging.deadLetters.count()).toBe(0);
    } finally {
      await consumer.stop(1_000).catch(() => undefined);
      await h.close();
    }
  }, 60_000);
});
