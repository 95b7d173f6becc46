import amqplib from 'amqplib';
import request from 'supertest';
import { parseConfig } from '@orderflow/config';
import { orderCreated } from '@orderflow/events';
import { defineTopology, on, type Subscriptions } from '@orderflow/messaging';
import { pgTransactions, type SqlClient } from '@orderflow/db';
import { AMQP_URL, PG_ADMIN_URL, deleteTopologies, serviceEnv, tcpProxy, uniquePrefix, waitFor, type TcpProxy } from '@orderflow/testkit';
import { buildService, QUEUE_READ_TIMEOUT_MS, serviceConfigSchema, type Service } from '../src';

/** `url` with its host replaced by the proxy's. */
const through = (url: string, proxy: TcpProxy): string => {
  const u = new URL(url);
  u.host = `127.0.0.1:${proxy.port}`;
  return u.toString();
};
const proxyTo = (url: string, defaultPort: number): Promise<TcpProxy> => {
  const u = new URL(url);
  return tcpProxy({ host: u.hostname, port: Number(u.port || defaultPort) });
};

interface Probed {
  service: Service<null, SqlClient>;
  queue: string;
  broker: TcpProxy;
  database: TcpProxy;
  close(): Promise<void>;
}

/** A service with one consumer, its broker and its database each reached through a proxy the test can cut. */
async function probedService(env: Record<string, string> = {}, lane: 'interactive' | 'bulk' = 'interactive'): Promise<Probed> {
  const broker = await proxyTo(AMQP_URL, 5672);
  const database = await proxyTo(PG_ADMIN_URL, 5432);
  const config = parseConfig(
    serviceConfigSchema(0),
    serviceEnv({ AMQP_URL: through(AMQP_URL, broker), DATABASE_URL: through(PG_ADMIN_URL, database), TOPOLOGY_PREFIX: uniquePrefix(), ...env }),
  );
  const subscriptions: Subscriptions<SqlClient> = { work: { lane, handlers: [on(orderCreated, async () => undefined)] } };
  const service = buildService<null, SqlClient>({
    name: 'probed-service',
    config,
    topology: (p) => defineTopology({ service: 'probed', prefix: p, publishes: [], consumes: { work: [orderCreated] }, retryDelaysMs: [100] }),
    database: (pools) => ({ client: null, transaction: pgTransactions(pools.messaging), disconnect: async () => undefined }),
    subscriptions: () => subscriptions,
  });
  await service.start();
  return {
    service,
    queue: service.deps.messaging.topology.queues[0]!.name,
    broker,
    database,
    async close() {
      await broker.start();
      await database.start();
      await service.stop();
      await deleteTopologies(service.deps.messaging.topology);
      await broker.close();
      await database.close();
    },
  };
}

const ready = (s: Probed) => request(s.service.app).get('/ready');
const metric = async (s: Probed, name: string): Promise<string[]> =>
  (await request(s.service.app).get('/metrics')).text.split('\n').filter((l) => l.startsWith(`${name}{`));

/** Runs `fn` on a channel of a connection of the test's own, straight to the broker. */
async function onBroker(fn: (ch: amqplib.Channel) => Promise<unknown>): Promise<void> {
  const conn = await amqplib.connect(AMQP_URL);
  try {
    await fn(await conn.createChannel());
  } finally {
    await conn.close();
  }
}

