/**
 * docs/openapi.json names every route the services serve through the gateway, and nothing
 * else. The served routes are read from each app as it runs: its main.ts (the composition
 * root, the one place that says which routers it mounts) is loaded with runService caught, and
 * the service it defines is built, not started (no I/O), so the walk sees the real Express app
 * with every router, the dead-letter routes and the probes. Each route is then routed through
 * the gateway template as nginx would, to tell public routes from the ones left out.
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import type { Express } from 'express';
import { parse } from 'yaml';
import { REPO_ROOT } from './asyncapi-services';
import { OPENAPI_FILE } from './openapi';
import { documentedRoutes, gatewayRouter, roleMismatches, routeKey, routesOf, samplePath, type ServedRoute } from './openapi-routes';

/** Served by every process, never through the gateway: each with why. */
const NOT_PUBLIC: Record<string, string> = {
  'GET /health': "liveness probe: Kubernetes and compose call each process; the gateway's /health is its own",
  'GET /ready': 'readiness probe: called on each process directly',
  'GET /metrics': 'Prometheus scrapes each process directly',
};
/** Apps with an HTTP API that the gateway does not front: each with why. */
const NOT_BEHIND_THE_GATEWAY: Record<string, string> = {
  'payment-gateway': "the card provider simulator: the payment service calls it on the cluster network (docs/payment-gateway.md); it stands for a third party's API",
};

/** The service an app's main.ts defines, built (createApp and all) but not started. */
function builtApp(app: string): { app: Express; stop: () => Promise<void> } {
  let built: { app: Express; stop: () => Promise<void> } | undefined;
  jest.isolateModules(() => {
    jest.doMock('@orderflow/service', () => {
      const actual = jest.requireActual<typeof import('@orderflow/service')>('@orderflow/service');
      return { ...actual, runService: (def: Parameters<typeof actual.buildService>[0]) => (built = actual.buildService(def)) };
    });
    require(path.join(REPO_ROOT, 'apps', app, 'src', 'main.ts'));
  });
  if (!built) throw new Error(`apps/${app}/src/main.ts did not call runService`);
  return built;
}

const servingApps = readdirSync(path.join(REPO_ROOT, 'apps'))
  .filter((app) => existsSync(path.join(REPO_ROOT, 'apps', app, 'src', 'main.ts')) && !(app in NOT_BEHIND_THE_GATEWAY))
  .sort();

const template = readFileSync(path.join(REPO_ROOT, 'nginx', 'templates', 'gateway.conf.template'), 'utf8');
/** Upstream variable → app, as compose sets them (`ORDER_UPSTREAM: order-service:8081`). */
const composeGateway = (parse(readFileSync(path.join(REPO_ROOT, 'docker-compose.yml'), 'utf8')) as { services: Record<string, { environment?: Record<string, string> }> }).services.gateway;
const upstreamApps = Object.fromEntries(
  Object.entries(composeGateway?.environment ?? {})
    .filter(([name]) => name.endsWith('_UPSTREAM'))
    .map(([name, value]) => [name, value.split(':')[0]!]),
);
const routeThroughGateway = gatewayRouter(template, upstreamApps);

