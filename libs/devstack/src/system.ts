import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import net from 'node:net';
import path from 'node:path';
import amqplib from 'amqplib';
import { listDatabases, urlEnvVar, withDatabaseName } from '@orderflow/migrate';
import { Client } from 'pg';
import { findNginx, NGINX_MISSING, startGatewayWithFiles, type GatewayLimits } from './gateway';
import { childStdio, pipeOutput, type ProcessOutput } from './output';
import { BASE_PORT, GATEWAY_PORT, PAYMENT_GATEWAY, PROCESSES, SERVICES, type ProcessSpec } from './services';

const root = path.resolve(__dirname, '../../..');

export interface SystemOptions {
  pgUrl?: string;
  /** The broker, as an administrator (checked reachable); the services' URL unless `amqpUrls` names theirs. */
  amqpUrl?: string;
  /** Each app's own broker URL (its own user: `npm start`); a bulk lane uses its app's. */
  amqpUrls?: Readonly<Record<string, string>>;
  jwtSecret?: string;
  gatewayPort?: number;
  /** Overrides of the gateway's per-client and upload limits (default GATEWAY_LIMITS, as deployed). */
  gatewayLimits?: Partial<GatewayLimits>;
  /** Ports of the processes: this, +1, +2… (default 8081…8090, the payment gateway simulator last; SYSTEM_PORTS of them). */
  basePort?: number;
  /** Database names are `<databasePrefix>_<service>` (default `orderflow`). */
  databasePrefix?: string;
  /** Prefix of every exchange and queue (isolates a test system on a shared broker). */
  topologyPrefix?: string;
  /** Extra environment for every service (e.g. RETRY_DELAYS_MS, LOG_LEVEL). */
  env?: Record<string, string>;
  /** Extra Node.js flags for every service (e.g. --cpu-prof for a benchmark). */
  nodeArgs?: string[];
  /** Where the services' output goes (`prefixed`: ours, each line behind the process's name). */
  stdio?: ProcessOutput;
  say?: (line: string) => void;
  /** Called when a process exits while the system is running. */
  onCrash?: (name: string, code: number | null, signal: NodeJS.Signals | null) => void;
}

export interface RunningSystem {
  gatewayUrl: string | null;
  /** The payment gateway simulator: its API (and admin switches, from this host) and its ledger's database. */
  paymentGateway: { url: string; databaseUrl: string };
  /** Every process by name (`order-service`, `order-service-bulk`, …, `import-worker`). */
  services: Array<{ app: string; url: string; pid: number | undefined }>;
  databases: Map<string, string>;
  /** SIGTERM to every process, waits for them (SIGKILL after the grace period). */
  stop(): Promise<void>;
  processes: Map<string, ChildProcess>;
  /** Signals one service (default SIGKILL, as a crash would) and waits until it is gone; returns how it exited. */
  kill(app: string, signal?: NodeJS.Signals): Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  /** Starts a killed service again with the same environment and waits until it is ready. */
  restart(app: string): Promise<void>;
  /** The broker connection names of this system's services contain this (to drop them in tests). */
  instanceTag: string;
}

async function waitForPort(port: number, timeoutMs: number, alive: () => boolean): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (!alive()) throw new Error(`process for port ${port} exited`);
    const open = await new Promise<boolean>((resolve) => {
      const s = net.connect(port, '127.0.0.1', () => {
        s.destroy();
        resolve(true);
      });
      s.on('error', () => resolve(false));
    });
    if (open) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`nothing listens on port ${port} after ${timeoutMs} ms`);
}

/**
 * Creates and migrates the databases with the migrate CLI in a child process: the wasm schema
 * engine is an ES module, and a child keeps its memory out of this long-lived process.
 */
function migrate(databases: Map<string, string>, say: (line: string) => void): Promise<void> {
  const env = { ...process.env };
  for (const [name, url] of databases) env[urlEnvVar(name)] = url;
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', path.join(root, 'libs/migrate/src/cli.ts'), 'deploy', ...databases.keys()], {
      cwd: root,
      env,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let errors = '';
    child.stdout.on('data', (chunk: Buffer) => chunk.toString().split('\n').filter(Boolean).forEach((l) => say(`database ${l}`)));
    child.stderr.on('data', (chunk: Buffer) => (errors += chunk.toString()));
    child.on('error', reject);
    child.on('exit', (code) => (code === 0 ? resolve() : reject(new Error(`migrations failed:\n${errors.trim()}`))));
  });
}

/**
 * Whether a process is up for whoever drives the system (tests, benchmarks, chaos): ready, and
 * beyond what `/ready` requires — its database — connected to the broker with every consumer
 * consuming. A process whose broker is away serves its API, but no saga would move.
 */
