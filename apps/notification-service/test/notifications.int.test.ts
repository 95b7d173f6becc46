import { randomUUID } from 'node:crypto';
import amqplib from 'amqplib';
import request from 'supertest';
import { parseConfig } from '@orderflow/config';
import { createEvent, orderCancelled, orderConfirmed, type EventContract, type PayloadOf } from '@orderflow/events';
import { buildService, serviceConfigSchema, type Service } from '@orderflow/service';
import { type ServiceUnderTest, bearer, publishEvent, serviceUnderTest, uniquePrefix, waitFor } from '@orderflow/testkit';
import { api } from '../src/api';
import { database, type Db, type Tx } from '../src/db';
import { subscriptions } from '../src/handlers';
import { topology } from '../src/topology';

describe('notification service (real PostgreSQL and RabbitMQ)', () => {
  const prefix = uniquePrefix();
  let sut: ServiceUnderTest<Service<Db, Tx>>;
  let service: Service<Db, Tx>;
  let ch: amqplib.ConfirmChannel;

  beforeAll(async () => {
    sut = await serviceUnderTest({
      database: 'notification',
      prefix,
      build: (env) => {
        const config = parseConfig(serviceConfigSchema(0), env);
        return buildService({ name: 'notification-service', config, topology: (p) => topology(p, config.RETRY_DELAYS_MS), database, routes: api, subscriptions });
      },
    });
    ({ service, ch } = sut);
  });
  afterAll(() => sut.stop());

  const publish = <C extends EventContract>(contract: C, payload: PayloadOf<C>) => publishEvent(ch, prefix, contract, payload, { source: 'order-service' });

  it('when an order is confirmed, the customer gets an email and an SMS, listed newest first', async () => {
    const orderId = randomUUID();
    await publish(orderConfirmed, { orderId, customerId: 'alice', total: 30, reason: null });
    const res = await waitFor(async () => {
      const r = await request(service.app).get(`/api/notifications?orderId=${orderId}`).set('Authorization', bearer('alice'));
      return r.body.items?.length === 2 && r;
    }, 'two notifications');
    expect(res.status).toBe(200);
    expect(res.body.items.map((n: { channel: string }) => n.channel).sort()).toEqual(['EMAIL', 'SMS']);
    expect(res.body.items[0]).toMatchObject({ orderId, customerId: 'alice', template: 'order-confirmed' });
  });

  it('the same event delivered twice sends nothing twice', async () => {
    const orderId = randomUUID();
    const event = createEvent(orderCancelled, { orderId, customerId: 'carol', total: 5, reason: 'cancelled by customer' }, { source: 'order-service', correlationId: orderId });
    for (let i = 0; i < 2; i++) ch.publish(`${prefix}order.events`, 'order.cancelled', Buffer.from(JSON.stringify(event)), { persistent: true });
    await ch.waitForConfirms();
    await waitFor(async () => (await service.deps.db.processedEvent.count({ where: { eventId: event.eventId } })) === 1, 'handled');
    await waitFor(async () => (await ch.checkQueue(`${prefix}notification.events`)).messageCount === 0, 'queue drained');
    const res = await request(service.app).get(`/api/notifications?customerId=carol`).set('Authorization', bearer('admin', 'admin'));
    expect(res.body.items.filter((n: { orderId: string }) => n.orderId === orderId)).toHaveLength(2);
  });

  it("a customer cannot read another customer's notifications; a query needs orderId or customerId", async () => {
    const forbidden = await request(service.app).get('/api/notifications?customerId=alice').set('Authorization', bearer('mallory'));
    expect(forbidden.status).toBe(403);
    const bad = await request(service.app).get('/api/notifications').set('Authorization', bearer('alice'));
    expect(bad.status).toBe(400);
    expect(JSON.stringify(bad.body)).toContain('orderId');
    const anonymous = await request(service.app).get('/api/notifications?customerId=alice');
    expect(anonymous.status).toBe(401);
  });
});