describe('docs/openapi.json and the routes the services serve', () => {
  const env = { ...process.env };
  const built: Array<{ app: Express; stop: () => Promise<void> }> = [];
  let served: ServedRoute[] = [];

  beforeAll(() => {
    // What main.ts reads at start: nothing connects until the service starts, which it does not.
    Object.assign(process.env, { DATABASE_URL: 'postgresql://nobody@127.0.0.1:1/nowhere', JWT_SECRET: 'orderflow-dev-secret-change-me', LOG_LEVEL: 'error' });
    // As deployed: POST /api/dev/token (DEV_TOKENS, npm start only) is local development's, not the contract's.
    delete process.env.DEV_TOKENS;
    for (const app of servingApps) {
      const service = builtApp(app);
      built.push(service);
      served.push(...routesOf(service.app, app));
    }
  });
  afterAll(async () => {
    await Promise.all(built.map((b) => b.stop().catch(() => undefined)));
    process.env = env;
  });

  it('finds the apps and their routes', () => {
    expect(servingApps).toEqual(expect.arrayContaining(['order-service', 'inventory-service', 'payment-service', 'notification-service', 'import-worker']));
    expect(served.filter((r) => r.app === 'order-service' && r.method === 'POST' && r.path === '/api/orders')).toHaveLength(1);
  });

  it('each route left out of the document is served by every app, and has a reason', () => {
    for (const app of servingApps) {
      const keys = served.filter((r) => r.app === app).map((r) => routeKey(r.method, r.path));
      expect([app, Object.keys(NOT_PUBLIC).filter((k) => !keys.includes(k))]).toEqual([app, []]);
    }
  });

  it('every served route is public: the gateway sends it to the app that serves it', () => {
    const misrouted = served
      .filter((r) => !(routeKey(r.method, r.path) in NOT_PUBLIC))
      .map((r) => ({ route: `${r.method} ${r.path} (${r.app})`, gateway: routeThroughGateway(r.method, samplePath(r.path)) }))
      .filter(({ route, gateway }) => !('app' in gateway) || !route.endsWith(`(${gateway.app})`));
    expect(misrouted).toEqual([]);
  });

  it('the document names every public route and no route nobody serves (if not: describe it in apps/<app>/src/openapi.ts, npm run contract)', () => {
    const publicRoutes = [...new Set(served.filter((r) => !(routeKey(r.method, r.path) in NOT_PUBLIC)).map((r) => routeKey(r.method, r.path)))].sort();
    const documented = documentedRoutes(JSON.parse(readFileSync(OPENAPI_FILE, 'utf8')));
    expect({ missingFromTheDocument: publicRoutes.filter((k) => !documented.includes(k)), servedByNobody: documented.filter((k) => !publicRoutes.includes(k)) }).toEqual({
      missingFromTheDocument: [],
      servedByNobody: [],
    });
    expect(documented.length).toBeGreaterThan(20);
  });

  it("each documented route's roles are those its handlers let through: authenticate() every role, requireRole() the ones it names (if not: fix the roles in apps/<app>/src/openapi.ts, npm run contract)", () => {
    const doc = JSON.parse(readFileSync(OPENAPI_FILE, 'utf8'));
    expect(roleMismatches(served, doc)).toEqual([]);
    expect(served.filter((r) => r.roles?.join() === 'admin').length).toBeGreaterThan(10);
    // The check can fail: the document naming another role for a route than its handler.
    const changed = structuredClone(doc);
    changed.paths['/api/admin/metrics'].get.security = [{ bearer: ['customer', 'admin'] }];
    expect(roleMismatches(served, changed)).toEqual([{ route: 'GET /api/admin/metrics (order-service)', served: 'admin', documented: 'admin, customer' }]);
  });

  it('the apps left out are not behind the gateway at all', () => {
    for (const app of Object.keys(NOT_BEHIND_THE_GATEWAY)) expect([app, Object.values(upstreamApps).includes(app)]).toEqual([app, false]);
  });

  it('the gateway routing used here follows nginx: exact, regex before prefix, longest prefix, upstreams by method (the check can fail)', () => {
    expect(routeThroughGateway('POST', '/api/imports')).toEqual({ app: 'import-worker' });
    expect(routeThroughGateway('GET', '/api/imports')).toEqual({ app: 'order-service' });
    expect(routeThroughGateway('GET', '/api/imports/abc')).toEqual({ app: 'order-service' });
    expect(routeThroughGateway('GET', '/api/imports/abc/errors')).toEqual({ app: 'import-worker' });
    expect(routeThroughGateway('POST', '/api/dead-letters/payment/replay')).toEqual({ app: 'payment-service' });
    expect(routeThroughGateway('GET', '/api/docs/')).toEqual({ web: true });
    expect(routeThroughGateway('GET', '/nowhere')).toMatchObject({ gateway: expect.any(String) });
    expect(documentedRoutes({ paths: { '/a/{s}/{id}': { get: { parameters: [{ in: 'path', name: 's', schema: { enum: ['x', 'y'] } }] } } } })).toEqual(['GET /a/x/{}', 'GET /a/y/{}']);
  });
});
