import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

export const GATEWAY_TEMPLATE = path.resolve(__dirname, '../../../nginx/templates/gateway.conf.template');

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
}

/**
 * Runs Debian's nginx in the foreground with the project's gateway config, in a private
 * prefix directory (pid, temp files), so it needs no system configuration and no root paths.
 */
export function startGateway(nginx: string, options: GatewayOptions): { process: ChildProcess; dir: string } {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'orderflow-gateway-'));
  const gateway = renderTemplate(fs.readFileSync(GATEWAY_TEMPLATE, 'utf8'), { GATEWAY_PORT: String(options.port), ...options.upstreams });
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
