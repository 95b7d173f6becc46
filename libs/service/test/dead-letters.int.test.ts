import { randomUUID } from 'node:crypto';
import amqplib from 'amqplib';
import { Pool } from 'pg';
import request from 'supertest';
import { z } from 'zod';
import { parseConfig } from '@orderflow/config';
import { permanentError } from '@orderflow/errors';
import { createEvent, defineEvent } from '@orderflow/events';
import { MessageHeaders as H, defineTopology, on } from '@orderflow/messaging';
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

  it('replays and discards a selection by ids, leaving the rest of the group parked', async () => {
    broken.add('TASK.C');
    for (const key of ['c1', 'c2', 'c3']) await send(key, 'TASK.C');
    const listed = await waitFor(async () => {
      const res = await request(service.app).get(base).set('Authorization', admin);
      return res.body.depth === 3 && res.body;
    }, 'three parked messages');
    // The list carries no bodies: open each to learn which task it holds.
    const ids = new Map<string, string>();
    for (const m of listed.items as Array<{ parkedId: string }>) {
      const one = await request(service.app).get(`${base}/${m.parkedId}`).set('Authorization', admin);
      ids.set(one.body.body.payload.key, m.parkedId);
    }
    const idOf = (key: string): string => ids.get(key)!;

    broken.delete('TASK.C');
    const replayed = await request(service.app).post(`${base}/replay`).set('Authorization', admin).send({ parkedIds: [idOf('c1'), idOf('c2')] });
    expect(replayed.body).toEqual({ replayed: 2 });
    await waitFor(() => handled.includes('c1') && handled.includes('c2'), 'the two selected tasks handled');
    expect(handled).not.toContain('c3');

    const mixed = await request(service.app).post(`${base}/discard`).set('Authorization', admin).send({ parkedIds: [idOf('c3')], errorCode: 'TASK.C' });
    expect(mixed.status).toBe(400);
    const discarded = await request(service.app).post(`${base}/discard`).set('Authorization', admin).send({ parkedIds: [idOf('c3'), randomUUID()] });
    expect(discarded.body).toEqual({ discarded: 1 });
    expect((await request(service.app).get(base).set('Authorization', admin)).body).toMatchObject({ depth: 0, groups: [] });
  });

  /**
   * Parks tasks straight into the dead-letter queue, as the consumer parks them (fast, and in
   * this order); answers each key's parked id.
   */
  const park = async (keys: string[]): Promise<Map<string, string>> => {
    const topology = service.deps.messaging.topology;
    const ids = new Map<string, string>();
    for (const key of keys) {
      const event = createEvent(taskRequested, { key }, { source: 'test', correlationId: randomUUID() });
      const parkedId = randomUUID();
      ids.set(key, parkedId);
      const headers = { [H.parkedId]: parkedId, [H.parkReason]: 'permanent-failure', [H.errorCode]: 'TASK.BULK', [H.error]: `broken: ${key}`, [H.originalQueue]: topology.queues[0]!.name };
      ch.publish(topology.directExchange, topology.deadLetterQueue, Buffer.from(JSON.stringify(event)), { persistent: true, messageId: event.eventId, type: event.eventType, headers });
    }
    await ch.waitForConfirms();
    return ids;
  };
  /**
   * How often the broker has delivered each parked message (its x-delivery-count, by parked
   * id): read by taking every message and giving it back, which is one delivery more.
   */
  const deliveryCounts = async (): Promise<Map<string, number>> => {
    const queue = service.deps.messaging.topology.deadLetterQueue;
    const counts = new Map<string, number>();
    const reader = await conn.createChannel();
    for (let msg = await reader.get(queue); msg; msg = await reader.get(queue)) {
      counts.set(String(msg.properties.headers?.[H.parkedId]), Number(msg.properties.headers?.['x-delivery-count'] ?? 0));
    }
    reader.nackAll(true);
    await waitFor(async () => (await reader.checkQueue(queue)).messageCount === counts.size, 'the messages back in the queue');
    await reader.close();
    return counts;
  };

  it('a selection of ids is replayed in one walk of the queue, and exactly those are replayed', async () => {
    const keys = Array.from({ length: 12 }, (_, i) => `walk-${i}`);
    const ids = await park(keys);
    const selected = ['walk-2', 'walk-5', 'walk-9'];
    const before = await deliveryCounts();
    expect(before.size).toBe(12);

    const replayed = await request(service.app).post(`${base}/replay`).set('Authorization', admin).send({ parkedIds: selected.map((k) => ids.get(k)) });
    expect(replayed.body).toEqual({ replayed: 3 });
    await waitFor(() => selected.every((k) => handled.includes(k)), 'the selected tasks handled');
    expect(handled.filter((k) => k.startsWith('walk-')).sort()).toEqual([...selected].sort());

    // Each walk delivers every message once: the reading above, then the replay's one walk.
    const after = await deliveryCounts();
    expect([...after.keys()].sort()).toEqual(keys.filter((k) => !selected.includes(k)).map((k) => ids.get(k)).sort());
    expect([...after].filter(([id, n]) => n !== before.get(id)! + 2)).toEqual([]);
    await request(service.app).post(`${base}/discard`).set('Authorization', admin).send({ errorCode: 'TASK.BULK' });
  });

  it('a list polled while a selection is replayed neither hides the selection from the replay nor answers an empty depth', async () => {
    const keys = Array.from({ length: 300 }, (_, i) => `busy-${i}`);
    const ids = await park(keys);
    // The oldest: the ones a list walking the queue holds first.
    const selected = ['busy-0', 'busy-1', 'busy-2'];
    const list = request(service.app).get(base).set('Authorization', admin).then((r) => r.body);
    await new Promise((r) => setTimeout(r, 20));
    const replayed = await request(service.app).post(`${base}/replay`).set('Authorization', admin).send({ parkedIds: selected.map((k) => ids.get(k)) });
    const listed = await list;
    expect(replayed.body).toEqual({ replayed: 3 });
    expect(listed.depth).toBe(listed.items.length);
    expect([300, 297]).toContain(listed.depth);
    await waitFor(() => selected.every((k) => handled.includes(k)), 'the selected tasks handled');
    const left = (await request(service.app).get(base).set('Authorization', admin)).body;
    expect({ depth: left.depth, items: left.items.length }).toEqual({ depth: 297, items: 297 });
    expect((await request(service.app).post(`${base}/discard`).set('Authorization', admin).send({ errorCode: 'TASK.BULK' })).body).toEqual({ discarded: 297 });
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
