import amqplib from 'amqplib';
import { createTracing, inMemorySpanExporter, SpanKind, SpanStatusCode, type ReadableSpan, type Tracing } from '@orderflow/tracing';
import { Harness } from './harness';
import { AMQP_URL, waitFor } from './support';

/** The span's parent span id ('' for a root). */
const parentOf = (s: ReadableSpan): string => s.parentSpanContext?.spanId ?? '';
const idOf = (s: ReadableSpan): string => s.spanContext().spanId;
const traceOf = (s: ReadableSpan): string => s.spanContext().traceId;
const hrMs = ([seconds, nanos]: [number, number]): number => seconds * 1_000 + nanos / 1e6;

/** Runs `fn` inside a fresh root span of `tracing` (as an HTTP request's span would be), then ends it. */
async function inRootSpan<T>(tracing: Tracing, fn: () => Promise<T>): Promise<{ value: T; root: { traceId: string; spanId: string } }> {
  return tracing.tracer.startActiveSpan('request', async (span) => {
    try {
      return { value: await fn(), root: { traceId: span.spanContext().traceId, spanId: span.spanContext().spanId } };
    } finally {
      span.end();
    }
  });
}

/** The next message on `queue`, taken off it, as a consumer would receive it. */
async function takeMessage(queue: string): Promise<amqplib.GetMessage> {
  const conn = await amqplib.connect(AMQP_URL);
  try {
    const ch = await conn.createChannel();
    return await waitFor(async () => (await ch.get(queue, { noAck: true })) || undefined, `a message on ${queue}`);
  } finally {
    await conn.close().catch(() => undefined);
  }
}

const outboxRows = async (h: Harness) =>
  (await h.db.pool.query<{ event_id: string; trace_context: string | null }>('SELECT event_id::text, trace_context FROM outbox_events')).rows;

describe('traces through the outbox and the broker (tracing on)', () => {
  const spans = inMemorySpanExporter();
  const tracing = createTracing({ service: 'worker', exporter: spans });
  let h: Harness;

  beforeAll(async () => {
    h = await Harness.create({ tracing, relayPollIntervalMs: 60_000 });
    await h.messaging.start(h.subscriptions());
  });
  afterAll(() => h.close());

  it("a request's event and the event its handler emits are one trace: request → publish → handler → publish → handler, each the parent of the next", async () => {
    h.behaviours.set('first', { then: 'second' });
    const { root } = await inRootSpan(tracing, () => h.request('first'));
    await waitFor(async () => (await h.ledger('second')).length === 1, 'the second effect');
    const trace = await waitFor(() => {
      const mine = spans.getFinishedSpans().filter((s) => traceOf(s) === root.traceId);
      // By message: a row may go out twice (its direct publish and the sweep at start), a copy the inbox drops.
      const messages = (name: string) => new Set(mine.filter((s) => s.name === name).map((s) => s.attributes['messaging.message.id'])).size;
      return messages('publish work.requested') === 2 && messages('handle work.requested') === 2 && mine;
    }, 'two messages published and handled in the request trace');

    const publishes = trace.filter((s) => s.name === 'publish work.requested');
    const handlers = trace.filter((s) => s.name === 'handle work.requested');
    /** The handler span of a message published under `parent`, and that publish. */
    const handledUnder = (parent: string) => {
      const handler = handlers.find((h) => publishes.some((p) => idOf(p) === parentOf(h) && parentOf(p) === parent));
      expect(handler).toBeDefined();
      return { handler: handler!, publish: publishes.find((p) => idOf(p) === parentOf(handler!))! };
    };
    const { handler: firstHandler, publish: firstPublish } = handledUnder(root.spanId);
    expect(firstPublish.kind).toBe(SpanKind.PRODUCER);
    expect(firstHandler.kind).toBe(SpanKind.CONSUMER);
    const { handler: secondHandler } = handledUnder(idOf(firstHandler));
    expect(secondHandler.attributes).toMatchObject({ 'messaging.destination.subscription.name': `${h.prefix}worker.work-requested`, 'orderflow.delivery.attempt': 1 });

    // Each handler span is linked to the batch it ran in, and that batch links the message.
    for (const handler of [firstHandler, secondHandler]) {
      const batchId = handler.links[0]?.context.spanId;
      const batch = spans.getFinishedSpans().find((s) => idOf(s) === batchId)!;
      expect(batch.name).toBe(`process ${h.prefix}worker.work-requested`);
      expect(batch.links.map((l) => l.context.spanId)).toContain(parentOf(handler));
    }
  });

  it('messages of several traces, whatever batch they share: each handler span stays in the trace of its own message, and its batch links it', async () => {
    const roots = await Promise.all(['x', 'y', 'z'].map((key) => inRootSpan(tracing, () => h.request(key)).then((r) => r.root)));
    await waitFor(async () => (await h.ledger()).filter((e) => ['x', 'y', 'z'].includes(e.key)).length === 3, 'three effects');
    for (const root of roots) {
      const handler = await waitFor(() => spans.getFinishedSpans().find((s) => s.name === 'handle work.requested' && traceOf(s) === root.traceId), 'its handler span');
      const publish = spans.getFinishedSpans().find((s) => idOf(s) === parentOf(handler))!;
      expect(parentOf(publish)).toBe(root.spanId);
      const batch = spans.getFinishedSpans().find((s) => idOf(s) === handler.links[0]?.context.spanId)!;
      expect(batch.links.map((l) => l.context.spanId)).toContain(idOf(publish));
    }
  });

  it("the outbox row keeps the context of the transaction that wrote it, and the message carries the publish's as traceparent", async () => {
    // Not started: the row stays until this test starts it.
    const idle = await Harness.create({ tracing, relayPollIntervalMs: 60_000 });
    try {
      const { value: [eventId], root } = await inRootSpan(tracing, () => idle.request('kept'));
      const [row] = await outboxRows(idle);
      expect(row!.event_id).toBe(eventId);
      expect(JSON.parse(row!.trace_context!)).toEqual({ traceparent: `00-${root.traceId}-${root.spanId}-01` });

      await idle.messaging.start({});
      const msg = await takeMessage(`${idle.prefix}worker.work-requested`);
      const publish = await waitFor(() => spans.getFinishedSpans().find((s) => s.name === 'publish work.requested' && s.attributes['messaging.message.id'] === eventId), 'the publish span');
      expect(parentOf(publish)).toBe(root.spanId);
      expect(msg.properties.headers).toMatchObject({ traceparent: `00-${root.traceId}-${idOf(publish)}-01` });
    } finally {
      await idle.close();
    }
  });
});

