import CircuitBreaker from 'opossum';
import { breakerOptions, chargeKey, countsAgainstGateway, refundKey, verdictOf, type GatewayFailure } from '../src/gateway-policy';

describe('what a failed gateway call means for the messages that asked for it', () => {
  it('a gateway that does not answer, answers late, answers 5xx, 408 or 429, or a breaker that is open: the messages wait', () => {
    const waits: GatewayFailure[] = [
      { kind: 'circuit_open' },
      { kind: 'unreachable', code: 'ECONNREFUSED' },
      { kind: 'timeout' },
      { kind: 'status', status: 503, code: 'GATEWAY.UNAVAILABLE' },
      { kind: 'status', status: 500 },
      { kind: 'status', status: 502 },
      { kind: 'status', status: 408 },
      { kind: 'status', status: 429 },
    ];
    expect(waits.map(verdictOf)).toEqual(waits.map(() => 'wait'));
  });

  it('a request the gateway refuses (4xx) or an answer not understood: the message is parked, asking again cannot help', () => {
    const rejects: GatewayFailure[] = [
      { kind: 'status', status: 400, code: 'REQUEST.INVALID' },
      { kind: 'status', status: 404, code: 'GATEWAY.CHARGE_NOT_FOUND' },
      { kind: 'status', status: 409, code: 'GATEWAY.IDEMPOTENCY_KEY_REUSED' },
      { kind: 'status', status: 413 },
      { kind: 'malformed', detail: 'Unexpected token <' },
    ];
    expect(rejects.map(verdictOf)).toEqual(rejects.map(() => 'reject'));
  });

  it("only the gateway's own troubles count against it in the breaker: not its refusals, not the breaker's", () => {
    expect(countsAgainstGateway({ kind: 'timeout' })).toBe(true);
    expect(countsAgainstGateway({ kind: 'unreachable', code: 'ECONNRESET' })).toBe(true);
    expect(countsAgainstGateway({ kind: 'status', status: 503 })).toBe(true);
    expect(countsAgainstGateway({ kind: 'status', status: 409 })).toBe(false);
    expect(countsAgainstGateway({ kind: 'malformed', detail: 'x' })).toBe(false);
    expect(countsAgainstGateway({ kind: 'circuit_open' })).toBe(false);
  });

  it('every attempt at an order sends the same idempotency keys', () => {
    const orderId = '0b6f9d2e-1111-4222-8333-444455556666';
    expect(chargeKey(orderId)).toBe(`charge:${orderId}`);
    expect(refundKey(orderId)).toBe(`refund:${orderId}`);
    expect(chargeKey(orderId)).not.toBe(refundKey(orderId));
  });
});

/** The breaker as configured (breakerOptions, opossum), on an action that fails as told: no I/O. */
describe('the circuit breaker policy', () => {
  const failing = (failure: GatewayFailure) => Object.assign(new Error(failure.kind), { failure });
  const breakerWith = (resetMs = 50) => {
    let next: GatewayFailure | null = null;
    const breaker = new CircuitBreaker(async () => {
      if (next) throw failing(next);
      return 'ok';
    }, { ...breakerOptions({ resetMs }), errorFilter: (err: { failure: GatewayFailure }) => !countsAgainstGateway(err.failure) });
    return {
      breaker,
      answer: (failure: GatewayFailure | null) => {
        next = failure;
      },
      fire: () => breaker.fire().then(() => 'ok', (err: { code?: string }) => (err.code === 'EOPENBREAKER' ? 'refused' : 'failed')),
    };
  };

  it('opens after three failed calls in a row (a paused consumer probing a dead gateway), then refuses without calling', async () => {
    const b = breakerWith();
    b.answer({ kind: 'unreachable', code: 'ECONNREFUSED' });
    expect([await b.fire(), await b.fire()]).toEqual(['failed', 'failed']);
    expect(b.breaker.opened).toBe(false);
    expect(await b.fire()).toBe('failed');
    expect(b.breaker.opened).toBe(true);
    b.answer(null);
    expect(await b.fire()).toBe('refused');
    b.breaker.shutdown();
  });

  it('stays closed while failures are no more than half of the calls (a gateway that fails now and then)', async () => {
    const b = breakerWith();
    for (let i = 0; i < 10; i++) {
      b.answer(i % 2 === 1 ? { kind: 'status', status: 503 } : null);
      await b.fire();
    }
    expect(b.breaker.opened).toBe(false);
    b.breaker.shutdown();
  });

  it('never opens on requests the gateway refuses: it answered, it is well', async () => {
    const b = breakerWith();
    b.answer({ kind: 'status', status: 409, code: 'GATEWAY.IDEMPOTENCY_KEY_REUSED' });
    for (let i = 0; i < 10; i++) expect(await b.fire()).toBe('failed');
    expect(b.breaker.opened).toBe(false);
    b.breaker.shutdown();
  });

  it('after its reset time lets one trial through (half-open): answered, it closes; failed, it opens again', async () => {
    const b = breakerWith(50);
    b.answer({ kind: 'timeout' });
    for (let i = 0; i < 3; i++) await b.fire();
    expect(b.breaker.opened).toBe(true);
    await new Promise((r) => setTimeout(r, 80));
    expect(b.breaker.halfOpen).toBe(true);
    expect(await b.fire()).toBe('failed');
    expect(b.breaker.opened).toBe(true);
    await new Promise((r) => setTimeout(r, 80));
    b.answer(null);
    expect(await b.fire()).toBe('ok');
    expect(b.breaker.closed).toBe(true);
    b.breaker.shutdown();
  });
});
