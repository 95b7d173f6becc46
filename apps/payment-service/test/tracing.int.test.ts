import { randomUUID } from 'node:crypto';
import { waitFor } from '@orderflow/testkit';
import { createTracing, inMemorySpanExporter, SpanKind } from '@orderflow/tracing';
import { paymentServiceUnderTest, reservation, type PaymentServiceUnderTest } from './support';

describe('the payment service traced with the tracing it is given (real PostgreSQL and RabbitMQ, the gateway simulator)', () => {
  // As a test gives it: spans kept in memory. The OTEL_* variables leave the process's own off.
  const spans = inMemorySpanExporter();
  const tracing = createTracing({ service: 'payment-service', exporter: spans });
  let sut: PaymentServiceUnderTest;

  beforeAll(async () => {
    sut = await paymentServiceUnderTest({ tracing });
  });
  afterAll(async () => {
    await sut.stop();
    await tracing.shutdown();
  });

  it("a charge's call to the gateway is a client span of that tracing, the child of the handler span of its reservation", async () => {
    const orderId = randomUUID();
    const reserved = reservation(orderId, 'pm_card_ok', 20);
    await sut.send(reserved);

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
