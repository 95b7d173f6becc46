import { randomUUID } from 'node:crypto';
import request from 'supertest';
import { bearer, waitFor } from '@orderflow/testkit';
import { cancellation, paymentServiceUnderTest, reservation, type PaymentServiceUnderTest } from './support';

interface PaymentView {
  id: string;
  type: string;
  status: string;
  amount: number;
  attempts: number;
  reason: string | null;
}

describe('payment service (real PostgreSQL and RabbitMQ, the gateway simulator over HTTP)', () => {
  let sut: PaymentServiceUnderTest;

  beforeAll(async () => {
    sut = await paymentServiceUnderTest({ env: { INSTANCE_ID: 'replica-1' } });
  });
  afterAll(() => sut.stop());

  /**
   * How many distinct `eventType` events the service published for an order (`expectSome`: wait
   * for the first): final once the causing event is processed and the outbox is empty (a row
   * leaves it when the broker confirmed it), plus the moment a confirmed message takes to reach
   * the tap. Distinct by event id: a second answer is a defect, a second copy of one answer is
   * the outbox's at-least-once delivery (the consumers' inbox drops it).
   */
  const published = async (orderId: string, eventType: string, expectSome = false) => {
    await waitFor(async () => (await sut.service.deps.messaging.relay.unsentCount()) === 0, 'outbox drained');
    // Drained is sent, not yet received: wait for the first copy (a loaded machine takes more
    // than a fixed pause), then give a second answer the time to show up too.
    if (expectSome) await waitFor(() => sut.receivedFor(orderId, eventType).length > 0, `${eventType} received`);
    await new Promise((r) => setTimeout(r, 250));
    return new Set(sut.receivedFor(orderId, eventType).map((e) => e.eventId)).size;
  };

  async function payments(orderId: string, auth = bearer('admin', 'admin')): Promise<PaymentView[]> {
    const res = await request(sut.service.app).get(`/api/payments?orderId=${orderId}`).set('Authorization', auth);
    expect(res.status).toBe(200);
    return res.body.items;
  }

  it('when the card is pm_card_ok, the order is charged once and payment.completed carries the charge', async () => {
    const orderId = randomUUID();
    await sut.send(reservation(orderId, 'pm_card_ok', 59.9));
    const [completed] = await waitFor(() => sut.receivedFor(orderId, 'payment.completed').length === 1 && sut.receivedFor(orderId, 'payment.completed'), 'payment.completed');
    const items = await payments(orderId, bearer('alice'));
    expect(items).toEqual([
      expect.objectContaining({ orderId, type: 'CHARGE', status: 'SUCCEEDED', amount: 59.9, attempts: 1, reason: null }),
    ]);
    expect(completed?.payload).toEqual({ orderId, customerId: 'alice', paymentId: items[0]?.id, amount: 59.9 });
    expect(completed?.causationId).not.toBeNull();
    expect(sut.receivedFor(orderId, 'payment.failed')).toHaveLength(0);
    // The gateway charged it, once, under the order's key.
    expect(await sut.gateway.entries([orderId])).toEqual([{ idempotency_key: `charge:${orderId}`, kind: 'charge', order_id: orderId, status: 'approved', requests: 1 }]);
  });

  it('when the card is declined, payment.failed says "card declined" and a FAILED charge is recorded', async () => {
    const orderId = randomUUID();
    await sut.send(reservation(orderId, 'pm_card_declined', 12.5));
    const [failed] = await waitFor(() => sut.receivedFor(orderId, 'payment.failed').length === 1 && sut.receivedFor(orderId, 'payment.failed'), 'payment.failed');
    expect(failed?.payload).toEqual({ orderId, customerId: 'alice', reason: 'card declined' });
    expect(await payments(orderId)).toEqual([expect.objectContaining({ type: 'CHARGE', status: 'FAILED', amount: 12.5, attempts: 1, reason: 'card declined' })]);
    expect(await published(orderId, 'payment.completed')).toBe(0);
  });

  it('when the card gateway is flaky, the charge succeeds on the third delivery, after the broker retry delays', async () => {
    const orderId = randomUUID();
    const started = Date.now();
    await sut.send(reservation(orderId, 'pm_card_flaky', 20));
    await waitFor(() => sut.receivedFor(orderId, 'payment.completed').length === 1, 'payment.completed');
    // Retries wait in the TTL queues: 200 ms then 400 ms (serviceEnv's RETRY_DELAYS_MS).
    expect(Date.now() - started).toBeGreaterThanOrEqual(600);
    // The attempt number comes from the header the retry republish sets: 3 means two trips through the broker.
    expect(await payments(orderId)).toEqual([expect.objectContaining({ type: 'CHARGE', status: 'SUCCEEDED', amount: 20, attempts: 3 })]);
    expect(sut.receivedFor(orderId, 'payment.failed')).toHaveLength(0);
    // Asked three times under one key: unavailable twice, then approved — one charge.
    expect(await sut.gateway.entries([orderId])).toEqual([expect.objectContaining({ kind: 'charge', status: 'approved', requests: 3 })]);
    expect(await sut.service.deps.messaging.deadLetters.count()).toBe(0);
  });

  it('the same reservation delivered three times plus another reservation event for the order charge it exactly once', async () => {
    const orderId = randomUUID();
    const first = reservation(orderId, 'pm_card_ok', 30);
    const second = reservation(orderId, 'pm_card_ok', 30);
    await sut.send(first, first, first, second);
    // One consumer takes the queue in order, so once `second` is processed the copies before it are too.
    await waitFor(() => sut.processed(first, second), 'both reservation events processed');
    await waitFor(async () => (await sut.ch.checkQueue(`${sut.prefix}payment.saga`)).messageCount === 0, 'queue drained');
    expect(await payments(orderId)).toEqual([expect.objectContaining({ type: 'CHARGE', status: 'SUCCEEDED', attempts: 1 })]);
    // The copies found the charge row and never reached the gateway.
    expect(await sut.gateway.entries([orderId])).toEqual([expect.objectContaining({ kind: 'charge', status: 'approved', requests: 1 })]);
    expect(await published(orderId, 'payment.completed', true)).toBe(1);
  });

  it('two replicas racing over two reservation events per order charge each order exactly once', async () => {
    const replica = sut.build('replica-2');
    await replica.start();
    try {
      const orderIds = Array.from({ length: 30 }, () => randomUUID());
      const events = orderIds.flatMap((id) => [reservation(id, 'pm_card_ok', 10), reservation(id, 'pm_card_ok', 10)]);
      await sut.send(...events);
      await waitFor(() => sut.processed(...events), 'every reservation event processed');
      const charges = await sut.service.deps.db.payment.groupBy({ by: ['orderId'], where: { orderId: { in: orderIds } }, _count: { _all: true } });
      expect(charges).toHaveLength(orderIds.length);
      expect(charges.every((c) => c._count._all === 1)).toBe(true);
      // And the gateway charged each order once: the loser of a race waited for the winner's row and asked nothing.
      const ledger = await sut.gateway.entries(orderIds);
      expect(ledger.map((e) => e.order_id).sort()).toEqual([...orderIds].sort());
      expect(ledger.every((e) => e.kind === 'charge' && e.status === 'approved' && e.requests === 1)).toBe(true);
      const completed = await Promise.all(orderIds.map((id) => published(id, 'payment.completed', true)));
      expect(completed.every((n) => n === 1)).toBe(true);
    } finally {
      await replica.stop();
    }
  });

  it('when an order is cancelled after its charge, it is refunded once; a second cancellation changes nothing', async () => {
    const orderId = randomUUID();
    await sut.send(reservation(orderId, 'pm_card_ok', 45.25));
    await waitFor(() => sut.receivedFor(orderId, 'payment.completed').length === 1, 'payment.completed');
    await sut.send(cancellation(orderId, 45.25));
    const [refunded] = await waitFor(() => sut.receivedFor(orderId, 'payment.refunded').length === 1 && sut.receivedFor(orderId, 'payment.refunded'), 'payment.refunded');
    const items = await payments(orderId, bearer('alice'));
    expect(items.map((p) => [p.type, p.status, p.amount])).toEqual([
      ['CHARGE', 'SUCCEEDED', 45.25],
      ['REFUND', 'SUCCEEDED', 45.25],
    ]);
    expect(refunded?.payload).toEqual({ orderId, customerId: 'alice', paymentId: items[1]?.id, amount: 45.25 });
    expect((await sut.gateway.entries([orderId])).map((e) => [e.kind, e.status])).toEqual([
      ['charge', 'approved'],
      ['refund', 'refunded'],
    ]);

    const again = cancellation(orderId, 45.25);
    await sut.send(again);
    await waitFor(() => sut.processed(again), 'second cancellation processed');
    expect(await payments(orderId)).toHaveLength(2);
    expect(await sut.gateway.entries([orderId])).toHaveLength(2);
    expect(await published(orderId, 'payment.refunded', true)).toBe(1);
  });

  it('when the charge failed, a cancellation refunds nothing', async () => {
    const orderId = randomUUID();
    await sut.send(reservation(orderId, 'pm_card_declined'));
    await waitFor(() => sut.receivedFor(orderId, 'payment.failed').length === 1, 'payment.failed');
    const cancel = cancellation(orderId);
    await sut.send(cancel);
    await waitFor(() => sut.processed(cancel), 'cancellation processed');
    expect((await payments(orderId)).map((p) => [p.type, p.status])).toEqual([['CHARGE', 'FAILED']]);
    expect(await published(orderId, 'payment.refunded')).toBe(0);
  });

  it('when an order is cancelled before its stock is reserved, the reservation charges nothing and answers payment.failed "order cancelled"', async () => {
    const orderId = randomUUID();
    const cancel = cancellation(orderId, 99);
    await sut.send(cancel);
    await waitFor(() => sut.processed(cancel), 'cancellation processed');
    expect(await payments(orderId)).toEqual([expect.objectContaining({ type: 'CHARGE', status: 'VOIDED', reason: 'order cancelled' })]);

    await sut.send(reservation(orderId, 'pm_card_ok', 99));
    const [failed] = await waitFor(() => sut.receivedFor(orderId, 'payment.failed').length === 1 && sut.receivedFor(orderId, 'payment.failed'), 'payment.failed');
    expect(failed?.payload).toEqual({ orderId, customerId: 'alice', reason: 'order cancelled' });
    expect((await payments(orderId)).map((p) => [p.type, p.status])).toEqual([['CHARGE', 'VOIDED']]);
    expect(await published(orderId, 'payment.completed')).toBe(0);
    // Never charged at the gateway: the cancellation voided the key there (a tombstone), and the
    // reservation, which found the VOIDED row, asked nothing.
    expect(await sut.gateway.entries([orderId])).toEqual([{ idempotency_key: `charge:${orderId}`, kind: 'charge', order_id: orderId, status: 'voided', requests: 1 }]);
  });

  it('when an order is cancelled while its flaky charge waits for a retry, the retry charges nothing', async () => {
    const orderId = randomUUID();
    // The cancellation is queued before the retried reservation comes back from its 200 ms delay.
    await sut.send(reservation(orderId, 'pm_card_flaky', 15), cancellation(orderId, 15));
    const [failed] = await waitFor(() => sut.receivedFor(orderId, 'payment.failed').length === 1 && sut.receivedFor(orderId, 'payment.failed'), 'payment.failed');
    expect(failed?.payload.reason).toBe('order cancelled');
    expect((await payments(orderId)).map((p) => [p.type, p.status])).toEqual([['CHARGE', 'VOIDED']]);
    expect(await published(orderId, 'payment.completed')).toBe(0);
    // The gateway was asked before the cancellation (card network unavailable); the cancellation
    // voided the key, so it can never be approved.
    expect(await sut.gateway.entries([orderId])).toEqual([expect.objectContaining({ kind: 'charge', status: 'voided' })]);
  });

  it("reading payments needs a token and a uuid orderId; a customer sees only their own orders' payments", async () => {
    const orderId = randomUUID();
    await sut.send(reservation(orderId, 'pm_card_ok', 5, 'alice'));
    await waitFor(async () => (await payments(orderId)).length === 1, 'the charge');

    expect((await request(sut.service.app).get(`/api/payments?orderId=${orderId}`)).status).toBe(401);
    for (const path of ['/api/payments', '/api/payments?orderId=not-a-uuid']) {
      const bad = await request(sut.service.app).get(path).set('Authorization', bearer('alice'));
      expect(bad.status).toBe(400);
      expect(JSON.stringify(bad.body)).toContain('orderId');
    }
    expect(await payments(orderId, bearer('mallory'))).toEqual([]);
    expect(await payments(orderId, bearer('alice'))).toHaveLength(1);
    expect(await payments(orderId, bearer('root', 'admin'))).toHaveLength(1);
  });
});
