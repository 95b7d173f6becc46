import { randomUUID } from 'node:crypto';
import request from 'supertest';
import { parseConfig } from '@orderflow/config';
import { createEvent, inventoryReserved, orderCancelled, type Envelope } from '@orderflow/events';
import type { Service } from '@orderflow/service';
import { serviceUnderTest, uniquePrefix, waitFor, type ServiceUnderTest } from '@orderflow/testkit';
import { paymentConfigSchema } from '../src/config';
import type { Db, Tx } from '../src/db';
import { buildPaymentService, startGatewaySimulator, type GatewaySimulator } from './support';

/**
 * The payment service and its gateway when the gateway misbehaves: a lost answer, an outage.
 * Real PostgreSQL, RabbitMQ and the simulator process; the misbehaviour through its admin switches.
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
      // A short timeout and breaker reset: the scenarios take seconds, not minutes.
      env: { PAYMENT_GATEWAY_URL: gateway.url, PAYMENT_GATEWAY_TIMEOUT_MS: '300', PAYMENT_GATEWAY_BREAKER_RESET_MS: '500' },
      build: (env) => buildPaymentService(parseConfig(paymentConfigSchema(0), env)).service,
    });
    service = sut.service;
    await sut.tap('payment.events', received);
  });
  afterAll(async () => {
    await sut.stop();
    await gateway.stop();
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
  const cancellation = (orderId: string, total: number) =>
    createEvent(orderCancelled, { orderId, customerId: 'alice', total, reason: 'cancelled by customer' }, { source: 'order-service', correlationId: orderId });
  const receivedFor = (orderId: string, type: string) => received.filter((e) => e.eventType === type && e.payload.orderId === orderId);
  const paymentsOf = (orderIds: string[]) => service.deps.db.payment.findMany({ where: { orderId: { in: orderIds } }, orderBy: [{ orderId: 'asc' }, { type: 'asc' }] });
  const ready = async () => {
    const res = await request(service.app).get('/ready');
    return { status: res.status, body: res.body as { paymentGateway: { circuit: string }; consumers: Record<string, { state: string; waitingFor?: string }> } };
  };
  const sagaConsumer = () => service.deps.messaging.status().consumers[`${prefix}payment.saga`]!;

  it('when the answer to a charge that went through is lost (timeout), the retry with the same key gets it: one charge at the gateway, one CHARGE row', async () => {
    const orderId = randomUUID();
    // Answers later than the service waits (300 ms): the gateway charges, the service never hears it.
    await gateway.admin('latency', { ms: 1_500 });
    await send(reservation(orderId, 25));
    const charged = await waitFor(async () => {
      const entry = await gateway.entry(`charge:${orderId}`);
      return entry && entry.requests >= 2 && entry;
    }, 'the gateway charged, and was asked again with the same key');
    expect(charged).toEqual(expect.objectContaining({ kind: 'charge', orderId, status: 'approved', amount: 25 }));
    // Without an answer nothing is written: the transaction that asked rolled back.
    expect(await paymentsOf([orderId])).toEqual([]);
    expect(receivedFor(orderId, 'payment.completed')).toHaveLength(0);

    await gateway.admin('latency', { ms: 0 });
    await waitFor(() => receivedFor(orderId, 'payment.completed').length === 1, 'payment.completed once the answer arrives');
    const rows = await paymentsOf([orderId]);
    // Attempt 1: the lost answers spent no retry (the message waited, it did not fail).
    expect(rows.map((r) => [r.type, r.status, r.amount.toNumber(), r.attempts])).toEqual([['CHARGE', 'SUCCEEDED', 25, 1]]);
    const ledger = await gateway.entries([orderId]);
    expect(ledger).toHaveLength(1);
    expect(ledger[0]).toEqual(expect.objectContaining({ idempotency_key: `charge:${orderId}`, status: 'approved' }));
    expect(ledger[0]!.requests).toBeGreaterThanOrEqual(3);
    expect(receivedFor(orderId, 'payment.completed')[0]!.payload).toEqual({ orderId, customerId: 'alice', paymentId: rows[0]!.id, amount: 25 });
    expect(await service.deps.messaging.deadLetters.count()).toBe(0);
  });

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
});
