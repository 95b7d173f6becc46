import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import amqplib from 'amqplib';
import { PrismaPg } from '@prisma/adapter-pg';
import { Pool } from 'pg';
import { z } from 'zod';
import { defineEvent } from '@orderflow/events';
import { createLogger } from '@orderflow/logging';
import { AMQP_URL, deleteTopologies, uniqueName, waitFor } from '@orderflow/testkit';
import { defineTopology, type Topology } from '../src';

export { AMQP_URL, uniqueName, waitFor };
/** Removes every exchange and queue of a test topology. */
export const deleteTopology = (topology: Topology): Promise<void> => deleteTopologies(topology);
import { PrismaClient } from './generated/prisma/client';

export const PG_URL = process.env.PG_ADMIN_URL ?? 'postgresql://postgres@127.0.0.1:5432/postgres';
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

/**
 * Makes the broker refuse (nack) every publish to `queue`, as a full queue with
 * `overflow: reject-publish` does, through a policy (declaring the queue with those arguments
 * would clash with the topology's own declaration); resolves once the policy is in effect.
 */
export async function refusePublishes(queue: string): Promise<{ lift: () => Promise<void> }> {
  const name = `refuse-${queue}`;
  const pattern = `^${queue.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}$`;
  await run('rabbitmqctl', ['-q', 'set_policy', '--apply-to', 'queues', '--priority', '100', name, pattern, '{"max-length":0,"overflow":"reject-publish"}']);
  const policyOf = async (): Promise<string | undefined> => {
    const { stdout } = await run('rabbitmqctl', ['-q', 'list_queues', 'name', 'policy', '--no-table-headers']);
    return stdout.split('\n').map((line) => line.split('\t')).find(([q]) => q === queue)?.[1]?.trim();
  };
  await waitFor(async () => (await policyOf()) === name, `policy ${name} applied to ${queue}`);
  return {
    lift: async () => {
      await run('rabbitmqctl', ['-q', 'clear_policy', name]);
      await waitFor(async () => (await policyOf()) !== name, `policy ${name} lifted from ${queue}`);
    },
  };
}

/** Messages ready in a queue, as a separate channel sees it (0 when the queue does not exist). */
export async function readyCount(queue: string): Promise<number> {
  const conn = await amqplib.connect(AMQP_URL);
  try {
    const ch = await conn.createChannel();
    ch.on('error', () => undefined);
    return (await ch.checkQueue(queue)).messageCount;
  } catch {
    return 0;
  } finally {
    await conn.close().catch(() => undefined);
  }
}
