/**
 * Least privilege on the real broker: a service's own user, with the permissions
 * `brokerPermissions` derives from its topology, runs that service — declares its topology,
 * consumes, publishes, retries, parks and replays — and is refused everything of another
 * service's: publishing its events, taking or purging its queues, writing into a queue by name
 * through the default exchange. The users are created with rabbitmqctl (as the broker
 * definitions and `npm start` create them) and deleted afterwards.
 */
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { promisify } from 'node:util';
import amqplib, { type ChannelModel, type ConfirmChannel } from 'amqplib';
import { z } from 'zod';
import { defineEvent } from '@orderflow/events';
import { assertTopology, brokerPermissions, declareBoundExchanges, defineTopology, MissingExchangeError, permits, type Topology } from '../src';
import { Harness } from './harness';
import { AMQP_URL, deleteTopology, uniqueName, waitFor } from './support';

const run = promisify(execFile);
const rabbitmqctl = (...args: string[]) => run('rabbitmqctl', ['-q', ...args]);

const paymentFailed = defineEvent('payment.failed', 1, z.object({ orderId: z.string() }));
const paymentCompleted = defineEvent('payment.completed', 1, z.object({ orderId: z.string() }));
const inventoryReserved = defineEvent('inventory.reserved', 1, z.object({ orderId: z.string() }));
const orderCreated = defineEvent('order.created', 1, z.object({ orderId: z.string() }));

/** Broker users created by this file, deleted in afterAll. */
const created: string[] = [];

/** Creates a user with the permissions its topology needs; returns its AMQP URL. */
async function userFor(topology: Topology, name = `${topology.prefix}${topology.service}`): Promise<string> {
  const password = randomBytes(12).toString('hex');
  const p = brokerPermissions(topology);
  created.push(name);
  await rabbitmqctl('add_user', name, password);
  await rabbitmqctl('set_permissions', '-p', '/', name, p.configure, p.write, p.read);
  const url = new URL(AMQP_URL);
  url.username = encodeURIComponent(name);
  url.password = password;
  return url.toString();
}

/** What the broker answers `fn` on a fresh channel: 'ok', or the AMQP code it closed the channel with. */
async function outcome(conn: ChannelModel, fn: (ch: ConfirmChannel) => Promise<unknown>): Promise<'ok' | number> {
  const ch = await conn.createConfirmChannel();
  const closed = new Promise<number>((resolve) => ch.on('error', (err: { code?: number }) => resolve(err.code ?? -1)));
  try {
    await fn(ch);
    await ch.close();
    return 'ok';
  } catch {
    return closed;
  }
}

