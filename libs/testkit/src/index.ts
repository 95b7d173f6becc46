import { randomBytes, randomUUID } from 'node:crypto';
import amqplib, { type ConfirmChannel } from 'amqplib';
import { createEvent, type Envelope, type EventContract, type EventOf, type PayloadOf } from '@orderflow/events';
import { Pool } from 'pg';
import { DEV_JWT_SECRET, signToken, type Role } from '@orderflow/http';
import type { Topology } from '@orderflow/messaging';

export { tcpProxy, type TcpProxy } from './tcp-proxy';

export const PG_ADMIN_URL = process.env.PG_ADMIN_URL ?? 'postgresql://postgres@127.0.0.1:5432/postgres';
export const AMQP_URL = process.env.AMQP_URL ?? 'amqp://guest:guest@127.0.0.1:5672';
export const TEST_JWT_SECRET = DEV_JWT_SECRET;

/** The migrated template a service's test databases are cloned from (see jest.global-setup.js). */
export const templateDatabase = (database: string): string => `orderflow_tpl_${database.replace(/-/g, '_')}`;

export const uniqueName = (tag: string): string => `${tag}_${Date.now().toString(36)}_${randomBytes(3).toString('hex')}`;

/** A topology prefix of its own: exchanges and queues no other test sees. */
export const uniquePrefix = (): string => `${uniqueName('t')}.`;

export const urlFor = (name: string): string => PG_ADMIN_URL.replace(/\/[^/?]*(\?|$)/, `/${name}$1`);

/** A database of its own, cloned from the service's migrated template; `drop` removes it. */
export async function cloneDatabase(database: string): Promise<{ url: string; name: string; drop: () => Promise<void> }> {
  const name = uniqueName(database.replace(/-/g, '_'));
  const admin = new Pool({ connectionString: PG_ADMIN_URL, max: 1 });
  try {
    await admin.query(`CREATE DATABASE "${name}" TEMPLATE "${templateDatabase(database)}"`);
  } finally {
    await admin.end();
  }
  return {
    url: urlFor(name),
    name,
    drop: async () => {
      const a = new Pool({ connectionString: PG_ADMIN_URL, max: 1 });
      try {
        await a.query(`DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`);
      } finally {
        await a.end();
      }
    },
  };
}

/**
 * A clone of a service's migrated database with a pool on it, for tests that run the store's
 * SQL in transactions of their own; `close()` ends the pool and drops the clone.
 */
export async function pooledDatabase(database: string, max = 4): Promise<{ pool: Pool; close: () => Promise<void> }> {
  const db = await cloneDatabase(database);
  const pool = new Pool({ connectionString: db.url, max });
  // An idle client whose server ends it (the database dropped at the end) must not fail the run.
  pool.on('error', () => undefined);
  return {
    pool,
    close: async () => {
      await pool.end();
      await db.drop();
    },
  };
}

/** Deletes the exchanges and queues of test topologies. */
export async function deleteTopologies(...topologies: Topology[]): Promise<void> {
  const conn = await amqplib.connect(AMQP_URL);
  const ch = await conn.createChannel();
  for (const t of topologies) {
    for (const q of [...t.queues.map((x) => x.name), ...t.retryLevels.map((l) => l.queue), t.deadLetterQueue]) await ch.deleteQueue(q);
    for (const e of [...t.exchanges, ...t.retryLevels.map((l) => l.exchange), t.directExchange]) await ch.deleteExchange(e);
  }
  await conn.close();
}

/** Polls `probe` until it returns a truthy value: wait for outcomes, never for fixed times. */
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
  throw new Error(`timed out after ${timeoutMs} ms waiting for ${what} (last value: ${JSON.stringify(last)?.slice(0, 500)})`);
}

/** `Authorization` header value for a test principal. */
export const bearer = (sub: string, role: Role = 'customer'): string => `Bearer ${signToken({ sub, role }, TEST_JWT_SECRET)}`;

/** Environment for a service under test (every variable its config requires). */
export function serviceEnv(overrides: Record<string, string>): Record<string, string> {
  return {
    AMQP_URL,
    JWT_SECRET: TEST_JWT_SECRET,
    LOG_LEVEL: process.env.TEST_LOG_LEVEL ?? 'error',
    RETRY_DELAYS_MS: '200,400,800',
    ...overrides,
  };
}

/** Deletes every queue and exchange whose name starts with `prefix` (a whole test system's topology). */
export async function deleteByPrefix(prefix: string): Promise<void> {
  if (!prefix) throw new Error('refusing to delete with an empty prefix');
  const { execFile } = await import('node:child_process');
  const list = (what: 'list_queues' | 'list_exchanges'): Promise<string[]> =>
    new Promise((resolve, reject) =>
      execFile('rabbitmqctl', ['-q', what, 'name', '--no-table-headers'], (err, stdout) =>
        err ? reject(err) : resolve(stdout.split('\n').map((l) => l.trim()).filter((n) => n.startsWith(prefix))),
      ),
    );
  const conn = await amqplib.connect(AMQP_URL);
  const ch = await conn.createChannel();
  for (const q of await list('list_queues')) await ch.deleteQueue(q);
  for (const e of await list('list_exchanges')) await ch.deleteExchange(e);
  await conn.close();
}

