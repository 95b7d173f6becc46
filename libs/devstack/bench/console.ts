/**
 * `npm run bench:console` — how long the operator console's System view waits for its figures
 * on an idle system: `GET /api/admin/system` through the gateway after nobody asked for a while.
 *
 *   npm run bench:console -- --idle 60 --runs 5
 *
 * Starts the whole system as `npm start` does (own databases and topology prefix), then `runs`
 * times: nothing at all for `idle` seconds (no request, no probe: every pool and keep-alive
 * connection has gone idle, as with nobody watching), then one request, timed from the
 * client's side (a new connection to Nginx, as a browser's after a minute). Prints each time,
 * how old the answer's figures were when it arrived (`at`), the CPU the request cost the
 * system's processes and their PostgreSQL backends (what they used meanwhile less what they use
 * in a second of nobody asking; not RabbitMQ: it is shared), the machine's load average, and
 * min/median/max.
 */
import fs from 'node:fs';
import os from 'node:os';
import { parseArgs } from 'node:util';
import { bearer, deleteByPrefix, dropDatabasesByPrefix, freePorts, uniqueName } from '@orderflow/testkit';
import { startSystem, SYSTEM_PORTS } from '../src';
import { pidsOf } from './proc';

const { values } = parseArgs({
  options: {
    idle: { type: 'string', default: '60' },
    runs: { type: 'string', default: '5' },
    'log-level': { type: 'string', default: 'warn' },
  },
});

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
const say = (line: string): void => void process.stdout.write(`${line}\n`);
/** How long after the request the CPU is counted from. */
const WINDOW_MS = 600;

/** CPU time of a process so far, all its threads, in ms (0 once it is gone): finer than /proc/<pid>/stat's ticks. */
function cpuMs(pid: number): number {
  try {
    return fs.readdirSync(`/proc/${pid}/task`).reduce((ns, task) => {
      try {
        return ns + Number(fs.readFileSync(`/proc/${pid}/task/${task}/schedstat`, 'utf8').split(' ')[0]);
      } catch {
        return ns;
      }
    }, 0) / 1e6;
  } catch {
    return 0;
  }
}

/** The CPU ms each process used between two looks (a process that started meanwhile: all of it), less `background` ms per ms of `elapsed`. */
const spentBy = (before: Map<number, number>, after: Map<number, number>, elapsed = 0, background = new Map<number, number>()): Map<number, number> =>
  new Map([...after].map(([pid, now]) => [pid, now - (before.get(pid) ?? 0) - (background.get(pid) ?? 0) * elapsed]));
const sum = (perPid: Map<number, number>): number => [...perPid.values()].reduce((a, b) => a + b, 0);

async function main(): Promise<void> {
  const idleS = Number(values.idle);
  const runs = Number(values.runs);
  const dbPrefix = uniqueName('bench_console');
  const prefix = `${dbPrefix}.`;
  const [gatewayPort, basePort] = await freePorts(1 + SYSTEM_PORTS);
  say('starting the system…');
  const system = await startSystem({
    gatewayPort,
    basePort,
    databasePrefix: dbPrefix,
    topologyPrefix: prefix,
    env: { LOG_LEVEL: values['log-level']! },
    stdio: 'inherit',
    nodeArgs: process.env.BENCH_CPU_PROF ? ['--cpu-prof', `--cpu-prof-dir=${process.env.BENCH_CPU_PROF}`] : [],
  });
  const times: number[] = [];
  const cpus: number[] = [];
  try {
    if (!system.gatewayUrl) throw new Error('the benchmark asks through the gateway: install nginx');
    const admin = bearer('bench-admin', 'admin');
    // The services, and the PostgreSQL backends of their databases (a backend's title names its database).
    const pids = (): number[] => [
      ...system.services.flatMap((s) => (s.pid ? [s.pid] : [])),
      ...pidsOf(`postgres: .* ${dbPrefix}_`),
    ];
    const look = (): Map<number, number> => new Map(pids().map((pid) => [pid, cpuMs(pid)]));
    for (let run = 1; run <= runs; run++) {
      await sleep(idleS * 1000);
      const load = os.loadavg()[0]!.toFixed(2);
      // What the system uses with nobody asking (relay sweeps, metric sampling), to take off.
      const quiet = look();
      await sleep(1000);
      const background = new Map([...spentBy(quiet, look())].map(([pid, ms]) => [pid, ms / 1000]));
      const before = look();
      const started = performance.now();
      const res = await fetch(`${system.gatewayUrl}/api/admin/system`, { headers: { authorization: admin } });
      const body = (await res.json()) as { at?: string; processes?: Array<{ ready: boolean }> };
      const ms = performance.now() - started;
      const age = Date.now() - Date.parse(body.at!);
      // What the request set off has finished by then (the order service answers last).
      await sleep(Math.max(200, WINDOW_MS - (performance.now() - started)));
      const perPid = spentBy(before, look(), performance.now() - started, background);
      const cpu = sum(perPid);
      const byProcess = new Map<string, number>();
      for (const [pid, ms] of perPid) {
        const name = system.services.find((s) => s.pid === pid)?.app ?? 'postgres';
        byProcess.set(name, (byProcess.get(name) ?? 0) + ms);
      }
      if (res.status !== 200) throw new Error(`GET /api/admin/system answered ${res.status}: ${JSON.stringify(body)}`);
      const ready = body.processes!.filter((p) => p.ready).length;
      times.push(ms);
      cpus.push(cpu);
      say(`run ${run}/${runs}: ${ms.toFixed(0)} ms after ${idleS} s idle (figures ${age} ms old, ${ready}/${body.processes!.length} processes ready, ${cpu.toFixed(0)} ms CPU, load ${load})`);
      say(`  CPU ms: ${[...byProcess].map(([name, ms]) => `${name} ${ms.toFixed(0)}`).join(', ')}`);
    }
    const spread = (xs: number[]): string => {
      const sorted = [...xs].sort((a, b) => a - b);
      return `min ${sorted[0]!.toFixed(0)} ms, median ${sorted[Math.floor(sorted.length / 2)]!.toFixed(0)} ms, max ${sorted.at(-1)!.toFixed(0)} ms`;
    };
    say(`GET /api/admin/system after ${idleS} s idle, ${runs} runs (${os.cpus().length} cores): ${spread(times)}; CPU ${spread(cpus)}`);
  } finally {
    await system.stop();
    await deleteByPrefix(prefix).catch(() => undefined);
    await dropDatabasesByPrefix(dbPrefix).catch(() => undefined);
  }
}

main().catch((err: Error) => {
  process.stderr.write(`${err.stack ?? err.message}\n`);
  process.exit(1);
});