describe('each service runs with its own broker user, allowed only its own exchanges and queues (real RabbitMQ)', () => {
  const prefix = `${uniqueName('perm')}.`;
  const inventory = defineTopology({ service: 'inventory', prefix, publishes: [inventoryReserved], consumes: { saga: [paymentFailed] }, retryDelaysMs: [200] });
  const payment = defineTopology({ service: 'payment', prefix, publishes: [paymentFailed, paymentCompleted], consumes: { saga: [inventoryReserved] }, retryDelaysMs: [200] });
  let admin: ChannelModel;
  let asInventory: ChannelModel;

  beforeAll(async () => {
    admin = await amqplib.connect(AMQP_URL);
    // The payment service's topology, as the broker definitions (or that service) declare it.
    await declareBoundExchanges(admin, payment);
    const ch = await admin.createChannel();
    await assertTopology(ch, payment);
    await ch.close();
    asInventory = await amqplib.connect(await userFor(inventory));
    asInventory.on('error', () => undefined);
  });

  afterAll(async () => {
    await asInventory?.close().catch(() => undefined);
    await admin?.close().catch(() => undefined);
    await deleteTopology(inventory);
    await deleteTopology(payment);
    for (const name of created) await rabbitmqctl('delete_user', name).catch(() => undefined);
  });

  it('the permissions name the service\'s own queues and exchanges only, and never the default exchange', () => {
    const p = brokerPermissions(inventory);
    expect(permits(p, 'write', `${prefix}inventory.events`)).toBe(true);
    expect(permits(p, 'write', `${prefix}inventory.retry.200ms`)).toBe(true);
    expect(permits(p, 'write', `${prefix}inventory.direct`)).toBe(true);
    expect(permits(p, 'read', `${prefix}payment.events`)).toBe(true);
    expect(permits(p, 'write', `${prefix}payment.events`)).toBe(false);
    expect(permits(p, 'read', `${prefix}payment.saga`)).toBe(false);
    expect(permits(p, 'configure', `${prefix}payment.saga`)).toBe(false);
    // A name that only looks alike: the dots are escaped, the names anchored.
    expect(permits(p, 'configure', `${prefix}inventoryXsaga`)).toBe(false);
    expect(permits(p, 'configure', `${prefix}inventory.saga.x`)).toBe(false);
    for (const access of ['configure', 'write', 'read'] as const) expect(permits(p, access, '')).toBe(false);
  });

  it('declares its own topology (checking the exchanges of others it binds to) and consumes its own queue', async () => {
    await declareBoundExchanges(asInventory, inventory);
    expect(await outcome(asInventory, (ch) => assertTopology(ch, inventory))).toBe('ok');
    expect(await outcome(asInventory, (ch) => ch.consume(`${prefix}inventory.saga`, () => undefined))).toBe('ok');
    // And publishes its events on its own exchange, confirmed.
    expect(await outcome(asInventory, async (ch) => {
      ch.publish(`${prefix}inventory.events`, 'inventory.reserved', Buffer.from('{}'));
      await ch.waitForConfirms();
    })).toBe('ok');
  });

  it('is refused (403 ACCESS_REFUSED) publishing on another service\'s exchange, or into any queue through the default exchange', async () => {
    const depth = async (): Promise<number> => {
      const ch = await admin.createChannel();
      const { messageCount } = await ch.checkQueue(`${prefix}payment.saga`);
      await ch.close();
      return messageCount;
    };
    const before = await depth();
    expect(await outcome(asInventory, async (ch) => {
      ch.publish(`${prefix}payment.events`, 'payment.completed', Buffer.from('{"forged":true}'));
      await ch.waitForConfirms();
    })).toBe(403);
    expect(await outcome(asInventory, async (ch) => {
      ch.sendToQueue(`${prefix}payment.saga`, Buffer.from('{"forged":true}'));
      await ch.waitForConfirms();
    })).toBe(403);
    // Nothing arrived.
    expect(await depth()).toBe(before);
  });

  it('is refused taking, purging or deleting another service\'s queue, and declaring or binding to its exchanges', async () => {
    const saga = `${prefix}payment.saga`;
    expect(await outcome(asInventory, (ch) => ch.consume(saga, () => undefined))).toBe(403);
    expect(await outcome(asInventory, (ch) => ch.get(saga))).toBe(403);
    expect(await outcome(asInventory, (ch) => ch.purgeQueue(saga))).toBe(403);
    expect(await outcome(asInventory, (ch) => ch.deleteQueue(saga))).toBe(403);
    expect(await outcome(asInventory, (ch) => ch.deleteExchange(`${prefix}payment.events`))).toBe(403);
    expect(await outcome(asInventory, (ch) => ch.assertExchange(`${prefix}payment.events`, 'topic', { durable: true }))).toBe(403);
    // Its own queue bound to the payment service's direct exchange would receive its retries.
    expect(await outcome(asInventory, (ch) => ch.bindQueue(`${prefix}inventory.saga`, `${prefix}payment.direct`, saga))).toBe(403);
    // Passive checks need no permission: they stay allowed.
    expect(await outcome(asInventory, (ch) => ch.checkQueue(saga))).toBe('ok');
    const admins = await admin.createChannel();
    expect(await admins.checkQueue(saga)).toEqual(expect.objectContaining({ queue: saga }));
    await admins.close();
  });

  it('waits for another service\'s exchange it binds to rather than declaring it: MissingExchangeError until it exists', async () => {
    const orders = defineTopology({ service: 'inventory', prefix, publishes: [inventoryReserved], consumes: { saga: [paymentFailed, orderCreated] }, retryDelaysMs: [200] });
    const url = await userFor(orders, `${prefix}inventory-orders`);
    const conn = await amqplib.connect(url);
    try {
      await expect(declareBoundExchanges(conn, orders)).rejects.toBeInstanceOf(MissingExchangeError);
      const ch = await admin.createChannel();
      await ch.assertExchange(`${prefix}order.events`, 'topic', { durable: true });
      await ch.close();
      await expect(declareBoundExchanges(conn, orders)).resolves.toBeUndefined();
    } finally {
      await conn.close().catch(() => undefined);
      const ch = await admin.createChannel();
      await ch.deleteExchange(`${prefix}order.events`);
      await ch.close();
    }
  });
});

describe('a service under its own broker user does its whole work: consume, publish, retry, park, replay (real RabbitMQ)', () => {
  let h: Harness;

  beforeAll(async () => {
    h = await Harness.create();
    h.messaging = h.newMessaging({ amqpUrl: await userFor(h.topology) });
    await h.messaging.start(h.subscriptions());
  });
  afterAll(async () => {
    await h.close();
    for (const name of created.splice(0)) await rabbitmqctl('delete_user', name).catch(() => undefined);
  });

  it('a transient failure is retried through its retry queue and handled; a permanent one is parked, listed and replayed', async () => {
    h.behaviours.set('flaky', { transientFailures: 1 });
    h.behaviours.set('broken', { permanent: true });
    await h.request('fine', 'flaky', 'broken');
    await waitFor(async () => (await h.ledger()).length === 2, 'fine and flaky handled');
    expect((await h.ledger()).map((e) => e.key).sort()).toEqual(['fine', 'flaky']);
    expect(h.attempts.get('flaky')).toHaveLength(2);

    const parked = await waitFor(async () => (await h.messaging.deadLetters.list()).find((m) => m.errorCode === 'TEST.BROKEN'), 'broken parked');
    expect(parked).toMatchObject({ reason: 'permanent-failure', originalQueue: h.topology.queues[0]!.name });

    h.behaviours.delete('broken');
    expect(await h.messaging.deadLetters.replay({ parkedId: parked.parkedId })).toBe(1);
    await waitFor(async () => (await h.ledger('broken')).length === 1, 'broken handled after the replay');
    expect(await h.messaging.deadLetters.count()).toBe(0);
  });

  it('stays connected: nothing it did was refused by the broker', () => {
    expect(h.messaging.isReady()).toBe(true);
  });
});
