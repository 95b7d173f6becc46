import { spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import path from 'node:path';
import amqplib from 'amqplib';
import { Pool } from 'pg';
import { withClient } from '@orderflow/db';
import { Harness } from './harness';
import { AMQP_URL, forceCloseConnection, waitFor } from './support';


describe('messaging resilience (real RabbitMQ and PostgreSQL)', () => {
  it('when the broker force-closes the connection mid-stream, it reconnects, resumes consuming and loses nothing', async () => {
    const h = await Harness.create();
    try {
      const readiness: boolean[] = [];
      h.messaging.broker.onStateChange(() => readiness.push(h.messaging.isReady()));
      await h.messaging.start(h.subscriptions());
      expect(h.messaging.isReady()).toBe(true);

      const keys: string[] = [];
      for (let round = 0; round < 20; round++) {
        if (round === 6) await forceCloseConnection(h.connectionName);
        const batch = Array.from({ length: 100 }, (_, i) => `stream-${round}-${i}`);
        keys.push(...batch);
        await h.request(...batch);
      }
      await waitFor(async () => (await h.ledger()).length >= keys.length, 'every event handled', 30_000);
      await waitFor(() => h.messaging.isReady(), 'ready again');

      const ledger = await h.ledger();
      expect(ledger.map((r) => r.key).sort()).toEqual([...keys].sort());
      expect(readiness).toContain(false);
      const unsent = await h.db.prisma.outboxEvent.count();
      expect(unsent).toBe(0);
    } finally {
      await h.close();
    }
  });

  it('when a process is killed after its commit but before publishing, the event is published after restart', async () => {
    const h = await Harness.create();
    try {
      const eventId = randomUUID();
      const exit = await new Promise<NodeJS.Signals | null>((resolve, reject) => {
        const child = spawn(process.execPath, ['--import', 'tsx', path.join(__dirname, 'fixtures/commit-then-die.ts'), h.db.url, h.prefix, 'crash', eventId], {
          stdio: ['ignore', 'ignore', 'inherit'],
        });
        child.on('error', reject);
        child.on('exit', (_code, signal) => resolve(signal));
      });
      expect(exit).toBe('SIGKILL');
      expect(await h.ledger('crash-state')).toHaveLength(1);
      // Committed, never published: the row waits in the outbox.
      expect(await h.db.prisma.outboxEvent.count({ where: { eventId } })).toBe(1);

      // The restarted service: its relay drains what the dead process committed.
      await h.messaging.start(h.subscriptions());
      await waitFor(async () => (await h.ledger('crash')).length === 1, 'the event handled after restart');
      expect(await h.ledger('crash')).toEqual([{ key: 'crash', eventId }]);
      await waitFor(async () => (await h.db.prisma.outboxEvent.count({ where: { eventId } })) === 0, 'its row deleted once published');
    } finally {
      await h.close();
    }
  });

  it('when its queue is deleted under it, the consumer reports not ready, re-declares the queue and consumes again', async () => {
    const h = await Harness.create();
    try {
      const readiness: boolean[] = [];
      h.messaging.broker.onStateChange(() => readiness.push(h.messaging.isReady()));
      await h.messaging.start(h.subscriptions());
      const conn = await amqplib.connect(AMQP_URL);
      const ch = await conn.createChannel();
      await ch.deleteQueue(h.topology.queues[0]!.name);
      await conn.close();
      await waitFor(() => readiness.includes(false), 'not ready');
      await waitFor(() => h.messaging.isReady(), 'ready again');
      await h.request('after-delete');
      await waitFor(async () => (await h.ledger('after-delete')).length === 1, 'consumption resumed');
    } finally {
      await h.close();
    }
  });

  it('on stop (SIGTERM), in-flight handlers finish, the rest stays queued, and a restart handles everything once', async () => {
    const h = await Harness.create({ batchSize: 1 });
    try {
      const keys = Array.from({ length: 10 }, (_, i) => `drain-${i}`);
      keys.forEach((k) => h.behaviours.set(k, { delayMs: 100 }));
      await h.messaging.start(h.subscriptions());
      await h.request(...keys);
      await waitFor(() => h.attempts.size >= 1 && [...h.attempts.keys()].some((k) => k.startsWith('drain-')), 'a handler running');
      await h.messaging.stop();

      const started = keys.filter((k) => h.attempts.has(k));
      const done = (await h.ledger()).map((r) => r.key);
      expect(done.sort()).toEqual([...started].sort());
      expect(done.length).toBeLessThan(keys.length);

      h.messaging = h.newMessaging();
      await h.messaging.start(h.subscriptions());
      await waitFor(async () => (await h.ledger()).length === keys.length, 'the rest handled after restart');
      expect((await h.ledger()).map((r) => r.key).sort()).toEqual([...keys].sort());
    } finally {
      await h.close();
    }
  });

  it('on stop, the outbox is flushed: events committed just before are published', async () => {
    const h = await Harness.create({ relayPollIntervalMs: 60_000 });
    try {
      await h.messaging.start();
      // Rows written behind the relay's back (no wake), as another process would leave them.
      const ids = await h.messaging.transaction(async (tx) => {
        const event = h.messaging.event((await import('./support')).workRequested, { key: 'flush' }, { correlationId: 'flush' });
        await (await import('../src')).enqueueEvents(tx, [event]);
        return [event.envelope.eventId];
      });
      expect(await h.messaging.stop()).toBe(0);
      expect(await h.db.prisma.outboxEvent.count({ where: { eventId: ids[0] } })).toBe(0);
      const conn = await amqplib.connect(AMQP_URL);
      const ch = await conn.createChannel();
      expect((await ch.checkQueue(h.topology.queues[0]!.name)).messageCount).toBe(1);
      await conn.close();
    } finally {
      await h.close();
    }
  });

  it('a database connection lost while a client is checked out between two queries fails that work, not the process', async () => {
    const h = await Harness.create();
    const pool = new Pool({ connectionString: h.db.url, max: 2 });
    try {
      const work = withClient(pool, async (client) => {
        const { rows } = await client.query<{ pid: number }>('SELECT pg_backend_pid() AS pid');
        // As when PostgreSQL restarts while the relay waits for confirms: no query is running.
        await h.db.pool.query('SELECT pg_terminate_backend($1)', [rows[0]!.pid]);
        await new Promise((r) => setTimeout(r, 300));
        await client.query('SELECT 1');
      });
      await expect(work).rejects.toThrow();
      // The broken client was not given back: the pool answers with a fresh connection.
      expect((await pool.query<{ ok: number }>('SELECT 1 AS ok')).rows[0]!.ok).toBe(1);
    } finally {
      await pool.end();
      await h.close();
    }
  });
});
