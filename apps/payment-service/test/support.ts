import { spawn, type ChildProcess } from 'node:child_process';
import path from 'node:path';
import type { ConfirmChannel } from 'amqplib';
import { Pool } from 'pg';
import { parseConfig } from '@orderflow/config';
import { createEvent, inventoryBatchReserved, inventoryReserved, orderCancelled, type Envelope, type EventOf, type PayloadOf } from '@orderflow/events';
import { buildService, type Service } from '@orderflow/service';
import { freePorts, PG_ADMIN_URL, serviceUnderTest, uniqueName, uniquePrefix, urlFor, waitFor, type ServiceUnderTest } from '@orderflow/testkit';
import type { Tracing } from '@orderflow/tracing';
import { paymentConfigSchema, type PaymentConfig } from '../src/config';
import type { Db, Tx } from '../src/db';
import type { PaymentGateway } from '../src/gateway';
import { paymentService } from '../src/service';

const ROOT = path.resolve(__dirname, '../../..');

/** A ledger entry of the simulator, as its API shows it. */
export interface GatewayEntry {
  idempotencyKey: string;
  kind: 'charge' | 'refund';
  orderId: string;
  amount: number;
  status: string;
  requests: number;
}

/** The payment gateway simulator (apps/payment-gateway) as a process of its own, with its own ledger database. */
export interface GatewaySimulator {
  url: string;
  /** PUT /admin/<what> (outage, latency, failure-rate). */
  admin(what: 'outage' | 'latency' | 'failure-rate', body: unknown): Promise<void>;
  /** The entry of an idempotency key (GET /v1/ledger/:key), or undefined. */
  entry(key: string): Promise<GatewayEntry | undefined>;
  /** Every ledger row of these orders, straight from the simulator's database. */
  entries(orderIds: readonly string[]): Promise<Array<{ idempotency_key: string; kind: string; order_id: string; status: string; requests: number }>>;
  /** What the gateway kept of each of these orders: its approved charges minus its refunds (0 for an order it never charged). */
  kept(orderIds: readonly string[]): Promise<Map<string, number>>;
  /** Stops the process and drops its database. */
  stop(): Promise<void>;
}

/**
 * Starts the simulator as `npm start` does — a separate process, reached over HTTP — on a free
 * port with a database of its own (created by the simulator itself), and waits until it is ready.
 * The payment service's tests run against it: the card decisions are the gateway's.
 */