export async function isUp(url: string): Promise<boolean> {
  try {
    const res = await fetch(`${url}/ready`);
    return res.status === 200 && isConsuming(await res.json());
  } catch {
    return false;
  }
}

/** Whether `/ready` answers 200: all a process without a broker (the payment gateway simulator) says. */
async function answersReady(url: string): Promise<boolean> {
  try {
    return (await fetch(`${url}/ready`)).status === 200;
  } catch {
    return false;
  }
}

/** Whether `/ready`'s answer says: connected to the broker, every consumer consuming. */
export function isConsuming(ready: unknown): boolean {
  const { broker, consumers } = (ready ?? {}) as { broker?: { connected?: unknown }; consumers?: Record<string, { active?: unknown }> };
  return broker?.connected === true && Object.values(consumers ?? {}).every((c) => c.active === true);
}

/**
 * Brings the whole system up as `npm start` does: databases created and migrated, every
 * service started and ready, the Nginx gateway in front when Nginx is installed.
 */
export async function startSystem(o: SystemOptions = {}): Promise<RunningSystem> {
  const say = o.say ?? (() => undefined);
  const pgUrl = o.pgUrl ?? 'postgresql://postgres@127.0.0.1:5432/postgres';
  const amqpUrl = o.amqpUrl ?? 'amqp://guest:guest@127.0.0.1:5672';
  const basePort = o.basePort ?? BASE_PORT;
  const gatewayPort = o.gatewayPort ?? GATEWAY_PORT;
  const dbPrefix = o.databasePrefix ?? 'orderflow';

  try {
    await (await amqplib.connect(amqpUrl)).close();
  } catch (err) {
    throw new Error(`RabbitMQ is not reachable at ${amqpUrl} (${(err as Error).message}). Start it with: rabbitmq-server -detached`);
  }

  const databases = new Map<string, string>();
  for (const db of listDatabases(root).filter((d) => !d.name.endsWith('-test'))) {
    databases.set(db.name, withDatabaseName(pgUrl, `${dbPrefix}_${new URL(db.defaultUrl).pathname.slice(1).replace(/^orderflow_/, '')}`));
  }
  const pg = new Client({ connectionString: pgUrl });
  try {
    await pg.connect();
  } catch (err) {
    throw new Error(
      `PostgreSQL is not reachable at ${pgUrl} (${(err as Error).message}). Start it with: pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start`,
    );
  } finally {
    await pg.end().catch(() => undefined);
  }
  await migrate(databases, say);
  const processes = new Map<string, ChildProcess>();
  let stopping = false;
  const watch = (name: string, child: ChildProcess): void => {
    processes.set(name, child);
    child.on('exit', (code, signal) => {
      if (!stopping && !expectedExit.has(name) && processes.get(name) === child) o.onCrash?.(name, code, signal);
    });
  };

  const services: RunningSystem['services'] = [];
  const instanceTag = `${dbPrefix}-${process.pid}`;
  // Ports keep their offsets from the default base: 8081…8090 by default.
  const portOf = (port: number): number => basePort + port - BASE_PORT;
  // The payment gateway simulator first: the payment service calls it. Its database is its own
  // business (created by the simulator, not migrated here, not audited like a service's).
  const paymentGateway = {
    url: `http://127.0.0.1:${portOf(PAYMENT_GATEWAY.port)}`,
    databaseUrl: withDatabaseName(pgUrl, `${dbPrefix}_${PAYMENT_GATEWAY.database}`),
  };
  const simulator: ProcessSpec = { name: PAYMENT_GATEWAY.app, app: PAYMENT_GATEWAY.app, port: PAYMENT_GATEWAY.port, database: PAYMENT_GATEWAY.database };
  const databaseUrls = new Map([...databases, [PAYMENT_GATEWAY.database, paymentGateway.databaseUrl]]);
  const present = [simulator, ...PROCESSES].map((s) => ({ ...s, port: portOf(s.port) })).filter((s) => fs.existsSync(path.join(root, 'apps', s.app, 'src/main.ts')));
  // The order service's GET /api/admin/system asks each process (but the simulator) on its own port.
  const processUrls = present.filter((s) => s.app !== PAYMENT_GATEWAY.app).map((s) => `${s.name}=http://127.0.0.1:${s.port}`).join(',');
  const launch = (s: (typeof present)[number]): ChildProcess => {
    const child = spawn(process.execPath, [...(o.nodeArgs ?? []), '--enable-source-maps', '--import', 'tsx', path.join(root, 'apps', s.app, 'src/main.ts')], {
      cwd: root,
      env: {
        ...process.env,
        PORT: String(s.port),
        DATABASE_URL: databaseUrls.get(s.database),
        PAYMENT_GATEWAY_URL: paymentGateway.url,
        AMQP_URL: o.amqpUrls?.[s.app] ?? amqpUrl,
        JWT_SECRET: o.jwtSecret ?? process.env.JWT_SECRET ?? 'orderflow-dev-secret-change-me',
        TOPOLOGY_PREFIX: o.topologyPrefix ?? '',
        INSTANCE_ID: `${instanceTag}-${s.name}`,
        ...(s.app === 'order-service' ? { SYSTEM_PROCESS_URLS: processUrls } : {}),
        ...(s.lanes ? { LANES: s.lanes } : {}),
        ...(s.nodeOptions ? { NODE_OPTIONS: [process.env.NODE_OPTIONS, s.nodeOptions].filter(Boolean).join(' ') } : {}),
        ...o.env,
      },
      stdio: childStdio(o.stdio),
    });
    pipeOutput(child, s.name, o.stdio);
    if (s.nice && child.pid) {
      try {
        os.setPriority(child.pid, s.nice);
      } catch (err) {
        say(`could not lower the priority of ${s.name}: ${(err as Error).message}`);
      }
    }
    watch(s.name, child);
    return child;
  };
  const untilReady = async (s: (typeof present)[number]): Promise<void> => {
    const child = processes.get(s.name)!;
    const url = `http://127.0.0.1:${s.port}`;
    await waitForPort(s.port, 60_000, () => child.exitCode === null && child.signalCode === null);
    const deadline = Date.now() + 30_000;
    // The simulator has no broker: its /ready is all there is to wait for.
    const up = s.app === PAYMENT_GATEWAY.app ? answersReady : isUp;
    while (!(await up(url))) {
      if (Date.now() > deadline) throw new Error(`${s.app} is not ready (database, broker, consumers) after 30 s`);
      await new Promise((r) => setTimeout(r, 100));
    }
  };
  for (const s of present) {
    const child = launch(s);
    services.push({ app: s.name, url: `http://127.0.0.1:${s.port}`, pid: child.pid });
  }
  const expectedExit = new Set<string>();
  const kill = async (app: string, signal: NodeJS.Signals = 'SIGKILL'): Promise<{ code: number | null; signal: NodeJS.Signals | null }> => {
    const child = processes.get(app);
    if (!child || child.exitCode !== null || child.signalCode !== null) return { code: child?.exitCode ?? null, signal: child?.signalCode ?? null };
    expectedExit.add(app);
    return new Promise((resolve) => {
      child.once('exit', (code, sig) => resolve({ code, signal: sig }));
      child.kill(signal);
    });
  };
  const restart = async (app: string): Promise<void> => {
    const s = present.find((x) => x.name === app);
    if (!s) throw new Error(`no service ${app}`);
    expectedExit.delete(app);
    const child = launch(s);
    const entry = services.find((x) => x.app === app);
    if (entry) entry.pid = child.pid;
    await untilReady(s);
  };

  const stop = async (): Promise<void> => {
    stopping = true;
    await Promise.all(
      [...processes.values()].map(
        (c) =>
          new Promise<void>((resolve) => {
            if (c.exitCode !== null || c.signalCode !== null) return resolve();
            c.once('exit', () => resolve());
            c.kill('SIGTERM');
            setTimeout(() => c.kill('SIGKILL'), 25_000).unref();
          }),
      ),
    );
  };

  try {
    for (const s of present) await untilReady(s);

    let gatewayUrl: string | null = null;
    const nginx = findNginx();
    if (!nginx) say(NGINX_MISSING);
    else {
      const port = (app: string): string => {
        const spec = SERVICES.find((s) => s.app === app)!;
        return `127.0.0.1:${basePort + spec.port - BASE_PORT}`;
      };
      const gateway = await startGatewayWithFiles(nginx, say, {
        port: gatewayPort,
        upstreams: {
          ORDER_UPSTREAM: port('order-service'),
          INVENTORY_UPSTREAM: port('inventory-service'),
          PAYMENT_UPSTREAM: port('payment-service'),
          NOTIFICATION_UPSTREAM: port('notification-service'),
          IMPORT_UPSTREAM: port('import-worker'),
        },
        limits: o.gatewayLimits,
      });
      watch('gateway', gateway.process);
      await waitForPort(gatewayPort, 10_000, () => gateway.process.exitCode === null);
      gatewayUrl = `http://127.0.0.1:${gatewayPort}`;
    }
    return { gatewayUrl, paymentGateway, services, databases, stop, processes, kill, restart, instanceTag };
  } catch (err) {
    await stop();
    throw err;
  }
}
