import { Pool } from 'undici';
import { startClient, type Tracing } from '@orderflow/tracing';
import type { GatewayFailure } from './gateway-policy';

/** A failed call, with what went wrong (gateway-policy.ts decides what it means). */
export class GatewayCallError extends Error {
  constructor(
    readonly failure: GatewayFailure,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = 'GatewayCallError';
  }
}

export interface Call {
  operation: 'charge' | 'refund' | 'void' | 'probe';
  method: 'GET' | 'POST';
  path: string;
  body?: unknown;
  idempotencyKey?: string;
  /** Error statuses that are answers here (the probe's 404). */
  accept?: readonly number[];
}

export interface Answer {
  status: number;
  body: unknown;
}

/** The failure an error of the HTTP client stands for. */
export function failureOfError(err: unknown): GatewayFailure {
  const e = err as { name?: string; code?: string };
  if (e.name === 'TimeoutError' || e.code === 'UND_ERR_HEADERS_TIMEOUT' || e.code === 'UND_ERR_BODY_TIMEOUT' || e.code === 'UND_ERR_CONNECT_TIMEOUT') return { kind: 'timeout' };
  return { kind: 'unreachable', code: e.code ?? e.name ?? 'UNKNOWN' };
}

export interface TransportOptions {
  url: string;
  timeoutMs: number;
  /** On: each call is a client span whose `traceparent` goes with the request. */
  tracing?: Tracing;
}

/**
 * The HTTP side of the gateway client: keep-alive connections (a pool per process, so a
 * batch's call costs no handshake) and a deadline per call that aborts the request. A failure
 * throws a `GatewayCallError` saying what went wrong.
 */
export function gatewayTransport(o: TransportOptions): { send: (call: Call) => Promise<Answer>; close: () => Promise<void> } {
  const base = new URL(o.url);
  const prefix = base.pathname.replace(/\/+$/, '');
  const pool = new Pool(base.origin, {
    // Batches are few and serial per lane: a handful of connections serves every lane of a process.
    connections: 8,
    keepAliveTimeout: 30_000,
    // Below the simulator's (and most servers') 65 s, so the server never closes a connection under a request.
    keepAliveMaxTimeout: 60_000,
  });

  const request = async (call: Call, traceHeaders: Record<string, string> | undefined): Promise<Answer> => {
    let res;
    try {
      res = await pool.request({
        method: call.method,
        path: `${prefix}${call.path}`,
        headers: { 'content-type': 'application/json', ...(call.idempotencyKey ? { 'idempotency-key': call.idempotencyKey } : {}), ...traceHeaders },
        body: call.body === undefined ? undefined : JSON.stringify(call.body),
        signal: AbortSignal.timeout(o.timeoutMs),
      });
    } catch (err) {
      throw new GatewayCallError(failureOfError(err), `payment gateway ${call.operation}: ${(err as Error).message}`, { cause: err });
    }
    let body: unknown;
    try {
      body = await res.body.json();
    } catch (err) {
      if (call.accept?.includes(res.statusCode)) return { status: res.statusCode, body: null };
      // A body that is not JSON (a proxy's error page) or a connection lost while reading it.
      const failure: GatewayFailure =
        res.statusCode >= 400 ? { kind: 'status', status: res.statusCode } : err instanceof SyntaxError ? { kind: 'malformed', detail: err.message } : failureOfError(err);
      throw new GatewayCallError(failure, `payment gateway ${call.operation}: answered ${res.statusCode}, body unreadable (${(err as Error).message})`, { cause: err });
    }
    if (res.statusCode >= 400 && !call.accept?.includes(res.statusCode)) {
      const problem = body as { code?: string; detail?: string };
      throw new GatewayCallError({ kind: 'status', status: res.statusCode, code: problem.code }, `payment gateway ${call.operation}: ${res.statusCode} ${problem.code ?? ''} ${problem.detail ?? ''}`.trim());
    }
    return { status: res.statusCode, body };
  };

  const { tracing } = o;
  return {
    // The probe of paused consumers is no order's call: no span, or an outage would make a trace
    // per probe. (The other paths hold no ids: they name the span as they are.)
    send: !tracing
      ? (call) => request(call, undefined)
      : async (call) => {
          if (call.operation === 'probe') return request(call, undefined);
          const span = startClient(tracing, { method: call.method, url: `${base.origin}${prefix}${call.path}`, template: `${prefix}${call.path}` });
          try {
            const answer = await request(call, span.headers);
            span.finish({ status: answer.status });
            return answer;
          } catch (err) {
            const failure = err instanceof GatewayCallError ? err.failure : undefined;
            span.finish(failure?.kind === 'status' ? { status: failure.status } : { error: err });
            throw err;
          }
        },
    close: () => pool.close(),
  };
}
