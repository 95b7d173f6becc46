/**
 * `npm run bench:import -- --rows 2000000` — a bulk import end to end, through the gateway.
 *
 *   --rows N              rows in the generated file (default 2,000,000)
 *   --lines-per-order N   average rows per order (1..2N-1, default 2)
 *   --interactive-rate N  checkout orders/s placed through the API during the import, to show
 *                         checkout keeps its latency (default 0: the import alone, which is what
 *                         the issue's goals time; 20/s costs this 2-core VM ~40 % of its CPU)
 *   --file PATH           where the file is written (default: the temp dir)
 *   --trace               queue depths and progress every 2 s (where the time goes)
 *   --worker bundle|tsx   run the import worker as the image does, from its esbuild bundle
 *                         (default), or from source through tsx as `npm start` does (tsx alone
 *                         adds ~25 MB to a process's memory)
 *   --worker-node-options="…"  NODE_OPTIONS for the bundled worker (try V8 heap settings;
 *                         the = is needed: the value starts with dashes)
 *   --accept-only         stop once the upload is accepted (the worker's time and memory only)
 *   --unpriced-every N    every Nth order leaves its price cells empty, for the catalog to
 *                         price (default 10; 0: every row carries the catalog price)
 *
 * Starts the whole system as `npm start` does (own databases and topology prefix), writes the
 * CSV, uploads it through Nginx and prints: time until the upload is accepted (202), time until
 * every order is terminal, rows/s, the worker's peak RSS, CPU per process, and with
 * --interactive-rate the latency of checkout orders placed meanwhile (they travel on the
 * interactive queues).
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { parseArgs } from 'node:util';
import amqplib from 'amqplib';
import { parse } from 'csv-parse';
import { bearer, deleteByPrefix, dropDatabasesByPrefix, freePorts, uniqueName } from '@orderflow/testkit';
import { isUp, SERVICES, startSystem, SYSTEM_PORTS } from '../src';
import { CLK_TCK, busyKinds, cpuMeter, machineTicks, peakRssOf, percentile, postgresByDatabase, systemGroups, total } from './proc';

const { values } = parseArgs({
  options: {
    rows: { type: 'string', default: '2000000' },
    'lines-per-order': { type: 'string', default: '2' },
    products: { type: 'string', default: '200' },
    'interactive-rate': { type: 'string', default: '0' },
    file: { type: 'string' },
    'log-level': { type: 'string', default: 'warn' },
    trace: { type: 'boolean', default: false },
    worker: { type: 'string', default: 'bundle' },
    /** NODE_OPTIONS of the bundled worker, to try V8 heap settings (default: what it runs with everywhere). */
    'worker-node-options': { type: 'string' },
    /** Stop once the upload is accepted: the worker's figures without waiting for the saga. */
    'accept-only': { type: 'boolean', default: false },
    'unpriced-every': { type: 'string', default: '10' },
  },
});

const ROWS = Number(values.rows);
const LINES = Number(values['lines-per-order']);
const PRODUCTS = Number(values.products);
const UNPRICED_EVERY = Number(values['unpriced-every']);
const RATE = Number(values['interactive-rate']);
const AMQP_URL = process.env.AMQP_URL ?? 'amqp://guest:guest@127.0.0.1:5672';

/** Rows per CPU-second of a bare csv-parse pass over the file (records as arrays). */
async function parseRate(file: string): Promise<number> {
  const c0 = process.cpuUsage();
  let n = 0;
  await pipeline(
    fs.createReadStream(file, { highWaterMark: 1 << 16 }),
    parse(),
    new Writable({
      objectMode: true,
      write: (_row, _enc, done) => {
        n++;
        done();
      },
    }),
  );
  const d = process.cpuUsage(c0);
  return n / ((d.user + d.system) / 1e6);
}

const say = (line: string): void => {
  process.stdout.write(`${line}\n`);
};
/**
 * Writes the file: orders of 1..2N-1 rows over PRODUCTS products, 1 % declined cards. The rows
 * carry the catalog's price (every product is 10), but every `--unpriced-every`th order leaves
 * its price cells empty, so the catalog prices it (and the order service records those prices).
 */
