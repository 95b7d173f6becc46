/**
 * `npm start`'s output: each process's lines prefixed with its name (aligned, coloured on a
 * terminal), as `docker compose up` shows its containers, and the processes asked to log
 * `LOG_FORMAT=pretty` unless the user chose a format.
 */
import type { ChildProcess } from 'node:child_process';
import type { Readable, Writable } from 'node:stream';
import { PAYMENT_GATEWAY, PROCESSES } from './services';

/** How a started process's output reaches us: as it is, dropped, or line by line behind its name. */
export type ProcessOutput = 'inherit' | 'ignore' | 'prefixed';

const WIDTH = Math.max(...[...PROCESSES.map((p) => p.name), PAYMENT_GATEWAY.app].map((n) => n.length));
const PALETTE = [36, 32, 33, 35, 34, 96, 92, 93, 95, 94];

/** A stable colour per name: the same process keeps its colour from run to run. */
function colorOf(name: string): number {
  let hash = 0;
  for (const ch of name) hash = (hash * 31 + ch.charCodeAt(0)) >>> 0;
  return PALETTE[hash % PALETTE.length] ?? 36;
}

/** `name | ` padded to the longest process name, in the name's colour when `color`. */
export function prefixOf(name: string, color: boolean): string {
  const label = `${name.padEnd(WIDTH)} |`;
  return color ? `\x1b[${colorOf(name)}m${label}\x1b[0m ` : `${label} `;
}

/**
 * Copies `from` to `to` a whole line at a time, each behind `prefix`: lines of processes
 * writing at once never interleave mid-line. A last line without a newline is written at the end.
 */
export function prefixLines(from: Readable, to: Writable, prefix: string): void {
  let pending = '';
  from.setEncoding('utf8');
  from.on('data', (chunk: string) => {
    const lines = (pending + chunk).split('\n');
    pending = lines.pop() ?? '';
    if (lines.length > 0) to.write(lines.map((line) => `${prefix}${line}\n`).join(''));
  });
  from.on('end', () => {
    if (pending !== '') to.write(`${prefix}${pending}\n`);
    pending = '';
  });
}

/** The child's stdout and stderr as `spawn` wants them for this kind of output. */
export const childStdio = (output: ProcessOutput = 'inherit'): ['ignore', 'inherit' | 'ignore' | 'pipe', 'inherit' | 'ignore' | 'pipe'] => {
  const mode = output === 'prefixed' ? 'pipe' : output;
  return ['ignore', mode, mode];
};

/** With `prefixed`, sends the child's stdout and stderr to ours, each line behind its name. */
export function pipeOutput(child: ChildProcess, name: string, output: ProcessOutput = 'inherit'): void {
  if (output !== 'prefixed') return;
  if (child.stdout) prefixLines(child.stdout, process.stdout, prefixOf(name, process.stdout.isTTY === true));
  if (child.stderr) prefixLines(child.stderr, process.stderr, prefixOf(name, process.stderr.isTTY === true));
}

/**
 * The environment `npm start` adds for its processes: human-readable logs unless the user
 * set `LOG_FORMAT`, coloured when our own output is a terminal (the child writes to a pipe,
 * so it cannot tell) and the user did not ask for `NO_COLOR`.
 */
export function readableLogsEnv(env: NodeJS.ProcessEnv = process.env, isTty: boolean = process.stdout.isTTY === true): Record<string, string> {
  return {
    ...(env.LOG_FORMAT === undefined ? { LOG_FORMAT: 'pretty' } : {}),
    ...(isTty && env.NO_COLOR === undefined && env.FORCE_COLOR === undefined ? { FORCE_COLOR: '1' } : {}),
  };
}
