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
 * `overflow: reject-publish` does: while refusing, the (empty) queue is replaced by a classic
 * queue of the same name with `x-max-length` 0. (A quorum queue over a policy's length limit
 * refuses only once it holds more than the limit, and in RabbitMQ 3.10 keeps refusing the
 * publishers it refused after the policy is gone.) `lift` deletes it and `restore`s the queue
 * (as the topology declares it).
 */
export async function refusePublishes(queue: string, restore: (ch: amqplib.Channel) => Promise<unknown>): Promise<{ lift: () => Promise<void> }> {
  const onChannel = async (fn: (ch: amqplib.Channel) => Promise<unknown>): Promise<void> => {
    const conn = await amqplib.connect(AMQP_URL);
    try {
      await fn(await conn.createChannel());
    } finally {
      await conn.close().catch(() => undefined);
    }
  };
  await onChannel(async (ch) => {
    if ((await ch.checkQueue(queue)).messageCount > 0) throw new Error(`refusePublishes: ${queue} is not empty`);
    await ch.deleteQueue(queue);
    await ch.assertQueue(queue, { durable: true, arguments: { 'x-max-length': 0, 'x-overflow': 'reject-publish' } });
  });
  return {
    lift: async () => {
      await onChannel(async (ch) => {
        await ch.deleteQueue(queue);
        await restore(ch);
      });
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
