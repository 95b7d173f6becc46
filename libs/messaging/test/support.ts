import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { promisify } from 'node:util';
import { PrismaPg } from '@prisma/adapter-pg';
import amqplib from 'amqplib';
import { Pool } from 'pg';
import { z } from 'zod';
import { defineEvent } from '@orderflow/events';
import { createLogger } from '@orderflow/logging';
import { defineTopology, type Topology } from '../src';
import { PrismaClient } from './generated/prisma/client';

export const PG_URL = process.env.PG_ADMIN_URL ?? 'postgresql://postgres@127.0.0.1:5432/postgres';
export const AMQP_URL = process.env.AMQP_URL ?? 'amqp://guest:guest@127.0.0.1:5672';
/** Migrated once per test run (jest global setup); every test file clones it. */
export const TEMPLATE_DB = 'orderflow_test_messaging';

export const logger = createLogger({
  service: 'messaging-test',
  level: process.env.TEST_LOG_LEVEL ?? 'error',
  silent: !process.env.TEST_LOG_LEVEL,
});

/** The event the conformance suite sends: `key` names the effect, `mode` what the handler does. */
export const workRequested = defineEvent(
  'work.requested',
  1,
  z.object({ key: z.string().min(1), note: z.string().optional() }),
);

export const uniqueName = (tag: string): string => `${tag}_${Date.now().toString(36)}_${randomBytes(3).toString('hex')}`;

export function testTopology(prefix: string, retryDelaysMs: number[] = [200, 400, 800]): Topology {
  return defineTopology({
    service: 'worker',
    prefix,
    publishes: [workRequested],
    consumes: { 'work-requested': [workRequested] },
    retryDelaysMs,
  });
}

export interface TestDb {
  url: string;
  pool: Pool;
  prisma: PrismaClient;
  drop(): Promise<void>;
}

/** A database of its own, cloned from the migrated template (isolation by namespace). */
export async function createTestDb(): Promise<TestDb> {
  const name = uniqueName('msg');
  const admin = new Pool({ connectionString: PG_URL, max: 1 });
  await admin.query(`CREATE DATABASE "${name}" TEMPLATE "${TEMPLATE_DB}"`);
  const url = PG_URL.replace(/\/[^/?]*(\?|$)/, `/${name}$1`);
  const pool = new Pool({ connectionString: url, max: 10 });
  // Idle clients see the database dropped at the end; that is not a test failure.
  pool.on('error', () => undefined);
  const prisma = new PrismaClient({ adapter: new PrismaPg(pool) });
  return {
    url,
    pool,
    prisma,
    async drop() {
      await prisma.$disconnect().catch(() => undefined);
      await pool.end().catch(() => undefined);
      await admin.query(`DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`);
      await admin.end();
    },
  };
}

/** Removes every exchange and queue of a test topology. */
export async function deleteTopology(topology: Topology): Promise<void> {
  const conn = await amqplib.connect(AMQP_URL);
  const ch = await conn.createChannel();
  for (const q of [...topology.queues.map((x) => x.name), ...topology.retryLevels.map((l) => l.queue), topology.deadLetterQueue]) {
    await ch.deleteQueue(q);
  }
  for (const e of [...topology.exchanges, ...topology.retryLevels.map((l) => l.exchange)]) await ch.deleteExchange(e);
  await conn.close();
}

/** Polls `probe` until it returns a truthy value (waiting for an outcome, never a fixed sleep). */
export async function waitFor<T>(
  probe: () => Promise<T> | T,
  what: string,
  timeoutMs = 20_000,
): Promise<Exclude<T, false | null | undefined | 0 | ''>> {
  const deadline = Date.now() + timeoutMs;
  let last: T | undefined;
  while (Date.now() < deadline) {
    last = await probe();
    if (last) return last as Exclude<T, false | null | undefined | 0 | ''>;
    await new Promise((r) => setTimeout(r, 25));
  }
  throw new Error(`timed out after ${timeoutMs} ms waiting for ${what} (last value: ${JSON.stringify(last)})`);
}

const run = promisify(execFile);

/** Force-closes the broker connection with this name, as an operator or a network fault would. */
export async function forceCloseConnection(connectionName: string): Promise<void> {
  const { stdout } = await run('rabbitmqctl', ['-q', 'list_connections', 'pid', 'client_properties', '--no-table-headers']);
  const pids = stdout
    .split('\n')
    .filter((line) => line.includes(`{"connection_name","${connectionName}"}`))
    .map((line) => line.split('\t')[0]!);
  if (pids.length === 0) throw new Error(`no broker connection named ${connectionName}`);
  for (const pid of pids) await run('rabbitmqctl', ['-q', 'close_connection', pid, 'conformance test: forced close']);
}
