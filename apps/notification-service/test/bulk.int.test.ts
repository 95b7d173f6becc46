import { randomUUID } from 'node:crypto';
import amqplib from 'amqplib';
import request from 'supertest';
import { parseConfig } from '@orderflow/config';
import { orderBatchConcluded, orderBatchCreated, type EventContract, type PayloadOf } from '@orderflow/events';
import { buildService, serviceConfigSchema, type Service } from '@orderflow/service';
import { type ServiceUnderTest, bearer, publishEvent, serviceUnderTest, uniquePrefix, waitFor } from '@orderflow/testkit';
import { api } from '../src/api';
import { database, type Db, type Tx } from '../src/db';
import { subscriptions } from '../src/handlers';
import { topology } from '../src/topology';

describe('notification service: imported orders (real PostgreSQL and RabbitMQ)', () => {
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
  const templatesOf = async (orderId: string) =>
    ((await request(service.app).get(`/api/notifications?orderId=${orderId}`).set('Authorization', bearer('ops', 'admin'))).body.items as Array<{ template: string; channel: string }>)
      .map((n) => `${n.template}/${n.channel}`)
      .sort();

  it('each customer of an imported chunk is told exactly what a checkout order would tell them', async () => {
    const [a, b, c] = [randomUUID(), randomUUID(), randomUUID()];
    const placed = (orderId: string, customerId: string) => ({ orderId, customerId, items: [{ productId: 'P1', quantity: 1, unitPrice: 10 }], total: 10, paymentMethod: 'pm_card_ok' });
    const outcome = (orderId: string, customerId: string, reason: string | null) => ({ orderId, customerId, total: 10, reason });
    await publish(orderBatchCreated, { importId: randomUUID(), orders: [placed(a, 'ann'), placed(b, 'ben'), placed(c, 'cat')] });
    await publish(orderBatchConcluded, { importId: randomUUID(), confirmed: [outcome(a, 'ann', null)], rejected: [outcome(b, 'ben', 'insufficient stock')], cancelled: [outcome(c, 'cat', 'payment failed: card declined')] });
    await waitFor(async () => (await templatesOf(c)).length === 3, 'the notifications');
    expect(await templatesOf(a)).toEqual(['order-confirmed/EMAIL', 'order-confirmed/SMS', 'order-received/EMAIL']);
    expect(await templatesOf(b)).toEqual(['order-received/EMAIL', 'order-rejected/EMAIL', 'order-rejected/SMS']);
    expect(await templatesOf(c)).toEqual(['order-cancelled/EMAIL', 'order-cancelled/SMS', 'order-received/EMAIL']);
  });
});
