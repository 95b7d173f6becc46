import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { ensureWeb, WEB_ROOT } from './web';

export const GATEWAY_TEMPLATE = path.resolve(__dirname, '../../../nginx/templates/gateway.conf.template');
/** The HTTPS settings the template includes from tls.d/ when present (nginx/tls/https.conf). */
export const GATEWAY_TLS_SETTINGS = path.resolve(__dirname, '../../../nginx/tls/https.conf');

/**
 * The gateway's limits and the proxy it trusts to name the client, as the template's variables
 * (nginx/templates/gateway.conf.template says what each means), with the values compose and
 * Kubernetes set too.
 */
export const GATEWAY_LIMITS = {
  GATEWAY_RATE_LIMIT: '50r/s',
  GATEWAY_RATE_BURST: '100',
  GATEWAY_ORDER_RATE_LIMIT: '10r/s',
  GATEWAY_ORDER_RATE_BURST: '20',
  GATEWAY_IMPORT_RATE_LIMIT: '6r/m',
  GATEWAY_IMPORT_RATE_BURST: '3',
  GATEWAY_CONNECTION_LIMIT: '50',
  GATEWAY_IMPORT_CONCURRENCY: '4',
  GATEWAY_IMPORT_MAX_BODY: '1g',
  GATEWAY_TRUSTED_PROXY: 'unix:',
} as const;
export type GatewayLimits = Record<keyof typeof GATEWAY_LIMITS, string>;

/**
 * Limits no single client driving the whole system reaches: a load generator or an end-to-end
 * suite is one address standing for many buyers. Rates and connections only: the upload size
 * cap and the trusted proxy stay.
 */
export const GATEWAY_LIMITS_LIFTED: Partial<GatewayLimits> = {
  GATEWAY_RATE_LIMIT: '100000r/s',
  GATEWAY_RATE_BURST: '100000',
  GATEWAY_ORDER_RATE_LIMIT: '100000r/s',
  GATEWAY_ORDER_RATE_BURST: '100000',
  GATEWAY_IMPORT_RATE_LIMIT: '100000r/s',
  GATEWAY_IMPORT_RATE_BURST: '100000',
  GATEWAY_CONNECTION_LIMIT: '65535',
  GATEWAY_IMPORT_CONCURRENCY: '1024',
};

/** Fills `${NAME}` like the nginx image's envsubst does: only the names given, nothing else. */
export function renderTemplate(template: string, vars: Record<string, string>): string {
  return template.replace(/\$\{([A-Z_][A-Z0-9_]*)\}/g, (whole, name: string) => vars[name] ?? whole);
}

export function findNginx(): string | null {
  for (const candidate of [process.env.NGINX_BIN, '/usr/sbin/nginx', '/usr/local/sbin/nginx', '/usr/bin/nginx']) {
    if (candidate && fs.existsSync(candidate)) return candidate;
  }
  const which = spawnSync('sh', ['-c', 'command -v nginx'], { encoding: 'utf8' });
  return which.status === 0 ? which.stdout.trim() : null;
}

export const NGINX_MISSING =
  'Nginx is not installed, so there is no gateway on the gateway port (the services still answer on their own ports).\n' +
  '  Install it from Debian\'s package:  sudo apt-get update && sudo apt-get install -y nginx\n' +
  '  then run npm start again.';

export interface GatewayOptions {
  port: number;
  upstreams: { ORDER_UPSTREAM: string; INVENTORY_UPSTREAM: string; PAYMENT_UPSTREAM: string; NOTIFICATION_UPSTREAM: string; IMPORT_UPSTREAM: string };
  /** Overrides of GATEWAY_LIMITS. */
  limits?: Partial<GatewayLimits>;
  /** HTTPS on `port` as well, with this certificate and key (PEM files), set up as nginx/tls/https.conf. */
  tls?: { port: number; certFile: string; keyFile: string };
  /** The files the gateway serves itself (GATEWAY_WEB_ROOT; web.ts builds them). Default dist/web. */
  webRoot?: string;
}

