import { createTracing, inMemorySpanExporter, SpanKind, startBatch, startClient, startHandler, startPublish, startServer } from '../src';

const exporter = inMemorySpanExporter();
const tracing = createTracing({ service: 'unit', exporter });
const TRACE = '0af7651916cd43dd8448eb211c80319c';
const PARENT = 'b7ad6b7169203331';

beforeEach(() => exporter.reset());

describe('W3C trace context between headers, outbox rows and spans', () => {
  it('captures nothing outside a span, and the active span inside one', () => {
    expect(tracing.capture()).toBeUndefined();
    tracing.tracer.startActiveSpan('work', (span) => {
      expect(JSON.parse(tracing.capture()!)).toEqual({ traceparent: `00-${span.spanContext().traceId}-${span.spanContext().spanId}-01` });
      span.end();
    });
  });

  it("an HTTP request's traceparent makes the server span its child, named by the route pattern", () => {
    const server = startServer(tracing, { method: 'POST', path: '/api/orders/123/cancel', scheme: 'http', headers: { traceparent: `00-${TRACE}-${PARENT}-01`, 'user-agent': 'curl' } });
    server.finish('/api/orders/:id/cancel', 202);
    const [span] = exporter.getFinishedSpans();
    expect(span).toMatchObject({ name: 'POST /api/orders/:id/cancel', kind: SpanKind.SERVER, parentSpanContext: expect.objectContaining({ traceId: TRACE, spanId: PARENT }) });
    expect(span!.attributes).toMatchObject({ 'http.route': '/api/orders/:id/cancel', 'http.response.status_code': 202, 'url.path': '/api/orders/123/cancel' });
    expect(span!.status.code).toBe(0);
  });

  it('a publish continues the context stored with its outbox row and hands its own on in the headers; a handler is its child', () => {
    const stored = JSON.stringify({ traceparent: `00-${TRACE}-${PARENT}-01` });
    const publish = startPublish(tracing, { exchange: 'order.events', routingKey: 'order.created', eventId: 'e1', correlationId: 'o1', traceContext: stored });
    publish.end();
    const publishId = publish.span.spanContext().spanId;
    expect(publish.headers).toEqual({ traceparent: `00-${TRACE}-${publishId}-01` });
    // amqplib hands long strings over as strings, other clients' headers may be bytes.
    const headers = { traceparent: Buffer.from(publish.headers.traceparent!) };
    const batch = startBatch(tracing, 'inventory.saga', [headers]);
    const handler = tracing.run(batch.context, () => startHandler(tracing, { queue: 'inventory.saga', eventType: 'order.created', eventId: 'e1', attempt: 1, headers }));
    handler.end(new Error('no stock table'));
    batch.end();
    const byName = Object.fromEntries(exporter.getFinishedSpans().map((s) => [s.name, s]));
    expect(byName['publish order.created']).toMatchObject({ kind: SpanKind.PRODUCER, parentSpanContext: expect.objectContaining({ spanId: PARENT }) });
    expect(byName['handle order.created']).toMatchObject({ kind: SpanKind.CONSUMER, parentSpanContext: expect.objectContaining({ traceId: TRACE, spanId: publishId }) });
    expect(byName['handle order.created']!.status).toEqual({ code: 2, message: 'no stock table' });
    expect(byName['handle order.created']!.links[0]!.context.spanId).toBe(batch.span.spanContext().spanId);
    // A batch of one trace belongs to it.
    expect(byName['process inventory.saga']!.parentSpanContext?.spanId).toBe(publishId);
  });

  it('a batch of messages from several traces is a root span that links each of them', () => {
    const other = '11111111111111111111111111111111';
    const batch = startBatch(tracing, 'payment.saga', [{ traceparent: `00-${TRACE}-${PARENT}-01` }, { traceparent: `00-${other}-${PARENT}-01` }, undefined, { traceparent: 'garbage' }]);
    batch.end();
    const [span] = exporter.getFinishedSpans();
    expect(span!.parentSpanContext).toBeUndefined();
    expect(span!.links.map((l) => l.context.traceId)).toEqual([TRACE, other]);
    expect(span!.attributes['messaging.batch.message_count']).toBe(4);
  });

  it('a client span is the child of the active context and sends its own as traceparent; a 4xx answer fails it', () => {
    tracing.tracer.startActiveSpan('handler', (handler) => {
      const client = startClient(tracing, { method: 'POST', url: 'http://127.0.0.1:8090/v1/charges/batch', template: '/v1/charges/batch' });
      expect(client.headers.traceparent).toBe(`00-${handler.spanContext().traceId}-${client.span.spanContext().spanId}-01`);
      client.finish({ status: 409 });
      handler.end();
    });
    const client = exporter.getFinishedSpans().find((s) => s.kind === SpanKind.CLIENT)!;
    expect(client).toMatchObject({ name: 'POST /v1/charges/batch', status: { code: 2 } });
    expect(client.attributes).toMatchObject({ 'server.port': 8090, 'http.response.status_code': 409, 'error.type': '409' });
  });
});
