import { randomUUID } from 'node:crypto';
import amqplib from 'amqplib';
import request from 'supertest';
import { parseConfig } from '@orderflow/config';
import { createEvent, orderCancelled, orderConfirmed, orderCreated, orderUpdated, type EventContract, type PayloadOf } from '@orderflow/events';
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
  /** The messages the service logged (at info, which the tests' LOG_LEVEL would hide). */
  const logged: string[] = [];

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
    const { logger } = service.deps;
    logger.level = 'info';
    for (const transport of logger.transports) transport.silent = true;
    logger.on('data', (info: { message: string }) => logged.push(info.message));
  });
  afterAll(() => sut.stop());

  const publish = <C extends EventContract>(contract: C, payload: PayloadOf<C>) => publishEvent(ch, prefix, contract, payload, { source: 'order-service' });
  /** Sends an event as it would have been written at `occurredAt`. */
  async function publishAt<C extends EventContract>(contract: C, payload: PayloadOf<C>, occurredAt: Date) {
    const event = createEvent(contract, payload, { source: 'order-service', correlationId: randomUUID(), occurredAt });
    ch.publish(`${prefix}${contract.exchange}`, contract.type, Buffer.from(JSON.stringify(event)), { persistent: true, messageId: event.eventId });
    await ch.waitForConfirms();
    return event;
  }
  type Sent = { channel: string; recipient: string; template: string; subject: string | null; body: string };
  const sentFor = async (orderId: string): Promise<Sent[]> =>
    (await request(service.app).get(`/api/notifications?orderId=${orderId}`).set('Authorization', bearer('ops', 'admin'))).body.items;
  const waitForSent = (orderId: string, count: number): Promise<Sent[]> => waitFor(async () => {
    const items = await sentFor(orderId);
    return items.length >= count && items;
  }, `${count} notifications of order ${orderId}`);
  const placed = (orderId: string, customerId: string, contact?: PayloadOf<typeof orderCreated>['contact']): PayloadOf<typeof orderCreated> => ({
    orderId,
    customerId,
    items: [{ productId: 'PROD-002', quantity: 1, unitPrice: 29.99 }],
    total: 29.99,
    paymentMethod: 'unspecified',
    ...(contact ? { contact } : {}),
  });
  const short = (orderId: string) => orderId.replace(/-/g, '').slice(-8);

  it("an order placed with an email and a phone is told there, by email and SMS, in the history and in the log as users look for them", async () => {
    const orderId = randomUUID();
    await publish(orderCreated, placed(orderId, 'cust-123', { email: 'john@example.com', phone: '+1 555 0100', shippingAddress: '123 Main St, City, Country' }));
    await publish(orderConfirmed, { orderId, customerId: 'cust-123', total: 29.99, reason: null });
    const sent = await waitForSent(orderId, 3);
    expect(sent.map((n) => [n.channel, n.recipient, n.template, n.subject]).sort()).toEqual([
      ['EMAIL', 'john@example.com', 'order-confirmed', `Order #${short(orderId)} - Payment Successful!`],
      ['EMAIL', 'john@example.com', 'order-received', `Order #${short(orderId)} - Received`],
      ['SMS', '+1 555 0100', 'order-confirmed', null],
    ]);
    expect(logged).toEqual(
      expect.arrayContaining([
        `EMAIL NOTIFICATION SENT to john@example.com: Order #${short(orderId)} - Payment Successful!`,
        `SMS NOTIFICATION SENT to +1 555 0100: Order #${short(orderId)}: payment successful, 29.99 charged.`,
      ]),
    );
  });

  it("when an order's contact is updated, the customer is told at the new address, and what follows goes there; a late order.created brings nothing back", async () => {
    const orderId = randomUUID();
    const t0 = Date.now();
    await publishAt(orderCreated, placed(orderId, 'dora', { email: 'old@example.com' }), new Date(t0));
    await publishAt(orderUpdated, { orderId, customerId: 'dora', contact: { email: 'new@example.com', phone: '+44 20 7946 0958' }, changed: ['email', 'phone'] }, new Date(t0 + 1000));
    expect((await waitForSent(orderId, 2)).find((n) => n.template === 'order-updated')).toEqual(
      expect.objectContaining({
        channel: 'EMAIL',
        recipient: 'new@example.com',
        subject: `Order #${short(orderId)} - Details Updated`,
        body: `We updated your order #${short(orderId)}: email address: new@example.com; phone number: +44 20 7946 0958.`,
      }),
    );
    // Another order.created of the same order, written before the update (a producer's retry).
    await publishAt(orderCreated, placed(orderId, 'dora', { email: 'old@example.com' }), new Date(t0));
    await publish(orderCancelled, { orderId, customerId: 'dora', total: 29.99, reason: 'payment failed: card declined' });
    const cancelled = (await waitForSent(orderId, 5)).filter((n) => n.template === 'order-cancelled');
    expect(cancelled.map((n) => [n.channel, n.recipient, n.subject])).toEqual(
      expect.arrayContaining([
        ['EMAIL', 'new@example.com', `Order #${short(orderId)} - Payment Failed`],
        ['SMS', '+44 20 7946 0958', null],
      ]),
    );
    expect(await service.deps.db.orderContact.findUnique({ where: { orderId } })).toMatchObject({ email: 'new@example.com', phone: '+44 20 7946 0958', shippingAddress: null });
  });

  it('an order placed and updated in one delivered batch keeps the update; an order placed without a contact stores none and is told on file', async () => {
    const [a, b] = [randomUUID(), randomUUID()];
    const t0 = Date.now();
    const created = createEvent(orderCreated, placed(a, 'erin', { phone: '+1 555 0101' }), { source: 'order-service', correlationId: a, occurredAt: new Date(t0) });
    const updated = createEvent(orderUpdated, { orderId: a, customerId: 'erin', contact: { phone: '+1 555 0199' }, changed: ['phone'] }, { source: 'order-service', correlationId: a, occurredAt: new Date(t0 + 1) });
    const bare = createEvent(orderCreated, placed(b, 'erin'), { source: 'order-service', correlationId: b });
    for (const e of [created, updated, bare]) ch.publish(`${prefix}order.events`, e.eventType, Buffer.from(JSON.stringify(e)), { persistent: true, messageId: e.eventId });
    await ch.waitForConfirms();
    await waitForSent(a, 2);
    await waitForSent(b, 1);
    expect(await service.deps.db.orderContact.findUnique({ where: { orderId: a } })).toMatchObject({ phone: '+1 555 0199' });
    expect(await service.deps.db.orderContact.findUnique({ where: { orderId: b } })).toBeNull();
    expect((await sentFor(b)).map((n) => n.recipient)).toEqual(['erin@customers.orderflow.test']);
  });

  it('an order.updated delivered twice sends nothing twice', async () => {
    const orderId = randomUUID();
    const event = createEvent(orderUpdated, { orderId, customerId: 'fred', contact: { shippingAddress: '1 Elm St' }, changed: ['shippingAddress'] }, { source: 'order-service', correlationId: orderId });
    for (let i = 0; i < 2; i++) ch.publish(`${prefix}order.events`, 'order.updated', Buffer.from(JSON.stringify(event)), { persistent: true, messageId: event.eventId });
    await ch.waitForConfirms();
    await waitFor(async () => (await service.deps.db.processedEvent.count({ where: { eventId: event.eventId } })) === 1, 'handled');
    await waitFor(async () => (await ch.checkQueue(`${prefix}notification.events`)).messageCount === 0, 'queue drained');
    expect(await sentFor(orderId)).toEqual([expect.objectContaining({ template: 'order-updated', recipient: 'fred@customers.orderflow.test' })]);
  });

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
