import express from 'express';
import request from 'supertest';
import { Registry } from 'prom-client';
import { AppError } from '@orderflow/errors';
import { createTracing, inMemorySpanExporter, SpanKind } from '@orderflow/tracing';
import { createApp } from '../src';
import { captureLogs } from './capture-logs';

const exporter = inMemorySpanExporter();
const tracing = createTracing({ service: 'http-test', exporter });
const metrics = new Registry();

const app = createApp({
  service: 'http-test',
  logger: captureLogs().logger,
  jwtSecret: 'test-secret-0123456789',
  metrics,
  tracing,
  routes: (router) => {
    const things = express.Router();
    // What a route publishes through the outbox captures this: it must be the request's span, after the body was read.
    things.post('/:id', async (req, res) => {
      await new Promise((r) => setTimeout(r, 5));
      res.status(201).json({ captured: tracing.capture(), body: req.body });
    });
    things.get('/:id', () => {
      throw new AppError('THING.NOT_FOUND', 'no such thing', { category: 'not_found' });
    });
    router.use('/api/things', things);
  },
});

beforeEach(() => exporter.reset());

/** The spans once `n` have ended: a server span ends on the response's `close`, which may follow the client's read. */
async function ended(n: number) {
  for (let i = 0; i < 200 && exporter.getFinishedSpans().length < n; i++) await new Promise((r) => setTimeout(r, 10));
  return exporter.getFinishedSpans();
}

describe('server spans (tracing on)', () => {
  it("a request is a server span named by its route pattern, the child of the caller's traceparent; the route runs in its context", async () => {
    const caller = { traceId: '0af7651916cd43dd8448eb211c80319c', spanId: 'b7ad6b7169203331' };
    const res = await request(app).post('/api/things/42').set('traceparent', `00-${caller.traceId}-${caller.spanId}-01`).send({ a: 1 }).expect(201);
    const [span] = await ended(1);
    expect(span).toMatchObject({ name: 'POST /api/things/:id', kind: SpanKind.SERVER, parentSpanContext: expect.objectContaining(caller) });
    expect(span!.attributes).toMatchObject({ 'http.request.method': 'POST', 'http.route': '/api/things/:id', 'http.response.status_code': 201, 'url.path': '/api/things/42' });
    expect(JSON.parse(res.body.captured)).toEqual({ traceparent: `00-${caller.traceId}-${span!.spanContext().spanId}-01` });
    expect(res.body.body).toEqual({ a: 1 });
  });

  it('the route pattern is still counted by the request metrics beside the span', async () => {
    await request(app).get('/api/things/7').expect(404);
    expect((await ended(1)).map((s) => [s.name, s.attributes['http.response.status_code'], s.status.code])).toEqual([['GET /api/things/:id', 404, 0]]);
    const histogram = await metrics.getSingleMetric('http_request_duration_seconds')!.get();
    expect(histogram.values.some((v) => v.labels.route === '/api/things/:id' && v.labels.status === '404')).toBe(true);
  });

  it('an unmatched request is named by its method only; probes make no span', async () => {
    await request(app).get('/nowhere/at/all').expect(404);
    await request(app).get('/health').expect(200);
    await request(app).get('/metrics').expect(200);
    await request(app).get('/api/things/9').expect(404);
    expect((await ended(2)).map((s) => s.name)).toEqual(['GET', 'GET /api/things/:id']);
  });
});
