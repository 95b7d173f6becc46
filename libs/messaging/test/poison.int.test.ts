import { spawn, type ChildProcess } from 'node:child_process';
import path from 'node:path';
import { Harness } from './harness';
import { waitFor } from './support';

const MAX_DELIVERIES = 3;

describe('poison messages (real RabbitMQ and PostgreSQL)', () => {
  it('a handler that kills its process is parked after MAX_DELIVERIES deliveries while other messages flow', async () => {
    const h = await Harness.create();
    let child: ChildProcess | undefined;
    let exited: Promise<void> = Promise.resolve();
    let deaths = 0;
    let orchestrating = true;
    // As an orchestrator does: a process that dies is started again (with a cap, so that a
    // message that loops forever ends the test instead of running it into its timeout).
    const run = (): void => {
      const proc = spawn(
        process.execPath,
        ['--import', 'tsx', path.join(__dirname, 'fixtures/poison-consumer.ts'), h.db.url, h.prefix, 'poison', String(MAX_DELIVERIES)],
        { stdio: ['ignore', 'ignore', 'inherit'] },
      );
      child = proc;
      exited = new Promise((resolve) =>
        proc.on('exit', () => {
          resolve();
          if (!orchestrating) return;
          deaths++;
          if (deaths < MAX_DELIVERIES + 5) run();
        }),
      );
    };
    try {
      await h.messaging.start(); // the relay only: the child consumes
      const before = Array.from({ length: 10 }, (_, i) => `before-${i}`);
      const after = Array.from({ length: 10 }, (_, i) => `after-${i}`);
      const later = Array.from({ length: 10 }, (_, i) => `later-${i}`);
      await h.request(...before);
      const [poisonId] = await h.request('poison');
      await h.request(...after);
      await waitFor(async () => (await h.db.prisma.outboxEvent.count()) === 0, 'everything published');
      run();
      await waitFor(() => deaths >= 1, 'the poison message killing its consumer', 30_000);
      await h.request(...later);

      const parked = await waitFor(
        async () => (await h.messaging.deadLetters.list()).find((m) => m.eventId === poisonId),
        'the poison message parked',
        45_000,
      );
      expect(parked).toMatchObject({ reason: 'delivery-limit', errorCode: 'MESSAGE.DELIVERY_LIMIT', attempts: MAX_DELIVERIES });
      expect(parked.error).toMatch(new RegExp(`delivered ${MAX_DELIVERIES} times without an outcome`));
      // The handler ran on exactly MAX_DELIVERIES deliveries; the next one was parked unhandled.
      expect(deaths).toBe(MAX_DELIVERIES);

      const healthy = [...before, ...after, ...later];
      await waitFor(async () => (await h.ledger()).length >= healthy.length, 'every other message handled', 30_000);
      expect((await h.ledger()).map((r) => r.key).sort()).toEqual([...healthy].sort());
      expect(await h.ledger('poison')).toEqual([]);
      // Handled and parked messages leave no delivery counter behind.
      const counters = await h.db.pool.query<{ n: number }>('SELECT count(*)::int AS n FROM delivery_attempts');
      expect(counters.rows[0]!.n).toBe(0);
    } finally {
      orchestrating = false;
      child?.kill('SIGKILL');
      await exited;
      await h.close();
    }
  }, 120_000);
});
