/**
 * `npm run bench:saga` — orders through the gateway for a fixed time, end to end.
 *
 *   npm run bench:saga -- --rate 300 --seconds 20      paced (open loop) at 300 orders/s
 *   npm run bench:saga -- --rate max --concurrency 128 as fast as the system takes them
 *   --warmup 5   seconds of the same load first, then drained (default 5; 0 = none)
 *   --hops       also time each hop (costs the load generator and the broker a copy of every event)
 *   --trace      queue depths and outbox backlogs every 2 s
 *
 * Starts the whole system as `npm start` does (own databases and topology prefix), places
 * orders with pm_card_ok on a product with ample stock, and times POST → terminal status by
 * listening to the order service's outcome events (published in the commit that makes the
 * order terminal). Prints orders/s completed, p50/p95/p99 latency, the machine's CPU and CPU
 * per process (PostgreSQL split per database). The load comes from one address, so the gateway's
 * per-client rate and connection limits are lifted for the run (GATEWAY_LIMITS_LIFTED).
 */
import http from 'node:http';
import os from 'node:os';
import { parseArgs } from 'node:util';
import amqplib from 'amqplib';
import { bearer, deleteByPrefix, dropDatabasesByPrefix, freePorts, uniqueName } from '@orderflow/testkit';
import { startSystem, SYSTEM_PORTS } from '../src';
import { GATEWAY_LIMITS_LIFTED } from '../src/gateway';
import { cpuMeter, machineTicks, percentile, postgresByDatabase, systemGroups, total } from './proc';

const { values } = parseArgs({
  options: {
    rate: { type: 'string', default: '300' },
    seconds: { type: 'string', default: '20' },
    /** Seconds of the same load before measuring: JIT, pools and caches warm, then drained. */
    warmup: { type: 'string', default: '5' },
    concurrency: { type: 'string', default: '128' },
    /** The consumers' PREFETCH; without it, the services' own default. */
    prefetch: { type: 'string' },
    'log-level': { type: 'string', default: 'warn' },
    /** Print queue depths and outbox backlogs every 2 s: where the time goes. */
    trace: { type: 'boolean', default: false },
    /** Time each hop too (the load generator then consumes every saga event: costs CPU). */
    hops: { type: 'boolean', default: false },
    /** Extra service environment, e.g. --env CONSUMER_CONCURRENCY=1 (repeatable). */
    env: { type: 'string', multiple: true, default: [] },
  },
});

/** Queue depths (ready/unacked) of the system's queues and unsent outbox rows per service. */
async function trace(prefix: string, databases: Map<string, string>): Promise<void> {
  const { Client } = await import('pg');
  const conn = await amqplib.connect(process.env.AMQP_URL ?? 'amqp://guest:guest@127.0.0.1:5672');
  const ch = await conn.createChannel();
  const names = ['inventory.saga', 'payment.saga', 'order.saga', 'notification.events'];
  const depths = await Promise.all(names.map(async (n) => `${n} ${(await ch.checkQueue(`${prefix}${n}`)).messageCount}`));
  await conn.close();
  const queues = depths.join('  ');
  const outbox: string[] = [];
  for (const [name, url] of databases) {
    const c = new Client({ connectionString: url });
    await c.connect();
    const { rows } = await c.query<{ n: string }>('SELECT count(*)::text AS n FROM outbox_events');
    await c.end();
    if (rows[0]?.n !== '0') outbox.push(`${name} ${rows[0]?.n}`);
  }
  process.stdout.write(`  [trace] queues ready: ${queues} | unsent outbox: ${outbox.join(', ') || 'none'}\n`);
}

