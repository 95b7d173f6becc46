import { randomUUID } from 'node:crypto';
import request from 'supertest';
import { parseConfig } from '@orderflow/config';
import { createEvent, inventoryBatchReserved, inventoryReserved, orderCancelled, type Envelope } from '@orderflow/events';
import type { Service } from '@orderflow/service';
import { serviceUnderTest, uniquePrefix, waitFor, type ServiceUnderTest } from '@orderflow/testkit';
import { paymentConfigSchema } from '../src/config';
import type { Db, Tx } from '../src/db';
import { buildPaymentService, startGatewaySimulator, type GatewaySimulator } from './support';

/**
 * The payment service and its gateway when the gateway misbehaves: a lost answer, an outage, a
 * request it keeps failing while it answers otherwise. Real PostgreSQL, RabbitMQ and the
 * simulator process; the misbehaviour through its admin switches.
 */
describe('payment service: a gateway that answers late or not at all (real PostgreSQL, RabbitMQ, simulator)', () => {
  const prefix = uniquePrefix();
  let gateway: GatewaySimulator;
  let sut: ServiceUnderTest<Service<Db, Tx>>;
  let service: Service<Db, Tx>;
  const received: Envelope<any>[] = [];

  beforeAll(async () => {
    gateway = await startGatewaySimulator();
    sut = await serviceUnderTest({
      database: 'payment',
      prefix,
      // A short timeout and breaker reset: the scenarios take seconds, not minutes. Retries spaced
      // so that a message the gateway keeps failing takes its whole ladder in about 15 s.
      env: { PAYMENT_GATEWAY_URL: gateway.url, PAYMENT_GATEWAY_TIMEOUT_MS: '300', PAYMENT_GATEWAY_BREAKER_RESET_MS: '500', RETRY_DELAYS_MS: '500,1000,2000' },
      build: (env) => buildPaymentService(parseConfig(paymentConfigSchema(0), env)).service,
    });
    service = sut.service;
    await sut.tap('payment.events', received);
  });
  afterAll(async () => {
    await sut.stop();
    await gateway.stop();
  });
  afterEach(async () => {
    await gateway.admin('latency', { ms: 0 });
    await gateway.admin('outage', { down: false });
  });

  async function send(...events: Envelope[]): Promise<void> {
    for (const e of events) {
      const exchange = e.eventType.startsWith('inventory.') ? 'inventory.events' : 'order.events';
      sut.ch.publish(`${prefix}${exchange}`, e.eventType, Buffer.from(JSON.stringify(e)), { persistent: true, messageId: e.eventId, correlationId: e.correlationId });
    }
    await sut.ch.waitForConfirms();
  }
  const reservation = (orderId: string, total: number) =>
    createEvent(inventoryReserved, { orderId, customerId: 'alice', items: [{ productId: 'PROD-001', quantity: 1, unitPrice: total }], total, paymentMethod: 'pm_card_ok' }, { source: 'inventory-service', correlationId: orderId });
  const chunk = (importId: string, orders: Array<{ orderId: string; total: number }>) =>
    createEvent(
      inventoryBatchReserved,
      { importId, orders: orders.map(({ orderId, total }) => ({ orderId, customerId: 'alice', items: [{ productId: 'PROD-001', quantity: 1, unitPrice: total }], total, paymentMethod: 'pm_card_ok' })) },
      { source: 'inventory-service', correlationId: importId },
    );
  const cancellation = (orderId: string, total: number) =>
    createEvent(orderCancelled, { orderId, customerId: 'alice', total, reason: 'cancelled by customer' }, { source: 'order-service', correlationId: orderId });
  const receivedFor = (orderId: string, type: string) => received.filter((e) => e.eventType === type && e.payload.orderId === orderId);
  const paymentsOf = (orderIds: string[]) => service.deps.db.payment.findMany({ where: { orderId: { in: orderIds } }, orderBy: [{ orderId: 'asc' }, { type: 'asc' }] });
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
    const res = await request(service.app).get('/ready');
    return { status: res.status, body: res.body as { paymentGateway: { circuit: string }; consumers: Record<string, { state: string; waitingFor?: string }> } };
  };
  const sagaConsumer = () => service.deps.messaging.status().consumers[`${prefix}payment.saga`]!;
  const processed = async (eventId: string) => (await service.deps.db.processedEvent.count({ where: { eventId } })) > 0;

  it('when the answer to a charge that went through is lost (timeout), the payments wait while the gateway is slow, and the retry with the same key gets it: one charge at the gateway, one CHARGE row', async () => {
    const orderId = randomUUID();
    // Every answer later than the service waits (300 ms): the gateway charges, the service never hears it.
    await gateway.admin('latency', { ms: 1_500 });
    await send(reservation(orderId, 25));
    const charged = await waitFor(async () => {
      const entry = await gateway.entry(`charge:${orderId}`);
      return entry && entry;
    }, 'the gateway charged');
    expect(charged).toEqual(expect.objectContaining({ kind: 'charge', orderId, status: 'approved', amount: 25 }));
    // The probe is a real operation (a ledger lookup), as slow as the rest: the consumer stays
    // paused instead of resuming only to time out again, round after round.
    await waitFor(() => sagaConsumer().state === 'paused', 'the consumer paused');
    await new Promise((r) => setTimeout(r, 2_000));
    expect(sagaConsumer()).toEqual(expect.objectContaining({ state: 'paused', waitingFor: 'payment-gateway' }));
    expect((await gateway.entry(`charge:${orderId}`))!.requests).toBe(1);
    // Without an answer nothing is written: the transaction that asked rolled back.
    expect(await paymentsOf([orderId])).toEqual([]);
    expect(receivedFor(orderId, 'payment.completed')).toHaveLength(0);

    await gateway.admin('latency', { ms: 0 });
    await waitFor(() => receivedFor(orderId, 'payment.completed').length === 1, 'payment.completed once the answer arrives');
    const rows = await paymentsOf([orderId]);
    // Attempt 1: the lost answer spent no retry (the message waited, it did not fail).
    expect(rows.map((r) => [r.type, r.status, r.amount.toNumber(), r.attempts])).toEqual([['CHARGE', 'SUCCEEDED', 25, 1]]);
    const ledger = await gateway.entries([orderId]);
    expect(ledger).toHaveLength(1);
    expect(ledger[0]).toEqual(expect.objectContaining({ idempotency_key: `charge:${orderId}`, status: 'approved', requests: 2 }));
    expect(receivedFor(orderId, 'payment.completed')[0]!.payload).toEqual({ orderId, customerId: 'alice', paymentId: rows[0]!.id, amount: 25 });
    expect(await service.deps.messaging.deadLetters.count()).toBe(0);
  }, 30_000);

  it('while the gateway is down, charges and refunds wait (no retry, no dead letter, /ready 200 with the breaker open); once it is back they are made once', async () => {
    const charged = randomUUID();
    await send(reservation(charged, 10));
    await waitFor(() => receivedFor(charged, 'payment.completed').length === 1, 'a charge before the outage');

    await gateway.admin('outage', { down: true });
    const orderIds = Array.from({ length: 5 }, () => randomUUID());
    await send(...orderIds.map((id) => reservation(id, 7)), cancellation(charged, 10));
    await waitFor(async () => (await ready()).body.paymentGateway?.circuit === 'open', 'the breaker open');
    const during = await ready();
    // Ready: the service serves its API; the payments wait in their queue, for the gateway.
    expect(during.status).toBe(200);
    expect(during.body.consumers[`${prefix}payment.saga`]).toEqual(expect.objectContaining({ state: 'paused', waitingFor: 'payment-gateway' }));
    const metrics = (await request(service.app).get('/metrics')).text;
    expect(metrics).toMatch(/^payment_gateway_circuit_state\{state="open"[^}]*\} 1$/m);
    expect(metrics).toMatch(/^payment_gateway_circuit_state\{state="closed"[^}]*\} 0$/m);
    expect(await paymentsOf(orderIds)).toEqual([]);
    expect(await gateway.entries(orderIds)).toEqual([]);
    expect(receivedFor(charged, 'payment.refunded')).toHaveLength(0);

    await gateway.admin('outage', { down: false });
    await waitFor(() => orderIds.every((id) => receivedFor(id, 'payment.completed').length === 1) && receivedFor(charged, 'payment.refunded').length === 1, 'every charge and the refund made once the gateway is back', 30_000);
    expect(sagaConsumer()).toEqual(expect.objectContaining({ state: 'active' }));
    expect((await ready()).body.paymentGateway.circuit).toBe('closed');
    const rows = await paymentsOf([...orderIds, charged]);
    expect(rows.filter((r) => r.orderId !== charged).map((r) => [r.type, r.status, r.attempts])).toEqual(orderIds.map(() => ['CHARGE', 'SUCCEEDED', 1]));
    expect(rows.filter((r) => r.orderId === charged).map((r) => [r.type, r.status])).toEqual([
      ['CHARGE', 'SUCCEEDED'],
      ['REFUND', 'SUCCEEDED'],
    ]);
    const ledger = await gateway.entries([...orderIds, charged]);
    expect(ledger.filter((e) => e.kind === 'charge' && e.status === 'approved').map((e) => e.order_id).sort()).toEqual([...orderIds, charged].sort());
    expect(ledger.filter((e) => e.kind === 'refund').map((e) => [e.order_id, e.status])).toEqual([[charged, 'refunded']]);
    expect(await service.deps.messaging.deadLetters.count()).toBe(0);
  });

  it('an order cancelled while its charge waits for a retry after a lost answer (an import chunk) keeps no money: the cancellation voids the key at the gateway, which refunds the charge it had made', async () => {
    const importId = randomUUID();
    const [cancelled, kept_] = [randomUUID(), randomUUID()];
    // Only the charges' answers are late: the chunk's charge goes through at the gateway, its
    // answer is lost, and the chunk waits for its retry with no row here.
    await gateway.admin('latency', { ms: 1_500, operations: ['charge'] });
    await send(chunk(importId, [{ orderId: cancelled, total: 12 }, { orderId: kept_, total: 8 }]));
    await waitFor(async () => (await gateway.entries([cancelled, kept_])).filter((e) => e.status === 'approved').length === 2, 'the gateway charged both orders');
    expect(await paymentsOf([cancelled, kept_])).toEqual([]);

    // Meanwhile the customer cancels one of them (checkout's lane, not the chunk's).
    const cancel = cancellation(cancelled, 12);
    await send(cancel);
    await waitFor(() => processed(cancel.eventId), 'the cancellation handled while the chunk waits', 20_000);

    await gateway.admin('latency', { ms: 0 });
    const [answer] = await waitFor(() => {
      const answers = received.filter((e) => e.eventType === 'payment.batch-processed' && e.payload.importId === importId);
      return answers.length > 0 && answers;
    }, "the chunk's answer once the gateway answers in time", 30_000);
    expect(answer!.payload.completed.map((c: { orderId: string }) => c.orderId)).toEqual([kept_]);
    expect(answer!.payload.failed).toEqual([{ orderId: cancelled, customerId: 'alice', reason: 'order cancelled' }]);

    // Money balances with the gateway's ledger, order by order: nothing kept of the cancelled one.
    const atGateway = await gateway.kept([cancelled, kept_]);
    expect(Object.fromEntries(atGateway)).toEqual({ [cancelled]: 0, [kept_]: 8 });
    expect(Object.fromEntries(await kept([cancelled, kept_]))).toEqual(Object.fromEntries(atGateway));
    // What happened, on both sides: charged, then refunded.
    expect((await paymentsOf([cancelled])).map((p) => [p.type, p.status, p.amount.toNumber()])).toEqual([
      ['CHARGE', 'SUCCEEDED', 12],
      ['REFUND', 'SUCCEEDED', 12],
    ]);
    expect((await gateway.entries([cancelled])).map((e) => [e.idempotency_key, e.status])).toEqual([
      [`charge:${cancelled}`, 'approved'],
      [`refund:${cancelled}`, 'refunded'],
    ]);
    expect(receivedFor(cancelled, 'payment.refunded').map((e) => e.payload.amount)).toEqual([12]);
    expect(await service.deps.messaging.deadLetters.count()).toBe(0);
  }, 60_000);

  it('an order cancelled while its reservation waits for a retry after lost answers (checkout) keeps no money either', async () => {
    const orderId = randomUUID();
    await gateway.admin('latency', { ms: 1_500, operations: ['charge'] });
    await send(reservation(orderId, 30));
    await waitFor(async () => (await gateway.entry(`charge:${orderId}`))?.status === 'approved', 'the gateway charged');
    // Queued behind the reservation: handled when the reservation, whose request keeps failing
    // while the gateway answers its probe, goes to its retry (see the next test).
    const cancel = cancellation(orderId, 30);
    await send(cancel);
    await waitFor(() => processed(cancel.eventId), 'the cancellation handled while the reservation waits for its retry', 30_000);
    await gateway.admin('latency', { ms: 0 });
    const [failed] = await waitFor(() => receivedFor(orderId, 'payment.failed').length > 0 && receivedFor(orderId, 'payment.failed'), 'the reservation answered', 30_000);
    expect(failed!.payload.reason).toBe('order cancelled');
    expect(receivedFor(orderId, 'payment.completed')).toHaveLength(0);

    const atGateway = await gateway.kept([orderId]);
    expect(atGateway.get(orderId)).toBe(0);
    expect(Object.fromEntries(await kept([orderId]))).toEqual(Object.fromEntries(atGateway));
    const rows = (await paymentsOf([orderId])).map((p) => [p.type, p.status]);
    // VOIDED (the gateway never charged) or charged and refunded: never a charge kept.
    expect([[['CHARGE', 'VOIDED']], [['CHARGE', 'SUCCEEDED'], ['REFUND', 'SUCCEEDED']]]).toContainEqual(rows);
    expect(await service.deps.messaging.deadLetters.count()).toBe(0);
  }, 60_000);

  it('a charge the gateway keeps failing while it answers its probe is retried, then parked with its error — not looped until the broker dead-letters it — and replays once the gateway is well', async () => {
    const orderId = randomUUID();
    // The gateway answers its probe (a lookup) in time, but never this charge.
    await gateway.admin('latency', { ms: 1_500, operations: ['charge'] });
    const event = reservation(orderId, 14);
    await send(event);
    await waitFor(async () => (await service.deps.messaging.deadLetters.count()) === 1, 'the reservation parked after its retries', 45_000);
    const [parked] = await service.deps.messaging.deadLetters.list();
    expect(parked).toEqual(expect.objectContaining({ eventId: event.eventId, reason: 'retries-exhausted', errorCode: 'PAYMENT.GATEWAY_UNAVAILABLE', attempts: 4 }));
    expect(parked!.error).toMatch(/payment gateway charge/);
    // Consuming again: a message the gateway cannot take does not stop the others.
    await waitFor(() => sagaConsumer().state === 'active', 'the consumer active');
    const other = randomUUID();
    await gateway.admin('latency', { ms: 0 });
    await send(reservation(other, 3));
    await waitFor(() => receivedFor(other, 'payment.completed').length === 1, 'the next reservation charged');

    // The gateway had charged: replayed, the reservation gets that answer, once.
    expect(await service.deps.messaging.deadLetters.replay({ parkedId: parked!.parkedId })).toBe(1);
    await waitFor(() => receivedFor(orderId, 'payment.completed').length === 1, 'the replayed reservation answered');
    expect((await paymentsOf([orderId])).map((p) => [p.type, p.status])).toEqual([['CHARGE', 'SUCCEEDED']]);
    expect(Object.fromEntries(await gateway.kept([orderId]))).toEqual({ [orderId]: 14 });
    expect(await service.deps.messaging.deadLetters.count()).toBe(0);
  }, 90_000);
});