/**
 * Every variable of the template, as startGateway fills it in. It listens on the loopback address
 * only: npm start's order service hands out admin tokens (DEV_TOKENS) to whoever reaches it. The
 * images listen on every address (GATEWAY_PORT is a port number there).
 */
export function gatewayVariables(options: Pick<GatewayOptions, 'port' | 'upstreams' | 'limits' | 'webRoot'>): Record<string, string> {
  return { GATEWAY_PORT: `127.0.0.1:${options.port}`, GATEWAY_WEB_ROOT: options.webRoot ?? WEB_ROOT, ...options.upstreams, ...GATEWAY_LIMITS, ...options.limits };
}

/**
 * HTTPS as an image deployment turns it on (nginx/tls/https.conf in tls.d/, certificate and key
 * in tls/, both next to nginx.conf), listening on the given loopback port instead of the containers' 8443.
 */
function enableTls(dir: string, tls: NonNullable<GatewayOptions['tls']>): void {
  const settings = fs.readFileSync(GATEWAY_TLS_SETTINGS, 'utf8');
  const listen = /^listen 8443 ssl;$/m;
  if (!listen.test(settings)) throw new Error(`${GATEWAY_TLS_SETTINGS}: no "listen 8443 ssl;" line to point at port ${tls.port}`);
  fs.mkdirSync(path.join(dir, 'tls'));
  fs.mkdirSync(path.join(dir, 'tls.d'));
  fs.copyFileSync(tls.certFile, path.join(dir, 'tls', 'tls.crt'));
  fs.copyFileSync(tls.keyFile, path.join(dir, 'tls', 'tls.key'));
  fs.writeFileSync(path.join(dir, 'tls.d', 'https.conf'), settings.replace(listen, `listen 127.0.0.1:${tls.port} ssl;`));
}

/**
 * Runs Debian's nginx in the foreground with the project's gateway config, in a private
 * prefix directory (pid, temp files), so it needs no system configuration and no root paths.
 */
export function startGateway(nginx: string, options: GatewayOptions): { process: ChildProcess; dir: string } {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'orderflow-gateway-'));
  const gateway = renderTemplate(fs.readFileSync(GATEWAY_TEMPLATE, 'utf8'), gatewayVariables(options));
  if (options.tls) enableTls(dir, options.tls);
  fs.writeFileSync(path.join(dir, 'gateway.conf'), gateway);
  fs.writeFileSync(
    path.join(dir, 'nginx.conf'),
    [
      'worker_processes 1;',
      'error_log stderr warn;',
      `pid ${dir}/nginx.pid;`,
      'events { worker_connections 4096; }',
      'http {',
      '  access_log off;',
      `  client_body_temp_path ${dir}/client_body;`,
      `  proxy_temp_path ${dir}/proxy;`,
      `  fastcgi_temp_path ${dir}/fastcgi;`,
      `  uwsgi_temp_path ${dir}/uwsgi;`,
      `  scgi_temp_path ${dir}/scgi;`,
      `  include ${dir}/gateway.conf;`,
      '}',
      '',
    ].join('\n'),
  );
  const child = spawn(nginx, ['-p', dir, '-c', path.join(dir, 'nginx.conf'), '-e', 'stderr', '-g', 'daemon off;'], {
    stdio: ['ignore', 'inherit', 'inherit'],
  });
  return { process: child, dir };
}

/**
 * `startGateway` once the gateway's own files are in place: web.ts builds them (default dist/web)
 * when missing or stale. A failed build leaves only those pages answering 404, not the API.
 */
export async function startGatewayWithFiles(nginx: string, say: (line: string) => void, options: GatewayOptions): Promise<ReturnType<typeof startGateway>> {
  const webRoot = options.webRoot ?? WEB_ROOT;
  await ensureWeb(webRoot, say).catch((err: Error) => say(`the gateway's files are not built (${err.message}): /api/docs/ and /console/ answer 404`));
  return startGateway(nginx, { ...options, webRoot });
}
