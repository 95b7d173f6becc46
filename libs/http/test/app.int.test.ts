import express from 'express';
import request from 'supertest';
import { Registry } from 'prom-client';
import { AppError, type ErrorCategory } from '@orderflow/errors';
import { createApp, type AppOptions } from '../src';
import { captureLogs } from './capture-logs';

function buildApp(overrides: Partial<AppOptions> = {}) {
  const { logger, lines } = captureLogs();
  const app = createApp({
    service: 'test',
    logger,
    jwtSecret: 'test-secret-0123456789',
    metrics: new Registry(),
    routes: (router) => {
      router.post('/echo', (req, res) => {
        logger.info('echoing');
        res.status(201).json({ received: req.body });
      });
      router.get('/boom', () => {
        throw new Error('secret internals at db.internal:5432');
      });
      const items = express.Router();
      items.get('/:id', async (req) => {
        throw new AppError('ITEM.NOT_FOUND', `No item ${req.params.id}`, { category: 'not_found' });
      });
      router.use('/items', items);
    },
    ...overrides,
  });
  return { app, lines };
}

describe('request id', () => {
  it('when the caller sends no X-Request-Id, a uuid is generated, echoed and carried by the handler and access log lines', async () => {
    const { app, lines } = buildApp();
    const res = await request(app).post('/echo').send({ a: 1 }).expect(201);
    const id = res.headers['x-request-id'];
    expect(id).toMatch(/^[0-9a-f-]{36}$/);
    const logged = lines();
    expect(logged.find((l) => l.message === 'echoing')).toMatchObject({ requestId: id, correlationId: id });
    expect(logged.find((l) => l.level === 'http')).toMatchObject({
      requestId: id,
      method: 'POST',
      path: '/echo',
      status: 201,
      durationMs: expect.any(Number),
    });
  });

  it('when the caller sends a sane X-Request-Id, it is reused', async () => {
    const { app, lines } = buildApp();
    const res = await request(app).post('/echo').set('X-Request-Id', 'edge-42.a_b').send({}).expect(201);
    expect(res.headers['x-request-id']).toBe('edge-42.a_b');
    expect(lines().find((l) => l.message === 'echoing')?.requestId).toBe('edge-42.a_b');
  });

  it('when the caller sends an unsafe X-Request-Id, it is replaced by a generated one', async () => {
    const { app } = buildApp();
    const res = await request(app).get('/health').set('X-Request-Id', 'x'.repeat(129));
    expect(res.headers['x-request-id']).toMatch(/^[0-9a-f-]{36}$/);
    const spaced = await request(app).get('/health').set('X-Request-Id', 'a b');
    expect(spaced.headers['x-request-id']).not.toBe('a b');
  });
});

