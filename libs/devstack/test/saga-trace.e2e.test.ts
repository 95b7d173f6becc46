import { randomUUID } from 'node:crypto';
import { bearer, waitFor } from '@orderflow/testkit';
import { startOtlpReceiver, type ReceivedSpan } from './otlp-receiver';
import { systemUnderTest } from './system-under-test';

const SERVER = 2;
const CLIENT = 3;
const PRODUCER = 4;
const CONSUMER = 5;

/**
 * The whole system started as `npm start` starts it, with tracing on through the standard
 * variables (OTLP over HTTP, JSON), exporting to a collector in this process: every span each
 * service process exports lands in its memory.
 */
describe('one order, one trace across the four services', () => {
  let receiver: Awaited<ReturnType<typeof startOtlpReceiver>> | undefined;
  // Filled before the system starts (this beforeAll runs first).
  const env: Record<string, string> = {};
  beforeAll(async () => {
    receiver = await startOtlpReceiver();
    Object.assign(env, {
      OTEL_TRACES_EXPORTER: 'otlp',
      OTEL_EXPORTER_OTLP_ENDPOINT: receiver.endpoint,
      OTEL_EXPORTER_OTLP_PROTOCOL: 'http/json',
      // Export within a fifth of a second rather than five: the test waits for the spans.
      OTEL_BSP_SCHEDULE_DELAY: '200',
    });
  });
  const sut = systemUnderTest('trace', env);
  afterAll(() => receiver?.close());

  const call = async (method: string, path: string, as: string, body?: unknown) => {
    const res = await fetch(`${sut.gateway}${path}`, {
      method,
      headers: { Authorization: as, ...(body === undefined ? {} : { 'Content-Type': 'application/json' }) },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    return { status: res.status, body: (await res.json()) as any };
  };

  it('POST /api/orders → publish order.created → inventory → payment (and its gateway call) → order confirmed → notification: each span the parent of the next, one traceId', async () => {
    const productId = `TRACE-${randomUUID().slice(0, 8)}`;
    expect((await call('PUT', `/api/inventory/${productId}`, bearer('ops', 'admin'), { name: 'Traced', price: 10, available: 5 })).status).toBeLessThan(300);
    const placed = await call('POST', '/api/orders', bearer('tracy'), { customerId: 'tracy', items: [{ productId, quantity: 1, unitPrice: 10 }], paymentMethod: 'pm_card_ok' });
    expect(placed.status).toBe(202);
    const orderId: string = placed.body.orderId;
    await waitFor(async () => (await call('GET', `/api/orders/${orderId}`, bearer('tracy'))).body.status === 'CONFIRMED', 'the order CONFIRMED');

    // The order's own events carry its id as their correlation id: that finds the trace.
    const spans = receiver!.spans;
    const traceId = (await waitFor(() => spans.find((s) => s.name === 'publish order.created' && s.attributes['messaging.message.conversation_id'] === orderId), 'the order.created publish span')).traceId;
    const one = (service: string, name: string, parent: ReceivedSpan | undefined, kind: number): ReceivedSpan => {
      const found = spans.filter((s) => s.traceId === traceId && s.service === service && s.name === name && (parent === undefined ? s.parentSpanId === '' : s.parentSpanId === parent.spanId));
      if (found.length !== 1) {
        const seen = spans.filter((s) => s.traceId === traceId).map((s) => `${s.service} ${s.name} ${s.spanId}←${s.parentSpanId}`);
        throw new Error(`expected one "${name}" of ${service} under ${parent?.name ?? 'no parent'}, found ${found.length}; the trace so far:\n${seen.join('\n')}`);
      }
      expect(found[0]!.kind).toBe(kind);
      return found[0]!;
    };
    // Every span of the chain, each found under its parent (throws naming the first missing link).
    const chainOf = () => {
      const request = one('order-service', 'POST /api/orders', undefined, SERVER);
      const created = one('order-service', 'publish order.created', request, PRODUCER);
      const reserve = one('inventory-service', 'handle order.created', created, CONSUMER);
      const welcome = one('notification-service', 'handle order.created', created, CONSUMER);
      const reserved = one('inventory-service', 'publish inventory.reserved', reserve, PRODUCER);
      const charge = one('payment-service', 'handle inventory.reserved', reserved, CONSUMER);
      const stockReserved = one('order-service', 'handle inventory.reserved', reserved, CONSUMER);
      const gateway = one('payment-service', 'POST /v1/charges/batch', charge, CLIENT);
      const completed = one('payment-service', 'publish payment.completed', charge, PRODUCER);
      const confirm = one('order-service', 'handle payment.completed', completed, CONSUMER);
      const confirmed = one('order-service', 'publish order.confirmed', confirm, PRODUCER);
      const notify = one('notification-service', 'handle order.confirmed', confirmed, CONSUMER);
      return { request, created, reserve, welcome, reserved, charge, stockReserved, gateway, completed, confirm, confirmed, notify };
    };
    // Spans arrive as each process exports them: wait for the last, then say which link is missing, if one is.
    const chain = await waitFor(() => {
      try {
        return chainOf();
      } catch {
        return undefined;
      }
    }, 'the whole chain of spans', 20_000).catch(() => chainOf());

    expect(new Set(Object.values(chain).map((s) => s.service))).toEqual(new Set(['order-service', 'inventory-service', 'payment-service', 'notification-service']));
    expect(chain.request.attributes).toMatchObject({ 'http.route': '/api/orders', 'http.response.status_code': 202 });
    expect(chain.gateway.attributes).toMatchObject({ 'http.response.status_code': 200 });
    // Causal order: no span starts before its parent (one machine, one clock).
    const ordered = [chain.request, chain.created, chain.reserve, chain.reserved, chain.charge, chain.gateway, chain.completed, chain.confirm, chain.confirmed, chain.notify];
    for (let i = 1; i < ordered.length; i++) expect(ordered[i]!.startNs).toBeGreaterThanOrEqual(ordered[i - 1]!.startNs);
    expect(Object.values(chain).every((s) => s.status !== 2)).toBe(true);
  });
});
