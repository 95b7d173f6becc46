import { execFile } from 'node:child_process';
import http from 'node:http';
import { promisify } from 'node:util';
import amqplib from 'amqplib';
import { Client } from 'pg';
import { signToken } from '@orderflow/http';
import { audit, formatReport, type AuditReport } from './audit';
import type { LocalCluster } from './cluster';
import { injectBrokerNodeFault, isBrokerNodeFault, type BrokerNodeFault } from './cluster-chaos';
import { startSystem, type RunningSystem } from './system';

const run = promisify(execFile);

export type Fault =
  | { kind: 'kill'; app: string }
  /** A graceful stop (SIGTERM, as on a rolling deploy) and a restart. */
  | { kind: 'stop'; app: string }
  | { kind: 'drop-broker-connections' }
  | { kind: 'restart-broker' }
  | { kind: 'restart-database' }
  /** PostgreSQL stopped for this long, then started: consumers must pause, not retry or park. */
  | { kind: 'database-outage'; seconds: number }
  /**
   * An operator deletes the bindings that route order.created and puts them back `seconds`
   * later: the events published meanwhile are unroutable and must not be lost.
   */
  | { kind: 'unbind'; seconds: number }
  /** Needs `cluster`: a broker node killed, stopped or wiped (see cluster-chaos.ts). */
  | BrokerNodeFault;

export interface ChaosOptions {
  seconds: number;
  /** Orders per second offered to the gateway. */
  rate: number;
  /** Faults spread evenly over the load period, in this order (a lasting one's time is left to it). */
  faults: Fault[];
  gatewayPort: number;
  basePort: number;
  databasePrefix: string;
  topologyPrefix: string;
  /** How long to wait for quiet after the load (every accepted order terminal, nothing in flight). */
  quietTimeoutS?: number;
  say?: (line: string) => void;
  stdio?: 'inherit' | 'ignore';
  /** Run against this local cluster (the services get every node in AMQP_URLS) instead of the machine's broker. */
  cluster?: LocalCluster;
}

export interface ChaosResult {
  accepted: number;
  refused: number;
  terminal: number;
  lost: number;
  doubleCharged: number;
  oversold: number;
  deadLettered: number;
  /** Publishes the broker returned as unroutable (held in an outbox and sent later), over all processes. */
  unroutable: number;
  /** Seconds from the last fault until every accepted order was terminal (null: never). */
  recoverySeconds: number | null;
  faults: string[];
  report: AuditReport;
  system: RunningSystem;
}

const JWT_SECRET = 'orderflow-dev-secret-change-me';
const CARDS = ['pm_card_ok', 'pm_card_ok', 'pm_card_ok', 'pm_card_ok', 'pm_card_ok', 'pm_card_ok', 'pm_card_declined', 'pm_card_flaky', 'pm_visa_4242', 'pm_mc_5555'];

/** Drops this system's broker connections (not other systems'), as a network fault would. */
async function dropConnections(tag: string): Promise<number> {
  const { stdout } = await run('rabbitmqctl', ['-q', 'list_connections', 'pid', 'client_properties', '--no-table-headers']);
  const pids = stdout.split('\n').filter((l) => l.includes(tag)).map((l) => l.split('\t')[0]!);
  for (const pid of pids) await run('rabbitmqctl', ['-q', 'close_connection', pid, 'chaos: connection dropped']);
  return pids.length;
}

async function restartBroker(): Promise<void> {
  await run('rabbitmqctl', ['-q', 'stop_app']);
  await run('rabbitmqctl', ['-q', 'start_app']);
  await run('rabbitmqctl', ['-q', 'await_startup', '--timeout', '60']);
}

