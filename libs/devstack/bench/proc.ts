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

/** Busy and total CPU ticks of the whole machine (all cores), from /proc/stat. */
export function machineTicks(): { busy: number; total: number } {
  const f = fs.readFileSync('/proc/stat', 'utf8').split('\n')[0]!.trim().split(/\s+/).slice(1).map(Number);
  const total = f.reduce((a, b) => a + b, 0);
  return { busy: total - f[3]! - f[4]!, total };
}

export const percentile = (sorted: number[], p: number): number => sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? NaN;

export interface ProcessGroup {
  name: string;
  pids: () => number[];
}

/**
 * Starts measuring the CPU of process groups. `stop()` gives, per group, the seconds each of
 * its pids used since the start; pids are looked up again at the end, since PostgreSQL forks
 * a backend for every new pool connection during a run.
 */
export function cpuMeter(groups: readonly ProcessGroup[]): { stop(): Array<Map<number, number>> } {
  const start = new Map(groups.flatMap((g) => g.pids().map((pid) => [pid, cpuOf(pid)] as const)));
  return {
    stop: () => groups.map((g) => new Map(g.pids().map((pid) => [pid, cpuOf(pid) - (start.get(pid) ?? 0)]))),
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
export function postgresByDatabase(perPid: Map<number, number>, databases: ReadonlyMap<string, string>): Map<string, number> {
  const perDb = new Map<string, number>();
  for (const [pid, seconds] of perPid) {
    const title = (() => {
      try {
        return fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8');
      } catch {
        return '';
      }
    })();
    const db = [...databases.entries()].find(([, url]) => title.includes(` ${new URL(url).pathname.slice(1)} `))?.[0] ?? 'other';
    perDb.set(db, (perDb.get(db) ?? 0) + seconds);
  }
  return perDb;
}
