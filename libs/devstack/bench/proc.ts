/** What the benchmarks read from /proc: CPU and memory of processes and of the machine. */
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import type { RunningSystem } from '../src';

export const CLK_TCK = Number(execFileSync('getconf', ['CLK_TCK']).toString().trim()) || 100;

/** CPU seconds used so far by a process (user + system); 0 once it is gone. */
export function cpuOf(pid: number): number {
  try {
    const fields = fs.readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
    return (Number(fields[11]) + Number(fields[12])) / CLK_TCK;
  } catch {
    return 0;
  }
}

/** Peak resident set size (VmHWM) of a process, in MB. */
export function peakRssOf(pid: number): number {
  const m = /VmHWM:\s+(\d+) kB/.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'));
  return Number(m?.[1] ?? 0) / 1024;
}

/** Pids whose command line matches `pattern` (pgrep -f). */
export function pidsOf(pattern: string): number[] {
  try {
    return execFileSync('pgrep', ['-f', pattern]).toString().trim().split('\n').map(Number).filter(Boolean);
  } catch {
    return [];
  }
}

/** Busy and total CPU ticks of the whole machine (all cores), from /proc/stat, and the busy ones by kind. */
export function machineTicks(): { busy: number; total: number; kinds: Record<'user' | 'nice' | 'system' | 'irq' | 'softirq' | 'steal', number> } {
  const f = fs.readFileSync('/proc/stat', 'utf8').split('\n')[0]!.trim().split(/\s+/).slice(1).map(Number);
  const total = f.reduce((a, b) => a + b, 0);
  return { busy: total - f[3]! - f[4]!, total, kinds: { user: f[0]!, nice: f[1]!, system: f[2]!, irq: f[5]!, softirq: f[6]!, steal: f[7] ?? 0 } };
}

/** Where the machine's busy time went between two readings: user, nice (niced processes), system, … in % of the busy time. */
export function busyKinds(start: ReturnType<typeof machineTicks>, end: ReturnType<typeof machineTicks>): string {
  const busy = end.busy - start.busy;
  return (Object.keys(end.kinds) as Array<keyof typeof end.kinds>)
    .map((k) => `${k} ${Math.round(((end.kinds[k] - start.kinds[k]) / busy) * 100)} %`)
    .join(', ');
}

export const percentile = (sorted: number[], p: number): number => sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? NaN;

export interface ProcessGroup {
  name: string;
  pids: () => number[];
}

/** A process's command line (a PostgreSQL backend's title names its database); '' once it is gone. */
function titleOf(pid: number): string {
  try {
    return fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8');
  } catch {
    return '';
  }
}

/** What a meter read of one process: its CPU seconds at the start and at the last look. */
interface Reading {
  first: number;
  last: number;
}

/**
 * Starts measuring the CPU of process groups. `stop()` gives, per group, the seconds each of
 * its pids used since the start. Pids are looked up every `everyMs`: PostgreSQL forks a
 * backend for every new pool connection and ends it when the pool drops an idle one (after
 * 10 s of idleness — so a look every 5 s sees all it used), and a process that ended counts
 * with what it had at the last look (without these looks a bulk process's backends, idle at
 * the end, went missing).
 */
export function cpuMeter(groups: readonly ProcessGroup[], everyMs = 5_000): { stop(): Array<Map<number, number>>; titles: ReadonlyMap<number, string> } {
  const readings = groups.map(() => new Map<number, Reading>());
  const titles = new Map<number, string>();
  const look = (atStart: boolean): void => {
    groups.forEach((g, i) => {
      for (const pid of g.pids()) {
        const seconds = cpuOf(pid);
        if (seconds === 0 && !readings[i]!.has(pid)) continue;
        const r = readings[i]!.get(pid);
        if (r) r.last = Math.max(r.last, seconds);
        else readings[i]!.set(pid, { first: atStart ? seconds : 0, last: seconds });
        if (!titles.has(pid)) titles.set(pid, titleOf(pid));
      }
    });
  };
  look(true);
  const timer = setInterval(() => look(false), everyMs);
  timer.unref();
  return {
    titles,
    stop: () => {
      clearInterval(timer);
      look(false);
      return readings.map((m) => new Map([...m].map(([pid, r]) => [pid, r.last - r.first])));
    },
  };
}

/** The sum of a group's seconds from `cpuMeter().stop()`. */
export const total = (perPid: Map<number, number>): number => [...perPid.values()].reduce((a, b) => a + b, 0);

/** The system's processes by kind: each service, Nginx, RabbitMQ, PostgreSQL and this process. */
export function systemGroups(system: RunningSystem, self: string): ProcessGroup[] {
  return [
    ...system.services.map((s) => ({ name: s.app, pids: () => (s.pid ? [s.pid] : []) })),
    { name: 'nginx', pids: () => [system.processes.get('gateway')?.pid ?? 0, ...pidsOf('nginx: worker')].filter(Boolean) },
    { name: 'rabbitmq', pids: () => pidsOf('beam.smp') },
    // The postmaster, its background processes and every backend.
    { name: 'postgres', pids: () => pidsOf('postgres') },
    { name: self, pids: () => [process.pid] },
  ];
}

/** PostgreSQL's seconds per database of the system (a backend's title names its database; the rest is "other"). */
export function postgresByDatabase(perPid: Map<number, number>, databases: ReadonlyMap<string, string>, titles: ReadonlyMap<number, string> = new Map()): Map<string, number> {
  const perDb = new Map<string, number>();
  for (const [pid, seconds] of perPid) {
    const title = titles.get(pid) || titleOf(pid);
    const db = [...databases.entries()].find(([, url]) => title.includes(` ${new URL(url).pathname.slice(1)} `))?.[0] ?? 'other';
    perDb.set(db, (perDb.get(db) ?? 0) + seconds);
  }
  return perDb;
}