export async function startGatewaySimulator(env: Record<string, string> = {}): Promise<GatewaySimulator> {
  const [port] = await freePorts(1);
  const database = uniqueName('gateway');
  const databaseUrl = urlFor(database);
  const child: ChildProcess = spawn(process.execPath, ['--import', 'tsx', path.join(ROOT, 'apps/payment-gateway/src/main.ts')], {
    cwd: ROOT,
    env: { ...process.env, PORT: String(port), DATABASE_URL: databaseUrl, LOG_LEVEL: process.env.TEST_LOG_LEVEL ?? 'error', ...env },
    stdio: ['ignore', process.env.TEST_LOG_LEVEL ? 'inherit' : 'ignore', 'inherit'],
  });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const url = `http://127.0.0.1:${port}`;
  await waitFor(async () => {
    if (child.exitCode !== null) throw new Error(`the gateway simulator exited (${child.exitCode})`);
    return (await fetch(`${url}/health`).catch(() => null))?.status === 200;
  }, 'the gateway simulator up', 30_000);
  const db = new Pool({ connectionString: databaseUrl, max: 1 });
  return {
    url,
    async admin(what, body) {
      const res = await fetch(`${url}/admin/${what}`, { method: 'PUT', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
      if (res.status !== 200) throw new Error(`PUT /admin/${what}: ${res.status} ${await res.text()}`);
    },
    async entry(key) {
      const res = await fetch(`${url}/v1/ledger/${encodeURIComponent(key)}`);
      if (res.status === 404) return undefined;
      if (res.status !== 200) throw new Error(`GET /v1/ledger/${key}: ${res.status}`);
      return (await res.json()) as GatewayEntry;
    },
    async entries(orderIds) {
      const { rows } = await db.query('SELECT idempotency_key, kind, order_id, status, requests FROM gateway_ledger WHERE order_id = ANY($1::text[]) ORDER BY idempotency_key', [orderIds]);
      return rows;
    },
    async kept(orderIds) {
      const { rows } = await db.query<{ order_id: string; kind: string; status: string; amount: number }>(
        'SELECT order_id, kind, status, amount::float8 AS amount FROM gateway_ledger WHERE order_id = ANY($1::text[])',
        [orderIds],
      );
      const kept = new Map(orderIds.map((id) => [id, 0]));
      for (const r of rows) {
        const sign = r.kind === 'charge' && r.status === 'approved' ? 1 : r.kind === 'refund' ? -1 : 0;
        kept.set(r.order_id, Math.round(((kept.get(r.order_id) ?? 0) + sign * r.amount) * 100) / 100);
      }
      return kept;
    },
    async stop() {
      await db.end();
      child.kill('SIGTERM');
      await exited;
      const admin = new Pool({ connectionString: PG_ADMIN_URL, max: 1 });
      try {
        await admin.query(`DROP DATABASE IF EXISTS "${database}" WITH (FORCE)`);
      } finally {
        await admin.end();
      }
    },
  };
}

/**
 * The payment service wired as main.ts wires it (its gateway client on its metrics registry), not
 * started; `tracing`: the test's, for the service and its gateway client (the test stops it).
 */
export function buildPaymentService(config: PaymentConfig, options: { tracing?: Tracing } = {}): { service: Service<Db, Tx>; gateway: PaymentGateway } {
  const { definition, gateway } = paymentService(config, options);
  const service = buildService(definition);
  const stop = async (): Promise<void> => {
    await service.stop();
    await gateway.close();
  };
  return { service: { ...service, stop }, gateway };
}

/** An order as inventory reserves it for payment. */
export type ReservedOrder = PayloadOf<typeof inventoryBatchReserved>['orders'][number];

/** One line worth the whole total, paid with `paymentMethod` (a simulator card: its decision is the gateway's). */
export const reservedOrder = (orderId: string, paymentMethod: string, total = 59.9, customerId = 'alice'): ReservedOrder => ({
  orderId,
  customerId,
  items: [{ productId: 'PROD-001', quantity: 1, unitPrice: total }],
  total,
  paymentMethod,
});

/** Checkout's `inventory.reserved`: payment charges the order. */
export const reservation = (orderId: string, paymentMethod: string, total = 59.9, customerId = 'alice'): EventOf<typeof inventoryReserved> =>
  createEvent(inventoryReserved, reservedOrder(orderId, paymentMethod, total, customerId), { source: 'inventory-service', correlationId: orderId });

/** An import chunk's `inventory.batch-reserved`: payment charges each order and answers once. */
export const batchReservation = (importId: string, orders: ReservedOrder[]): EventOf<typeof inventoryBatchReserved> =>
  createEvent(inventoryBatchReserved, { importId, orders }, { source: 'inventory-service', correlationId: importId });

/** The customer's `order.cancelled`: payment refunds a charge, or voids one still to come. */
export const cancellation = (orderId: string, total = 59.9, customerId = 'alice'): EventOf<typeof orderCancelled> =>
  createEvent(orderCancelled, { orderId, customerId, total, reason: 'cancelled by customer' }, { source: 'order-service', correlationId: orderId });

export interface PaymentServiceUnderTest {
  /** Started, on a database and a topology prefix of its own. */
  service: Service<Db, Tx>;
  gateway: GatewaySimulator;
  config: PaymentConfig;
  prefix: string;
  /** A confirm channel on the test's broker. */
  ch: ConfirmChannel;
  /** Everything the service published on payment.events, as the broker delivered it. */
  received: Envelope<any>[];
  receivedFor(orderId: string, eventType: string): Envelope<any>[];
  /** Publishes the events as the other services' relays do (persistent, confirmed, event id and correlation id as properties). */
  send(...events: Envelope[]): Promise<void>;
  /** Whether the service has handled every one of these events (its inbox holds them). */
  processed(...events: Envelope[]): Promise<boolean>;
  /** Another replica on the same database and topology, not started (the test starts and stops it). */
  build(instanceId: string): Service<Db, Tx>;
  /** Stops the service, removes its topology and database, then stops the simulator. */
  stop(): Promise<void>;
}

/**
 * The payment service under test against its own gateway simulator, built as main.ts builds it
 * from the environment (`env`: variables beyond the harness's; `gatewayEnv`: the simulator's;
 * `tracing`: the test's, which the test shuts down).
 */
export async function paymentServiceUnderTest(o: { env?: Record<string, string>; gatewayEnv?: Record<string, string>; tracing?: Tracing } = {}): Promise<PaymentServiceUnderTest> {
  const gateway = await startGatewaySimulator(o.gatewayEnv);
  const prefix = uniquePrefix();
  const build = (config: PaymentConfig): Service<Db, Tx> => buildPaymentService(config, { tracing: o.tracing }).service;
  // Parsed by serviceUnderTest's build, from the environment it composes (database, prefix).
  let config!: PaymentConfig;
  const received: Envelope<any>[] = [];
  let started: ServiceUnderTest<Service<Db, Tx>> | undefined;
  try {
    started = await serviceUnderTest({
      database: 'payment',
      prefix,
      env: { PAYMENT_GATEWAY_URL: gateway.url, ...o.env },
      build: (env) => build((config = parseConfig(paymentConfigSchema(0), env))),
    });
    await started.tap('payment.events', received);
  } catch (err) {
    // The simulator is a process of its own: left running, it would outlive the test run.
    await started?.stop().catch(() => undefined);
    await gateway.stop();
    throw err;
  }
  const sut = started;
  const { service, ch } = sut;
  return {
    service,
    gateway,
    config,
    prefix,
    ch,
    received,
    receivedFor: (orderId, eventType) => received.filter((e) => e.eventType === eventType && e.payload.orderId === orderId),
    async send(...events) {
      for (const e of events) {
        // An event's exchange is its domain's (`inventory.reserved` on `inventory.events`), as its contract declares.
        const exchange = `${e.eventType.split('.')[0]}.events`;
        ch.publish(`${prefix}${exchange}`, e.eventType, Buffer.from(JSON.stringify(e)), { persistent: true, messageId: e.eventId, correlationId: e.correlationId });
      }
      await ch.waitForConfirms();
    },
    async processed(...events) {
      const ids = [...new Set(events.map((e) => e.eventId))];
      return (await service.deps.db.processedEvent.count({ where: { eventId: { in: ids } } })) === ids.length;
    },
    build: (instanceId) => build({ ...config, INSTANCE_ID: instanceId }),
    async stop() {
      try {
        await sut.stop();
      } finally {
        await gateway.stop();
      }
    },
  };
}