describe('probes', () => {
  it('GET /health answers 200 ok and writes no access log line', async () => {
    const { app, lines } = buildApp();
    const res = await request(app).get('/health').expect(200);
    expect(res.body).toEqual({ status: 'ok' });
    expect(lines().filter((l) => l.level === 'http')).toEqual([]);
  });

  it('GET /ready answers 200 when every check passes', async () => {
    const { app } = buildApp({ readiness: { database: () => true, broker: async () => true } });
    const res = await request(app).get('/ready').expect(200);
    expect(res.body).toEqual({ status: 'ready', checks: { database: true, broker: true } });
  });

  it('GET /ready answers 503 naming the failing checks when one returns false, throws or hangs', async () => {
    const { app, lines } = buildApp({
      readiness: {
        database: () => true,
        broker: () => false,
        cache: async () => {
          throw new Error('ECONNREFUSED');
        },
        slow: () => new Promise<boolean>(() => {}),
      },
    });
    const res = await request(app).get('/ready').expect(503);
    expect(res.body).toEqual({
      status: 'not ready',
      checks: { database: true, broker: false, cache: false, slow: false },
    });
    expect(lines().filter((l) => l.message === 'readiness check failed').map((l) => l.check).sort()).toEqual([
      'broker',
      'cache',
      'slow',
    ]);
  });

  it('GET /ready carries the detail it is given and is decided by the checks alone: 200 with a broker away, 503 with the database away', async () => {
    let databaseUp = true;
    const detail = { broker: { connected: false, since: '2026-01-01T00:00:00.000Z' }, consumers: { 'x.saga': { active: false, state: 'disconnected' } } };
    const { app } = buildApp({ readiness: { database: () => databaseUp }, readinessDetail: () => detail });
    const res = await request(app).get('/ready').expect(200);
    expect(res.body).toEqual({ status: 'ready', checks: { database: true }, ...detail });
    databaseUp = false;
    const down = await request(app).get('/ready').expect(503);
    expect(down.body).toEqual({ status: 'not ready', checks: { database: false }, ...detail });
  });

  it('GET /ready reads a figure of detailOnRequest only when the caller names it (a probe does not): null when it fails, unknown names ignored, the status still the checks\' alone', async () => {
    let reads = 0;
    let databaseUp = true;
    const { app } = buildApp({
      readiness: { database: () => databaseUp },
      detailOnRequest: {
        lag: async () => ++reads && 1.5,
        broken: async () => {
          throw new Error('database away');
        },
      },
    });
    expect((await request(app).get('/ready').expect(200)).body).toEqual({ status: 'ready', checks: { database: true } });
    expect(reads).toBe(0);
    expect((await request(app).get('/ready?include=lag,broken,toString,nonsense').expect(200)).body).toEqual({ status: 'ready', checks: { database: true }, lag: 1.5, broken: null });
    expect(reads).toBe(1);
    databaseUp = false;
    expect((await request(app).get('/ready?include=lag').expect(503)).body).toEqual({ status: 'not ready', checks: { database: false }, lag: 1.5 });
  });

  it('GET /health answers 503 with the reason while liveness says the process is stuck, and 200 again once it is not', async () => {
    let stuck = false;
    const { app, lines } = buildApp({ liveness: () => (stuck ? { alive: false, reason: 'consumer gone: x.saga' } : { alive: true }) });
    await request(app).get('/health').expect(200, { status: 'ok' });
    stuck = true;
    const res = await request(app).get('/health').expect(503);
    expect(res.body).toEqual({ status: 'failing', reason: 'consumer gone: x.saga' });
    expect(lines().find((l) => l.message === 'liveness check failed')).toMatchObject({ level: 'warn', reason: 'consumer gone: x.saga' });
    stuck = false;
    await request(app).get('/health').expect(200, { status: 'ok' });
  });

  it('GET /metrics serves the request duration histogram labelled with the route pattern', async () => {
    const { app } = buildApp();
    await request(app).post('/echo').send({}).expect(201);
    await request(app).get('/items/7').expect(404);
    const res = await request(app).get('/metrics').expect(200);
    expect(res.headers['content-type']).toMatch(/^text\/plain/);
    expect(res.text).toMatch(/http_request_duration_seconds_count\{method="POST",route="\/echo",status="201"\} 1/);
    expect(res.text).toMatch(/http_request_duration_seconds_count\{method="GET",route="\/items\/:id",status="404"\} 1/);
  });

  it('the default registry also exposes Node.js process metrics', async () => {
    const { app } = buildApp({ metrics: undefined });
    const res = await request(app).get('/metrics').expect(200);
    expect(res.text).toContain('process_cpu_user_seconds_total');
    expect(res.text).toContain('# TYPE http_request_duration_seconds histogram');
  });
});

describe('request bodies', () => {
  it('malformed JSON is answered 400 REQUEST.MALFORMED_JSON as a problem document', async () => {
    const { app } = buildApp();
    const res = await request(app).post('/echo').set('Content-Type', 'application/json').send('{"a":').expect(400);
    expect(res.headers['content-type']).toMatch(/^application\/problem\+json/);
    expect(res.body).toMatchObject({ status: 400, code: 'REQUEST.MALFORMED_JSON', instance: '/echo' });
    expect(res.body.requestId).toBe(res.headers['x-request-id']);
  });

  it('a body over the limit is answered 413 REQUEST.TOO_LARGE', async () => {
    const { app } = buildApp({ bodyLimit: '1kb' });
    const res = await request(app).post('/echo').send({ blob: 'x'.repeat(2048) }).expect(413);
    expect(res.body).toMatchObject({ status: 413, code: 'REQUEST.TOO_LARGE' });
  });

  it('a non-JSON body is answered 415 unless its type is declared raw', async () => {
    const { app } = buildApp();
    const res = await request(app).post('/echo').set('Content-Type', 'text/plain').send('hello').expect(415);
    expect(res.body).toMatchObject({ status: 415, code: 'REQUEST.UNSUPPORTED_MEDIA_TYPE' });

    const { app: csvApp } = buildApp({ rawBodyTypes: ['text/csv'] });
    await request(csvApp).post('/echo').set('Content-Type', 'text/csv').send('a,b\n1,2').expect(201);
  });

  it('a POST without a body is not refused', async () => {
    const { app } = buildApp();
    const res = await request(app).post('/echo').expect(201);
    expect(res.body).toEqual({});
  });
});

