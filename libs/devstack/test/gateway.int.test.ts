import fs from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { freePorts, waitFor } from '@orderflow/testkit';
import { findNginx, GATEWAY_TEMPLATE, renderTemplate } from '../src';
import { startGateway } from '../src/gateway';

const nginx = findNginx();

describe('the Nginx gateway config (real nginx)', () => {
  let gateway: ReturnType<typeof startGateway>;
  let base: string;
  let upstream: http.Server;
  const seen: Array<{ url: string; requestId: string | undefined; connection: string | undefined }> = [];

  beforeAll(async () => {
    if (!nginx) throw new Error('nginx is required (.ci/run installs it)');
    // One live upstream (orders) that records what reaches it; every other route points at a closed port.
    upstream = http.createServer((req, res) => {
      seen.push({ url: req.url ?? '', requestId: req.headers['x-request-id'] as string | undefined, connection: req.headers.connection });
      req.resume();
      req.on('end', () => res.writeHead(200, { 'content-type': 'application/json' }).end('{"ok":true}'));
    });
    await new Promise<void>((r) => upstream.listen(0, '127.0.0.1', r));
    const live = `127.0.0.1:${(upstream.address() as AddressInfo).port}`;
    const [port, closed] = await freePorts(2);
    gateway = startGateway(nginx, {
      port: port!,
      upstreams: { ORDER_UPSTREAM: live, INVENTORY_UPSTREAM: `127.0.0.1:${closed}`, PAYMENT_UPSTREAM: `127.0.0.1:${closed}`, NOTIFICATION_UPSTREAM: `127.0.0.1:${closed}`, IMPORT_UPSTREAM: live },
    });
    base = `http://127.0.0.1:${port}`;
    await waitFor(async () => (await fetch(`${base}/health`).catch(() => null))?.status === 200, 'gateway up');
  });
  afterAll(async () => {
    gateway?.process.kill('SIGTERM');
    await new Promise<void>((r) => upstream.close(() => r()));
  });

  it('the template leaves no variable unfilled and passes nginx -t', () => {
    const rendered = renderTemplate(fs.readFileSync(GATEWAY_TEMPLATE, 'utf8'), { GATEWAY_PORT: '1', ORDER_UPSTREAM: 'a:1', INVENTORY_UPSTREAM: 'b:1', PAYMENT_UPSTREAM: 'c:1', NOTIFICATION_UPSTREAM: 'd:1', IMPORT_UPSTREAM: 'e:1' });
    expect(rendered).not.toMatch(/\$\{[A-Z_]+\}/);
    const test = require('node:child_process').spawnSync(nginx!, ['-t', '-p', gateway.dir, '-c', `${gateway.dir}/nginx.conf`], { encoding: 'utf8' });
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

  it.each(['/api/inventory', '/api/payments?orderId=x', '/api/notifications'])('an unreachable service behind %s gives a 502 problem document', async (path) => {
    const res = await fetch(`${base}${path}`);
    expect(res.status).toBe(502);
    expect(res.headers.get('content-type')).toBe('application/problem+json');
    expect(await res.json()).toMatchObject({ status: 502, code: 'GATEWAY.UPSTREAM_UNAVAILABLE', requestId: expect.any(String) });
  });

  it('a JSON body over 1 MB is refused with 413 JSON, while the import route streams any size', async () => {
    const big = 'x'.repeat(2 * 1024 * 1024);
    const refused = await fetch(`${base}/api/orders`, { method: 'POST', body: big, headers: { 'content-type': 'application/json' } });
    expect(refused.status).toBe(413);
    expect(((await refused.json()) as { code: string }).code).toBe('GATEWAY.PAYLOAD_TOO_LARGE');
    const streamed = await fetch(`${base}/api/imports`, { method: 'POST', body: big, headers: { 'content-type': 'text/csv' } });
    expect(streamed.status).toBe(200);
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