async function main(): Promise<void> {
  const seconds = Number(values.seconds);
  const paced = values.rate !== 'max';
  const rate = paced ? Number(values.rate) : Infinity;
  const dbPrefix = uniqueName('bench');
  const prefix = `${dbPrefix}.`;
  const [gatewayPort, basePort] = await freePorts(1 + SYSTEM_PORTS);
  process.stdout.write('starting the system…\n');
  const system = await startSystem({
    gatewayPort,
    gatewayLimits: GATEWAY_LIMITS_LIFTED,
    basePort,
    databasePrefix: dbPrefix,
    topologyPrefix: prefix,
    env: { LOG_LEVEL: values['log-level']!, ...(values.prefetch ? { PREFETCH: values.prefetch } : {}), PAYMENT_SUCCESS_RATE: '1', ...Object.fromEntries((values.env ?? []).map((kv) => kv.split('=', 2) as [string, string])) },
    nodeArgs: process.env.BENCH_CPU_PROF ? ['--cpu-prof', `--cpu-prof-dir=${process.env.BENCH_CPU_PROF}`] : [],
    stdio: 'inherit',
  });
  if (!system.gatewayUrl) throw new Error('the benchmark drives the gateway: install nginx');
  process.stdout.write('gateway: per-client rate and connection limits lifted for the benchmark (one address stands for every buyer)\n');
  const gateway = new URL(system.gatewayUrl);
  const agent = new http.Agent({ keepAlive: true, maxSockets: Number(values.concurrency) });
  const admin = bearer('bench-admin', 'admin');

  function post(path: string, body: unknown, auth: string, method = 'POST'): Promise<{ status: number; body: string }> {
    const data = Buffer.from(JSON.stringify(body));
    return new Promise((resolve, reject) => {
      const req = http.request(
        { host: gateway.hostname, port: gateway.port, path, method, agent, headers: { 'content-type': 'application/json', 'content-length': data.length, authorization: auth } },
        (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (c: Buffer) => chunks.push(c));
          res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString() }));
        },
      );
      req.on('error', reject);
      req.end(data);
    });
  }

  const productId = 'BENCH-1';
  await post(`/api/inventory/${productId}`, { name: 'Bench item', price: 5, available: 100_000_000 }, admin, 'PUT');

  // Outcome events tell when each order became terminal.
  const sentAt = new Map<string, number>();
  const terminalAt = new Map<string, { at: number; outcome: string }>();
  const conn = await amqplib.connect(process.env.AMQP_URL ?? 'amqp://guest:guest@127.0.0.1:5672');
  const ch = await conn.createChannel();
  const { queue } = await ch.assertQueue('', { exclusive: true });
  for (const key of ['order.confirmed', 'order.rejected', 'order.cancelled']) await ch.bindQueue(queue, `${prefix}order.events`, key);
  // Every saga event's creation time, per order: how long each hop takes (relay + broker + queue + handler).
  const hops = new Map<string, Record<string, number>>();
  const { queue: all } = await ch.assertQueue('', { exclusive: true });
  if (values.hops) for (const ex of ['order.events', 'inventory.events', 'payment.events']) await ch.bindQueue(all, `${prefix}${ex}`, '#');
  await ch.consume(
    all,
    (m) => {
      if (!m) return;
      const e = JSON.parse(m.content.toString()) as { eventType: string; occurredAt: string; payload: { orderId: string } };
      const h = hops.get(e.payload.orderId) ?? {};
      h[e.eventType] = Date.parse(e.occurredAt);
      hops.set(e.payload.orderId, h);
    },
    { noAck: true },
  );
  await ch.consume(
    queue,
    (m) => {
      if (!m) return;
      const { payload } = JSON.parse(m.content.toString()) as { payload: { orderId: string } };
      // Joined with sentAt at the end: under load an outcome can arrive before the 202 is read.
      if (!terminalAt.has(payload.orderId)) terminalAt.set(payload.orderId, { at: Date.now(), outcome: m.fields.routingKey });
    },
    { noAck: true },
  );

  const processes = systemGroups(system, 'load generator');
  const tokens = new Map(Array.from({ length: 1000 }, (_, k) => [`c${k}`, bearer(`c${k}`)]));
  let accepted = 0;
  let failed = 0;
  let i = 0;
  const placeOne = async (): Promise<void> => {
    const customer = `c${i++ % 1000}`;
    const t0 = Date.now();
    try {
      const res = await post('/api/orders', { customerId: customer, items: [{ productId, quantity: 1, unitPrice: 5 }], paymentMethod: 'pm_card_ok' }, tokens.get(customer)!);
      if (res.status !== 202) {
        failed++;
        return;
      }
      accepted++;
      sentAt.set((JSON.parse(res.body) as { orderId: string }).orderId, t0);
    } catch {
      failed++;
    }
  };
  const finished = (): number => [...sentAt.keys()].filter((id) => terminalAt.has(id)).length;
  const drive = async (from: number, until: number): Promise<void> => {
    if (paced) {
      const inflight = new Set<Promise<void>>();
      for (let n = 0; Date.now() < until; n++) {
        const due = from + (n * 1000) / rate;
        const wait = due - Date.now();
        if (wait > 0) await new Promise((r) => setTimeout(r, wait));
        const p = placeOne().finally(() => inflight.delete(p));
        inflight.add(p);
      }
      await Promise.all(inflight);
    } else {
      await Promise.all(Array.from({ length: Number(values.concurrency) }, async () => {
        while (Date.now() < until) await placeOne();
      }));
    }
  };

  const warmup = Number(values.warmup);
  if (warmup > 0) {
    process.stdout.write(`warming up for ${warmup} s…\n`);
    const from = Date.now();
    await drive(from, from + warmup * 1000);
    const settleUntil = Date.now() + 30_000;
    while (finished() < accepted && Date.now() < settleUntil) await new Promise((r) => setTimeout(r, 50));
    sentAt.clear();
    terminalAt.clear();
    hops.clear();
    accepted = 0;
    failed = 0;
  }

  const machineStart = machineTicks();
  const cpu = cpuMeter(processes);
  const tracer = values.trace ? setInterval(() => void trace(prefix, system.databases), 2000) : undefined;
  process.stdout.write(`driving ${paced ? `${rate} orders/s` : `max rate, ${values.concurrency} concurrent`} for ${seconds} s…\n`);
  const started = Date.now();
  await drive(started, started + seconds * 1000);
  const sendEnd = Date.now();
  if (tracer) clearInterval(tracer);
  // Let the orders placed in the window finish (bounded).
  const drainUntil = Date.now() + 30_000;
  while (finished() < accepted && Date.now() < drainUntil) await new Promise((r) => setTimeout(r, 50));
  const wall = (Date.now() - started) / 1000;
  const machineEnd = machineTicks();
  const cpuUsed = cpu.stop();

  const outcomes = new Map<string, number>();
  const latencies: number[] = [];
  for (const [id, t0] of sentAt) {
    const t = terminalAt.get(id);
    if (!t) continue;
    latencies.push(t.at - t0);
    outcomes.set(t.outcome, (outcomes.get(t.outcome) ?? 0) + 1);
  }
  const sorted = latencies.sort((a, b) => a - b);
  const completedInWindow = latencies.length;
  console.log(`\nsaga through the gateway, ${paced ? `paced at ${rate}/s` : `closed loop x${values.concurrency}`}, ${seconds} s, prefetch ${values.prefetch ?? 'the services\' default'}`);
  console.log(`  accepted (202)    ${accepted}  (${(accepted / ((sendEnd - started) / 1000)).toFixed(0)} orders/s), failed ${failed}`);
  console.log(`  terminal          ${completedInWindow} in ${wall.toFixed(1)} s → ${(completedInWindow / wall).toFixed(0)} orders/s end to end  ${JSON.stringify(Object.fromEntries(outcomes))}`);
  console.log(`  POST → terminal   p50 ${percentile(sorted, 50)} ms  p95 ${percentile(sorted, 95)} ms  p99 ${percentile(sorted, 99)} ms  max ${sorted.at(-1)} ms`);
  const hop = (from: string, to: string): string => {
    const d = [...hops.values()].filter((h) => h[from] && h[to]).map((h) => h[to]! - h[from]!).sort((a, b) => a - b);
    return `${from} → ${to} p50 ${percentile(d, 50)} ms p99 ${percentile(d, 99)} ms`;
  };
  if (values.hops) console.log(`  hops (event created → next event created): ${hop('order.created', 'inventory.reserved')}; ${hop('inventory.reserved', 'payment.completed')}; ${hop('payment.completed', 'order.confirmed')}`);
  const busy = (machineEnd.busy - machineStart.busy) / (machineEnd.total - machineStart.total);
  console.log(`  machine CPU busy  ${(busy * 100).toFixed(0)} % of ${os.cpus().length} cores over the run`);
  console.log('  CPU (seconds, % of one core over the run):');
  processes.forEach((p, k) => {
    const used = total(cpuUsed[k]!);
    console.log(`    ${p.name.padEnd(22)} ${used.toFixed(1).padStart(6)} s  ${((used / wall) * 100).toFixed(0).padStart(4)} %   ${((used / Math.max(1, completedInWindow)) * 1e6).toFixed(0)} µs/order`);
  });

  const perDb = postgresByDatabase(cpuUsed[processes.findIndex((p) => p.name === 'postgres')]!, system.databases, cpu.titles);
  console.log(`    postgres by database: ${[...perDb].map(([db, s]) => `${db} ${((s / Math.max(1, completedInWindow)) * 1e6).toFixed(0)} µs/order`).join(', ')}`);

  if (completedInWindow < accepted) {
    const { Client } = await import('pg');
    const c = new Client({ connectionString: system.databases.get('order') });
    await c.connect();
    const { rows } = await c.query<{ status: string; n: string }>('SELECT status::text, count(*)::text AS n FROM orders GROUP BY 1');
    const missing = [...sentAt.keys()].filter((id) => !terminalAt.has(id)).slice(0, 5);
    const { rows: stuck } = await c.query('SELECT id, status::text, created_at FROM orders WHERE id = ANY($1::uuid[])', [missing]);
    await c.end();
    console.log(`  NOT TERMINAL: ${accepted - completedInWindow}; orders by status: ${rows.map((r) => `${r.status} ${r.n}`).join(', ')}; e.g. ${JSON.stringify(stuck)}`);
  }
  await conn.close();
  agent.destroy();
  await system.stop();
  await deleteByPrefix(prefix);
  await dropDatabasesByPrefix(dbPrefix);
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
