import CircuitBreaker from 'opossum';
import { Gauge, Histogram, type Registry } from 'prom-client';
import { DependencyUnavailableError, permanentError } from '@orderflow/errors';
import type { Tracing } from '@orderflow/tracing';
import {
  breakerOptions,
  chargeKey,
  CIRCUIT_STATES,
  countsAgainstGateway,
  PROBE_KEY,
  refundKey,
  verdictOf,
  type CircuitState,
  type GatewayFailure,
} from './gateway-policy';
import { GatewayCallError, gatewayTransport, type Answer, type Call } from './gateway-http';

/** One order to charge. */
export interface Charge {
  orderId: string;
  amount: number;
  paymentMethod: string;
}

/** The gateway's answer for one charge. */
export type CardAnswer =
  | { outcome: 'approved' }
  | { outcome: 'declined'; reason: string }
  /** The card network is unavailable for this card (the flaky test card): try this order again later. */
  | { outcome: 'unavailable' }
  /** The order's charge was voided (its cancellation came first, see `void`): nothing was charged, nothing will be. */
  | { outcome: 'voided' };

/** What voiding an order's charge found at the gateway. */
export type VoidAnswer =
  /** No charge was made under the key (none asked, or the card network never answered): none ever will be. */
  | { outcome: 'voided' }
  /** The charge was declined: nothing was taken. */
  | { outcome: 'declined' }
  /** The charge had been approved (its answer never reached us): it is refunded in full, under `refund:<orderId>`. */
  | { outcome: 'refunded'; amount: number };

/** What the payment service needs of its payment gateway (the simulator, apps/payment-gateway). */
export interface PaymentGateway {
  /**
   * Charges each order once, ONE request whatever their number; the answers in order. Each
   * charge's idempotency key is the order's (`charge:<orderId>`), so asking again — after a
   * lost answer, a failed commit, a redelivery — returns the first answer and charges nothing
   * more. Throws `DependencyUnavailableError` when the gateway does not answer (see verdictOf).
   */
  charge(charges: readonly Charge[]): Promise<CardAnswer[]>;
  /**
   * Refunds an order's charge in full, idempotently (`refund:<orderId>`). `charge-unknown`: the
   * gateway has no such charge — one made before the payment service had a gateway, which moved
   * no money: there is nothing to give back.
   */
  refund(refund: { orderId: string; amount: number }): Promise<'refunded' | 'charge-unknown'>;
  /**
   * Voids the order's charge key (`charge:<orderId>`) — a cancellation of an order this service
   * has no charge of. The gateway may have one all the same: a charge whose answer was lost, or
   * whose transaction here rolled back (a timeout, a flaky card in its batch, a failed commit,
   * an import chunk retried later). Voiding refunds such a charge (`refund:<orderId>`), and
   * otherwise leaves a tombstone that answers any later charge under the key `voided`, charging
   * nothing. Idempotent: asked again, the same answer. `amount`: the order's total, recorded.
   */
  voidCharge(order: { orderId: string; amount: number }): Promise<VoidAnswer>;
  /**
   * Whether consumers paused for the gateway may take messages again: a real operation of its
   * API (a ledger lookup) answered in time, through the breaker.
   */
  answers(): Promise<boolean>;
  /** For `/ready`'s detail. */
  status(): { url: string; circuit: CircuitState };
  close(): Promise<void>;
}

export interface GatewayOptions {
  /** PAYMENT_GATEWAY_URL. */
  url: string;
  /** PAYMENT_GATEWAY_TIMEOUT_MS: longest a call may take. */
  timeoutMs: number;
  /** PAYMENT_GATEWAY_BREAKER_RESET_MS: how long the breaker stays open before a trial call. */
  breakerResetMs: number;
  /** Where the breaker's state and the calls' durations are reported. */
  metrics: Registry;
  /** On: a client span per call (the probe aside), its `traceparent` sent along. */
  tracing?: Tracing;
}

const DEPENDENCY = 'payment-gateway';

/**
 * The payment gateway over HTTP (`gatewayTransport`: keep-alive connections, a deadline per
 * call, a client span per call while tracing is on) behind a circuit breaker
 * (opossum) that fails fast while the gateway is down — a paused consumer then waits for the
 * breaker's trial instead of hammering a dead gateway with every redelivered batch.
 */