describe('problem documents', () => {
  it('an unknown route is answered 404 ROUTE.NOT_FOUND', async () => {
    const { app } = buildApp();
    const res = await request(app).get('/nope?x=1').expect(404);
    expect(res.headers['content-type']).toMatch(/^application\/problem\+json/);
    expect(res.body).toEqual({
      type: 'https://orderflow.dev/problems/route/not-found',
      title: 'Not Found',
      status: 404,
      detail: 'No route for GET /nope',
      code: 'ROUTE.NOT_FOUND',
      instance: '/nope?x=1',
      requestId: res.headers['x-request-id'],
    });
  });

  it.each<[ErrorCategory, number]>([
    ['validation', 400],
    ['unauthorized', 401],
    ['forbidden', 403],
    ['not_found', 404],
    ['conflict', 409],
    ['transient', 503],
    ['permanent', 500],
  ])('an AppError of category %s thrown by an async handler is answered %i', async (category, status) => {
    const { app } = buildApp({
      routes: (router) =>
        router.get('/fail', async () => {
          throw new AppError('ORDER.SOMETHING_ODD', 'the client-facing message', { category });
        }),
    });
    const res = await request(app).get('/fail').expect(status);
    expect(res.body).toMatchObject({ status, type: expect.stringMatching(/^https:\/\/orderflow\.dev\/problems\//) });
    if (status < 500) {
      expect(res.body).toMatchObject({ code: 'ORDER.SOMETHING_ODD', detail: 'the client-facing message' });
    } else {
      expect(res.body.detail).not.toContain('client-facing');
    }
  });

  it('a validation AppError lists its field errors under `errors`', async () => {
    const details = [{ field: 'items[0].quantity', message: 'Too small' }];
    const { app } = buildApp({
      routes: (router) =>
        router.post('/orders', () => {
          throw new AppError('REQUEST.INVALID', 'Invalid request', { category: 'validation', details });
        }),
    });
    const res = await request(app).post('/orders').send({}).expect(400);
    expect(res.body).toMatchObject({ code: 'REQUEST.INVALID', errors: details });
  });

  it('an unexpected error is answered 500 with a generic detail and logged once with its stack', async () => {
    const { app, lines } = buildApp();
    const res = await request(app).get('/boom').expect(500);
    expect(res.body).toMatchObject({ status: 500, code: 'INTERNAL', detail: 'An unexpected error occurred.' });
    expect(JSON.stringify(res.body)).not.toMatch(/secret internals|at .*\.ts/);
    const errors = lines().filter((l) => l.level === 'error');
    expect(errors).toHaveLength(1);
    expect(errors[0]).toMatchObject({ requestId: res.body.requestId, status: 500 });
    expect(errors[0]?.stack).toContain('secret internals');
  });

  it('client errors are logged at debug level, never as errors', async () => {
    const { app, lines } = buildApp();
    await request(app).get('/items/1').expect(404);
    expect(lines().filter((l) => l.level === 'error' || l.level === 'warn')).toEqual([]);
    expect(lines().find((l) => l.level === 'debug')).toMatchObject({ code: 'ITEM.NOT_FOUND', status: 404 });
  });

  it('the app hides x-powered-by', async () => {
    const { app } = buildApp();
    const res = await request(app).get('/health');
    expect(res.headers['x-powered-by']).toBeUndefined();
  });
});
