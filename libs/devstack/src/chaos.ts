/**
 * The chaos run: a steady order load through the gateway while faults (chaos-faults.ts) hit the
 * system, then the wait for quiet and the audit, as figures for `npm run chaos` to judge.
 */
import http from 'node:http';
import { setTimeout as sleep } from 'node:timers/promises';
import amqplib from 'amqplib';
import { Client } from 'pg';
import { signToken } from '@orderflow/http';
import { audit, formatReport, type AuditReport } from './audit';
import { faultSchedule, injectFault, type Fault } from './chaos-faults';
import { GATEWAY_LIMITS_LIFTED } from './gateway';
import type { LocalCluster } from './cluster';
import { SAGA_QUEUES } from './cluster-chaos';
import { startSystem, type RunningSystem } from './system';

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
    // The load comes from one address standing for every buyer.
    gatewayLimits: GATEWAY_LIMITS_LIFTED,
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
  const faultTimes = faultSchedule(o.faults, started, o.seconds);
  const tokens = new Map<string, string>();
  const tokenOf = (c: string): string => tokens.get(c) ?? (tokens.set(c, signToken({ sub: c, role: 'customer' }, JWT_SECRET, '1h')), tokens.get(c)!);

  const injector = (async () => {
    for (const [i, fault] of o.faults.entries()) {
      const wait = faultTimes[i]! - Date.now();
      if (wait > 0) await sleep(wait);
      faultsDone.push(await injectFault(fault, { system: system!, topologyPrefix: o.topologyPrefix, cluster: o.cluster, say }));
      say(faultsDone.at(-1)!);
      lastFaultAt = Date.now();
    }
  })();

  const inflight = new Set<Promise<void>>();
  for (let n = 0; Date.now() < until; n++) {
    const due = started + (n * 1000) / o.rate;
    const wait = due - Date.now();
    if (wait > 0) await sleep(wait);
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
        await sleep(50 + (n % 400));
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
    await sleep(250);
  }
  const present = Number((await orderDb.query<{ n: string }>('SELECT count(*)::text AS n FROM orders WHERE id = ANY($1::uuid[])', [ids])).rows[0]!.n);
  await orderDb.end();
  agent.destroy();

  const unroutable = await sumMetric(system, UNROUTABLE_METRIC);
  say(`unroutable publishes: ${unroutable}`);
  const report = await audit({ databases: system.databases, paymentGatewayDatabase: system.paymentGateway.databaseUrl, amqpUrl: brokerUrl(), topologyPrefix: o.topologyPrefix, orderDeadlineS: 0, graceS: 0, outboxMaxAgeS: 0 });
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
    for (const q of SAGA_QUEUES) {
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