async function pgCluster(action: 'restart' | 'stop' | 'start'): Promise<void> {
  const { stdout } = await run('sh', ['-c', 'ls /etc/postgresql | head -n1']);
  await run('pg_ctlcluster', ['--skip-systemctl-redirect', stdout.trim(), 'main', action]);
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/**
 * Removes every binding of order.created (inventory's saga queue and notification's) for
 * `seconds`, then restores them. With no queue bound the broker returns the event to its
 * publisher, which must keep it. (A binding deleted while another still routes the event is
 * invisible to a publisher: RabbitMQ has no per-binding mandatory; the order deadline cancels
 * such an order, with its compensations.)
 */
async function unbindFor(prefix: string, seconds: number): Promise<void> {
  const conn = await amqplib.connect(process.env.AMQP_URL ?? 'amqp://guest:guest@127.0.0.1:5672');
  try {
    const ch = await conn.createChannel();
    const bindings = ['inventory.saga', 'notification.events'].map((q) => [`${prefix}${q}`, `${prefix}order.events`, 'order.created'] as const);
    for (const b of bindings) await ch.unbindQueue(...b);
    await sleep(seconds * 1000);
    for (const b of bindings) await ch.bindQueue(...b);
  } finally {
    await conn.close();
  }
}

/**
 * A steady order load through the gateway while faults hit the system; then it waits for
 * quiet and audits. Crashed services are restarted (as an orchestrator would).
 */
export async function runChaos(o: ChaosOptions): Promise<ChaosResult> {
  const say = o.say ?? (() => undefined);
  /** Where checks and the audit look: a node of the cluster that runs, or the machine's broker. */
  const brokerUrl = (): string => o.cluster?.runningNodes()[0]?.url ?? process.env.AMQP_URL ?? 'amqp://guest:guest@127.0.0.1:5672';
  let system: RunningSystem | undefined;
  const unexpected: string[] = [];
  system = await startSystem({
    gatewayPort: o.gatewayPort,
    basePort: o.basePort,
    databasePrefix: o.databasePrefix,
    topologyPrefix: o.topologyPrefix,
    env: { RETRY_DELAYS_MS: '200,1000,3000,6000', ORDER_DEADLINE_S: '30', SWEEP_INTERVAL_S: '2', LOG_LEVEL: 'error', PAYMENT_SUCCESS_RATE: '0.8', SHUTDOWN_TIMEOUT_S: '10', ...(o.cluster ? { AMQP_URLS: o.cluster.urls.join(',') } : {}) },
    ...(o.cluster ? { amqpUrl: o.cluster.urls[0] } : {}),
    stdio: o.stdio ?? 'ignore',
    onCrash: (name, code, signal) => {
      unexpected.push(`${name} exited (${signal ?? code})`);
      say(`${name} exited unexpectedly (${signal ?? code}); restarting it`);
      void system?.restart(name).catch((err: Error) => say(`restart of ${name} failed: ${err.message}`));
    },
  });
  if (!system.gatewayUrl) throw new Error('the chaos run drives the gateway: install nginx');
  const gateway = new URL(system.gatewayUrl);
  const agent = new http.Agent({ keepAlive: true, maxSockets: 32 });
  const call = (method: string, path: string, token: string, body?: unknown): Promise<{ status: number; body: string }> =>
    new Promise((resolve) => {
      const data = body === undefined ? undefined : Buffer.from(JSON.stringify(body));
      const req = http.request(
        { host: gateway.hostname, port: gateway.port, path, method, agent, timeout: 10_000, headers: { authorization: `Bearer ${token}`, ...(data ? { 'content-type': 'application/json', 'content-length': data.length } : {}) } },
        (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (c: Buffer) => chunks.push(c));
          res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString() }));
        },
      );
      req.on('error', () => resolve({ status: 0, body: '' }));
      req.on('timeout', () => req.destroy());
      req.end(data);
    });
  const admin = signToken({ sub: 'chaos-admin', role: 'admin' }, JWT_SECRET, '1h');
  const products = ['CHAOS-1', 'CHAOS-2', 'CHAOS-3', 'CHAOS-4'];
  for (const p of products) await call('PUT', `/api/inventory/${p}`, admin, { name: p, price: 3, available: Math.max(20, Math.round((o.rate * o.seconds) / 6)) });

  const accepted: Array<{ id: string; customer: string }> = [];
  let refused = 0;
  const faultsDone: string[] = [];
  let lastFaultAt = Date.now();
  const started = Date.now();
  const until = started + o.seconds * 1000;
  // Faults spread evenly over the load, each after the time the ones before it last (an
  // outage of 60 s), so the load goes on through all of them.
  const lasting = (f: Fault): number => ('seconds' in f ? f.seconds * 1000 : 0);
  const gap = Math.max(0, o.seconds * 1000 - o.faults.reduce((sum, f) => sum + lasting(f), 0)) / (o.faults.length + 1);
  const faultTimes = o.faults.map((_, i) => started + (i + 1) * gap + o.faults.slice(0, i).reduce((sum, f) => sum + lasting(f), 0));
  const tokens = new Map<string, string>();
  const tokenOf = (c: string): string => tokens.get(c) ?? (tokens.set(c, signToken({ sub: c, role: 'customer' }, JWT_SECRET, '1h')), tokens.get(c)!);

  const injector = (async () => {
    for (const [i, fault] of o.faults.entries()) {
      const wait = faultTimes[i]! - Date.now();
      if (wait > 0) await new Promise((r) => setTimeout(r, wait));
      const t = Date.now();
      switch (fault.kind) {
        case 'kill':
          await system!.kill(fault.app, 'SIGKILL');
          say(`kill -9 ${fault.app}`);
          await new Promise((r) => setTimeout(r, 1000));
          await system!.restart(fault.app);
          faultsDone.push(`kill -9 ${fault.app} (back in ${((Date.now() - t) / 1000).toFixed(1)} s)`);
          break;
        case 'stop': {
          const exit = await system!.kill(fault.app, 'SIGTERM');
          await system!.restart(fault.app);
          faultsDone.push(`SIGTERM ${fault.app} (exit ${exit.code ?? exit.signal} after ${((Date.now() - t) / 1000).toFixed(1)} s, back)`);
          break;
        }
        case 'drop-broker-connections':
          faultsDone.push(`dropped ${await dropConnections(system!.instanceTag)} broker connections`);
          break;
        case 'restart-broker':
          await restartBroker();
          faultsDone.push(`restarted RabbitMQ (${((Date.now() - t) / 1000).toFixed(1)} s)`);
          break;
        case 'restart-database':
          await pgCluster('restart');
          faultsDone.push(`restarted PostgreSQL (${((Date.now() - t) / 1000).toFixed(1)} s)`);
          break;
        case 'database-outage':
          await pgCluster('stop');
          say(`PostgreSQL stopped for ${fault.seconds} s`);
          await sleep(fault.seconds * 1000);
          await pgCluster('start');
          faultsDone.push(`PostgreSQL down for ${((Date.now() - t) / 1000).toFixed(1)} s`);
          break;
        case 'unbind':
          say(`order.created bindings deleted for ${fault.seconds} s`);
          await unbindFor(o.topologyPrefix, fault.seconds);
          faultsDone.push(`order.created unroutable for ${((Date.now() - t) / 1000).toFixed(1)} s`);
          break;
        default:
          if (!isBrokerNodeFault(fault) || !o.cluster) throw new Error(`fault ${fault.kind} needs a cluster`);
          faultsDone.push(await injectBrokerNodeFault(o.cluster, fault, o.topologyPrefix));
          break;
      }
      say(faultsDone.at(-1)!);
      lastFaultAt = Date.now();
    }
  })();

  const inflight = new Set<Promise<void>>();
  for (let n = 0; Date.now() < until; n++) {
    const due = started + (n * 1000) / o.rate;
    const wait = due - Date.now();
    if (wait > 0) await new Promise((r) => setTimeout(r, wait));
    const customer = `chaos-${n % 50}`;
    const p = (async () => {
      const res = await call('POST', '/api/orders', tokenOf(customer), {
        customerId: customer,
        items: [{ productId: products[n % products.length]!, quantity: 1 + (n % 3), unitPrice: 3 }],
        paymentMethod: CARDS[n % CARDS.length]!,
      });
      if (res.status !== 202) {
        refused++;
        return;
      }
      const id = (JSON.parse(res.body) as { orderId: string }).orderId;
      accepted.push({ id, customer });
      // Some customers change their mind: a cancel that races the saga.
      if (n % 17 === 0) {
        await new Promise((r) => setTimeout(r, 50 + (n % 400)));
        await call('POST', `/api/orders/${id}/cancel`, tokenOf(customer));
      }
    })().finally(() => inflight.delete(p));
    inflight.add(p);
  }
  await Promise.all(inflight);
  await injector;
  say(`load done: ${accepted.length} accepted, ${refused} refused; waiting for quiet…`);

  // Quiet: every accepted order terminal, no outbox row waiting.
  const orderDb = new Client({ connectionString: system.databases.get('order') });
  await orderDb.connect();
  const ids = accepted.map((a) => a.id);
  const pending = async (): Promise<number> =>
    Number((await orderDb.query<{ n: string }>(`SELECT count(*)::text AS n FROM orders WHERE id = ANY($1::uuid[]) AND status IN ('CONFIRMED','REJECTED','CANCELLED')`, [ids])).rows[0]!.n);
  const unsent = async (): Promise<number> => {
    let total = 0;
    for (const url of system!.databases.values()) {
      const c = new Client({ connectionString: url });
      await c.connect();
      total += Number((await c.query<{ n: string }>('SELECT count(*)::text AS n FROM outbox_events')).rows[0]!.n);
      await c.end();
    }
    return total;
  };
  const quietUntil = Date.now() + (o.quietTimeoutS ?? 90) * 1000;
  let recoverySeconds: number | null = null;
  let terminal = 0;
  for (;;) {
    terminal = await pending();
    if (terminal === ids.length && recoverySeconds === null) recoverySeconds = (Date.now() - lastFaultAt) / 1000;
    if (terminal === ids.length && (await unsent()) === 0 && (await queuesEmpty(o.topologyPrefix, brokerUrl()))) break;
    if (Date.now() > quietUntil) break;
    await new Promise((r) => setTimeout(r, 250));
  }
  const present = Number((await orderDb.query<{ n: string }>('SELECT count(*)::text AS n FROM orders WHERE id = ANY($1::uuid[])', [ids])).rows[0]!.n);
  await orderDb.end();
  agent.destroy();

  const unroutable = await sumMetric(system, UNROUTABLE_METRIC);
  say(`unroutable publishes: ${unroutable}`);
  const report = await audit({ databases: system.databases, amqpUrl: brokerUrl(), topologyPrefix: o.topologyPrefix, orderDeadlineS: 0, graceS: 0, outboxMaxAgeS: 0 });
  say(formatReport(report));
  if (unexpected.length > 0) say(`unexpected exits: ${unexpected.join(', ')}`);
  return {
    accepted: ids.length,
    refused,
    terminal,
    lost: ids.length - present + (ids.length - terminal),
    doubleCharged: report.figures.doubleCharged,
    oversold: report.figures.oversold,
    deadLettered: report.figures.deadLettered,
    unroutable,
    recoverySeconds,
    faults: faultsDone,
    report,
    system,
  };
}

