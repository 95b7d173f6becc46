import { randomUUID } from 'node:crypto';
import amqplib from 'amqplib';
import { parseConfig } from '@orderflow/config';
import { createEvent, inventoryBatchReserved, type Envelope, type PayloadOf } from '@orderflow/events';
import type { Service } from '@orderflow/service';
import { type ServiceUnderTest, serviceUnderTest, uniquePrefix, waitFor } from '@orderflow/testkit';
import { paymentConfigSchema } from '../src/config';
import type { Db, Tx } from '../src/db';
import { buildPaymentService, startGatewaySimulator, type GatewaySimulator } from './support';

type Reserved = PayloadOf<typeof inventoryBatchReserved>['orders'][number];

/** The import lane of payment: a chunk's reservations per event, one answer per event. */
describe('payment service: bulk charges for imports (real PostgreSQL and RabbitMQ)', () => {
  const prefix = uniquePrefix();
  let gateway: GatewaySimulator;
  let sut: ServiceUnderTest<Service<Db, Tx>>;
  let service: Service<Db, Tx>;
  let ch: amqplib.ConfirmChannel;
  const received: Envelope<any>[] = [];

  beforeAll(async () => {
    gateway = await startGatewaySimulator({ PAYMENT_SUCCESS_RATE: '1' });
    sut = await serviceUnderTest({
      database: 'payment',
      prefix,
      env: { PAYMENT_GATEWAY_URL: gateway.url },
      build: (env) => buildPaymentService(parseConfig(paymentConfigSchema(0), env)).service,
    });
    ({ service, ch } = sut);
    await sut.tap('payment.events', received);
  });
  afterAll(async () => {
    await sut.stop();
    await gateway.stop();
  });

  async function reserved(importId: string, orders: Reserved[]): Promise<void> {
    const event = createEvent(inventoryBatchReserved, { importId, orders }, { source: 'inventory-service', correlationId: importId });
    ch.publish(`${prefix}inventory.events`, event.eventType, Buffer.from(JSON.stringify(event)), { persistent: true, correlationId: importId });
    await ch.waitForConfirms();
  }
  const order = (paymentMethod: string, total = 10): Reserved => ({ orderId: randomUUID(), customerId: 'alice', items: [{ productId: 'P1', quantity: 1, unitPrice: total }], total, paymentMethod });
  const answers = (importId: string) => received.filter((e) => e.eventType === 'payment.batch-processed' && e.payload.importId === importId);
  const charges = (orderIds: string[]) => service.deps.db.payment.findMany({ where: { orderId: { in: orderIds } }, orderBy: { orderId: 'asc' } });

  it('a chunk is charged once per order and answered with ONE payment.batch-processed', async () => {
    const importId = randomUUID();
    const orders = [order('pm_card_ok', 20), order('pm_card_declined'), order('pm_card_ok', 5)];
    await reserved(importId, orders);
    const [answer] = await waitFor(() => answers(importId).length === 1 && answers(importId), 'the answer');
    expect(answer!.payload.completed).toEqual([
      { orderId: orders[0]!.orderId, customerId: 'alice', paymentId: expect.any(String), amount: 20 },
      { orderId: orders[2]!.orderId, customerId: 'alice', paymentId: expect.any(String), amount: 5 },
    ]);
    expect(answer!.payload.failed).toEqual([{ orderId: orders[1]!.orderId, customerId: 'alice', reason: 'card declined' }]);
    expect((await charges(orders.map((o) => o.orderId))).map((c) => c.status).sort()).toEqual(['FAILED', 'SUCCEEDED', 'SUCCEEDED']);

    // The same reservations again (another event): nothing is charged twice and nobody is answered again.
    await reserved(importId, orders);
    await waitFor(async () => (await service.deps.db.processedEvent.count({ where: { consumer: { endsWith: 'payment.bulk' } } })) >= 2, 'handled');
    expect(await charges(orders.map((o) => o.orderId))).toHaveLength(3);
    expect(answers(importId)).toHaveLength(1);
  });

  it('a flaky card retries the chunk until the gateway answers; every order is charged exactly once', async () => {
    const importId = randomUUID();
    const orders = [order('pm_card_ok'), order('pm_card_flaky')];
    await reserved(importId, orders);
    const [answer] = await waitFor(() => answers(importId).length === 1 && answers(importId), 'the answer after retries', 20_000);
    expect(answer!.payload.completed.map((c: { orderId: string }) => c.orderId).sort()).toEqual(orders.map((o) => o.orderId).sort());
    const rows = await charges(orders.map((o) => o.orderId));
    expect(rows).toHaveLength(2);
    expect(rows.every((r) => r.attempts === 3 && r.status === 'SUCCEEDED')).toBe(true);
  });
});
