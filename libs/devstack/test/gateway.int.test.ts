import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { freePorts, waitFor } from '@orderflow/testkit';
import { findNginx, GATEWAY_TEMPLATE, renderTemplate } from '../src';
import { GATEWAY_LIMITS_LIFTED, gatewayVariables, startGateway, type GatewayOptions } from '../src/gateway';

const nginx = findNginx();
/** The gateway checks the shape of the credential only; the services verify the token. */
const AUTH = { authorization: 'Bearer any-token' };

interface Seen {
  method: string;
  url: string;
  requestId: string | undefined;
  connection: string | undefined;
  /** W3C trace context headers as they reached the service. */
  traceparent: string | undefined;
  tracestate: string | undefined;
}
interface Answer {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: string;
}

/** One request on its own connection, from a chosen local address (Linux routes all of 127/8 to lo). */
function call(base: string, path: string, o: { method?: string; headers?: http.OutgoingHttpHeaders; body?: string | Buffer; from?: string } = {}): Promise<Answer> {
  const url = new URL(path, base);
  return new Promise((resolve, reject) => {
    const req = http.request(
      { host: url.hostname, port: url.port, path: url.pathname + url.search, method: o.method ?? 'GET', headers: o.headers, localAddress: o.from ?? '127.0.0.1', agent: false },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks).toString() }));
      },
    );
    req.on('error', reject);
    req.end(o.body);
  });
}

/** An upload whose body is still on its way: the gateway counts it in progress until `finish`. */
function openUpload(base: string, from: string): { answer: Promise<Answer>; finish: () => void } {
  const url = new URL('/api/imports', base);
  let req!: http.ClientRequest;
  const answer = new Promise<Answer>((resolve, reject) => {
    req = http.request(
      { host: url.hostname, port: url.port, path: url.pathname, method: 'POST', headers: { ...AUTH, 'content-type': 'text/csv' }, localAddress: from, agent: false },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks).toString() }));
      },
    );
    req.on('error', reject);
    req.write('sku,qty\n');
  });
  return { answer, finish: () => req.end('A,1\n') };
}

