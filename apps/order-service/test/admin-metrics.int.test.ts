import { randomUUID } from 'node:crypto';
import request from 'supertest';
import { createEvent, inventoryReserved, paymentCompleted, type EventContract, type PayloadOf } from '@orderflow/events';
import type { Service } from '@orderflow/service';
import { type ServiceUnderTest, bearer, publishEvent, uniquePrefix, waitFor } from '@orderflow/testkit';
import { adminMetricsResponse } from '../src/admin/metrics-summary';
import type { Db, Tx } from '../src/db';
import { orderServiceUnderTest } from './support';

const T0 = Date.parse('2026-03-01T12:00:00.000Z');
const items = [{ productId: 'P-1', quantity: 1, unitPrice: 20 }];

/** The sum of the samples of `name` whose labels include `labels`, in Prometheus text (0 when none). */
function sample(text: string, name: string, labels: Record<string, string> = {}): number {
  let sum = 0;
  for (const line of text.split('\n')) {
    const m = /^([a-zA-Z_:][\w:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
    if (!m || m[1] !== name) continue;
    const has = Object.fromEntries([...(m[2] ?? '').matchAll(/(\w+)="([^"]*)"/g)].map((l) => [l[1], l[2]]));
    if (Object.entries(labels).every(([k, v]) => has[k] === v)) sum += Number(m[3]);
  }
  return sum;
}

describe('GET /api/admin/metrics and the business metrics of the order service (real PostgreSQL and RabbitMQ)', () => {
  const prefix = uniquePrefix();
  let sut: ServiceUnderTest<Service<Db, Tx>>;
  let service: Service<Db, Tx>;
  let clock = T0;

  beforeAll(async () => {
    sut = await orderServiceUnderTest({ prefix, now: () => new Date(clock) });
    service = sut.service;
  });
  afterAll(() => sut.stop());

  const place = async (customer: string): Promise<string> => {
    const res = await request(service.app).post('/api/orders').set('Authorization', bearer(customer)).send({ items, paymentMethod: 'pm_card_ok' });
    expect(res.status).toBe(202);
    return res.body.orderId as string;
  };
  const statusOf = async (id: string): Promise<string> => (await request(service.app).get(`/api/orders/${id}`).set('Authorization', bearer('ops', 'admin'))).body.status;
  const publish = <C extends EventContract>(contract: C, payload: PayloadOf<C>) => publishEvent(sut.ch, prefix, contract, payload, { correlationId: (payload as { orderId: string }).orderId });
  const metricsText = async (): Promise<string> => (await request(service.app).get('/metrics')).text;

  it('counts orders by status, placements and outcomes per window, the saga percentiles and each dead-letter queue; a redelivered event counts once', async () => {
    clock = T0 - 10 * 60_000;
    await place('ann');
    clock = T0 - 3 * 60_000;
    await place('bob');
    clock = T0 - 40_000;
    const confirmed = await place('cat');
    // Answered 10 s after its placement (the service's clock), confirmed by one payment delivered twice.
    clock = T0 - 30_000;
    await publish(inventoryReserved, { orderId: confirmed, customerId: 'cat', items: [{ ...items[0]! }], total: 20, paymentMethod: 'pm_card_ok' });
    const paid = createEvent(paymentCompleted, { orderId: confirmed, customerId: 'cat', paymentId: randomUUID(), amount: 20 }, { source: 'test', correlationId: confirmed });
    for (let i = 0; i < 2; i++) {
      sut.ch.publish(`${prefix}${paymentCompleted.exchange}`, paymentCompleted.type, Buffer.from(JSON.stringify(paid)), { persistent: true, messageId: paid.eventId, correlationId: confirmed });
      await sut.ch.waitForConfirms();
    }
    await waitFor(async () => (await statusOf(confirmed)) === 'CONFIRMED', 'confirmed');
    // Another payment of the same order (another event): changes nothing, counts nothing.
    await publish(paymentCompleted, { orderId: confirmed, customerId: 'cat', paymentId: randomUUID(), amount: 20 });
    const handled = async (outcome: string) => sample(await metricsText(), 'messaging_handle_duration_seconds_count', { event_type: 'payment.completed', outcome });
    await waitFor(async () => (await handled('ack')) === 2, 'both payments handled');
    expect(await handled('duplicate')).toBe(1);

    clock = T0;
    const res = await request(service.app).get('/api/admin/metrics').set('Authorization', bearer('ops', 'admin'));
    expect(res.status).toBe(200);
    expect(adminMetricsResponse.parse(res.body)).toEqual({
      at: new Date(T0).toISOString(),
      orders: { total: 3, byStatus: { PENDING: 2, STOCK_RESERVED: 0, CONFIRMED: 1, REJECTED: 0, CANCELLED: 0 } },
      throughput: {
        '1m': { placed: { api: 1, import: 0 }, finished: { CONFIRMED: 1, REJECTED: 0, CANCELLED: 0 } },
        '5m': { placed: { api: 2, import: 0 }, finished: { CONFIRMED: 1, REJECTED: 0, CANCELLED: 0 } },
        '15m': { placed: { api: 3, import: 0 }, finished: { CONFIRMED: 1, REJECTED: 0, CANCELLED: 0 } },
      },
      saga: { windowMinutes: 15, since: new Date(T0 - 15 * 60_000).toISOString(), orders: 1, p50: 10, p95: 10, p99: 10 },
      // This test's broker has the order service's queues only: the others are unknown.
      deadLetters: { order: 0, inventory: null, payment: null, notification: null, 'import-worker': null },
    });

    const text = await metricsText();
    expect(sample(text, 'orderflow_orders_placed_total', { source: 'api' })).toBe(3);
    expect(sample(text, 'orderflow_orders_finished_total')).toBe(1);
    expect(sample(text, 'orderflow_orders_finished_total', { status: 'CONFIRMED', reason: 'none' })).toBe(1);
    expect(sample(text, 'orderflow_saga_duration_seconds_count', { status: 'CONFIRMED' })).toBe(1);
    expect(sample(text, 'orderflow_saga_duration_seconds_sum', { status: 'CONFIRMED' })).toBe(10);
    expect(sample(text, 'orderflow_queue_consumers', { queue: `${prefix}order.saga` })).toBe(1);
    expect(sample(text, 'orderflow_queue_messages', { queue: `${prefix}order.dead-letter` })).toBe(0);
  });

  it('callers within a couple of seconds share one reading (its `at` says when it was read); a later call reads again', async () => {
    const read = async (): Promise<string> => (await request(service.app).get('/api/admin/metrics').set('Authorization', bearer('ops', 'admin')).expect(200)).body.at;
    const first = await read();
    clock = T0 + 60_000;
    expect(await read()).toBe(first);
    await waitFor(async () => (await read()) === new Date(clock).toISOString(), 'a new reading once the shared one is older than its time');
  });

  it('a customer is refused (403 AUTH.FORBIDDEN), a request without a token too (401)', async () => {
    const customer = await request(service.app).get('/api/admin/metrics').set('Authorization', bearer('ann'));
    expect(customer.status).toBe(403);
    expect(customer.body.code).toBe('AUTH.FORBIDDEN');
    expect((await request(service.app).get('/api/admin/metrics')).status).toBe(401);
  });
});
