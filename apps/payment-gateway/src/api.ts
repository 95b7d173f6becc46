import { setTimeout as sleep } from 'node:timers/promises';
import type { Request, Response, Router } from 'express';
import { Counter, Gauge, type Registry } from 'prom-client';
import { z } from 'zod';
import { AppError } from '@orderflow/errors';
import { validate } from '@orderflow/http';
import { disruptionOf, latencyOf, OPERATIONS, type Operation, type Switchboard } from './faults';
import type { CardRules, ChargeResult, Ledger, LedgerEntry } from './ledger';

export interface GatewayApiDeps {
  ledger: Ledger;
  switchboard: Switchboard;
  rules: CardRules;
  /** Most charges in one batch request. */
  maxBatch: number;
  metrics: Registry;
  /** In [0, 1): decides the transient failures (injected so tests are deterministic). */
  random?: () => number;
}

const key = z.string().min(1).max(255);
const charge = z.object({
  orderId: z.string().min(1).max(255),
  amount: z.number().finite().nonnegative(),
  paymentMethod: z.string().min(1).max(255),
});
const idempotencyKeyHeader = z.object({ 'idempotency-key': key });

/** The operation a `/v1` request asks for (a metric label: never the key in the path). */
const operationOf = (req: Request): Operation =>
  req.path.startsWith('/charges') ? 'charge' : req.path.startsWith('/refunds') ? 'refund' : req.path.startsWith('/voids') ? 'void' : 'lookup';

const unavailable = (why: string): AppError =>
  new AppError('GATEWAY.UNAVAILABLE', `the payment gateway is unavailable (${why}); try again later with the same idempotency key`, { category: 'transient' });

/** A charge or refund as the API shows it. */
function view(entry: LedgerEntry, replayed: boolean) {
  const { idempotencyKey, kind, orderId, amount, status, reason, requests, createdAt } = entry;
  return {
    idempotencyKey,
    kind,
    orderId,
    amount,
    status,
    reason,
    ...(entry.kind === 'charge' ? { paymentMethod: entry.paymentMethod } : { chargeKey: entry.chargeKey }),
    requests,
    replayed,
    createdAt,
  };
}

/**
 * The simulated gateway's API (JSON): charge one, charge a batch (one request for thousands of
 * orders), refund, look an operation up by its idempotency key. Every operation is idempotent
 * by its key. The outage switch and the transient failures (faults.ts) hit these routes only;
 * `/health`, `/ready`, `/metrics` and `/admin` keep answering.
 */
