import amqplib from 'amqplib';
import { DependencyUnavailableError } from '@orderflow/errors';
import { Messaging, onBatch } from '../src';
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
});