export function httpPaymentGateway(o: GatewayOptions): PaymentGateway {
  const { send, close } = gatewayTransport(o);

  const duration = new Histogram({
    name: 'payment_gateway_call_duration_seconds',
    help: 'Calls to the payment gateway, by operation and outcome (ok, wait: gateway unavailable, reject: request refused, circuit_open: not tried)',
    labelNames: ['operation', 'outcome'],
    buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
    registers: [o.metrics],
  });

  const breaker = new CircuitBreaker(send, {
    ...breakerOptions({ resetMs: o.breakerResetMs }),
    // true: not the gateway's fault, so not a failure in the breaker's error rate.
    errorFilter: (err: unknown) => err instanceof GatewayCallError && !countsAgainstGateway(err.failure),
  });
  const circuit = (): CircuitState => (breaker.opened ? 'open' : breaker.halfOpen ? 'half_open' : 'closed');

  new Gauge({
    name: 'payment_gateway_circuit_state',
    help: 'The circuit breaker in front of the payment gateway: 1 for its current state (closed: calls go through; open: failing fast, payments wait; half_open: one trial call)',
    labelNames: ['state'],
    registers: [o.metrics],
    collect() {
      const now = circuit();
      for (const state of CIRCUIT_STATES) this.set({ state }, state === now ? 1 : 0);
    },
  });

  /**
   * The probe of paused consumers: a real operation of the API — the ledger lookup of a key
   * nobody uses, answered 404 — not the gateway's `/ready`, which answers while its API is too
   * slow for our timeout or fails every request: the consumers would resume only to fail again,
   * round after round. Asked THROUGH the breaker, like any call, within the same timeout. So an
   * outage opens the breaker within a few probes (a paused consumer makes no other calls), an
   * open breaker keeps the probes off the gateway (refused at once) until its reset time, and
   * the first probe after it is the half-open trial: answered, the breaker closes and the
   * consumers take messages again.
   */
  const answers = async (): Promise<boolean> => {
    try {
      await breaker.fire({ operation: 'probe', method: 'GET', path: `/v1/ledger/${encodeURIComponent(PROBE_KEY)}`, accept: [404] });
      return true;
    } catch {
      return false;
    }
  };

  /** Calls through the breaker; a failure becomes what gateway-policy.ts says it is. */
  const call = async (c: Call): Promise<Answer> => {
    const stop = duration.startTimer({ operation: c.operation });
    try {
      const answer = await breaker.fire(c);
      stop({ outcome: 'ok' });
      return answer;
    } catch (err) {
      const failure: GatewayFailure = err instanceof GatewayCallError ? err.failure : (err as { code?: string }).code === 'EOPENBREAKER' ? { kind: 'circuit_open' } : { kind: 'unreachable', code: 'UNKNOWN' };
      const verdict = verdictOf(failure);
      stop({ outcome: failure.kind === 'circuit_open' ? 'circuit_open' : verdict });
      const message = failure.kind === 'circuit_open' ? `payment gateway ${c.operation}: circuit open, not tried` : (err as Error).message;
      if (verdict === 'wait') {
        throw new DependencyUnavailableError('PAYMENT.GATEWAY_UNAVAILABLE', failure.kind === 'timeout' ? `${message} (it may have charged: the retry asks again with the same idempotency key)` : message, {
          dependency: DEPENDENCY,
          answers,
          // Refused by the open breaker: the request was not made, no evidence against the message.
          tried: failure.kind !== 'circuit_open',
          cause: err,
        });
      }
      throw permanentError(`PAYMENT.GATEWAY_REJECTED`, message, err);
    }
  };

  return {
    async charge(charges) {
      if (charges.length === 0) return [];
      const answer = await call({
        operation: 'charge',
        method: 'POST',
        path: '/v1/charges/batch',
        body: { charges: charges.map((c) => ({ idempotencyKey: chargeKey(c.orderId), orderId: c.orderId, amount: c.amount, paymentMethod: c.paymentMethod })) },
      });
      const results = (answer.body as { results?: unknown }).results;
      if (!Array.isArray(results) || results.length !== charges.length) {
        throw permanentError('PAYMENT.GATEWAY_REJECTED', `payment gateway charge: ${charges.length} charges asked, answer not understood`);
      }
      return results.map((r: { idempotencyKey?: string; status?: string; reason?: string | null; code?: string }, i): CardAnswer => {
        if (r.idempotencyKey !== chargeKey(charges[i]!.orderId)) throw permanentError('PAYMENT.GATEWAY_REJECTED', `payment gateway charge: answer ${i} is for ${r.idempotencyKey}`);
        switch (r.status) {
          case 'approved':
            return { outcome: 'approved' };
          case 'declined':
            return { outcome: 'declined', reason: r.reason ?? 'card declined' };
          case 'unavailable':
            return { outcome: 'unavailable' };
          case 'voided':
            return { outcome: 'voided' };
          default:
            // `rejected`: the key was used for other parameters. Nothing was charged; asking again cannot help.
            throw permanentError('PAYMENT.GATEWAY_REJECTED', `payment gateway refused charge ${r.idempotencyKey}: ${r.code ?? r.status} ${r.reason ?? ''}`.trim());
        }
      });
    },

    async refund({ orderId, amount }) {
      try {
        await call({ operation: 'refund', method: 'POST', path: '/v1/refunds', idempotencyKey: refundKey(orderId), body: { chargeKey: chargeKey(orderId), amount } });
        return 'refunded';
      } catch (err) {
        const failure = (err as { cause?: unknown }).cause;
        if (failure instanceof GatewayCallError && failure.failure.kind === 'status' && failure.failure.code === 'GATEWAY.CHARGE_NOT_FOUND') return 'charge-unknown';
        throw err;
      }
    },

    async voidCharge({ orderId, amount }) {
      const answer = await call({
        operation: 'void',
        method: 'POST',
        path: '/v1/voids',
        body: { chargeKey: chargeKey(orderId), orderId, amount, refundKey: refundKey(orderId) },
      });
      const body = answer.body as { outcome?: string; refund?: { amount?: unknown } | null };
      switch (body.outcome) {
        case 'voided':
          return { outcome: 'voided' };
        case 'declined':
          return { outcome: 'declined' };
        case 'refunded':
          if (typeof body.refund?.amount === 'number') return { outcome: 'refunded', amount: body.refund.amount };
      }
      throw permanentError('PAYMENT.GATEWAY_REJECTED', `payment gateway void of ${chargeKey(orderId)}: answer not understood`);
    },

    answers,
    status: () => ({ url: o.url, circuit: circuit() }),
    async close() {
      breaker.shutdown();
      await close();
    },
  };
}
