import { randomUUID } from 'node:crypto';
import amqplib from 'amqplib';
import { parseConfig } from '@orderflow/config';
import { createEvent, inventoryReserved } from '@orderflow/events';
import type { Service } from '@orderflow/service';
import { AMQP_URL, cloneDatabase, deleteTopologies, serviceEnv, uniquePrefix, waitFor } from '@orderflow/testkit';
import { createTracing, InMemorySpanExporter, SpanKind } from '@orderflow/tracing';
import { paymentConfigSchema } from '../src/config';
import type { Db, Tx } from '../src/db';
import { buildPaymentService, startGatewaySimulator, type GatewaySimulator } from './support';

describe('the payment service traced with the tracing it is given (real PostgreSQL and RabbitMQ, the gateway simulator)', () => {
  const prefix = uniquePrefix();
  // As a test gives it: spans kept in memory. The OTEL_* variables leave the process's own off.
  const spans = new InMemorySpanExporter();
  const tracing = createTracing({ service: 'payment-service', exporter: spans });
  let gateway: GatewaySimulator;
  let db: Awaited<ReturnType<typeof cloneDatabase>>;
  let service: Service<Db, Tx>;

  beforeAll(async () => {
    gateway = await startGatewaySimulator();
    db = await cloneDatabase('payment');
    const config = parseConfig(paymentConfigSchema(0), serviceEnv({ DATABASE_URL: db.url, TOPOLOGY_PREFIX: prefix, PAYMENT_GATEWAY_URL: gateway.url }));
    service = buildPaymentService(config, { tracing }).service;
    await service.start();
  });
  afterAll(async () => {
    await service.stop();
    await deleteTopologies(service.deps.messaging.topology);
    await db.drop();
    await gateway.stop();
    await tracing.shutdown();
  });

  it("a charge's call to the gateway is a client span of that tracing, the child of the handler span of its reservation", async () => {
    const orderId = randomUUID();
    const reserved = createEvent(
      inventoryReserved,
      { orderId, customerId: 'alice', items: [{ productId: 'P', quantity: 1, unitPrice: 20 }], total: 20, paymentMethod: 'pm_card_ok' },
      { source: 'inventory-service', correlationId: orderId },
    );
    const conn = await amqplib.connect(AMQP_URL);
    try {
      const ch = await conn.createConfirmChannel();
      ch.publish(`${prefix}inventory.events`, reserved.eventType, Buffer.from(JSON.stringify(reserved)), { persistent: true });
      await ch.waitForConfirms();
    } finally {
      await conn.close();
    }

    const handler = await waitFor(
      () => spans.getFinishedSpans().find((s) => s.name === 'handle inventory.reserved' && s.attributes['messaging.message.id'] === reserved.eventId),
      'the handler span of the reservation',
    );
    const call = spans.getFinishedSpans().find((s) => s.name === 'POST /v1/charges/batch' && s.parentSpanContext?.spanId === handler.spanContext().spanId);
    expect(call).toBeDefined();
    expect(call!.kind).toBe(SpanKind.CLIENT);
    expect(call!.spanContext().traceId).toBe(handler.spanContext().traceId);
    expect(call!.attributes['http.response.status_code']).toBe(200);
  });
});