async function generate(file: string): Promise<number> {
  const out = fs.createWriteStream(file, { highWaterMark: 1 << 20 });
  const run = uniqueName('B').replace(/_/g, '-');
  let buf = 'orderRef,customerId,productId,quantity,unitPrice,paymentMethod\n';
  let rows = 0;
  let orders = 0;
  let seed = 42;
  const rnd = (): number => ((seed = (seed * 1103515245 + 12345) & 0x7fffffff) / 0x7fffffff);
  while (rows < ROWS) {
    const n = Math.min(ROWS - rows, 1 + Math.floor(rnd() * (2 * LINES - 1)));
    const ref = `${run}-${String(orders).padStart(9, '0')}`;
    const customer = `customer-${String(orders % 50_000).padStart(6, '0')}`;
    const card = orders % 100 === 99 ? 'pm_card_declined' : 'pm_card_ok';
    const price = UNPRICED_EVERY > 0 && orders % UNPRICED_EVERY === UNPRICED_EVERY >> 1 ? '' : '10.00';
    for (let i = 0; i < n; i++) {
      const product = `BULK-PRODUCT-${String(Math.floor(rnd() * PRODUCTS)).padStart(4, '0')}`;
      buf += `${ref},${customer},${product},${1 + Math.floor(rnd() * 3)},${price},${card}\n`;
    }
    rows += n;
    orders++;
    if (buf.length > 1 << 20) {
      if (!out.write(buf)) await new Promise<void>((r) => out.once('drain', () => r()));
      buf = '';
    }
  }
  out.end(buf);
  await new Promise<void>((r) => out.once('finish', () => r()));
  return orders;
}