/** A fake of every service: records what reaches it, answers once the body is in. */
async function fakeUpstream(seen: Seen[]): Promise<{ server: http.Server; address: string }> {
  const server = http.createServer((req, res) => {
    const { traceparent, tracestate, connection } = req.headers as Record<string, string | undefined>;
    seen.push({ method: req.method ?? '', url: req.url ?? '', requestId: req.headers['x-request-id'] as string | undefined, connection, traceparent, tracestate });
    req.resume();
    // What an Express service sends: the gateway must neither pass these on nor repeat its own.
    req.on('end', () => res.writeHead(200, { 'content-type': 'application/json', 'x-powered-by': 'Express', 'x-content-type-options': 'nosniff' }).end('{"ok":true}'));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return { server, address: `127.0.0.1:${(server.address() as AddressInfo).port}` };
}

/** A gateway from the template with these limits: orders and imports live, every other service a closed port. */
async function gatewayFor(
  live: string,
  options: Pick<GatewayOptions, 'limits'> & { tls?: { certFile: string; keyFile: string } } = {},
): Promise<{ gateway: ReturnType<typeof startGateway>; base: string; tlsPort: number }> {
  if (!nginx) throw new Error('nginx is required (.ci/run installs it)');
  const [port, closed, tlsPort] = (await freePorts(3)) as [number, number, number];
  const gateway = startGateway(nginx, {
    port,
    upstreams: { ORDER_UPSTREAM: live, INVENTORY_UPSTREAM: `127.0.0.1:${closed}`, PAYMENT_UPSTREAM: `127.0.0.1:${closed}`, NOTIFICATION_UPSTREAM: `127.0.0.1:${closed}`, IMPORT_UPSTREAM: live },
    ...(options.limits ? { limits: options.limits } : {}),
    ...(options.tls ? { tls: { port: tlsPort, ...options.tls } } : {}),
  });
  const base = `http://127.0.0.1:${port}`;
  await waitFor(async () => (await fetch(`${base}/health`).catch(() => null))?.status === 200, 'gateway up');
  return { gateway, base, tlsPort };
}

const problem = (answer: Answer) => JSON.parse(answer.body) as { status: number; code: string; requestId: string };

describe('the Nginx gateway config (real nginx)', () => {
  let gateway: ReturnType<typeof startGateway>;
  let base: string;
  let upstream: http.Server;
  const seen: Seen[] = [];

  beforeAll(async () => {
    const fake = await fakeUpstream(seen);
    upstream = fake.server;
    ({ gateway, base } = await gatewayFor(fake.address));
  });
  afterAll(async () => {
    gateway?.process.kill('SIGTERM');
    await new Promise<void>((r) => upstream.close(() => r()));
  });

  it('the template leaves no variable unfilled and passes nginx -t', () => {
    const upstreams = { ORDER_UPSTREAM: 'a:1', INVENTORY_UPSTREAM: 'b:1', PAYMENT_UPSTREAM: 'c:1', NOTIFICATION_UPSTREAM: 'd:1', IMPORT_UPSTREAM: 'e:1' };
    const rendered = renderTemplate(fs.readFileSync(GATEWAY_TEMPLATE, 'utf8'), gatewayVariables({ port: 1, upstreams }));
    expect(rendered).not.toMatch(/\$\{[A-Z_]+\}/);
    const test = spawnSync(nginx!, ['-t', '-p', gateway.dir, '-c', `${gateway.dir}/nginx.conf`], { encoding: 'utf8' });
    expect(test.stderr).toMatch(/test is successful/);
  });

  it('routes /api/orders to its service with keepalive and a request id (minted or passed on)', async () => {
    const minted = await fetch(`${base}/api/orders?x=1`);
    expect(minted.status).toBe(200);
    const passed = await fetch(`${base}/api/orders/abc`, { headers: { 'X-Request-Id': 'trace-42' } });
    expect(passed.headers.get('x-request-id')).toBe('trace-42');
    expect(seen.at(-2)).toMatchObject({ url: '/api/orders?x=1', requestId: expect.stringMatching(/^[0-9a-f]{32}$/) });
    expect(seen.at(-1)).toMatchObject({ url: '/api/orders/abc', requestId: 'trace-42' });
    expect(seen.at(-1)?.connection).not.toBe('close');
  });

  it.each(['<script>alert(1)</script>', 'x'.repeat(500), 'two words', '../../etc/passwd', 'a;b=c'])('a request id that is not a plain token (%s) is replaced by a minted one, for the service and the client', async (hostile) => {
    const res = await call(base, '/api/orders/hostile', { headers: { 'x-request-id': hostile } });
    expect(res.headers['x-request-id']).toMatch(/^[0-9a-f]{32}$/);
    expect(seen.at(-1)).toMatchObject({ url: '/api/orders/hostile', requestId: res.headers['x-request-id'] });
    const notFound = await call(base, '/nowhere', { headers: { 'x-request-id': hostile } });
    expect(problem(notFound).requestId).toBe(notFound.headers['x-request-id']);
    expect(notFound.body).not.toContain(hostile);
  });

  it.each(['/api/orders/traced', '/api/imports'])("a public client's traceparent and tracestate stop at the gateway (%s): it can neither force nor hide sampling, nor pick trace ids", async (path) => {
    const traceparent = '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01';
    const res = await call(base, path, { method: path === '/api/imports' ? 'POST' : 'GET', body: path === '/api/imports' ? 'sku,qty\nA,1\n' : undefined, headers: { ...AUTH, traceparent, tracestate: 'vendor=forced' } });
    expect(res.status).toBe(200);
    expect(seen.at(-1)).toMatchObject({ url: path, traceparent: undefined, tracestate: undefined });
  });

  it.each(['/api/inventory', '/api/payments?orderId=x', '/api/notifications'])('an unreachable service behind %s gives a 502 problem document', async (path) => {
    const res = await fetch(`${base}${path}`);
    expect(res.status).toBe(502);
    expect(res.headers.get('content-type')).toBe('application/problem+json');
    expect(await res.json()).toMatchObject({ status: 502, code: 'GATEWAY.UPSTREAM_UNAVAILABLE', requestId: expect.any(String) });
  });

  it('a JSON body over 1 MB is refused with 413 JSON, while the import route streams a large upload', async () => {
    const big = 'x'.repeat(2 * 1024 * 1024);
    const refused = await fetch(`${base}/api/orders`, { method: 'POST', body: big, headers: { 'content-type': 'application/json' } });
    expect(refused.status).toBe(413);
    expect(((await refused.json()) as { code: string }).code).toBe('GATEWAY.PAYLOAD_TOO_LARGE');
    const streamed = await fetch(`${base}/api/imports`, { method: 'POST', body: big, headers: { ...AUTH, 'content-type': 'text/csv' } });
    expect(streamed.status).toBe(200);
  });

  it('an anonymous 100 MB upload is refused with 401 at once, on its headers: next to nothing of the body is taken, nothing reaches the worker', async () => {
    const before = seen.length;
    const total = 100 * 1024 * 1024;
    const chunk = Buffer.alloc(64 * 1024, 'x');
    const url = new URL('/api/imports', base);
    const started = Date.now();
    const { answer, elapsed, taken } = await new Promise<{ answer: Answer; elapsed: number; taken: number }>((resolve, reject) => {
      let sent = 0;
      let answered = false;
      const req = http.request({ host: url.hostname, port: url.port, path: url.pathname, method: 'POST', headers: { 'content-type': 'text/csv', 'content-length': total }, agent: false }, (res) => {
        answered = true;
        // Bytes the gateway's side of the connection had taken when the answer came (the kernel's buffers included).
        const taken = sent - req.writableLength;
        const elapsed = Date.now() - started;
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => {
          req.destroy();
          resolve({ answer: { status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks).toString() }, elapsed, taken });
        });
      });
      req.on('error', (err) => {
        if (!answered) reject(err);
      });
      // The body streams like a client on a fast network, 64 KB a millisecond at most, until the
      // answer comes: all of it would take over 1.6 s. (A writer on loopback faster than nginx
      // discards what it does not read would hold the answer back until it pauses.)
      const pump = (): void => {
        if (answered || req.destroyed) return;
        if (sent >= total) return void req.end();
        sent += chunk.length;
        req.write(chunk);
        if (req.writableLength > 1024 * 1024) req.once('drain', pump);
        else setTimeout(pump, 1);
      };
      pump();
    });
    expect(answer.status).toBe(401);
    expect(answer.headers['content-type']).toBe('application/problem+json');
    expect(answer.headers['www-authenticate']).toBe('Bearer');
    expect(problem(answer)).toMatchObject({ status: 401, code: 'AUTH.MISSING_TOKEN' });
    expect(elapsed).toBeLessThan(1000);
    expect(taken).toBeLessThan(total / 10);
    expect(seen.slice(before)).toEqual([]);
  });

  it('every answer carries the security headers, once, whoever gave it (a service, the gateway, an error page)', async () => {
    const answers = {
      service: await call(base, '/api/orders/1'),
      health: await call(base, '/health'),
      notFound: await call(base, '/admin.php'),
      unreachable: await call(base, '/api/inventory'),
      tooLarge: await call(base, '/api/orders', { method: 'POST', body: 'x'.repeat(2 * 1024 * 1024) }),
      anonymousUpload: await call(base, '/api/imports', { method: 'POST', body: 'sku,qty\n' }),
    };
    for (const [name, res] of Object.entries(answers)) {
      expect({ name, ...pickSecurityHeaders(res) }).toEqual({
        name,
        'x-content-type-options': 'nosniff',
        'x-frame-options': 'DENY',
        'content-security-policy': "default-src 'none'; frame-ancestors 'none'",
        'referrer-policy': 'no-referrer',
        'cache-control': 'no-store',
        'x-request-id': expect.stringMatching(/^[0-9a-f]{32}$/),
        // Over plain HTTP: no HSTS; the services' X-Powered-By is not passed on.
        'strict-transport-security': undefined,
        'x-powered-by': undefined,
      });
    }
  });

  it('the import worker\'s dead letters reach it under the name its topology gives them (import-worker)', async () => {
    const res = await fetch(`${base}/api/dead-letters/import-worker?limit=1`);
    expect(res.status).toBe(200);
    expect(seen.at(-1)).toMatchObject({ url: '/api/dead-letters/import-worker?limit=1' });
  });

  it('unknown paths get a JSON 404', async () => {
    const res = await fetch(`${base}/admin.php`);
    expect(res.status).toBe(404);
    expect(((await res.json()) as { code: string }).code).toBe('GATEWAY.NOT_FOUND');
  });
});