export function gatewayApi(deps: GatewayApiDeps) {
  const random = deps.random ?? Math.random;
  const operations = new Counter({
    name: 'gateway_operations_total',
    help: 'Charges and refunds asked of the simulated gateway, by result (replayed: answered before, under the same idempotency key)',
    labelNames: ['operation', 'result', 'replayed'],
    registers: [deps.metrics],
  });
  new Gauge({
    name: 'gateway_outage',
    help: 'Whether the outage switch is on (1), by mode',
    labelNames: ['mode'],
    registers: [deps.metrics],
    collect() {
      const { outage } = deps.switchboard.behaviour;
      for (const mode of ['unavailable', 'timeout'] as const) this.set({ mode }, outage === mode ? 1 : 0);
    },
  });
  const count = (operation: string, result: string, replayed = false): void => {
    operations.inc({ operation, result, replayed: String(replayed) });
  };

  /** Waits the configured latency of `operation`: the work is done, only the answer is late. */
  const late = async (operation: Operation): Promise<void> => {
    const latencyMs = latencyOf(deps.switchboard.behaviour, operation);
    if (latencyMs > 0) await sleep(latencyMs);
  };
  /** Answers after the configured latency. */
  const answer = async (res: Response, status: number, body: unknown, operation: Operation): Promise<void> => {
    await late(operation);
    res.status(status).json(body);
  };

  /** The outage switch and the transient failures, before any work. */
  const disruption = async (req: Request, res: Response): Promise<void> => {
    const d = disruptionOf(deps.switchboard.behaviour, random());
    if (d.kind === 'none') return;
    if (d.kind === 'hang') {
      // No answer until the outage ends (then a 503: the request was lost) or the caller gives up.
      const gone = new AbortController();
      res.once('close', () => gone.abort());
      await deps.switchboard.outageOver(gone.signal);
      count(operationOf(req), 'timeout');
      throw unavailable('outage');
    }
    count(operationOf(req), 'unavailable');
    res.setHeader('Retry-After', '1');
    throw unavailable(d.why);
  };

  const chargeAnswered = (r: ChargeResult): void => {
    count('charge', r.status, r.status !== 'rejected' && r.replayed);
  };

  return (router: Router): void => {
    router.use('/v1', async (req, res, next) => {
      await disruption(req, res);
      next();
    });

    /** One charge; the key in the `Idempotency-Key` header. 201 charged now, 200 answered before. */
    router.post('/v1/charges', async (req, res) => {
      const { 'idempotency-key': idempotencyKey } = validate(idempotencyKeyHeader, req.headers);
      const body = validate(charge, req.body);
      const [result] = await deps.ledger.charge([{ idempotencyKey, ...body }], deps.rules);
      chargeAnswered(result!);
      if (result!.status === 'rejected') throw new AppError(result!.code, result!.reason, { category: 'conflict' });
      if (result!.status === 'unavailable') {
        throw new AppError('GATEWAY.CARD_NETWORK_UNAVAILABLE', 'the card network is unavailable; try again later with the same idempotency key', { category: 'transient' });
      }
      if (result!.replayed) res.setHeader('Idempotent-Replayed', 'true');
      await answer(res, result!.replayed ? 200 : 201, view(result!.entry, result!.replayed), 'charge');
    });

    /**
     * Many charges in one request, each with its own key; the answers in request order, each
     * `approved`, `declined`, `unavailable` (the card network: try that one again later),
     * `voided` (the key was voided first: nothing charged) or `rejected` (its key was used for
     * another operation). 200 whatever the answers.
     */
    router.post('/v1/charges/batch', async (req, res) => {
      const body = validate(
        z.object({
          charges: z
            .array(charge.extend({ idempotencyKey: key }))
            .min(1)
            .max(deps.maxBatch)
            .refine((cs) => new Set(cs.map((c) => c.idempotencyKey)).size === cs.length, 'idempotency keys must be distinct within a batch'),
        }),
        req.body,
      );
      const results = await deps.ledger.charge(body.charges, deps.rules);
      results.forEach(chargeAnswered);
      await answer(res, 200, {
        results: results.map((r) =>
          r.status === 'rejected'
            ? { idempotencyKey: r.idempotencyKey, status: r.status, code: r.code, reason: r.reason }
            : { idempotencyKey: r.idempotencyKey, orderId: r.entry.orderId, amount: r.entry.amount, status: r.status, reason: r.reason, replayed: r.replayed },
        ),
      }, 'charge');
    });

    /** Refunds a charge (its idempotency key) in full, once. 201 refunded now, 200 answered before. */
    router.post('/v1/refunds', async (req, res) => {
      const { 'idempotency-key': idempotencyKey } = validate(idempotencyKeyHeader, req.headers);
      const body = validate(z.object({ chargeKey: key, amount: z.number().finite().nonnegative() }), req.body);
      const { entry, replayed } = await deps.ledger.refund({ idempotencyKey, ...body });
      count('refund', entry.status, replayed);
      if (replayed) res.setHeader('Idempotent-Replayed', 'true');
      await answer(res, replayed ? 200 : 201, view(entry, replayed), 'refund');
    });

    /**
     * Voids a charge key for an order that was cancelled: whatever was (or will be) asked under
     * it, the order ends with no money kept. Nothing charged yet → a tombstone: a later charge
     * under the key is answered `voided` and charges nothing. Approved → refunded in full, under
     * `refundKey`. Declined → nothing to do. `{ outcome, charge, refund }`; 201 voided now, 200
     * answered before. The caller's way to close the window of a charge whose answer it lost.
     */
    router.post('/v1/voids', async (req, res) => {
      const body = validate(z.object({ chargeKey: key, orderId: z.string().min(1).max(255), amount: z.number().finite().nonnegative(), refundKey: key }), req.body);
      const result = await deps.ledger.void(body);
      count('void', result.outcome, result.replayed);
      if (result.replayed) res.setHeader('Idempotent-Replayed', 'true');
      await answer(
        res,
        result.replayed ? 200 : 201,
        { chargeKey: body.chargeKey, outcome: result.outcome, charge: view(result.charge, result.replayed), refund: result.refund ? view(result.refund, result.replayed) : null, replayed: result.replayed },
        'void',
      );
    });

    /** What the gateway recorded under an idempotency key: how a caller that lost an answer finds it. */
    router.get('/v1/ledger/:key', async (req, res) => {
      const entry = await deps.ledger.lookup(validate(key, req.params.key));
      if (!entry) {
        // Late too: a lookup is how callers probe the gateway, and a probe must see it slow.
        await late('lookup');
        throw new AppError('GATEWAY.NOT_FOUND', `nothing recorded under idempotency key ${req.params.key}`, { category: 'not_found' });
      }
      await answer(res, 200, view(entry, false), 'lookup');
    });
  };
}

