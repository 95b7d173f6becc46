/**
 * The gateway: one template (nginx/templates/gateway.conf.template) for npm start, compose
 * and Kubernetes, and every public /api prefix of the contract (docs/contract.md) reaching the service that owns
 * it, through an upstream variable that both deployments set to a name that resolves.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { parse } from 'yaml';
import { GATEWAY_LIMITS } from '../../libs/devstack/src/gateway';
import { GATEWAY_TEMPLATE_COPY, GATEWAY_TEMPLATE_SOURCE } from '../tools/generate';
import {
  SERVICES,
  appDeployment,
  buildArg,
  compose,
  composeEnv,
  containerEnv,
  generated,
  named,
  ofKind,
  portNumber,
  readText,
  selects,
  type ComposeFile,
  type Container,
  type ServiceObject,
  type Workload,
} from './support';

/** docs/contract.md, "HTTP API": the public prefixes and the service answering each. */
const ROUTES: Record<string, string> = {
  '/api/orders': 'order-service',
  '/api/customers': 'order-service',
  '/api/admin': 'order-service',
  '/api/dev': 'order-service',
  '/api/inventory': 'inventory-service',
  '/api/payments': 'payment-service',
  '/api/notifications': 'notification-service',
  '/api/imports': 'import-worker',
};

const template = readFileSync(GATEWAY_TEMPLATE_SOURCE, 'utf8');

/**
 * prefix → the `${VARIABLE}` its upstream's server is, read from the template. An upstream
 * chosen by a map (`proxy_pass http://$name`) counts as the map's default.
 */
function routeVariables(conf: string): Record<string, string> {
  const upstreams = new Map([...conf.matchAll(/upstream\s+(\w+)\s*\{[^}]*?server\s+\$\{([A-Z_]+)\}/g)].map((m) => [m[1], m[2]]));
  const defaults = new Map([...conf.matchAll(/^map\s+\S+(?:\s+\S+)*?\s+\$(\w+)\s*\{[^}]*?^\s*default\s+(\w+);/gm)].map((m) => [m[1], m[2]]));
  const routes: Record<string, string> = {};
  for (const [, prefix, body] of conf.matchAll(/location\s+(\/api\/[\w-]+)\/?\s*\{((?:[^{}]|\{[^{}]*\})*)\}/g)) {
    const target = /proxy_pass\s+http:\/\/(\$?\w+)\s*;/.exec(body ?? '')?.[1];
    const upstream = target?.startsWith('$') ? defaults.get(target.slice(1)) : target;
    const variable = upstream ? upstreams.get(upstream) : undefined;
    if (prefix && variable) routes[prefix] = variable;
  }
  return routes;
}