function pickSecurityHeaders(res: Answer): Record<string, unknown> {
  const names = ['x-content-type-options', 'x-frame-options', 'content-security-policy', 'referrer-policy', 'cache-control', 'x-request-id', 'strict-transport-security', 'x-powered-by'];
  return Object.fromEntries(names.map((n) => [n, res.headers[n]]));
}

describe('the gateway\'s limits (real nginx, strict limits)', () => {
  let gateway: ReturnType<typeof startGateway>;
  let base: string;
  let upstream: http.Server;
  const seen: Seen[] = [];

  beforeAll(async () => {
    const fake = await fakeUpstream(seen);
    upstream = fake.server;
    ({ gateway, base } = await gatewayFor(fake.address, {
      limits: {
        GATEWAY_RATE_LIMIT: '2r/s',
        GATEWAY_RATE_BURST: '5',
        GATEWAY_ORDER_RATE_LIMIT: '1r/m',
        GATEWAY_ORDER_RATE_BURST: '1',
        GATEWAY_IMPORT_RATE_LIMIT: '60r/m',
        GATEWAY_IMPORT_RATE_BURST: '10',
        GATEWAY_CONNECTION_LIMIT: '20',
        GATEWAY_IMPORT_CONCURRENCY: '2',
        GATEWAY_IMPORT_MAX_BODY: '1m',
      },
    }));
  });
  afterAll(async () => {
    gateway?.process.kill('SIGTERM');
    await new Promise<void>((r) => upstream.close(() => r()));
  });

  it('a burst beyond the rate from one client gets 429 problem documents with Retry-After, while another client is still served', async () => {
    const burst = await Promise.all(Array.from({ length: 15 }, (_, i) => call(base, `/api/orders/${i}`, { from: '127.0.0.2' })));
    const refused = burst.filter((r) => r.status === 429);
    expect(burst.filter((r) => r.status === 200).length).toBeGreaterThanOrEqual(5);
    expect(refused.length).toBeGreaterThanOrEqual(5);
    for (const r of refused) {
      expect(r.headers['content-type']).toBe('application/problem+json');
      expect(r.headers['retry-after']).toBe('1');
      expect(r.headers['x-content-type-options']).toBe('nosniff');
      expect(problem(r)).toMatchObject({ status: 429, code: 'GATEWAY.RATE_LIMITED', requestId: r.headers['x-request-id'] });
    }
    expect((await call(base, '/api/orders/other', { from: '127.0.0.3' })).status).toBe(200);
  });

  it('placing orders has a stricter limit of its own: the client may still read', async () => {
    const placed: number[] = [];
    for (let i = 0; i < 3; i++) placed.push((await call(base, '/api/orders', { method: 'POST', body: '{}', headers: { 'content-type': 'application/json' }, from: '127.0.0.4' })).status);
    expect(placed).toEqual([200, 200, 429]);
    expect((await call(base, '/api/orders/mine', { from: '127.0.0.4' })).status).toBe(200);
  });

  it('the order limit cannot be side-stepped with a trailing slash (the service routes it too)', async () => {
    const placed: number[] = [];
    for (const path of ['/api/orders/', '/api/orders/', '/api/orders/']) {
      placed.push((await call(base, path, { method: 'POST', body: '{}', headers: { 'content-type': 'application/json' }, from: '127.0.0.8' })).status);
    }
    expect(placed).toEqual([200, 200, 429]);
  });

  it('an upload over the size cap is refused with a 413 problem document, and never reaches the worker', async () => {
    const before = seen.length;
    const res = await call(base, '/api/imports', { method: 'POST', body: Buffer.alloc(2 * 1024 * 1024, 'x'), headers: { ...AUTH, 'content-type': 'text/csv' }, from: '127.0.0.5' });
    expect(res.status).toBe(413);
    expect(problem(res)).toMatchObject({ status: 413, code: 'GATEWAY.PAYLOAD_TOO_LARGE' });
    expect(seen.slice(before)).toEqual([]);
  });

  it('uploads beyond the cap on uploads in progress get 429 with a longer Retry-After; once one ends, the next is taken', async () => {
    const before = seen.length;
    const running = [openUpload(base, '127.0.0.6'), openUpload(base, '127.0.0.7')];
    await waitFor(async () => seen.slice(before).filter((s) => s.method === 'POST').length === 2, 'both uploads streaming to the worker');
    const third = await call(base, '/api/imports', { method: 'POST', body: 'sku,qty\nA,1\n', headers: { ...AUTH, 'content-type': 'text/csv' }, from: '127.0.0.8' });
    expect(third.status).toBe(429);
    expect(third.headers['retry-after']).toBe('10');
    expect(problem(third)).toMatchObject({ status: 429, code: 'GATEWAY.RATE_LIMITED' });
    // Reading an import's rejected rows is no upload: not counted.
    expect((await call(base, '/api/imports/some-id/errors', { headers: AUTH, from: '127.0.0.8' })).status).toBe(200);
    for (const u of running) u.finish();
    expect((await Promise.all(running.map((u) => u.answer))).map((a) => a.status)).toEqual([200, 200]);
    const next = await call(base, '/api/imports', { method: 'POST', body: 'sku,qty\nA,1\n', headers: { ...AUTH, 'content-type': 'text/csv' }, from: '127.0.0.8' });
    expect(next.status).toBe(200);
  });
});

