import { randomUUID } from 'node:crypto';
import request from 'supertest';
import { waitFor } from '@orderflow/testkit';
import { batchReservation, cancellation, paymentServiceUnderTest, reservation, reservedOrder, type PaymentServiceUnderTest } from './support';

/**
 * The payment service and its gateway when the gateway misbehaves: a lost answer, an outage, a
 * request it keeps failing while it answers otherwise. Real PostgreSQL, RabbitMQ and the
 * simulator process; the misbehaviour through its admin switches.
 */
describe('payment service: a gateway that answers late or not at all (real PostgreSQL, RabbitMQ, simulator)', () => {
  let sut: PaymentServiceUnderTest;

  beforeAll(async () => {
    sut = await paymentServiceUnderTest({
      // A short timeout and breaker reset: the scenarios take seconds, not minutes. Retries spaced
      // so that a message the gateway keeps failing takes its whole ladder in about 15 s.
      env: { PAYMENT_GATEWAY_TIMEOUT_MS: '300', PAYMENT_GATEWAY_BREAKER_RESET_MS: '500', RETRY_DELAYS_MS: '500,1000,2000' },
    });
  });
  afterAll(() => sut.stop());
  afterEach(async () => {
    await sut.gateway.admin('latency', { ms: 0 });
    await sut.gateway.admin('outage', { down: false });
  });

  const chunk = (importId: string, orders: Array<{ orderId: string; total: number }>) =>
    batchReservation(importId, orders.map(({ orderId, total }) => reservedOrder(orderId, 'pm_card_ok', total)));
  const paymentsOf = (orderIds: string[]) => sut.service.deps.db.payment.findMany({ where: { orderId: { in: orderIds } }, orderBy: [{ orderId: 'asc' }, { type: 'asc' }] });
  /** What the payment service says it kept of each order: successful charges minus refunds. */
  const kept = async (orderIds: string[]): Promise<Map<string, number>> => {
    const net = new Map(orderIds.map((id) => [id, 0]));
    for (const p of await paymentsOf(orderIds)) {
      if (p.status !== 'SUCCEEDED') continue;
      net.set(p.orderId, Math.round((net.get(p.orderId)! + (p.type === 'CHARGE' ? 1 : -1) * p.amount.toNumber()) * 100) / 100);
    }
    return net;
  };
  const ready = async () => {
    const res = await request(sut.service.app).get('/ready');
    return { status: res.status, body: res.body as { paymentGateway: { circuit: string }; consumers: Record<string, { state: string; waitingFor?: string }> } };
  };
  const sagaConsumer = () => sut.service.deps.messaging.status().consumers[`${sut.prefix}payment.saga`]!;

  it('when the answer to a charge that went through is lost (timeout), the payments wait while the gateway is slow, and the retry with the same key gets it: one charge at the gateway, one CHARGE row', async () => {
    const orderId = randomUUID();
    // Every answer later than the service waits (300 ms): the gateway charges, the service never hears it.
    await sut.gateway.admin('latency', { ms: 1_500 });
    await sut.send(reservation(orderId, 'pm_card_ok', 25));
    const charged = await waitFor(async () => {
      const entry = await sut.gateway.entry(`charge:${orderId}`);
      return entry && entry;
    }, 'the gateway charged');
    expect(charged).toEqual(expect.objectContaining({ kind: 'charge', orderId, status: 'approved', amount: 25 }));
    // The probe is a real operation (a ledger lookup), as slow as the rest: the consumer stays
    // paused instead of resuming only to time out again, round after round.
    await waitFor(() => sagaConsumer().state === 'paused', 'the consumer paused');
    await new Promise((r) => setTimeout(r, 2_000));
    expect(sagaConsumer()).toEqual(expect.objectContaining({ state: 'paused', waitingFor: 'payment-gateway' }));
    expect((await sut.gateway.entry(`charge:${orderId}`))!.requests).toBe(1);
    // Without an answer nothing is written: the transaction that asked rolled back.
    expect(await paymentsOf([orderId])).toEqual([]);
    expect(sut.receivedFor(orderId, 'payment.completed')).toHaveLength(0);

    await sut.gateway.admin('latency', { ms: 0 });
    await waitFor(() => sut.receivedFor(orderId, 'payment.completed').length === 1, 'payment.completed once the answer arrives');
    const rows = await paymentsOf([orderId]);
    // Attempt 1: the lost answer spent no retry (the message waited, it did not fail).
    expect(rows.map((r) => [r.type, r.status, r.amount.toNumber(), r.attempts])).toEqual([['CHARGE', 'SUCCEEDED', 25, 1]]);
    const ledger = await sut.gateway.entries([orderId]);
    expect(ledger).toHaveLength(1);
    expect(ledger[0]).toEqual(expect.objectContaining({ idempotency_key: `charge:${orderId}`, status: 'approved', requests: 2 }));
    expect(sut.receivedFor(orderId, 'payment.completed')[0]!.payload).toEqual({ orderId, customerId: 'alice', paymentId: rows[0]!.id, amount: 25 });
    expect(await sut.service.deps.messaging.deadLetters.count()).toBe(0);
  }, 30_000);

  it('while the gateway is down, charges and refunds wait (no retry, no dead letter, /ready 200 with the breaker open); once it is back they are made once', async () => {
    const charged = randomUUID();
    await sut.send(reservation(charged, 'pm_card_ok', 10));
    await waitFor(() => sut.receivedFor(charged, 'payment.completed').length === 1, 'a charge before the outage');

    await sut.gateway.admin('outage', { down: true });
    const orderIds = Array.from({ length: 5 }, () => randomUUID());
    await sut.send(...orderIds.map((id) => reservation(id, 'pm_card_ok', 7)), cancellation(charged, 10));
    await waitFor(async () => (await ready()).body.paymentGateway?.circuit === 'open', 'the breaker open');
    const during = await ready();
    // Ready: the service serves its API; the payments wait in their queue, for the gateway.
    expect(during.status).toBe(200);
    expect(during.body.consumers[`${sut.prefix}payment.saga`]).toEqual(expect.objectContaining({ state: 'paused', waitingFor: 'payment-gateway' }));
    const metrics = (await request(sut.service.app).get('/metrics')).text;
    expect(metrics).toMatch(/^payment_gateway_circuit_state\{state="open"[^}]*\} 1$/m);
    expect(metrics).toMatch(/^payment_gateway_circuit_state\{state="closed"[^}]*\} 0$/m);
    expect(await paymentsOf(orderIds)).toEqual([]);
    expect(await sut.gateway.entries(orderIds)).toEqual([]);
    expect(sut.receivedFor(charged, 'payment.refunded')).toHaveLength(0);

    await sut.gateway.admin('outage', { down: false });
    await waitFor(() => orderIds.every((id) => sut.receivedFor(id, 'payment.completed').length === 1) && sut.receivedFor(charged, 'payment.refunded').length === 1, 'every charge and the refund made once the gateway is back', 30_000);
    expect(sagaConsumer()).toEqual(expect.objectContaining({ state: 'active' }));
    expect((await ready()).body.paymentGateway.circuit).toBe('closed');
    const rows = await paymentsOf([...orderIds, charged]);
    expect(rows.filter((r) => r.orderId !== charged).map((r) => [r.type, r.status, r.attempts])).toEqual(orderIds.map(() => ['CHARGE', 'SUCCEEDED', 1]));
    expect(rows.filter((r) => r.orderId === charged).map((r) => [r.type, r.status])).toEqual([
      ['CHARGE', 'SUCCEEDED'],
      ['REFUND', 'SUCCEEDED'],
    ]);
    const ledger = await sut.gateway.entries([...orderIds, charged]);
    expect(ledger.filter((e) => e.kind === 'charge' && e.status === 'approved').map((e) => e.order_id).sort()).toEqual([...orderIds, charged].sort());
    expect(ledger.filter((e) => e.kind === 'refund').map((e) => [e.order_id, e.status])).toEqual([[charged, 'refunded']]);
    expect(await sut.service.deps.messaging.deadLetters.count()).toBe(0);
  });

  it('an order cancelled while its charge waits for a retry after a lost answer (an import chunk) keeps no money: the cancellation voids the key at the gateway, which refunds the charge it had made', async () => {
    const importId = randomUUID();
    const [cancelled, kept_] = [randomUUID(), randomUUID()];
    // Only the charges' answers are late: the chunk's charge goes through at the gateway, its
    // answer is lost, and the chunk waits for its retry with no row here.
    await sut.gateway.admin('latency', { ms: 1_500, operations: ['charge'] });
    await sut.send(chunk(importId, [{ orderId: cancelled, total: 12 }, { orderId: kept_, total: 8 }]));
    await waitFor(async () => (await sut.gateway.entries([cancelled, kept_])).filter((e) => e.status === 'approved').length === 2, 'the gateway charged both orders');
    expect(await paymentsOf([cancelled, kept_])).toEqual([]);

    // Meanwhile the customer cancels one of them (checkout's lane, not the chunk's).
    const cancel = cancellation(cancelled, 12);
    await sut.send(cancel);
    await waitFor(() => sut.processed(cancel), 'the cancellation handled while the chunk waits', 20_000);

    await sut.gateway.admin('latency', { ms: 0 });
    const [answer] = await waitFor(() => {
      const answers = sut.received.filter((e) => e.eventType === 'payment.batch-processed' && e.payload.importId === importId);
      return answers.length > 0 && answers;
    }, "the chunk's answer once the gateway answers in time", 30_000);
    expect(answer!.payload.completed.map((c: { orderId: string }) => c.orderId)).toEqual([kept_]);
    expect(answer!.payload.failed).toEqual([{ orderId: cancelled, customerId: 'alice', reason: 'order cancelled' }]);

    // Money balances with the gateway's ledger, order by order: nothing kept of the cancelled one.
    const atGateway = await sut.gateway.kept([cancelled, kept_]);
    expect(Object.fromEntries(atGateway)).toEqual({ [cancelled]: 0, [kept_]: 8 });
    expect(Object.fromEntries(await kept([cancelled, kept_]))).toEqual(Object.fromEntries(atGateway));
    // What happened, on both sides: charged, then refunded.
    expect((await paymentsOf([cancelled])).map((p) => [p.type, p.status, p.amount.toNumber()])).toEqual([
      ['CHARGE', 'SUCCEEDED', 12],
      ['REFUND', 'SUCCEEDED', 12],
    ]);
    expect((await sut.gateway.entries([cancelled])).map((e) => [e.idempotency_key, e.status])).toEqual([
      [`charge:${cancelled}`, 'approved'],
      [`refund:${cancelled}`, 'refunded'],
    ]);
    expect(sut.receivedFor(cancelled, 'payment.refunded').map((e) => e.payload.amount)).toEqual([12]);
    expect(await sut.service.deps.messaging.deadLetters.count()).toBe(0);
  }, 60_000);

  it('an order cancelled while its reservation waits for a retry after lost answers (checkout) keeps no money either', async () => {
    const orderId = randomUUID();
    await sut.gateway.admin('latency', { ms: 1_500, operations: ['charge'] });
    await sut.send(reservation(orderId, 'pm_card_ok', 30));
    await waitFor(async () => (await sut.gateway.entry(`charge:${orderId}`))?.status === 'approved', 'the gateway charged');
    // Queued behind the reservation: handled when the reservation, whose request keeps failing
    // while the gateway answers its probe, goes to its retry (see the next test).
    const cancel = cancellation(orderId, 30);
    await sut.send(cancel);
    await waitFor(() => sut.processed(cancel), 'the cancellation handled while the reservation waits for its retry', 30_000);
    await sut.gateway.admin('latency', { ms: 0 });
    const [failed] = await waitFor(() => sut.receivedFor(orderId, 'payment.failed').length > 0 && sut.receivedFor(orderId, 'payment.failed'), 'the reservation answered', 30_000);
    expect(failed!.payload.reason).toBe('order cancelled');
    expect(sut.receivedFor(orderId, 'payment.completed')).toHaveLength(0);

    const atGateway = await sut.gateway.kept([orderId]);
    expect(atGateway.get(orderId)).toBe(0);
    expect(Object.fromEntries(await kept([orderId]))).toEqual(Object.fromEntries(atGateway));
    const rows = (await paymentsOf([orderId])).map((p) => [p.type, p.status]);
    // VOIDED (the gateway never charged) or charged and refunded: never a charge kept.
    expect([[['CHARGE', 'VOIDED']], [['CHARGE', 'SUCCEEDED'], ['REFUND', 'SUCCEEDED']]]).toContainEqual(rows);
    expect(await sut.service.deps.messaging.deadLetters.count()).toBe(0);
  }, 60_000);

  it('a charge the gateway keeps failing while it answers its probe is retried, then parked with its error — not looped until the broker dead-letters it — and replays once the gateway is well', async () => {
    const orderId = randomUUID();
    // The gateway answers its probe (a lookup) in time, but never this charge.
    await sut.gateway.admin('latency', { ms: 1_500, operations: ['charge'] });
    const event = reservation(orderId, 'pm_card_ok', 14);
    await sut.send(event);
    await waitFor(async () => (await sut.service.deps.messaging.deadLetters.count()) === 1, 'the reservation parked after its retries', 45_000);
    const [parked] = await sut.service.deps.messaging.deadLetters.list();
    expect(parked).toEqual(expect.objectContaining({ eventId: event.eventId, reason: 'retries-exhausted', errorCode: 'PAYMENT.GATEWAY_UNAVAILABLE', attempts: 4 }));
    expect(parked!.error).toMatch(/payment gateway charge/);
    // Consuming again: a message the gateway cannot take does not stop the others.
    await waitFor(() => sagaConsumer().state === 'active', 'the consumer active');
    const other = randomUUID();
    await sut.gateway.admin('latency', { ms: 0 });
    await sut.send(reservation(other, 'pm_card_ok', 3));
    await waitFor(() => sut.receivedFor(other, 'payment.completed').length === 1, 'the next reservation charged');

    // The gateway had charged: replayed, the reservation gets that answer, once.
    expect(await sut.service.deps.messaging.deadLetters.replay({ parkedId: parked!.parkedId })).toBe(1);
    await waitFor(() => sut.receivedFor(orderId, 'payment.completed').length === 1, 'the replayed reservation answered');
    expect((await paymentsOf([orderId])).map((p) => [p.type, p.status])).toEqual([['CHARGE', 'SUCCEEDED']]);
    expect(Object.fromEntries(await sut.gateway.kept([orderId]))).toEqual({ [orderId]: 14 });
    expect(await sut.service.deps.messaging.deadLetters.count()).toBe(0);
  }, 90_000);
});
