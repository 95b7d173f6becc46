import amqplib from 'amqplib';
import request from 'supertest';
import { parseConfig } from '@orderflow/config';
import { buildService, type Service } from '@orderflow/service';
import { AMQP_URL, bearer, cloneDatabase, deleteTopologies, serviceEnv, uniquePrefix, waitFor } from '@orderflow/testkit';
import { api } from '../src/api';
import { orderConfigSchema } from '../src/config';
import { startSweeper, sweepOverdue } from '../src/deadlines';
import { database, type Db, type Tx } from '../src/db';
import { subscriptions } from '../src/handlers';
import { topology } from '../src/topology';

describe('saga deadlines (real PostgreSQL and RabbitMQ)', () => {
  const prefix = uniquePrefix();
  let db: Awaited<ReturnType<typeof cloneDatabase>>;
  const replicas: Array<Service<Db, Tx>> = [];
  let conn: amqplib.ChannelModel;
  const cancelled: string[] = [];

  beforeAll(async () => {
    db = await cloneDatabase('order');
    const config = parseConfig(orderConfigSchema(0), serviceEnv({ DATABASE_URL: db.url, TOPOLOGY_PREFIX: prefix }));
    for (let i = 0; i < 2; i++) {
      const s = buildService({ name: 'order-service', config, topology: (p) => topology(p, config.RETRY_DELAYS_MS), database, routes: api, subscriptions });
      await s.start();
      replicas.push(s);
    }
    conn = await amqplib.connect(AMQP_URL);
    const ch = await conn.createChannel();
    const { queue } = await ch.assertQueue('', { exclusive: true });
    await ch.bindQueue(queue, `${prefix}order.events`, 'order.cancelled');
    await ch.consume(queue, (m) => m && cancelled.push(JSON.parse(m.content.toString()).payload.orderId), { noAck: true });
  });
  afterAll(async () => {
    await conn.close();
    for (const s of replicas) await s.stop();
    await deleteTopologies(replicas[0]!.deps.messaging.topology);
    await db.drop();
  });

  it('orders stuck PENDING past the deadline are cancelled with reason "timeout" exactly once, with two replicas sweeping', async () => {
    const [a, b] = replicas as [Service<Db, Tx>, Service<Db, Tx>];
    const ids: string[] = [];
    for (let i = 0; i < 30; i++) {
      const res = await request(a.app).post('/api/orders').set('Authorization', bearer('stuck')).send({ customerId: 'stuck', items: [{ productId: 'P', quantity: 1, unitPrice: 2 }], paymentMethod: 'pm_card_ok' });
      ids.push(res.body.orderId);
    }
    // Nobody reserves stock here (no inventory service): the saga hangs until the deadline.
    const sweepers = [a, b].map((s) => startSweeper({ ...s.deps, deadlineMs: 300, intervalMs: 50, batchSize: 7 }));
    await waitFor(() => ids.every((id) => cancelled.includes(id)), 'every overdue order cancelled', 20_000);
    await Promise.all(sweepers.map((s) => s.stop()));

    for (const id of ids) {
      const order = (await request(b.app).get(`/api/orders/${id}`).set('Authorization', bearer('stuck'))).body;
      expect(order.status).toBe('CANCELLED');
      expect(order.timeline.filter((t: { status: string }) => t.status === 'CANCELLED')).toEqual([expect.objectContaining({ reason: 'timeout' })]);
    }
    expect(cancelled.filter((id) => ids.includes(id))).toHaveLength(ids.length);
  });

  it('an order that progresses in time is left alone', async () => {
    const [a] = replicas as [Service<Db, Tx>];
    const res = await request(a.app).post('/api/orders').set('Authorization', bearer('quick')).send({ customerId: 'quick', items: [{ productId: 'P', quantity: 1, unitPrice: 2 }], paymentMethod: 'pm_card_ok' });
    expect(await sweepOverdue({ ...a.deps, deadlineMs: 60_000, intervalMs: 1000 })).toBe(0);
    expect((await request(a.app).get(`/api/orders/${res.body.orderId}`).set('Authorization', bearer('quick'))).body.status).toBe('PENDING');
  });
});
