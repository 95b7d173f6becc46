import { randomUUID } from 'node:crypto';
import amqplib from 'amqplib';
import request from 'supertest';
import { parseConfig } from '@orderflow/config';
import { buildService, type Service } from '@orderflow/service';
import { inventoryReserved, paymentCompleted } from '@orderflow/events';
import { AMQP_URL, bearer, cloneDatabase, deleteTopologies, publishEvent, serviceEnv, uniquePrefix, waitFor } from '@orderflow/testkit';
import { orderConfigSchema } from '../src/config';
import { startSweeper, sweepOverdue } from '../src/deadlines';
import type { Db, Tx } from '../src/db';
import { orderService } from '../src/service';

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
      // Two replicas on one database, each swept by the test with deadlines of its own.
      const s = buildService(orderService(config, { sweeper: false }));
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

  it('imported orders get their own, longer deadline; an interactive one of the same age is cancelled', async () => {
    const [a] = replicas as [Service<Db, Tx>];
    const importId = randomUUID();
    const [imported, interactive, ofCompleted] = [randomUUID(), randomUUID(), randomUUID()];
    const completedImport = randomUUID();
    await a.deps.sql.$executeRawUnsafe(
      `INSERT INTO imports (id, state) VALUES ($1::uuid, 'PROCESSING'), ($2::uuid, 'COMPLETED')`,
      importId,
      completedImport,
    );
    // All three waited 10 minutes; the interactive deadline is 1 minute, the import's 1 hour.
    await a.deps.sql.$executeRawUnsafe(
      `WITH o AS (
         INSERT INTO orders (id, customer_id, status, payment_method, total, import_id, created_at, updated_at)
         SELECT v.id, 'aged', 'PENDING', 'pm_card_ok', 2, v.import_id, now() - interval '10 minutes', now() - interval '10 minutes'
           FROM unnest($1::uuid[], $2::uuid[]) AS v(id, import_id)
         RETURNING id, import_id, created_at
       )
       INSERT INTO order_deadlines (order_id, imported, since) SELECT id, import_id IS NOT NULL, created_at FROM o`,
      [imported, interactive, ofCompleted],
      [importId, null, completedImport],
    );
    const sweep = (importDeadlineMs: number) => sweepOverdue({ ...a.deps, deadlineMs: 60_000, importDeadlineMs, intervalMs: 1000 });
    const statusOf = async (id: string) => (await request(a.app).get(`/api/orders/${id}`).set('Authorization', bearer('aged'))).body.status;

    expect(await sweep(3_600_000)).toBe(1);
    expect(await statusOf(interactive)).toBe('CANCELLED');
    expect(await statusOf(imported)).toBe('PENDING');
    // Past the import's deadline too: cancelled. (An order of a COMPLETED import cannot be open; it is not looked at.)
    expect(await sweep(5 * 60_000)).toBe(1);
    expect(await statusOf(imported)).toBe('CANCELLED');
    expect(await statusOf(ofCompleted)).toBe('PENDING');
  });

  it('an order that progresses in time is left alone', async () => {
    const [a] = replicas as [Service<Db, Tx>];
    const res = await request(a.app).post('/api/orders').set('Authorization', bearer('quick')).send({ customerId: 'quick', items: [{ productId: 'P', quantity: 1, unitPrice: 2 }], paymentMethod: 'pm_card_ok' });
    expect(await sweepOverdue({ ...a.deps, deadlineMs: 60_000, intervalMs: 1000 })).toBe(0);
    expect((await request(a.app).get(`/api/orders/${res.body.orderId}`).set('Authorization', bearer('quick'))).body.status).toBe('PENDING');
  });

  it('an order\'s deadline row moves with each open status and is gone once the order is terminal', async () => {
    const [a] = replicas as [Service<Db, Tx>];
    const items = [{ productId: 'P', quantity: 1, unitPrice: 2 }];
    const res = await request(a.app).post('/api/orders').set('Authorization', bearer('moving')).send({ customerId: 'moving', items, paymentMethod: 'pm_card_ok' });
    const orderId: string = res.body.orderId;
    const deadline = async () => a.deps.sql.$queryRawUnsafe<Array<{ imported: boolean; since: Date }>>('SELECT imported, since FROM order_deadlines WHERE order_id = $1::uuid', orderId);
    const statusOf = async () => (await request(a.app).get(`/api/orders/${orderId}`).set('Authorization', bearer('moving'))).body.status;
    const [placed] = await deadline();
    expect(placed?.imported).toBe(false);

    const ch = await conn.createConfirmChannel();
    await publishEvent(ch, prefix, inventoryReserved, { orderId, customerId: 'moving', items, total: 2, paymentMethod: 'pm_card_ok' }, { correlationId: orderId });
    await waitFor(async () => (await statusOf()) === 'STOCK_RESERVED', 'the reservation applied');
    const [reserved] = await deadline();
    expect(reserved!.since.getTime()).toBeGreaterThan(placed!.since.getTime());

    await publishEvent(ch, prefix, paymentCompleted, { orderId, customerId: 'moving', paymentId: randomUUID(), amount: 2 }, { correlationId: orderId });
    await waitFor(async () => (await statusOf()) === 'CONFIRMED', 'the payment applied');
    expect(await deadline()).toEqual([]);
    await ch.close();
  });

  it('no index of orders holds a column a status change writes, so the change can be a HOT update', async () => {
    const [a] = replicas as [Service<Db, Tx>];
    const indexed = await a.deps.sql.$queryRawUnsafe<Array<{ column: string }>>(
      `SELECT DISTINCT a.attname AS column FROM pg_index i JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = ANY(i.indkey)
        WHERE i.indrelid = 'orders'::regclass ORDER BY 1`,
    );
    expect(indexed.map((r) => r.column)).not.toEqual(expect.arrayContaining(['status']));
    expect(indexed.map((r) => r.column)).not.toEqual(expect.arrayContaining(['updated_at']));
    const [options] = await a.deps.sql.$queryRawUnsafe<Array<{ reloptions: string[] }>>(`SELECT reloptions FROM pg_class WHERE oid = 'orders'::regclass`);
    expect(options?.reloptions).toEqual(['fillfactor=50']);
  });
});
