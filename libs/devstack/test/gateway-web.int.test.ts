/**
 * The gateway's own files through the real nginx and the real template: the OpenAPI document,
 * its viewer (Swagger UI from npm, offline) and the console's single-page app, each with the
 * Content-Security-Policy and caching its path gets, while the API keeps the strict policy.
 */
import fs from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { freePorts, waitFor } from '@orderflow/testkit';
import { findNginx } from '../src';
import { launchBrowser } from '../src/browser';
import { startGateway } from '../src/gateway';
import { apiDocs, buildWeb } from '../src/web';

const nginx = findNginx();
const OPENAPI = path.resolve(__dirname, '../../../docs/openapi.json');
const STRICT = "default-src 'none'; frame-ancestors 'none'";

/** A GET with exactly these headers (fetch would add and undo its own Accept-Encoding). */
function raw(url: string, headers: http.OutgoingHttpHeaders): Promise<{ status: number; headers: http.IncomingHttpHeaders; body: Buffer }> {
  return new Promise((resolve, reject) => {
    http
      .get(url, { headers, agent: false }, (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks) }));
      })
      .on('error', reject);
  });
}

describe('the gateway serves its web root (real nginx)', () => {
  let gateway: ReturnType<typeof startGateway>;
  const upstreams: http.Server[] = [];
  let base: string;
  let webRoot: string;

  beforeAll(async () => {
    if (!nginx) throw new Error('nginx is required (.ci/run installs it)');
    // A space in the path, as in a checkout under "/Users/Jane Doe/": the template quotes the root.
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'orderflow web-'));
    // nginx's workers run as another user when its master is root: they must be able to read it.
    fs.chmodSync(dir, 0o755);
    webRoot = path.join(dir, 'web');
    // The API document and viewer as built for npm start and the image; the console's build
    // stands in as its part writes it (an index and content-hashed assets).
    await buildWeb(webRoot, [apiDocs]);
    fs.mkdirSync(path.join(webRoot, 'console', 'assets'), { recursive: true });
    fs.writeFileSync(path.join(webRoot, 'console', 'index.html'), '<!doctype html><title>console</title><script type="module" src="/console/assets/app-1a2b.js"></script>');
    fs.writeFileSync(path.join(webRoot, 'console', 'assets', 'app-1a2b.js'), `export const views = ${JSON.stringify(['orders', 'imports', 'system'])};`);
    /** A fake service that answers with its name. */
    const fake = async (name: string): Promise<string> => {
      const server = http.createServer((req, res) => req.resume().on('end', () => res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ service: name }))));
      upstreams.push(server);
      await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
      return `127.0.0.1:${(server.address() as AddressInfo).port}`;
    };
    const [order, worker, other] = [await fake('order-service'), await fake('import-worker'), await fake('other')];
    const [port] = (await freePorts(1)) as [number];
    gateway = startGateway(nginx, {
      port,
      upstreams: { ORDER_UPSTREAM: order, INVENTORY_UPSTREAM: other, PAYMENT_UPSTREAM: other, NOTIFICATION_UPSTREAM: other, IMPORT_UPSTREAM: worker },
      webRoot,
    });
    base = `http://127.0.0.1:${port}`;
    await waitFor(async () => (await fetch(`${base}/health`).catch(() => null))?.status === 200, 'gateway up');
  });
  afterAll(async () => {
    gateway?.process.kill('SIGTERM');
    await Promise.all(upstreams.map((u) => new Promise<void>((r) => u.close(() => r()))));
    fs.rmSync(path.dirname(webRoot), { recursive: true, force: true });
  });

  it('GET /api/openapi.json answers the committed document as JSON, revalidated rather than stored', async () => {
    const res = await fetch(`${base}/api/openapi.json`);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toBe('application/json; charset=utf-8');
    expect(res.headers.get('cache-control')).toBe('no-cache');
    expect(res.headers.get('etag')).toEqual(expect.any(String));
    expect(await res.text()).toBe(fs.readFileSync(OPENAPI, 'utf8'));
    const again = await fetch(`${base}/api/openapi.json`, { headers: { 'if-none-match': res.headers.get('etag')! } });
    expect(again.status).toBe(304);
  });

  it('/api/docs redirects to /api/docs/ (a path only: the client may reach it under another host or port)', async () => {
    const res = await fetch(`${base}/api/docs`, { redirect: 'manual' });
    expect(res.status).toBe(301);
    expect(res.headers.get('location')).toBe('/api/docs/');
  });

  it("/api/docs/ answers the viewer's page, whose script and stylesheet load from the gateway itself", async () => {
    const page = await fetch(`${base}/api/docs/`);
    expect(page.status).toBe(200);
    expect(page.headers.get('content-type')).toBe('text/html; charset=utf-8');
    const html = await page.text();
    const assets = [...html.matchAll(/(?:src|href)="([^"]+)"/g)].map((m) => m[1]!);
    expect(assets).toEqual(expect.arrayContaining(['swagger-ui-bundle.js', 'swagger-initializer.js', 'swagger-ui.css']));
    expect(assets.filter((a) => /^(https?:)?\/\//.test(a))).toEqual([]);
    const types: Record<string, string> = { js: 'application/javascript; charset=utf-8', css: 'text/css; charset=utf-8', png: 'image/png' };
    for (const asset of assets) {
      const res = await fetch(new URL(asset, `${base}/api/docs/`));
      expect([asset, res.status, res.headers.get('content-type')]).toEqual([asset, 200, types[asset.split('.').pop()!]]);
    }
    const init = await (await fetch(`${base}/api/docs/swagger-initializer.js`)).text();
    expect(init).toContain("url: '../openapi.json'");
    expect(new URL('../openapi.json', `${base}/api/docs/`).pathname).toBe('/api/openapi.json');
  });

  it('in a real browser the viewer shows every operation of the document, within its Content-Security-Policy', async () => {
    const browser = await launchBrowser();
    try {
      const page = await browser.newPage();
      const complaints: string[] = [];
      page.on('console', (m) => void (m.type() === 'error' && complaints.push(m.text())));
      page.on('pageerror', (e) => complaints.push(e.message));
      // Injected by the browser, not the page: the policy does not apply to it.
      await page.addInitScript("document.addEventListener('securitypolicyviolation', (e) => console.error(`CSP ${e.violatedDirective}: ${e.blockedURI}`))");
      await page.goto(`${base}/api/docs/`);
      await page.waitForSelector('.opblock');
      await page.locator('.opblock-summary').first().click();
      await page.waitForSelector('.opblock-body');
      const openapi = JSON.parse(fs.readFileSync(OPENAPI, 'utf8')) as { paths: Record<string, object> };
      const operations = Object.values(openapi.paths).reduce((n, item) => n + Object.keys(item).length, 0);
      expect(await page.locator('.opblock').count()).toBe(operations);
      expect(complaints).toEqual([]);
    } finally {
      await browser.close();
    }
  });

  it("the viewer and the console may run their own scripts and styles ('self'); the API keeps the strict policy", async () => {
    const csp = async (p: string) => (await fetch(`${base}${p}`)).headers.get('content-security-policy') ?? '';
    for (const page of ['/api/docs/', '/api/docs/swagger-ui-bundle.js', '/console/', '/console/orders/42']) {
      const policy = await csp(page);
      expect([page, policy]).toEqual([page, expect.stringContaining("script-src 'self'")]);
      expect(policy).toContain("style-src 'self'");
      expect(policy).toContain("frame-ancestors 'none'");
      expect(policy).not.toContain('unsafe');
    }
    expect(await csp('/api/orders')).toBe(STRICT);
    expect(await csp('/api/openapi.json')).toBe(STRICT);
    expect(await csp('/nowhere')).toBe(STRICT);
  });

  it('listens on the loopback address only: npm start hands out admin tokens, nobody else on the network may ask', async () => {
    const port = new URL(base).port;
    expect((await fetch(`http://127.0.0.1:${port}/health`)).status).toBe(200);
    // Linux routes all of 127/8 to the loopback interface: only a socket bound to every address answers 127.0.0.2.
    await expect(fetch(`http://127.0.0.2:${port}/health`)).rejects.toThrow();
  });

  it('compresses its text files for a client that accepts gzip; the API passes through as the service sent it', async () => {
    for (const file of ['/api/docs/swagger-ui-bundle.js', '/api/docs/swagger-ui.css', '/api/openapi.json', '/console/assets/app-1a2b.js', '/console/']) {
      const res = await raw(`${base}${file}`, { 'accept-encoding': 'gzip' });
      expect([file, res.status, res.headers['content-encoding']]).toEqual([file, 200, 'gzip']);
      expect(res.headers.vary).toMatch(/Accept-Encoding/i);
    }
    const plain = await raw(`${base}/api/docs/swagger-ui-bundle.js`, {});
    expect([plain.status, plain.headers['content-encoding']]).toEqual([200, undefined]);
    const api = await raw(`${base}/api/orders`, { 'accept-encoding': 'gzip', authorization: 'Bearer x' });
    expect([api.status, api.headers['content-encoding'], api.body.toString()]).toEqual([200, undefined, '{"service":"order-service"}']);
  });

  it("the console: its own paths answer its index.html, its hashed assets are kept a year, a missing asset is a JSON 404", async () => {
    const deep = await fetch(`${base}/console/orders/42`);
    expect([deep.status, deep.headers.get('content-type'), deep.headers.get('cache-control')]).toEqual([200, 'text/html; charset=utf-8', 'no-cache']);
    expect(await deep.text()).toContain('<title>console</title>');
    const asset = await fetch(`${base}/console/assets/app-1a2b.js`);
    expect([asset.status, asset.headers.get('content-type'), asset.headers.get('cache-control')]).toEqual([200, 'application/javascript; charset=utf-8', 'public, max-age=31536000, immutable']);
    // A path with a file extension is a file, wherever it is: missing, never the index in its place.
    for (const gone of ['/console/assets/gone-0000.js', '/console/gone.js', '/console/orders/x.css']) {
      const missing = await fetch(`${base}${gone}`);
      expect([gone, missing.status, missing.headers.get('content-type')]).toEqual([gone, 404, 'application/problem+json']);
      expect(((await missing.json()) as { code: string }).code).toBe('GATEWAY.NOT_FOUND');
    }
    const bare = await fetch(`${base}/console`, { redirect: 'manual' });
    expect([bare.status, bare.headers.get('location')]).toEqual([301, '/console/']);
  });

  it('a file the web root does not have is a JSON 404 like any unknown path, never stored', async () => {
    const res = await fetch(`${base}/api/docs/nothing.js`);
    expect([res.status, res.headers.get('content-type'), res.headers.get('cache-control')]).toEqual([404, 'application/problem+json', 'no-store']);
    expect(((await res.json()) as { code: string }).code).toBe('GATEWAY.NOT_FOUND');
  });

  it("GET /api/imports (the list) and one import's progress reach the order service; the upload and the rejected rows the worker", async () => {
    const to = async (method: string, p: string) => ((await (await fetch(`${base}${p}`, { method, headers: { authorization: 'Bearer x', 'content-type': 'text/csv' }, ...(method === 'POST' ? { body: 'a\n' } : {}) })).json()) as { service: string }).service;
    expect(await to('GET', '/api/imports')).toBe('order-service');
    expect(await to('GET', '/api/imports?state=COMPLETED')).toBe('order-service');
    expect(await to('GET', '/api/imports/0198a4b2-7c3d-7e4f-8a9b-0c1d2e3f4a5b')).toBe('order-service');
    expect(await to('POST', '/api/imports')).toBe('import-worker');
    expect(await to('GET', '/api/imports/0198a4b2-7c3d-7e4f-8a9b-0c1d2e3f4a5b/errors')).toBe('import-worker');
  });
});
