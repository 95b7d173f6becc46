import type { Server } from 'node:http';
import os from 'node:os';
import request from 'supertest';
import { Pool } from 'pg';
import { parseConfig } from '@orderflow/config';
import { createLogger } from '@orderflow/logging';
import { PG_ADMIN_URL, uniqueName, urlFor } from '@orderflow/testkit';
import { isLoopback } from '../src/api';
import { gatewayConfigSchema } from '../src/config';
import { buildGateway, type Gateway } from '../src/gateway';
import { ensureLedger } from '../src/ledger-schema';

const logger = createLogger({ service: 'payment-gateway-test', level: 'error', silent: !process.env.TEST_LOG_LEVEL });

/** The simulator's API over real PostgreSQL (its own database, created by the simulator as at start). */
describe('payment gateway simulator (real PostgreSQL)', () => {
  const database = uniqueName('gateway');
  const config = parseConfig(gatewayConfigSchema, { DATABASE_URL: urlFor(database), PAYMENT_SUCCESS_RATE: '0.5', LOG_LEVEL: 'error' });
  let gateway: Gateway;
  const charge = (key: string, body: { orderId: string; amount: number; paymentMethod: string }, g = gateway) => request(g.app).post('/v1/charges').set('Idempotency-Key', key).send(body);
  const batch = (charges: Array<{ idempotencyKey: string; orderId: string; amount: number; paymentMethod: string }>) => request(gateway.app).post('/v1/charges/batch').send({ charges });
  const refund = (key: string, body: { chargeKey: string; amount: number }) => request(gateway.app).post('/v1/refunds').set('Idempotency-Key', key).send(body);
  const lookup = (key: string, g = gateway) => request(g.app).get(`/v1/ledger/${encodeURIComponent(key)}`);
  const voidKey = (orderId: string, amount: number) => request(gateway.app).post('/v1/voids').send({ chargeKey: `charge:${orderId}`, orderId, amount, refundKey: `refund:${orderId}` });
  const id = (): string => uniqueName('order');

  beforeAll(async () => {
    gateway = buildGateway(config, { logger });
    await gateway.start();
  });
  afterAll(async () => {
    await gateway.stop();
    const admin = new Pool({ connectionString: PG_ADMIN_URL, max: 1 });
    await admin.query(`DROP DATABASE IF EXISTS "${database}" WITH (FORCE)`);
    await admin.end();
  });
  afterEach(() => {
    gateway.switchboard.set({ outage: null, latencyMs: 0, latencyOperations: undefined, failureRate: 0 });
  });

  it('charges once per idempotency key: the same request again gets the first answer (200, replayed), not a second charge', async () => {
    const orderId = id();
    const first = await charge(`charge:${orderId}`, { orderId, amount: 19.99, paymentMethod: 'pm_card_ok' });
    expect(first.status).toBe(201);
    expect(first.body).toEqual(expect.objectContaining({ idempotencyKey: `charge:${orderId}`, kind: 'charge', orderId, amount: 19.99, status: 'approved', requests: 1, replayed: false }));
    const again = await charge(`charge:${orderId}`, { orderId, amount: 19.99, paymentMethod: 'pm_card_ok' });
    expect(again.status).toBe(200);
    expect(again.headers['idempotent-replayed']).toBe('true');
    expect(again.body).toEqual({ ...first.body, requests: 2, replayed: true });
    expect((await lookup(`charge:${orderId}`)).body).toEqual(expect.objectContaining({ status: 'approved', requests: 2 }));
  });

  it('a declined card is an answer too: recorded, and the same key gets it again', async () => {
    const orderId = id();
    const first = await charge(`charge:${orderId}`, { orderId, amount: 5, paymentMethod: 'pm_card_declined' });
    expect([first.status, first.body.status, first.body.reason]).toEqual([201, 'declined', 'card declined']);
    const again = await charge(`charge:${orderId}`, { orderId, amount: 5, paymentMethod: 'pm_card_declined' });
    expect([again.status, again.body.status, again.body.replayed]).toEqual([200, 'declined', true]);
  });

  it('a key used again with other parameters is refused (409) and charges nothing', async () => {
    const orderId = id();
    await charge(`charge:${orderId}`, { orderId, amount: 10, paymentMethod: 'pm_card_ok' });
    const other = await charge(`charge:${orderId}`, { orderId, amount: 99, paymentMethod: 'pm_card_ok' });
    expect([other.status, other.body.code]).toEqual([409, 'GATEWAY.IDEMPOTENCY_KEY_REUSED']);
    expect((await lookup(`charge:${orderId}`)).body.amount).toBe(10);
  });

  it('a batch answers every charge in request order, each once per key; the flaky card is unavailable twice, then approved', async () => {
    const [a, b, c] = [id(), id(), id()];
    const charges = [
      { idempotencyKey: `charge:${a}`, orderId: a, amount: 1, paymentMethod: 'pm_card_flaky' },
      { idempotencyKey: `charge:${b}`, orderId: b, amount: 2, paymentMethod: 'pm_card_declined' },
      { idempotencyKey: `charge:${c}`, orderId: c, amount: 3, paymentMethod: 'pm_card_ok' },
    ];
    const answers = [];
    for (let i = 0; i < 3; i++) {
      const res = await batch(charges);
      expect(res.status).toBe(200);
      answers.push(res.body.results.map((r: { status: string; replayed: boolean }) => `${r.status}${r.replayed ? ' (replayed)' : ''}`));
    }
    expect(answers).toEqual([
      ['unavailable', 'declined', 'approved'],
      ['unavailable', 'declined (replayed)', 'approved (replayed)'],
      ['approved', 'declined (replayed)', 'approved (replayed)'],
    ]);
    expect((await lookup(`charge:${a}`)).body).toEqual(expect.objectContaining({ status: 'approved', requests: 3 }));
  });

  it('a batch with a key twice, or empty, or with a bad charge is refused whole (400), naming the field', async () => {
    const orderId = id();
    const one = { idempotencyKey: `charge:${orderId}`, orderId, amount: 1, paymentMethod: 'pm_card_ok' };
    expect((await batch([one, one])).status).toBe(400);
    expect((await batch([])).status).toBe(400);
    const bad = await batch([{ ...one, amount: -1 }]);
    expect([bad.status, JSON.stringify(bad.body.errors)]).toEqual([400, expect.stringContaining('charges[0].amount')]);
    expect((await lookup(`charge:${orderId}`)).status).toBe(404);
  });

  it('refunds an approved charge once, in full; the same key answers again; anything else is refused', async () => {
    const orderId = id();
    await charge(`charge:${orderId}`, { orderId, amount: 30, paymentMethod: 'pm_card_ok' });
    const first = await refund(`refund:${orderId}`, { chargeKey: `charge:${orderId}`, amount: 30 });
    expect([first.status, first.body.status, first.body.chargeKey, first.body.orderId]).toEqual([201, 'refunded', `charge:${orderId}`, orderId]);
    const again = await refund(`refund:${orderId}`, { chargeKey: `charge:${orderId}`, amount: 30 });
    expect([again.status, again.body.replayed]).toEqual([200, true]);
    expect((await refund(`refund2:${orderId}`, { chargeKey: `charge:${orderId}`, amount: 30 })).body.code).toBe('GATEWAY.CHARGE_ALREADY_REFUNDED');
    expect((await refund(`refund:${orderId}`, { chargeKey: `charge:${orderId}`, amount: 29 })).body.code).toBe('GATEWAY.IDEMPOTENCY_KEY_REUSED');

    const unknown = await refund(`refund:${id()}`, { chargeKey: 'charge:nobody', amount: 1 });
    expect([unknown.status, unknown.body.code]).toEqual([404, 'GATEWAY.CHARGE_NOT_FOUND']);
    const declined = id();
    await charge(`charge:${declined}`, { orderId: declined, amount: 3, paymentMethod: 'pm_card_declined' });
    expect((await refund(`refund:${declined}`, { chargeKey: `charge:${declined}`, amount: 3 })).body.code).toBe('GATEWAY.CHARGE_NOT_REFUNDABLE');
    const small = id();
    await charge(`charge:${small}`, { orderId: small, amount: 3, paymentMethod: 'pm_card_ok' });
    expect((await refund(`refund:${small}`, { chargeKey: `charge:${small}`, amount: 4 })).body.code).toBe('GATEWAY.REFUND_EXCEEDS_CHARGE');
  });

  it('the ledger outlives the process: a new simulator on the same database answers the keys of the old one, charging nothing', async () => {
    const orderId = id();
    await charge(`charge:${orderId}`, { orderId, amount: 8, paymentMethod: 'pm_card_ok' });
    const restarted = buildGateway(config, { logger });
    try {
      await restarted.start(); // the table exists: created again idempotently
      const again = await charge(`charge:${orderId}`, { orderId, amount: 8, paymentMethod: 'pm_card_ok' }, restarted);
      expect([again.status, again.body.replayed, again.body.requests]).toEqual([200, true, 2]);
    } finally {
      await restarted.stop();
    }
  });

  it('a ledger table from before voids (its status check without "voided") is brought up to date at start', async () => {
    const name = uniqueName('gateway_old');
    const admin = new Pool({ connectionString: PG_ADMIN_URL, max: 1 });
    await admin.query(`CREATE DATABASE "${name}"`);
    const db = new Pool({ connectionString: urlFor(name), max: 1 });
    // An idle connection ended by the server (seen once while other suites ran beside this one)
    // is replaced at the next query; unheard, the pool's error event would fail the suite.
    for (const pool of [admin, db]) pool.on('error', () => undefined);
    try {
      await db.query(`CREATE TABLE gateway_ledger (
        idempotency_key text PRIMARY KEY,
        kind text NOT NULL CHECK (kind IN ('charge', 'refund')),
        order_id text NOT NULL,
        amount numeric(14, 2) NOT NULL CHECK (amount >= 0),
        payment_method text,
        charge_key text,
        status text NOT NULL CHECK (status IN ('approved', 'declined', 'pending', 'refunded')),
        reason text,
        requests integer NOT NULL DEFAULT 1,
        created_at timestamptz NOT NULL DEFAULT now(),
        updated_at timestamptz NOT NULL DEFAULT now(),
        CHECK ((kind = 'refund') = (charge_key IS NOT NULL)))`);
      await db.query(`INSERT INTO gateway_ledger (idempotency_key, kind, order_id, amount, payment_method, status) VALUES ('charge:o-1', 'charge', 'o-1', 1, 'pm_card_ok', 'approved')`);
      await ensureLedger(urlFor(name));
      await ensureLedger(urlFor(name)); // and again: nothing to do
      await db.query(`INSERT INTO gateway_ledger (idempotency_key, kind, order_id, amount, status) VALUES ('charge:o-2', 'charge', 'o-2', 0, 'voided')`);
      await expect(db.query(`INSERT INTO gateway_ledger (idempotency_key, kind, order_id, amount, status) VALUES ('charge:o-3', 'charge', 'o-3', 0, 'lost')`)).rejects.toThrow(/gateway_ledger_status_check/);
      expect((await db.query('SELECT count(*)::int AS n FROM gateway_ledger')).rows[0].n).toBe(2);
    } finally {
      await db.end();
      await admin.query(`DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`);
      await admin.end();
    }
  });

  it('with the outage switch on, every API request is answered 503 and nothing is recorded; /ready says so, /health does not', async () => {
    gateway.switchboard.set({ outage: 'unavailable' });
    const orderId = id();
    const res = await charge(`charge:${orderId}`, { orderId, amount: 1, paymentMethod: 'pm_card_ok' });
    expect([res.status, res.body.code, res.headers['retry-after']]).toEqual([503, 'GATEWAY.UNAVAILABLE', '1']);
    expect((await request(gateway.app).get('/ready')).status).toBe(503);
    expect((await request(gateway.app).get('/health')).status).toBe(200);
    gateway.switchboard.set({ outage: null });
    expect((await lookup(`charge:${orderId}`)).status).toBe(404);
    expect((await request(gateway.app).get('/ready')).status).toBe(200);
  });

  it('in timeout mode a request gets no answer until the outage ends (then 503: it was lost)', async () => {
    gateway.switchboard.set({ outage: 'timeout' });
    const orderId = id();
    const started = Date.now();
    const pending = charge(`charge:${orderId}`, { orderId, amount: 1, paymentMethod: 'pm_card_ok' }).then((r) => r);
    setTimeout(() => gateway.switchboard.set({ outage: null }), 300);
    const res = await pending;
    expect(res.status).toBe(503);
    expect(Date.now() - started).toBeGreaterThanOrEqual(290);
    expect((await lookup(`charge:${orderId}`)).status).toBe(404);
  });

  it('latency delays the answer, not the charge: the ledger has it before the caller hears it', async () => {
    gateway.switchboard.set({ latencyMs: 400 });
    const orderId = id();
    const started = Date.now();
    const pending = charge(`charge:${orderId}`, { orderId, amount: 2, paymentMethod: 'pm_card_ok' }).then((r) => r);
    await new Promise((r) => setTimeout(r, 200));
    gateway.switchboard.set({ latencyMs: 0 });
    expect((await lookup(`charge:${orderId}`)).body.status).toBe('approved');
    expect((await pending).status).toBe(201);
    expect(Date.now() - started).toBeGreaterThanOrEqual(390);
  });

  it('latency can be set for some operations only; a lookup that finds nothing is late too (callers probe with it)', async () => {
    const admin = request(gateway.app);
    expect((await admin.put('/admin/latency').send({ ms: 400, operations: ['charge'] })).body).toEqual({ outage: null, latencyMs: 400, latencyOperations: ['charge'], failureRate: 0 });
    const orderId = id();
    const elapsed = async (call: () => Promise<unknown>): Promise<number> => {
      const started = Date.now();
      await call();
      return Date.now() - started;
    };
    expect(await elapsed(() => charge(`charge:${orderId}`, { orderId, amount: 2, paymentMethod: 'pm_card_ok' }))).toBeGreaterThanOrEqual(390);
    expect(await elapsed(() => lookup(`charge:${orderId}`))).toBeLessThan(300);
    expect(await elapsed(() => voidKey(id(), 1))).toBeLessThan(300);
    // Without operations: all of them again.
    expect((await admin.put('/admin/latency').send({ ms: 400 })).body.latencyOperations).toBeUndefined();
    expect(await elapsed(async () => expect((await lookup('probe:nothing-here')).status).toBe(404))).toBeGreaterThanOrEqual(390);
    expect((await admin.put('/admin/latency').send({ ms: 1, operations: ['everything'] })).status).toBe(400);
  });

  it('voiding a key no charge was made under leaves a tombstone: a charge asked later under it is answered voided and charges nothing, alone or in a batch', async () => {
    const orderId = id();
    const voided = await voidKey(orderId, 12);
    expect([voided.status, voided.body.outcome, voided.body.charge.status, voided.body.refund]).toEqual([201, 'voided', 'voided', null]);
    const again = await voidKey(orderId, 12);
    expect([again.status, again.body.outcome, again.body.replayed]).toEqual([200, 'voided', true]);
    const one = await charge(`charge:${orderId}`, { orderId, amount: 12, paymentMethod: 'pm_card_ok' });
    expect([one.status, one.body.status, one.body.replayed]).toEqual([200, 'voided', true]);
    // Whatever the charge asks: the key is voided for the order.
    const inBatch = await batch([{ idempotencyKey: `charge:${orderId}`, orderId, amount: 99, paymentMethod: 'pm_card_declined' }]);
    expect(inBatch.body.results.map((r: { status: string; replayed: boolean }) => [r.status, r.replayed])).toEqual([['voided', true]]);
    expect((await lookup(`charge:${orderId}`)).body).toEqual(expect.objectContaining({ kind: 'charge', status: 'voided', requests: 3 }));
    expect((await refund(`refund:${orderId}`, { chargeKey: `charge:${orderId}`, amount: 12 })).body.code).toBe('GATEWAY.CHARGE_NOT_REFUNDABLE');
    expect((await lookup(`refund:${orderId}`)).status).toBe(404);
  });

  it('voiding an approved charge (its answer lost to the caller) refunds it in full under the refund key, once; a refund asked later under that key is that refund', async () => {
    const orderId = id();
    await charge(`charge:${orderId}`, { orderId, amount: 21.5, paymentMethod: 'pm_card_ok' });
    const voided = await voidKey(orderId, 21.5);
    expect([voided.status, voided.body.outcome, voided.body.charge.status, voided.body.refund.idempotencyKey, voided.body.refund.amount, voided.body.refund.chargeKey]).toEqual([
      201, 'refunded', 'approved', `refund:${orderId}`, 21.5, `charge:${orderId}`,
    ]);
    expect((await voidKey(orderId, 21.5)).body).toEqual(expect.objectContaining({ outcome: 'refunded', replayed: true }));
    const later = await refund(`refund:${orderId}`, { chargeKey: `charge:${orderId}`, amount: 21.5 });
    expect([later.status, later.body.replayed]).toEqual([200, true]);
    expect((await charge(`charge:${orderId}`, { orderId, amount: 21.5, paymentMethod: 'pm_card_ok' })).body.status).toBe('approved');
  });

  it('voiding a pending charge (the card network never answered) voids it for good; a declined one needs nothing; a key of another order is refused', async () => {
    const flaky = id();
    expect((await charge(`charge:${flaky}`, { orderId: flaky, amount: 4, paymentMethod: 'pm_card_flaky' })).status).toBe(503);
    expect((await voidKey(flaky, 4)).body).toEqual(expect.objectContaining({ outcome: 'voided', refund: null, replayed: false }));
    // The third request would have been approved.
    for (let i = 0; i < 3; i++) expect((await charge(`charge:${flaky}`, { orderId: flaky, amount: 4, paymentMethod: 'pm_card_flaky' })).body.status).toBe('voided');
    const declined = id();
    await charge(`charge:${declined}`, { orderId: declined, amount: 5, paymentMethod: 'pm_card_declined' });
    expect((await voidKey(declined, 5)).body).toEqual(expect.objectContaining({ outcome: 'declined', refund: null }));
    const other = await request(gateway.app).post('/v1/voids').send({ chargeKey: `charge:${flaky}`, orderId: 'someone-else', amount: 1, refundKey: 'refund:someone-else' });
    expect([other.status, other.body.code]).toEqual([409, 'GATEWAY.IDEMPOTENCY_KEY_REUSED']);
  });

  it('a void racing a charge under the same key never leaves money kept: the charge came first and is refunded, or it found the tombstone', async () => {
    const orders = Array.from({ length: 20 }, () => id());
    await Promise.all(orders.map((o) => Promise.all([charge(`charge:${o}`, { orderId: o, amount: 3, paymentMethod: 'pm_card_ok' }), voidKey(o, 3)])));
    for (const o of orders) {
      const entry = (await lookup(`charge:${o}`)).body as { status: string };
      if (entry.status === 'approved') expect((await lookup(`refund:${o}`)).body).toEqual(expect.objectContaining({ status: 'refunded', amount: 3 }));
      else expect([entry.status, (await lookup(`refund:${o}`)).status]).toEqual(['voided', 404]);
    }
  });

  it('a failure rate of 1 answers every API request 503 without recording anything', async () => {
    gateway.switchboard.set({ failureRate: 1 });
    const orderId = id();
    expect((await charge(`charge:${orderId}`, { orderId, amount: 1, paymentMethod: 'pm_card_ok' })).status).toBe(503);
    gateway.switchboard.set({ failureRate: 0 });
    expect((await lookup(`charge:${orderId}`)).status).toBe(404);
  });

  it('the admin switches turn the outage, latency and failure rate, and validate what they get', async () => {
    const admin = request(gateway.app);
    expect((await admin.put('/admin/outage').send({ down: true, mode: 'timeout' })).body).toEqual({ outage: 'timeout', latencyMs: 0, failureRate: 0 });
    expect((await admin.put('/admin/outage').send({ down: false })).body.outage).toBeNull();
    expect((await admin.put('/admin/latency').send({ ms: 250 })).body.latencyMs).toBe(250);
    expect((await admin.put('/admin/failure-rate').send({ rate: 0.1 })).body.failureRate).toBe(0.1);
    expect((await admin.get('/admin/state')).body).toEqual({ outage: null, latencyMs: 250, failureRate: 0.1 });
    expect((await admin.put('/admin/outage').send({ down: 'yes' })).status).toBe(400);
    expect((await admin.put('/admin/failure-rate').send({ rate: 2 })).status).toBe(400);
    const metrics = (await request(gateway.app).get('/metrics')).text;
    expect(metrics).toMatch(/^gateway_operations_total\{operation="charge",result="approved",replayed="false"[^}]*\} [1-9]/m);
  });

  describe('the admin switches answer only on the simulator\'s own host', () => {
    it('loopback addresses, IPv4 and IPv6, are the only ones let in', () => {
      for (const local of ['127.0.0.1', '::1', '::ffff:127.0.0.1']) expect(isLoopback(local)).toBe(true);
      for (const remote of ['10.244.0.7', '192.0.2.2', '::ffff:10.0.0.1', 'fd00::2', undefined]) expect(isLoopback(remote)).toBe(false);
    });

    const external = Object.values(os.networkInterfaces()).flat().find((i) => i?.family === 'IPv4' && !i.internal)?.address;
    (external ? it : it.skip)(`a caller from another address (${external ?? 'none on this machine'}) is refused (403), X-Forwarded-For or not; the API still answers it`, async () => {
      const server: Server = await new Promise((resolve) => {
        const s = gateway.app.listen(0, '0.0.0.0', () => resolve(s));
      });
      try {
        const { port } = server.address() as { port: number };
        const base = `http://${external}:${port}`;
        const refused = await fetch(`${base}/admin/outage`, { method: 'PUT', headers: { 'content-type': 'application/json', 'x-forwarded-for': '127.0.0.1' }, body: '{"down":true}' });
        expect([refused.status, ((await refused.json()) as { code: string }).code]).toEqual([403, 'GATEWAY.ADMIN_LOCAL_ONLY']);
        expect(gateway.switchboard.behaviour.outage).toBeNull();
        expect((await fetch(`${base}/v1/ledger/nothing`)).status).toBe(404);
      } finally {
        server.closeAllConnections();
        await new Promise((r) => server.close(r));
      }
    });
  });
});