/** The block depth (server = 1) of each add_header in an nginx config; quoted strings and comments skipped. */
function addHeaderDepths(conf: string): number[] {
  const depths: number[] = [];
  let depth = 0;
  for (const token of conf.matchAll(/#[^\n]*|'[^']*'|"[^"]*"|[{}]|\badd_header\b/g)) {
    if (token[0] === '{') depth++;
    else if (token[0] === '}') depth--;
    else if (token[0] === 'add_header') depths.push(depth);
  }
  return depths;
}

/** A stage of the Dockerfile, from its FROM line to the next. */
function stage(name: string): string {
  return readText('Dockerfile').split(/^(?=FROM )/m).find((s) => new RegExp(`^FROM \\S+ AS ${name}\\s*$`, 'm').test(s)) ?? '';
}

/** A tsconfig and every file its `extends` chain names, relative to the repository. */
function tsconfigChain(relative: string): string[] {
  const parent = (JSON.parse(readText(relative)) as { extends?: string }).extends;
  return parent === undefined ? [relative] : [relative, ...tsconfigChain(path.posix.join(path.posix.dirname(relative), parent))];
}

/** Whether a .dockerignore (its plain patterns; `**` any directories) keeps `file` out of the build context. */
function dockerIgnores(ignore: string, file: string): boolean {
  const patterns = ignore.split('\n').map((l) => l.trim()).filter((l) => l && !l.startsWith('#'));
  let ignored = false;
  for (const line of patterns) {
    const negated = line.startsWith('!');
    const glob = new RegExp(`^${(negated ? line.slice(1) : line).replace(/[.+^$()|[\]\\]/g, '\\$&').replace(/\*\*\//g, '\0').replace(/\*/g, '[^/]*').replace(/\0/g, '(.*/)?')}(/.*)?$`);
    if (glob.test(file)) ignored = !negated;
  }
  return ignored;
}

const gatewayPod = () => named<Workload>('Deployment', 'gateway').spec.template.spec;
const gatewayContainer = (): Container => gatewayPod().containers[0] as Container;

describe('gateway config: one source', () => {
  it('k8s/gateway/gateway.conf.template is a byte-identical copy of nginx/templates/ (run: npx tsx k8s/tools/generate.ts)', () => {
    expect(readFileSync(GATEWAY_TEMPLATE_COPY).equals(readFileSync(GATEWAY_TEMPLATE_SOURCE))).toBe(true);
  });

  it('Kubernetes mounts the ConfigMap generated from it where the nginx image renders templates', () => {
    const configMap = generated('ConfigMap', 'gateway-templates');
    expect(configMap.data?.['gateway.conf.template']).toBe(template);
    const volume = gatewayPod().volumes?.find((v) => v.configMap?.name === configMap.metadata.name);
    expect(gatewayContainer().volumeMounts?.find((m) => m.name === volume?.name)?.mountPath).toBe('/etc/nginx/templates');
  });

  it('compose mounts nginx/templates itself', () => {
    expect(compose().services.gateway?.volumes).toContain('./nginx/templates:/etc/nginx/templates:ro');
  });

  it('the variables the template uses are all set, in Kubernetes and in compose', () => {
    const used = [...new Set([...template.matchAll(/\$\{([A-Z_]+)\}/g)].map((m) => m[1] ?? ''))].sort();
    expect(used).toEqual(['GATEWAY_PORT', 'GATEWAY_WEB_ROOT', 'IMPORT_UPSTREAM', 'INVENTORY_UPSTREAM', 'NOTIFICATION_UPSTREAM', 'ORDER_UPSTREAM', 'PAYMENT_UPSTREAM', ...Object.keys(GATEWAY_LIMITS)].sort());
    const k8s = containerEnv(gatewayContainer());
    const local = composeEnv(compose().services.gateway ?? {});
    for (const name of used) {
      expect([name, k8s[name]]).toEqual([name, expect.any(String)]);
      expect([name, local[name]]).toEqual([name, expect.any(String)]);
    }
    // envsubst must not touch nginx's own $variables: only ours pass the filter.
    for (const env of [k8s, local]) {
      const filter = new RegExp(env.NGINX_ENVSUBST_FILTER ?? '(?!)');
      expect(used.every((v) => filter.test(v))).toBe(true);
      expect(['host', 'request_id', 'HOSTNAME', 'PATH'].some((v) => filter.test(v))).toBe(false);
    }
  });

  it('runs orderflow/gateway at the release, whose web root is where GATEWAY_WEB_ROOT points in Kubernetes and compose', () => {
    const gateway = stage('gateway');
    const webRoot = /^ENV GATEWAY_WEB_ROOT=(\S+)$/m.exec(gateway)?.[1];
    expect(webRoot).toMatch(/^\/\S+$/);
    // Built by the function npm start builds dist/web with, then copied where the variable points.
    expect(stage('web')).toMatch(/^RUN npx tsx libs\/devstack\/src\/web\.ts \/web$/m);
    expect(gateway).toMatch(new RegExp(`^COPY --from=web /web/ ${webRoot}/$`, 'm'));
    expect(gateway).toMatch(/^FROM nginxinc\/nginx-unprivileged:\S+ AS gateway$/m);
    expect(containerEnv(gatewayContainer()).GATEWAY_WEB_ROOT).toBe(webRoot);
    expect(composeEnv(compose().services.gateway ?? {}).GATEWAY_WEB_ROOT).toBe(webRoot);
    const release = (JSON.parse(readText('package.json')) as { version: string }).version;
    expect(gatewayContainer().image).toBe(`orderflow/gateway:${release}`);
    expect(compose().services.gateway?.image).toBe(`orderflow/gateway:${release}`);
    expect(compose().services.gateway?.build).toEqual({ context: '.', target: 'gateway' });
  });

  it("the image's web stage has what the console's build reads: the tsconfig files its tsconfigs extend, and no local build", () => {
    // Vite resolves each source file's tsconfig and fails on a missing `extends` target.
    const copied = [...stage('web').matchAll(/^COPY (?!--)(\S+) \S+$/gm)].map((m) => (m[1] as string).replace(/\/$/, ''));
    const inImage = (file: string) => copied.some((c) => file === c || file.startsWith(`${c}/`)) && !dockerIgnores(readText('.dockerignore'), file);
    const read = [...new Set(['apps/console/tsconfig.json', 'apps/console/tsconfig.node.json'].flatMap(tsconfigChain))];
    expect(read).toContain('tsconfig.base.json');
    expect(read.filter((f) => !inImage(f))).toEqual([]);
    // A local `vite build` (apps/console/dist) or dist/web must not reach the image.
    expect(['apps/console/dist/index.html', 'dist/web/console/index.html'].filter((f) => !dockerIgnores(readText('.dockerignore'), f))).toEqual([]);
    expect(dockerIgnores('apps/*/test\n**/x\n!k8s/tools', 'apps/a/test/b.ts') && dockerIgnores('**/x', 'a/b/x') && !dockerIgnores('x', 'a/x')).toBe(true); // the check can fail
  });

  it('Kubernetes and compose set the limits to the same defaults as npm start (GATEWAY_LIMITS)', () => {
    const pick = (env: Record<string, string>) => Object.fromEntries(Object.keys(GATEWAY_LIMITS).map((k) => [k, env[k]]));
    expect(pick(containerEnv(gatewayContainer()))).toEqual(GATEWAY_LIMITS);
    expect(pick(composeEnv(compose().services.gateway ?? {}))).toEqual(GATEWAY_LIMITS);
  });

  it('sets its headers at the server level only: a location with an add_header of its own would drop them', () => {
    const depths = addHeaderDepths(template);
    expect(depths.length).toBeGreaterThanOrEqual(5);
    expect(depths.filter((d) => d !== 1)).toEqual([]);
    expect(addHeaderDepths('server { location / { add_header X-A b; } }')).toEqual([2]); // the check can fail
  });

  it('listens where the Kubernetes Service and compose send traffic', () => {
    const container = gatewayContainer();
    const port = Number(containerEnv(container).GATEWAY_PORT);
    expect(container.ports?.map((p) => p.containerPort)).toEqual([port]);
    expect(portNumber(container.readinessProbe?.httpGet?.port, container)).toBe(port);
    expect(container.readinessProbe?.httpGet?.path).toBe('/health');
    expect(template).toMatch(/location = \/health/);
    const service = named<ServiceObject>('Service', 'gateway');
    expect(service.spec.ports.map((p) => portNumber(p.targetPort, container))).toEqual([port]);
    expect(compose().services.gateway?.ports).toContain(`127.0.0.1:8080:${composeEnv(compose().services.gateway ?? {}).GATEWAY_PORT}`);
  });

  it('HTTPS in compose (nginx/tls/compose.yml): the settings where the template includes them, the certificate where they read it, on the loopback interface', () => {
    expect(template).toMatch(/^\s*include tls\.d\/\*\.conf;$/m);
    const https = readText('nginx/tls/https.conf');
    const listen = /^listen (\d+) ssl;$/m.exec(https)?.[1];
    expect([...https.matchAll(/^ssl_certificate(?:_key)?\s+(\S+);$/gm)].map((m) => m[1])).toEqual(['tls/tls.crt', 'tls/tls.key']);
    const override = (parse(readText('nginx/tls/compose.yml')) as ComposeFile).services.gateway;
    // Relative paths in nginx's include and ssl_certificate are relative to nginx.conf's directory.
    expect(override?.volumes).toEqual(['./nginx/tls/https.conf:/etc/nginx/tls.d/https.conf:ro', './nginx/tls/certs:/etc/nginx/tls:ro']);
    expect(override?.ports).toEqual([`127.0.0.1:${listen}:${listen}`]);
  });

  it('compose publishes ports on the loopback interface only (the gateway, the RabbitMQ management UI)', () => {
    const published = Object.entries(compose().services).flatMap(([name, service]) => (service.ports ?? []).map((p) => `${name} ${p}`));
    expect(published.length).toBeGreaterThanOrEqual(2);
    expect(published.filter((p) => !/^\S+ 127\.0\.0\.1:\d+:\d+$/.test(p))).toEqual([]);
  });
});

describe.each(Object.entries(ROUTES))('%s', (prefix, owner) => {
  const variable = routeVariables(template)[prefix];
  const spec = SERVICES.find((s) => s.app === owner);

  it('is routed by the template to an upstream variable', () => {
    expect(variable).toMatch(/^[A-Z]+_UPSTREAM$/);
    expect(spec).toBeDefined();
  });

  it(`Kubernetes: the variable names a Service (cluster DNS) selecting ${owner} pods, on its port`, () => {
    const [host, port] = (containerEnv(gatewayContainer())[variable ?? ''] ?? '').split(':');
    const service = ofKind<ServiceObject>('Service').find((s) => s.metadata.name === host);
    expect(service).toBeDefined();
    const { deployment, container } = appDeployment(owner);
    expect(selects(service?.spec.selector ?? {}, deployment.spec.template.metadata.labels)).toBe(true);
    const servicePort = service?.spec.ports.find((p) => p.port === Number(port));
    expect(portNumber(servicePort?.targetPort, container)).toBe(spec?.port);
  });

  it(`compose: the variable names the ${owner} service, on the port it listens on`, () => {
    const [host, port] = (composeEnv(compose().services.gateway ?? {})[variable ?? ''] ?? '').split(':');
    const service = compose().services[host ?? ''];
    expect(service).toBeDefined();
    expect(buildArg(service ?? {}, 'APP')).toBe(owner);
    expect(composeEnv(service ?? {}).PORT).toBe(port);
    expect(Object.keys(compose().services.gateway?.depends_on ?? {})).toContain(host);
  });
});
