import { randomUUID } from 'node:crypto';
import amqplib from 'amqplib';
import { Pool } from 'pg';
import request from 'supertest';
import { z } from 'zod';
import { parseConfig } from '@orderflow/config';
import { permanentError } from '@orderflow/errors';
import { createEvent, defineEvent } from '@orderflow/events';
import { defineTopology, on } from '@orderflow/messaging';
import { pgTransactions, type SqlClient } from '@orderflow/db';
import { AMQP_URL, PG_ADMIN_URL, bearer, deleteTopologies, serviceEnv, uniqueName, uniquePrefix, urlFor, waitFor } from '@orderflow/testkit';
import { buildService, serviceConfigSchema, type Service } from '../src';

const taskRequested = defineEvent('task.requested', 1, z.object({ key: z.string(), failWith: z.string().optional() }));

describe('dead-letter operations over HTTP (real RabbitMQ and PostgreSQL)', () => {
  const prefix = uniquePrefix();
  const dbName = uniqueName('dlq');
  const broken = new Set<string>();
  const handled: string[] = [];
  let service: Service<null, SqlClient>;
  let conn: amqplib.ChannelModel;
  let ch: amqplib.ConfirmChannel;
  const admin = bearer('ops', 'admin');
  const base = '/api/dead-letters/tasks';

  beforeAll(async () => {
    const pg = new Pool({ connectionString: PG_ADMIN_URL, max: 1 });
    await pg.query(`CREATE DATABASE "${dbName}" TEMPLATE orderflow_test_messaging`);
    await pg.end();
    const config = parseConfig(serviceConfigSchema(0), serviceEnv({ DATABASE_URL: urlFor(dbName), TOPOLOGY_PREFIX: prefix }));
    service = buildService<null, SqlClient>({
      name: 'task-service',
      config,
      topology: (p) => defineTopology({ service: 'tasks', prefix: p, publishes: [], consumes: { work: [taskRequested] }, retryDelaysMs: [100] }),
      database: (pools) => ({ client: null, transaction: pgTransactions(pools.messaging), disconnect: async () => undefined }),
      subscriptions: () => ({
        work: [
          on(taskRequested, async (event) => {
            if (event.payload.failWith && broken.has(event.payload.failWith)) throw permanentError(event.payload.failWith, `broken: ${event.payload.key}`);
            handled.push(event.payload.key);
          }),
        ],
      }),
    });
    await service.start();
    conn = await amqplib.connect(AMQP_URL);
    ch = await conn.createConfirmChannel();
  });
  afterAll(async () => {
    await conn.close();
    await service.stop();
    await deleteTopologies(service.deps.messaging.topology);
    const pg = new Pool({ connectionString: PG_ADMIN_URL, max: 1 });
    await pg.query(`DROP DATABASE IF EXISTS "${dbName}" WITH (FORCE)`);
    await pg.end();
  });

  const send = async (key: string, failWith?: string): Promise<void> => {
    const event = createEvent(taskRequested, { key, failWith }, { source: 'test', correlationId: randomUUID() });
    ch.publish(`${prefix}task.events`, 'task.requested', Buffer.from(JSON.stringify(event)), { persistent: true, messageId: event.eventId });
    await ch.waitForConfirms();
  };

  it('lists parked messages grouped by error, inspects one, replays a group after the fix and discards another', async () => {
    broken.add('TASK.A').add('TASK.B');
    await send('a1', 'TASK.A');
    await send('a2', 'TASK.A');
    await send('b1', 'TASK.B');
    const listed = await waitFor(async () => {
      const res = await request(service.app).get(base).set('Authorization', admin);
      return res.body.depth === 3 && res.body;
    }, 'three parked messages');
    expect(listed.groups).toEqual([
      expect.objectContaining({ errorCode: 'TASK.A', reason: 'permanent-failure', count: 2 }),
      expect.objectContaining({ errorCode: 'TASK.B', reason: 'permanent-failure', count: 1, sample: 'broken: b1' }),
    ]);

    const one = listed.items.find((m: { errorCode: string }) => m.errorCode === 'TASK.B');
    const inspected = await request(service.app).get(`${base}/${one.parkedId}`).set('Authorization', admin);
    expect(inspected.status).toBe(200);
    expect(inspected.body).toMatchObject({ originalRoutingKey: 'task.requested', attempts: 1, body: expect.objectContaining({ payload: { key: 'b1', failWith: 'TASK.B' } }) });

    broken.delete('TASK.B');
    const replayed = await request(service.app).post(`${base}/replay`).set('Authorization', admin).send({ errorCode: 'TASK.B' });
    expect(replayed.body).toEqual({ replayed: 1 });
    await waitFor(() => handled.includes('b1'), 'the replayed task handled');

    const discarded = await request(service.app).post(`${base}/discard`).set('Authorization', admin).send({ errorCode: 'TASK.A' });
    expect(discarded.body).toEqual({ discarded: 2 });
    expect((await request(service.app).get(base).set('Authorization', admin)).body).toMatchObject({ depth: 0, groups: [] });
  });

  it('only admins may touch dead letters, and a replay needs a filter', async () => {
    expect((await request(service.app).get(base)).status).toBe(401);
    expect((await request(service.app).get(base).set('Authorization', bearer('alice'))).status).toBe(403);
    const noFilter = await request(service.app).post(`${base}/replay`).set('Authorization', admin).send({});
    expect(noFilter.status).toBe(400);
    expect(JSON.stringify(noFilter.body)).toContain('parkedId');
    expect((await request(service.app).get(`${base}/${randomUUID()}`).set('Authorization', admin)).status).toBe(404);
  });

  it('/metrics shows dead-letter depth, outbox lag and message handling time', async () => {
    await send('metric-probe');
    await waitFor(() => handled.includes('metric-probe'), 'handled');
    const text = (await request(service.app).get('/metrics')).text;
    expect(text).toMatch(/^messaging_dead_letter_depth\{service="task-service"\} \d+$/m);
    expect(text).toMatch(/^messaging_outbox_lag_seconds\{service="task-service"\} [\d.]+$/m);
    expect(text).toMatch(/^messaging_handle_duration_seconds_count\{service="task-service",event_type="task.requested",outcome="ack"\} [1-9]\d*$/m);
  });
});
