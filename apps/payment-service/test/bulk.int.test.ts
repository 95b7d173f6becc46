import { randomUUID } from 'node:crypto';
import { waitFor } from '@orderflow/testkit';
import { batchReservation, paymentServiceUnderTest, reservedOrder, type PaymentServiceUnderTest, type ReservedOrder } from './support';

/** The import lane of payment: a chunk's reservations per event, one answer per event. */
describe('payment service: bulk charges for imports (real PostgreSQL and RabbitMQ)', () => {
  let sut: PaymentServiceUnderTest;

  beforeAll(async () => {
    sut = await paymentServiceUnderTest({ gatewayEnv: { PAYMENT_SUCCESS_RATE: '1' } });
  });
  afterAll(() => sut.stop());

  const reserved = (importId: string, orders: ReservedOrder[]) => sut.send(batchReservation(importId, orders));
  const order = (paymentMethod: string, total = 10): ReservedOrder => reservedOrder(randomUUID(), paymentMethod, total);
  const answers = (importId: string) => sut.received.filter((e) => e.eventType === 'payment.batch-processed' && e.payload.importId === importId);
  const charges = (orderIds: string[]) => sut.service.deps.db.payment.findMany({ where: { orderId: { in: orderIds } }, orderBy: { orderId: 'asc' } });

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
    await waitFor(async () => (await sut.service.deps.db.processedEvent.count({ where: { consumer: { endsWith: 'payment.bulk' } } })) >= 2, 'handled');
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