describe('the gateway with its limits lifted, as the benchmarks and the end-to-end suites run it', () => {
  it('takes a burst of orders from one address without a 429', async () => {
    const seen: Seen[] = [];
    const fake = await fakeUpstream(seen);
    const { gateway, base } = await gatewayFor(fake.address, { limits: GATEWAY_LIMITS_LIFTED });
    try {
      const statuses = await Promise.all(Array.from({ length: 200 }, () => call(base, '/api/orders', { method: 'POST', body: '{}', headers: { 'content-type': 'application/json' } }).then((r) => r.status)));
      expect(statuses.filter((s) => s !== 200)).toEqual([]);
    } finally {
      gateway.process.kill('SIGTERM');
      await new Promise<void>((r) => fake.server.close(() => r()));
    }
  });
});

describe('the gateway over HTTPS (nginx/tls/https.conf)', () => {
  let gateway: ReturnType<typeof startGateway>;
  let base: string;
  let tlsPort: number;
  let cert: string;
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'orderflow-gateway-cert-'));

  beforeAll(async () => {
    const made = spawnSync(
      'openssl',
      ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-subj', '/CN=localhost', '-addext', 'subjectAltName=DNS:localhost', '-days', '1', '-keyout', `${dir}/tls.key`, '-out', `${dir}/tls.crt`],
      { encoding: 'utf8' },
    );
    if (made.status !== 0) throw new Error(`openssl could not make a test certificate: ${made.error?.message ?? made.stderr}`);
    cert = fs.readFileSync(`${dir}/tls.crt`, 'utf8');
    ({ gateway, base, tlsPort } = await gatewayFor('127.0.0.1:1', { tls: { certFile: `${dir}/tls.crt`, keyFile: `${dir}/tls.key` } }));
  });
  afterAll(() => {
    gateway?.process.kill('SIGTERM');
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('answers over HTTPS with the certificate it was given, and HSTS; plain HTTP stays open, without HSTS', async () => {
    const secure = await new Promise<Answer>((resolve, reject) => {
      https
        .get({ host: '127.0.0.1', port: tlsPort, path: '/health', servername: 'localhost', ca: cert, agent: false }, (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (c: Buffer) => chunks.push(c));
          res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks).toString() }));
        })
        .on('error', reject);
    });
    expect(secure.status).toBe(200);
    expect(secure.headers['strict-transport-security']).toBe('max-age=31536000');
    expect(secure.headers['x-frame-options']).toBe('DENY');
    const plain = await call(base, '/health');
    expect(plain.status).toBe(200);
    expect(plain.headers['strict-transport-security']).toBeUndefined();
  });
});
