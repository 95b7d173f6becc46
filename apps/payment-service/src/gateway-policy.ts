/**
 * How the payment service treats its payment gateway when a call goes wrong, as small pure
 * decisions (unit-tested without I/O); gateway.ts applies them around the HTTP calls.
 */

/** The circuit breaker's states, as the metric and `/ready` name them. */
export type CircuitState = 'closed' | 'open' | 'half_open';
export const CIRCUIT_STATES: readonly CircuitState[] = ['closed', 'open', 'half_open'];

/** Why a call to the gateway brought no answer the service can use. */
export type GatewayFailure =
  /** The breaker refused the call without trying (open, or half-open with its one trial under way). */
  | { kind: 'circuit_open' }
  /** No connection: refused, reset, closed, the name not resolved. */
  | { kind: 'unreachable'; code: string }
  /** No answer within PAYMENT_GATEWAY_TIMEOUT_MS. The gateway may have charged all the same. */
  | { kind: 'timeout' }
  /** An HTTP error answer (the problem document's code, when it has one). */
  | { kind: 'status'; status: number; code?: string }
  /** A success status with a body the service does not understand. */
  | { kind: 'malformed'; detail: string };

/**
 * What a failure means for the messages that asked for it:
 * - `wait`: the gateway is unavailable, no message's fault. The consumer gives the batch back
 *   and pauses until the gateway answers (no retry is spent, nothing is parked); the retry asks
 *   again with the same idempotency keys, so a charge made before a lost answer is found, not
 *   made twice.
 * - `reject`: the gateway refused the request itself (4xx: a bug on one side, or an idempotency
 *   key reused with other parameters): asking again cannot help, the message is parked.
 */
export function verdictOf(failure: GatewayFailure): 'wait' | 'reject' {
  switch (failure.kind) {
    case 'circuit_open':
    case 'unreachable':
    case 'timeout':
      return 'wait';
    case 'status':
      // 408 and 429: the gateway's own limits, over with time; 5xx: its troubles.
      return failure.status >= 500 || failure.status === 408 || failure.status === 429 ? 'wait' : 'reject';
    case 'malformed':
      return 'reject';
  }
}

/**
 * Whether a failure counts against the gateway's health, in the breaker's error rate: the
 * gateway's troubles do; a request it refused (it answered, it is well) and the breaker's own
 * refusals do not.
 */
export function countsAgainstGateway(failure: GatewayFailure): boolean {
  return failure.kind !== 'circuit_open' && verdictOf(failure) === 'wait';
}

/** The breaker's settings (opossum's options) for a gateway call timeout and reset time. */
export function breakerOptions(o: { resetMs: number }) {
  return {
    // The HTTP client enforces PAYMENT_GATEWAY_TIMEOUT_MS itself, and aborts the request.
    timeout: false as const,
    /** Open for this long before one trial call is let through (half-open). */
    resetTimeout: o.resetMs,
    /** Opens when more than this share of the calls in the window failed… */
    errorThresholdPercentage: 50,
    /** …out of at least this many calls (a batch is one call: a few failed batches are a pattern). */
    volumeThreshold: 3,
    rollingCountTimeout: 10_000,
    rollingCountBuckets: 10,
  };
}

/** The idempotency key of an order's charge: every attempt to charge the order sends the same. */
export const chargeKey = (orderId: string): string => `charge:${orderId}`;
/** The idempotency key of an order's refund. */
export const refundKey = (orderId: string): string => `refund:${orderId}`;
/**
 * The key the paused consumers' probe looks up (`GET /v1/ledger/:key`): never used for an
 * operation, so answered 404 — by the API, through its whole path — whenever the gateway serves.
 */
export const PROBE_KEY = 'probe:payment-service';
