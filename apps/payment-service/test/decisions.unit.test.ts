import { parseConfig } from '@orderflow/config';
import { paymentConfigSchema } from '../src/config';
import { answerToRepeatedReservation, decideCancellation } from '../src/decisions';

describe('a reservation for an order that already has its charge row', () => {
  it('after a cancellation (VOIDED) answers payment.failed "order cancelled"; after a charge it answers nothing', () => {
    expect(answerToRepeatedReservation('VOIDED')).toEqual({ reason: 'order cancelled' });
    expect(answerToRepeatedReservation('SUCCEEDED')).toBeNull();
    expect(answerToRepeatedReservation('FAILED')).toBeNull();
  });

  it('after a charge refunded (a cancellation that found the charge made at the gateway) it answers payment.failed "order cancelled" too', () => {
    expect(answerToRepeatedReservation('SUCCEEDED', true)).toEqual({ reason: 'order cancelled' });
    expect(answerToRepeatedReservation('SUCCEEDED', false)).toBeNull();
  });
});

describe('cancellation decision', () => {
  it('a successful charge not yet refunded is refunded in full', () => {
    expect(decideCancellation({ status: 'SUCCEEDED', amount: 42.5 }, false)).toEqual({ action: 'refund', amount: 42.5 });
  });

  it('a refunded charge, a failed charge or an earlier cancellation change nothing', () => {
    expect(decideCancellation({ status: 'SUCCEEDED', amount: 42.5 }, true)).toEqual({ action: 'none', why: 'already refunded' });
    expect(decideCancellation({ status: 'FAILED', amount: 42.5 }, false)).toEqual({ action: 'none', why: 'charge failed' });
    expect(decideCancellation({ status: 'VOIDED', amount: 42.5 }, false)).toEqual({ action: 'none', why: 'already cancelled' });
  });

  it('an order without a charge yet is voided so a later reservation charges nothing', () => {
    expect(decideCancellation(null, false)).toEqual({ action: 'void' });
  });
});

describe('payment configuration', () => {
  const env = (extra: Record<string, string>) => ({ DATABASE_URL: 'postgresql://postgres@127.0.0.1:5432/payments', JWT_SECRET: 'a-secret-of-sixteen-chars', ...extra });

  it('the gateway is reached at http://127.0.0.1:8090 with a 5 s timeout unless configured otherwise', () => {
    const config = parseConfig(paymentConfigSchema(8083), env({}));
    expect([config.PAYMENT_GATEWAY_URL, config.PAYMENT_GATEWAY_TIMEOUT_MS, config.PAYMENT_GATEWAY_BREAKER_RESET_MS]).toEqual(['http://127.0.0.1:8090', 5_000, 5_000]);
    const custom = parseConfig(paymentConfigSchema(8083), env({ PAYMENT_GATEWAY_URL: 'http://payment-gateway:8090', PAYMENT_GATEWAY_TIMEOUT_MS: '800' }));
    expect([custom.PAYMENT_GATEWAY_URL, custom.PAYMENT_GATEWAY_TIMEOUT_MS]).toEqual(['http://payment-gateway:8090', 800]);
  });

  it('a gateway URL that is not http(s), or a timeout that is not a positive integer, is rejected, naming the variable', () => {
    expect(() => parseConfig(paymentConfigSchema(8083), env({ PAYMENT_GATEWAY_URL: 'amqp://gateway' }))).toThrow(/PAYMENT_GATEWAY_URL/);
    for (const bad of ['0', '-5', 'soon']) expect(() => parseConfig(paymentConfigSchema(8083), env({ PAYMENT_GATEWAY_TIMEOUT_MS: bad }))).toThrow(/PAYMENT_GATEWAY_TIMEOUT_MS/);
  });

  it('a gateway timeout as long as the lock timeout is rejected: the transaction holds its charge rows for the call', () => {
    expect(() => parseConfig(paymentConfigSchema(8083), env({ PAYMENT_GATEWAY_TIMEOUT_MS: '10000', DB_LOCK_TIMEOUT_MS: '10000' }))).toThrow(/PAYMENT_GATEWAY_TIMEOUT_MS: must be below DB_LOCK_TIMEOUT_MS/);
    expect(() => parseConfig(paymentConfigSchema(8083), env({ PAYMENT_GATEWAY_TIMEOUT_MS: '9000', DB_IDLE_IN_TRANSACTION_TIMEOUT_MS: '9000', DB_LOCK_TIMEOUT_MS: '0' }))).toThrow(/DB_IDLE_IN_TRANSACTION_TIMEOUT_MS/);
    expect(parseConfig(paymentConfigSchema(8083), env({ PAYMENT_GATEWAY_TIMEOUT_MS: '9000', DB_LOCK_TIMEOUT_MS: '10000' })).PAYMENT_GATEWAY_TIMEOUT_MS).toBe(9_000);
  });
});