/** Drops every database whose name starts with `prefix`. */
export async function dropDatabasesByPrefix(prefix: string): Promise<void> {
  if (!/^[a-z0-9_]+$/.test(prefix)) throw new Error(`unsafe database prefix ${prefix}`);
  const admin = new Pool({ connectionString: PG_ADMIN_URL, max: 1 });
  try {
    const { rows } = await admin.query<{ datname: string }>('SELECT datname FROM pg_database WHERE datname LIKE $1', [`${prefix}%`]);
    for (const r of rows) await admin.query(`DROP DATABASE IF EXISTS "${r.datname}" WITH (FORCE)`);
  } finally {
    await admin.end();
  }
}

/** A run of `count` consecutive free TCP ports on 127.0.0.1. */
export async function freePorts(count: number): Promise<number[]> {
  const net = await import('node:net');
  const isFree = (port: number): Promise<boolean> =>
    new Promise((resolve) => {
      const srv = net.createServer();
      srv.once('error', () => resolve(false));
      srv.listen(port, '127.0.0.1', () => srv.close(() => resolve(true)));
    });
  // Below the kernel's ephemeral range: a port found free there can be taken by any outgoing
  // connection (the suites open hundreds) before the service binds it.
  const fs = await import('node:fs');
  let ephemeralStart = 32_768;
  try {
    ephemeralStart = Number(fs.readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8').trim().split(/\s+/)[0]) || ephemeralStart;
  } catch {
    // Not Linux: keep the common default.
  }
  const span = Math.max(1_000, ephemeralStart - 20_000 - count);
  for (let attempt = 0; attempt < 50; attempt++) {
    const base = 20_000 + Math.floor(Math.random() * span);
    const ports = Array.from({ length: count }, (_, i) => base + i);
    if ((await Promise.all(ports.map(isFree))).every(Boolean)) return ports;
  }
  throw new Error('no free port range found');
}

/**
 * Publishes an event the way a service's relay does (full envelope, persistent, confirmed,
 * correlation id as a message property) onto `prefix`+its exchange; returns the event.
 */
export async function publishEvent<C extends EventContract>(
  ch: ConfirmChannel,
  prefix: string,
  contract: C,
  payload: PayloadOf<C>,
  meta: { correlationId?: string; source?: string } = {},
): Promise<EventOf<C>> {
  const correlationId = meta.correlationId ?? randomUUID();
  const event = createEvent(contract, payload, { source: meta.source ?? 'test', correlationId });
  ch.publish(`${prefix}${contract.exchange}`, contract.type, Buffer.from(JSON.stringify(event)), { persistent: true, messageId: event.eventId, correlationId });
  await ch.waitForConfirms();
  return event;
}

/** What a service looks like to its tests (a `buildService` result). */
export interface TestableService {
  start(): Promise<void>;
  stop(): Promise<void>;
  deps: { messaging: { topology: Topology } };
}

export interface ServiceUnderTest<S extends TestableService> {
  service: S;
  /** A confirm channel on the test's broker, e.g. for publishEvent. */
  ch: ConfirmChannel;
  /** Collects into `into` every event (envelope) published on `<prefix><exchange>` from now on. */
  tap(exchange: string, into: { push(event: Envelope<any>): unknown }, pattern?: string): Promise<void>;
  /** Stops the service and removes its topology and database. */
  stop(): Promise<void>;
}

/**
 * One service under test, isolated by namespace: a database cloned from its migrated
 * template, the topology `prefix`, started; `build` gets the environment to parse its config from.
 */
export async function serviceUnderTest<S extends TestableService>(o: {
  database: string;
  prefix: string;
  build: (env: Record<string, string>) => S;
  env?: Record<string, string>;
}): Promise<ServiceUnderTest<S>> {
  const db = await cloneDatabase(o.database);
  const service = o.build(serviceEnv({ DATABASE_URL: db.url, TOPOLOGY_PREFIX: o.prefix, ...o.env }));
  await service.start();
  const conn = await amqplib.connect(AMQP_URL);
  const ch = await conn.createConfirmChannel();
  return {
    service,
    ch,
    async tap(exchange, into, pattern = '#') {
      const { queue } = await ch.assertQueue('', { exclusive: true });
      await ch.bindQueue(queue, `${o.prefix}${exchange}`, pattern);
      await ch.consume(queue, (m) => m && into.push(JSON.parse(m.content.toString())), { noAck: true });
    },
    async stop() {
      await conn.close();
      await service.stop();
      await deleteTopologies(service.deps.messaging.topology);
      await db.drop();
    },
  };
}