const LOOPBACK = new Set(['127.0.0.1', '::1', '::ffff:127.0.0.1']);

/** Whether a connection comes from the simulator's own host (its socket's remote address). */
export const isLoopback = (address: string | undefined): boolean => LOOPBACK.has(address ?? '');

/**
 * The operator's switches: the outage, the latency, the transient failure rate. Never routed by
 * Nginx, and answered only to a caller on the simulator's own host (loopback: `npm start`'s
 * machine, `kubectl port-forward`, `docker compose exec`), whatever the network lets through —
 * the payment service that reaches the API cannot turn its gateway off.
 */
export function adminApi(deps: { switchboard: Switchboard }) {
  return (router: Router): void => {
    router.use('/admin', (req, _res, next) => {
      // The socket's address, not req.ip: a forwarded-for header must not open the door.
      if (!isLoopback(req.socket.remoteAddress)) {
        throw new AppError('GATEWAY.ADMIN_LOCAL_ONLY', 'the admin endpoints answer only on the simulator\'s own host', { category: 'forbidden' });
      }
      next();
    });

    router.get('/admin/state', (_req, res) => {
      res.json(deps.switchboard.behaviour);
    });

    /** `{ "down": true }` (503 for every API request), `{ "down": true, "mode": "timeout" }` (no answer), `{ "down": false }`. */
    router.put('/admin/outage', (req, res) => {
      const body = validate(z.object({ down: z.boolean(), mode: z.enum(['unavailable', 'timeout']).default('unavailable') }), req.body);
      res.json(deps.switchboard.set({ outage: body.down ? body.mode : null }));
    });

    /** `{ "ms": 1500 }`: every API answer; `{ "ms": 1500, "operations": ["charge"] }`: only those operations' answers. */
    router.put('/admin/latency', (req, res) => {
      const body = validate(z.object({ ms: z.number().int().min(0).max(600_000), operations: z.array(z.enum(OPERATIONS)).min(1).optional() }), req.body);
      res.json(deps.switchboard.set({ latencyMs: body.ms, latencyOperations: body.operations }));
    });

    router.put('/admin/failure-rate', (req, res) => {
      const body = validate(z.object({ rate: z.number().min(0).max(1) }), req.body);
      res.json(deps.switchboard.set({ failureRate: body.rate }));
    });
  };
}
