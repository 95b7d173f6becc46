import request from 'supertest';
import type { Service } from '@orderflow/service';
import { AMQP_URL, bearer, tcpProxy, uniquePrefix, waitFor, type ServiceUnderTest } from '@orderflow/testkit';
import type { Db, Tx } from '../src/db';
import { orderServiceUnderTest } from './support';

const order = {
  customerId: 'alice',
  items: [{ productId: 'PROD-002', quantity: 2, unitPrice: 25 }],
  paymentMethod: 'pm_card_ok',
};

describe('order service with its broker away (real PostgreSQL and RabbitMQ, the outage through a proxy)', () => {
  it('stays ready, serves reads and takes orders; an order placed meanwhile is published from the outbox once the broker is back', async () => {
    const target = new URL(AMQP_URL);
    const proxy = await tcpProxy({ host: target.hostname, port: Number(target.port || 5672) });
    const through = new URL(AMQP_URL);
    through.host = `127.0.0.1:${proxy.port}`;
    const prefix = uniquePrefix();
    // The service reaches the broker through the proxy only; the test's tap is connected directly.
    const sut: ServiceUnderTest<Service<Db, Tx>> = await orderServiceUnderTest({ prefix, env: { AMQP_URL: through.toString() } });
    const { service } = sut;
    const published: Array<{ eventType: string; payload: { orderId: string } }> = [];
    const created = (orderId: string) => published.filter((e) => e.eventType === 'order.created' && e.payload.orderId === orderId);
    const unsent = async (orderId: string): Promise<number> =>
      (await service.deps.sql.$queryRawUnsafe<Array<{ n: number }>>(`SELECT count(*)::int AS n FROM outbox_events WHERE envelope::jsonb->>'correlationId' = $1`, orderId))[0]!.n;
    const place = () => request(service.app).post('/api/orders').set('Authorization', bearer('alice')).send(order);
    const get = (id: string) => request(service.app).get(`/api/orders/${id}`).set('Authorization', bearer('alice'));
    try {
      await sut.tap('order.events', published);
      const earlier = (await place().expect(202)).body.orderId as string;
      await waitFor(() => created(earlier).length > 0, 'order.created of an order placed with the broker up');

      await proxy.stop();
      await waitFor(() => !service.deps.messaging.broker.isConnected(), 'the broker connection lost');

      const ready = await request(service.app).get('/ready').expect(200);
      expect(ready.body).toMatchObject({
        status: 'ready',
        checks: { database: true },
        broker: { connected: false },
        consumers: { [`${prefix}order.saga`]: { active: false, state: 'disconnected' } },
      });
      expect((await get(earlier).expect(200)).body).toMatchObject({ orderId: earlier, status: 'PENDING' });

      const res = await place().expect(202);
      const orderId = res.body.orderId as string;
      expect(res.body).toMatchObject({ status: 'PENDING', customerId: 'alice' });
      expect((await get(orderId).expect(200)).body).toMatchObject({ orderId, status: 'PENDING' });
      // The direct publish was skipped: the event waits in the outbox, with the order.
      expect(await unsent(orderId)).toBe(1);
      expect(created(orderId)).toEqual([]);

      await proxy.start();
      await waitFor(() => created(orderId).length > 0, 'order.created published once the broker is back', 30_000);
      await waitFor(async () => (await unsent(orderId)) === 0, 'its outbox row deleted once published');
      expect(created(orderId)).toHaveLength(1);
    } finally {
      await proxy.start();
      await sut.stop();
      await proxy.close();
    }
  });
});