async function main(): Promise<void> {
  const file = values.file ?? path.join(os.tmpdir(), `orderflow-bench-${ROWS}.csv`);
  let t = Date.now();
  const orders = await generate(file);
  const bytes = fs.statSync(file).size;
  say(`file: ${file}, ${ROWS} rows, ${orders} orders, ${(bytes / 1e6).toFixed(1)} MB (written in ${((Date.now() - t) / 1000).toFixed(1)} s)`);

  const dbPrefix = uniqueName('benchimp');
  const prefix = `${dbPrefix}.`;
  const [gatewayPort, basePort] = await freePorts(1 + SYSTEM_PORTS);
  // The issue's reference figure for this machine kind is csv-parse at ≈ 425,000 rows/s: the same
  // pass over this file says how fast this machine is now, before anything else runs.
  const parsed = await parseRate(file);
  say(`csv-parse alone over the file: ${Math.round(parsed)} rows/s of CPU (reference for this machine kind ≈ 425,000 rows/s)`);
  say('starting the system…');
  const system = await startSystem({
    gatewayPort,
    basePort,
    databasePrefix: dbPrefix,
    topologyPrefix: prefix,
    env: { LOG_LEVEL: values['log-level']!, PAYMENT_SUCCESS_RATE: '1' },
    stdio: 'inherit',
    nodeArgs: process.env.BENCH_CPU_PROF ? ['--cpu-prof', `--cpu-prof-dir=${process.env.BENCH_CPU_PROF}`] : [],
  });
  let bundled: ChildProcess | undefined;
  const stopAll = async (): Promise<void> => {
    if (bundled && bundled.exitCode === null) {
      bundled.kill('SIGTERM');
      await new Promise((r) => bundled!.once('exit', r));
    }
    await system.stop();
    await deleteByPrefix(prefix).catch(() => undefined);
    await dropDatabasesByPrefix(dbPrefix).catch(() => undefined);
  };
  try {
    if (!system.gatewayUrl) throw new Error('the benchmark drives the gateway: install nginx');
    const gateway = new URL(system.gatewayUrl);
    const admin = bearer('bench-admin', 'admin');
    const agent = new http.Agent({ keepAlive: true, maxSockets: 32 });
    const call = (method: string, p: string, body?: unknown, auth = admin): Promise<{ status: number; body: any }> =>
      new Promise((resolve, reject) => {
        const data = body === undefined ? undefined : Buffer.from(JSON.stringify(body));
        const req = http.request(
          { host: gateway.hostname, port: gateway.port, path: p, method, agent, headers: { authorization: auth, ...(data ? { 'content-type': 'application/json', 'content-length': data.length } : {}) } },
          (res) => {
            const chunks: Buffer[] = [];
            res.on('data', (c: Buffer) => chunks.push(c));
            res.on('end', () => {
              const text = Buffer.concat(chunks).toString();
              let json: unknown = text;
              try {
                json = JSON.parse(text);
              } catch {
                // not JSON
              }
              resolve({ status: res.statusCode ?? 0, body: json });
            });
          },
        );
        req.on('error', reject);
        req.end(data);
      });
    for (let i = 0; i < PRODUCTS; i++) {
      await call('PUT', `/api/inventory/BULK-PRODUCT-${String(i).padStart(4, '0')}`, { name: `Bulk ${i}`, price: 10, available: 1_000_000_000 });
    }
    await call('PUT', '/api/inventory/CHECKOUT-1', { name: 'Checkout item', price: 5, available: 1_000_000_000 });

    // Checkout orders during the import: their outcomes come as per-order events.
    const conn = await amqplib.connect(AMQP_URL);
    const ch = await conn.createChannel();
    const { queue } = await ch.assertQueue('', { exclusive: true });
    for (const key of ['order.confirmed', 'order.rejected', 'order.cancelled']) await ch.bindQueue(queue, `${prefix}order.events`, key);
    const terminalAt = new Map<string, number>();
    await ch.consume(queue, (m) => m && terminalAt.set((JSON.parse(m.content.toString()) as { payload: { orderId: string } }).payload.orderId, Date.now()), { noAck: true });
    const sentAt = new Map<string, number>();
    let checkout = true;
    const checkoutLoop = (async () => {
      if (RATE <= 0) return;
      const token = bearer('checkout-customer');
      for (let n = 0; checkout; n++) {
        const t0 = Date.now();
        void call('POST', '/api/orders', { customerId: 'checkout-customer', items: [{ productId: 'CHECKOUT-1', quantity: 1, unitPrice: 5 }], paymentMethod: 'pm_card_ok' }, token).then((r) => {
          if (r.status === 202) sentAt.set(r.body.orderId, t0);
        }, () => undefined); // refused while the system stops: not a checkout that counts
        await new Promise((r) => setTimeout(r, 1000 / RATE));
      }
    })();

    const worker = system.services.find((s) => s.app === 'import-worker')!;
    if (values.worker === 'bundle') {
      // The image's runtime: the worker as one esbuild bundle (k8s/tools/bundle.ts), not through tsx.
      const out = fs.mkdtempSync(path.join(os.tmpdir(), 'orderflow-worker-'));
      execFileSync(process.execPath, ['--import', 'tsx', path.resolve(__dirname, '../../../k8s/tools/bundle.ts'), 'import-worker', out], { stdio: 'inherit' });
      const tsxWorker = system.processes.get('import-worker')!;
      tsxWorker.kill('SIGTERM');
      await new Promise((r) => tsxWorker.once('exit', r));
      const port = new URL(worker.url).port;
      const profile = process.env.BENCH_CPU_PROF ? ['--cpu-prof', `--cpu-prof-dir=${process.env.BENCH_CPU_PROF}`] : [];
      bundled = spawn(process.execPath, [...profile, path.join(out, 'dist/main.js')], {
        env: {
          ...process.env,
          PORT: port,
          DATABASE_URL: system.databases.get('import-worker'),
          AMQP_URL,
          JWT_SECRET: process.env.JWT_SECRET ?? 'orderflow-dev-secret-change-me',
          TOPOLOGY_PREFIX: prefix,
          LOG_LEVEL: values['log-level']!,
          // As in the image: the worker's NODE_OPTIONS from the system description, unless overridden.
          NODE_OPTIONS: values['worker-node-options'] ?? SERVICES.find((s) => s.app === 'import-worker')?.nodeOptions ?? '',
        },
        stdio: 'inherit',
      });
      for (let ready = false; !ready; ) {
        if (bundled.exitCode !== null) throw new Error(`the bundled import worker exited (${bundled.exitCode}) before it was ready`);
        ready = await isUp(worker.url);
        if (!ready) await new Promise((r) => setTimeout(r, 100));
      }
      worker.pid = bundled.pid;
      say(`import worker: the bundle (${out}/dist/main.js), pid ${bundled.pid}`);
    }
    const groups = systemGroups(system, 'bench (this)');
    const cpu = cpuMeter(groups);
    const machineStart = machineTicks();
    const rssBefore = peakRssOf(worker.pid!);

    say(`uploading through the gateway (${system.gatewayUrl})…`);
    t = Date.now();
    let uploaded = 0;
    const accepted = await new Promise<{ status: number; body: any }>((resolve, reject) => {
      const req = http.request(
        { host: gateway.hostname, port: gateway.port, path: '/api/imports', method: 'POST', headers: { authorization: admin, 'content-type': 'text/csv', 'content-length': bytes } },
        (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (c: Buffer) => chunks.push(c));
          res.on('end', () => resolve({ status: res.statusCode ?? 0, body: JSON.parse(Buffer.concat(chunks).toString()) }));
        },
      );
      req.on('error', reject);
      const source = fs.createReadStream(file, { highWaterMark: 256 * 1024 });
      source.on('data', (c) => (uploaded += c.length));
      source.pipe(req);
    });
    const acceptedS = (Date.now() - t) / 1000;
    if (accepted.status !== 202) throw new Error(`upload answered ${accepted.status}: ${JSON.stringify(accepted.body)}`);
    const importId = accepted.body.importId as string;
    say(`accepted (202) after ${acceptedS.toFixed(1)} s: ${JSON.stringify(accepted.body)}`);
    if (values['accept-only']) {
      say(`  import worker peak RSS      ${peakRssOf(worker.pid!).toFixed(0)} MB`);
      checkout = false;
      await checkoutLoop;
      await conn.close();
      return;
    }

    let ingestedS: number | null = null;
    let progress: any;
    const traceDepths = async (): Promise<string> => {
      const names = ['order.import', 'inventory.bulk', 'payment.bulk', 'order.bulk', 'notification.bulk'];
      const c = await conn.createChannel();
      const depths = await Promise.all(names.map(async (n) => `${n} ${(await c.checkQueue(`${prefix}${n}`)).messageCount}`));
      await c.close();
      return depths.join('  ');
    };
    let lastTrace = 0;
    for (;;) {
      progress = (await call('GET', `/api/imports/${importId}`)).body;
      const elapsed = (Date.now() - t) / 1000;
      if (ingestedS === null && progress.chunks?.published !== null && progress.chunks?.applied >= progress.chunks?.published) ingestedS = elapsed;
      if (values.trace && Date.now() - lastTrace > 2000) {
        lastTrace = Date.now();
        say(`  [${elapsed.toFixed(0)} s] ${progress.state} chunks ${progress.chunks.applied}/${progress.chunks.published} orders ${JSON.stringify(progress.orders)} eta ${progress.etaSeconds} | queues: ${await traceDepths()}`);
      }
      if (progress.state === 'COMPLETED' || progress.state === 'FAILED') break;
      if (elapsed > 1800) throw new Error(`not terminal after 30 min: ${JSON.stringify(progress)}`);
      await new Promise((r) => setTimeout(r, 250));
    }
    const terminalS = (Date.now() - t) / 1000;
    checkout = false;
    await checkoutLoop;
    await new Promise((r) => setTimeout(r, 2000));
    const perPid = cpu.stop();
    const used = perPid.map(total);
    const machineEnd = machineTicks();
    const peakRss = peakRssOf(worker.pid!);
    const latencies = [...sentAt].flatMap(([id, t0]) => (terminalAt.has(id) ? [terminalAt.get(id)! - t0] : [])).sort((a, b) => a - b);

    say(`\nbulk import of ${ROWS} rows (${orders} orders, ${(bytes / 1e6).toFixed(0)} MB) through the gateway`);
    say(`  upload accepted (202)       ${acceptedS.toFixed(1)} s   (${Math.round(ROWS / acceptedS)} rows/s read, validated and published)`);
    say(`  every chunk applied         ${ingestedS?.toFixed(1) ?? '?'} s`);
    say(`  every order terminal        ${terminalS.toFixed(1)} s   (${Math.round(ROWS / terminalS)} rows/s, ${Math.round(progress.orders.created / terminalS)} orders/s end to end)  state ${progress.state}`);
    say(`  outcome                     ${JSON.stringify(progress.orders)} rows ${JSON.stringify(progress.rows)}`);
    say(`  import worker peak RSS      ${peakRss.toFixed(0)} MB (${rssBefore.toFixed(0)} MB before the upload; worker run ${values.worker === 'bundle' ? 'from its bundle, as in the image' : 'through tsx'})`);
    if (latencies.length > 0) {
      say(`  checkout during the import  ${latencies.length} orders at ${RATE}/s: POST → terminal p50 ${percentile(latencies, 50)} ms  p95 ${percentile(latencies, 95)} ms  p99 ${percentile(latencies, 99)} ms  max ${latencies.at(-1)} ms  (${sentAt.size - latencies.length} not terminal)`);
    }
    const wall = terminalS + 2;
    say('  CPU (seconds, share of one core over the run):');
    groups.forEach((g, k) => {
      const cpu = used[k]!;
      say(`    ${g.name.padEnd(22)} ${cpu.toFixed(1).padStart(6)} s  ${((cpu / wall) * 100).toFixed(0).padStart(4)} %   ${((cpu / ROWS) * 1e6).toFixed(1)} µs/row`);
    });
    const all = used.reduce((a, b) => a + b, 0);
    say(`    ${'all'.padEnd(22)} ${all.toFixed(1).padStart(6)} s  ${((all / wall) * 100).toFixed(0).padStart(4)} %   ${((all / ROWS) * 1e6).toFixed(1)} µs/row  (2 cores = 200 %)`);
    const perDb = postgresByDatabase(perPid[groups.findIndex((g) => g.name === 'postgres')]!, system.databases, cpu.titles);
    say(`    postgres by database: ${[...perDb].map(([db, s]) => `${db} ${((s / ROWS) * 1e6).toFixed(1)}`).join(', ')} µs/row`);
    // The processes above miss the kernel's share (loopback TCP, page cache, disk writes).
    const busy = (machineEnd.busy - machineStart.busy) / (machineEnd.total - machineStart.total);
    say(`  machine CPU busy            ${(busy * 100).toFixed(0)} % of ${os.cpus().length} cores from upload to the last order (${(((machineEnd.busy - machineStart.busy) / CLK_TCK / ROWS) * 1e6).toFixed(0)} µs/row)`);
    say(`    of which                  ${busyKinds(machineStart, machineEnd)}`);
    await conn.close();
    agent.destroy();
  } finally {
    await stopAll();
  }
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