describe('readiness and liveness of a service (real RabbitMQ and PostgreSQL, outages through proxies)', () => {
  it('with the broker unreachable, /ready answers 200 with broker.connected false and the consumer inactive since then, /health stays 200, the gauges say 0; once the broker is back, all is connected again', async () => {
    const s = await probedService({ CONSUMER_GONE_LIVENESS_S: '1' });
    try {
      const up = await ready(s).expect(200);
      expect(up.body).toMatchObject({ status: 'ready', checks: { database: true }, broker: { connected: true }, consumers: { [s.queue]: { active: true, state: 'active' } } });
      expect(await metric(s, 'messaging_broker_connected')).toEqual([expect.stringMatching(/ 1$/)]);
      expect(await metric(s, 'messaging_consumer_active')).toEqual([expect.stringMatching(new RegExp(`queue="${s.queue.replace(/\./g, '\\.')}".* 1$`))]);

      const cut = Date.now();
      await s.broker.stop();
      await waitFor(() => !s.service.deps.messaging.broker.isConnected(), 'the broker connection lost');
      const res = await ready(s).expect(200);
      expect(res.body).toMatchObject({ status: 'ready', checks: { database: true }, broker: { connected: false }, consumers: { [s.queue]: { active: false, state: 'disconnected' } } });
      expect(Object.keys(res.body.checks)).toEqual(['database']);
      expect(new Date(res.body.broker.since).getTime()).toBeGreaterThanOrEqual(cut);
      expect(new Date(res.body.consumers[s.queue].since).getTime()).toBeGreaterThanOrEqual(cut);
      expect(await metric(s, 'messaging_broker_connected')).toEqual([expect.stringMatching(/ 0$/)]);
      expect(await metric(s, 'messaging_consumer_active')).toEqual([expect.stringMatching(/ 0$/)]);
      // Longer than CONSUMER_GONE_LIVENESS_S: a consumer waiting for its broker is not gone, and
      // a restart would not bring the broker back.
      await new Promise((r) => setTimeout(r, 1_500));
      await request(s.service.app).get('/health').expect(200, { status: 'ok' });

      await s.broker.start();
      const back = await waitFor(async () => {
        const body = (await ready(s)).body;
        return body.broker?.connected && body.consumers?.[s.queue]?.active ? body : null;
      }, 'connected and consuming again');
      expect(back).toMatchObject({ status: 'ready', consumers: { [s.queue]: { state: 'active' } } });
      expect(await metric(s, 'messaging_consumer_active')).toEqual([expect.stringMatching(/ 1$/)]);
    } finally {
      await s.close();
    }
  });

  it('with the broker connected but not answering (a resource alarm), GET /metrics still answers within the read bound: the queue figures and the dead-letter depth are -1 until it answers again', async () => {
    const s = await probedService();
    try {
      s.broker.pause();
      const started = Date.now();
      expect(await metric(s, 'messaging_dead_letter_depth')).toEqual([expect.stringMatching(/ -1$/)]);
      expect(Date.now() - started).toBeLessThan(QUEUE_READ_TIMEOUT_MS + 1_500);
      // The connection is still up: only the broker's answers are missing.
      expect(await metric(s, 'messaging_broker_connected')).toEqual([expect.stringMatching(/ 1$/)]);
      expect(await metric(s, 'orderflow_queue_messages')).toEqual(expect.arrayContaining([expect.stringMatching(new RegExp(`queue="${s.queue.replace(/\./g, '\\.')}".* -1$`))]));
      s.broker.resume();
      await waitFor(async () => (await metric(s, 'messaging_dead_letter_depth'))[0]?.endsWith(' 0') === true, 'the dead-letter depth once the broker answers');
      expect(await metric(s, 'orderflow_queue_consumers')).toEqual(expect.arrayContaining([expect.stringMatching(new RegExp(`queue="${s.queue.replace(/\./g, '\\.')}".* 1$`))]));
    } finally {
      s.broker.resume();
      await s.close();
    }
  });

  it('with the database unreachable, /ready answers 503 although the broker is connected', async () => {
    const s = await probedService();
    try {
      await s.database.stop();
      const res = await ready(s).expect(503);
      expect(res.body).toMatchObject({ status: 'not ready', checks: { database: false }, broker: { connected: true } });
      await s.database.start();
      await waitFor(async () => (await ready(s)).status === 200, 'ready again');
    } finally {
      await s.close();
    }
  });

  it('a LANES=bulk process, which has no API and only consumes, is ready only while its consumers consume', async () => {
    const s = await probedService({ LANES: 'bulk' }, 'bulk');
    try {
      expect((await ready(s).expect(200)).body.checks).toEqual({ database: true, consumers: true });
      await s.broker.stop();
      await waitFor(() => !s.service.deps.messaging.broker.isConnected(), 'the broker connection lost');
      expect((await ready(s).expect(503)).body).toMatchObject({ checks: { database: true, consumers: false }, broker: { connected: false } });
      await s.broker.start();
      await waitFor(async () => (await ready(s)).status === 200, 'ready again once consuming');
    } finally {
      await s.close();
    }
  });

  it('a consumer cancelled by the broker comes back on its own; one kept from coming back fails /health after CONSUMER_GONE_LIVENESS_S, and passes again once it is back', async () => {
    const s = await probedService({ CONSUMER_GONE_LIVENESS_S: '1' });
    const consumer = async () => (await ready(s).expect(200)).body.consumers[s.queue];
    try {
      // Its queue deleted: the broker cancels the consumer, which re-declares the queue and consumes again.
      const deleted = Date.now();
      await onBroker((ch) => ch.deleteQueue(s.queue));
      await waitFor(async () => {
        const c = await consumer();
        return c.active && new Date(c.since).getTime() >= deleted;
      }, 'consuming again after the cancel');

      // Deleted and declared again with other arguments: every set-up of its channel fails.
      const gone = Date.now();
      await onBroker(async (ch) => {
        await ch.deleteQueue(s.queue);
        await ch.assertQueue(s.queue, { durable: false });
      });
      const status = await waitFor(async () => ((await consumer()).state === 'gone' ? consumer() : null), 'reported gone');
      expect(status).toMatchObject({ active: false, state: 'gone' });
      expect(new Date(status.since).getTime()).toBeGreaterThanOrEqual(gone);
      expect((await ready(s)).body.broker).toMatchObject({ connected: true });
      const health = await waitFor(async () => {
        const res = await request(s.service.app).get('/health');
        return res.status === 503 ? res.body : null;
      }, '/health failing');
      expect(health).toEqual({ status: 'failing', reason: expect.stringContaining(s.queue) });
      expect(Date.now() - gone).toBeGreaterThan(1_000);
      expect(await metric(s, 'messaging_consumer_active')).toEqual([expect.stringMatching(/ 0$/)]);

      // The obstacle removed: its next attempt declares the queue and consumes.
      await onBroker((ch) => ch.deleteQueue(s.queue));
      await waitFor(async () => (await consumer()).active, 'consuming again', 30_000);
      await request(s.service.app).get('/health').expect(200, { status: 'ok' });
    } finally {
      await s.close();
    }
  });
});