const UNROUTABLE_METRIC = 'messaging_unroutable_total';

/** Sums a counter over every process's /metrics (a process that cannot answer counts 0). */
async function sumMetric(system: RunningSystem, name: string): Promise<number> {
  let total = 0;
  for (const s of system.services) {
    const text = await new Promise<string>((resolve) => {
      http
        .get(`${s.url}/metrics`, (res) => {
          let body = '';
          res.setEncoding('utf8');
          res.on('data', (c: string) => (body += c));
          res.on('end', () => resolve(body));
        })
        .on('error', () => resolve(''));
    });
    for (const line of text.split('\n')) {
      if (line.startsWith(`${name}{`) || line.startsWith(`${name} `)) total += Number(line.slice(line.lastIndexOf(' ') + 1)) || 0;
    }
  }
  return total;
}

async function queuesEmpty(prefix: string, url: string): Promise<boolean> {
  const conn = await amqplib.connect(url);
  try {
    for (const q of ['order.saga', 'inventory.saga', 'payment.saga', 'notification.events']) {
      const ch = await conn.createChannel();
      ch.on('error', () => undefined);
      try {
        const { messageCount } = await ch.checkQueue(`${prefix}${q}`);
        if (messageCount > 0) return false;
        await ch.close();
      } catch {
        // queue not declared by this system
      }
    }
    return true;
  } finally {
    await conn.close();
  }
}