describe('handler spans and their transaction (tracing on)', () => {
  const spans = inMemorySpanExporter();
  const tracing = createTracing({ service: 'worker', exporter: spans });
  let h: Harness;

  beforeAll(async () => {
    // Lingering while busy: what arrives during a batch is handled together in the next one.
    h = await Harness.create({ tracing, relayPollIntervalMs: 60_000, lingerMs: 500 });
    await h.messaging.start(h.subscriptions());
  });
  afterAll(() => h.close());

  const handlerSpans = (eventId: string) =>
    spans
      .getFinishedSpans()
      .filter((s) => s.name === 'handle work.requested' && s.attributes['messaging.message.id'] === eventId)
      .sort((a, b) => a.startTime[0] - b.startTime[0] || a.startTime[1] - b.startTime[1]);

  it("when a later handler of the batch fails, the earlier handler's span reports the rollback, not a success; only its re-run's span is OK", async () => {
    h.behaviours.set('rb-bad', { permanent: true });
    // The first is handled alone; the two after it arrive meanwhile and share the next batch.
    const [, okId, badId] = await h.request('rb-warm', 'rb-ok', 'rb-bad');
    await waitFor(async () => (await h.ledger('rb-ok')).length === 1, 'the effect of rb-ok, re-run alone');
    const [rolledBack, rerun] = await waitFor(() => handlerSpans(okId!).length === 2 && handlerSpans(okId!), "rb-ok's two handler spans");

    expect(h.finished.filter((k) => k === 'rb-ok')).toHaveLength(2);
    expect(rolledBack!.status).toMatchObject({ code: SpanStatusCode.ERROR, message: expect.stringContaining('rolled back') });
    expect(rolledBack!.status.message).toContain('handler is broken for rb-bad');
    // Its own handler did not throw: the exception is the failing handler's, recorded on its span.
    expect(rolledBack!.events.filter((e) => e.name === 'exception')).toEqual([]);
    expect(rerun!.status.code).not.toBe(SpanStatusCode.ERROR);
    // Parked: its last handler span has ended. One in the shared batch, one alone — more only
    // if a loaded broker redelivered it; each reports the failure.
    await waitFor(async () => (await h.messaging.deadLetters.count()) === 1, 'rb-bad parked');
    const failed = handlerSpans(badId!);
    expect(failed.length).toBeGreaterThanOrEqual(2);
    for (const span of failed) {
      expect(span.status).toMatchObject({ code: SpanStatusCode.ERROR, message: expect.stringContaining('handler is broken for rb-bad') });
      // Permanent: parked, never retried (a broker's redelivery keeps the attempt).
      expect(span.attributes['orderflow.delivery.attempt']).toBe(1);
    }
    // The span still measures its handler, not the rest of the batch's transaction (1 ms: each
    // span's clock is anchored on Date.now(), to the millisecond).
    const [badFirst] = handlerSpans(badId!);
    expect(hrMs(rolledBack!.endTime)).toBeLessThanOrEqual(hrMs(badFirst!.startTime) + 1);
  });
});

describe('tracing off (no Tracing given)', () => {
  it('writes no trace context to the outbox, adds no header to the message and records no span, even inside a traced caller', async () => {
    // A tracing exists in the process (as another component's could), but messaging was given none.
    const elsewhere = inMemorySpanExporter();
    const other = createTracing({ service: 'other', exporter: elsewhere });
    const h = await Harness.create({ relayPollIntervalMs: 60_000 });
    try {
      const { value: [eventId] } = await inRootSpan(other, () => h.request('untraced'));
      expect(await outboxRows(h)).toEqual([{ event_id: eventId, trace_context: null }]);

      await h.messaging.start({});
      const msg = await takeMessage(`${h.prefix}worker.work-requested`);
      expect(msg.properties.messageId).toBe(eventId);
      // The broker's own (a quorum queue's x-delivery-count) only.
      expect(Object.keys(msg.properties.headers ?? {}).filter((k) => !k.startsWith('x-'))).toEqual([]);
      // Only the caller's own span: messaging made none.
      expect(elsewhere.getFinishedSpans().map((s) => s.name)).toEqual(['request']);
    } finally {
      await h.close();
    }
  });
});
