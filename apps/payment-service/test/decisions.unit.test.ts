import { parseConfig } from '@orderflow/config';
import { paymentConfigSchema } from '../src/config';
import { answerToRepeatedReservation, chargeCard, decideCancellation, scoreOf } from '../src/decisions';

const orderId = '0b6f9d2e-1111-4222-8333-444455556666';
/** 10,000 distinct, reproducible order ids. */
const orderIds = Array.from({ length: 10_000 }, (_, i) => `00000000-0000-4000-8000-${i.toString(16).padStart(12, '0')}`);

describe('simulated card gateway', () => {
  it('pm_card_ok is approved on every attempt, whatever the success rate', () => {
    for (const attempt of [1, 2, 5]) expect(chargeCard({ orderId, paymentMethod: 'pm_card_ok', attempt }, 0)).toEqual({ outcome: 'approved' });
  });

  it('pm_card_declined is declined with reason "card declined", whatever the success rate', () => {
    for (const attempt of [1, 3]) {
      expect(chargeCard({ orderId, paymentMethod: 'pm_card_declined', attempt }, 1)).toEqual({ outcome: 'declined', reason: 'card declined' });
    }
  });

  it('pm_card_flaky is unavailable on attempts 1 and 2 and approved from attempt 3', () => {
    const outcomes = [1, 2, 3, 4].map((attempt) => chargeCard({ orderId, paymentMethod: 'pm_card_flaky', attempt }, 0).outcome);
    expect(outcomes).toEqual(['unavailable', 'unavailable', 'approved', 'approved']);
  });

  it('any other card gets the same answer for the same order on every attempt (a redelivery cannot flip it)', () => {
    for (const id of orderIds.slice(0, 200)) {
      const first = chargeCard({ orderId: id, paymentMethod: 'pm_visa', attempt: 1 }, 0.5);
      expect(chargeCard({ orderId: id, paymentMethod: 'pm_other', attempt: 4 }, 0.5)).toEqual(first);
    }
  });

  it('any other card is approved for about PAYMENT_SUCCESS_RATE of 10,000 orders', () => {
    for (const rate of [0.8, 0.3]) {
      const approved = orderIds.filter((id) => chargeCard({ orderId: id, paymentMethod: 'pm_visa', attempt: 1 }, rate).outcome === 'approved').length;
      expect(approved / orderIds.length).toBeGreaterThan(rate - 0.02);
      expect(approved / orderIds.length).toBeLessThan(rate + 0.02);
    }
  });

  it('a success rate of 0 declines every other card and 1 approves every one', () => {
    const outcomes = (rate: number) => new Set(orderIds.slice(0, 500).map((id) => chargeCard({ orderId: id, paymentMethod: 'pm_x', attempt: 1 }, rate).outcome));
    expect(outcomes(0)).toEqual(new Set(['declined']));
    expect(outcomes(1)).toEqual(new Set(['approved']));
  });

  it('the per-order score is stable and in [0, 1)', () => {
    expect(scoreOf(orderId)).toBe(scoreOf(orderId));
    for (const id of orderIds.slice(0, 1000)) {
      expect(scoreOf(id)).toBeGreaterThanOrEqual(0);
      expect(scoreOf(id)).toBeLessThan(1);
    }
  });
});

describe('a reservation for an order that already has its charge row', () => {
  it('after a cancellation (VOIDED) answers payment.failed "order cancelled"; after a charge it answers nothing', () => {
    expect(answerToRepeatedReservation('VOIDED')).toEqual({ reason: 'order cancelled' });
    expect(answerToRepeatedReservation('SUCCEEDED')).toBeNull();
    expect(answerToRepeatedReservation('FAILED')).toBeNull();
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

  it('PAYMENT_SUCCESS_RATE defaults to 0.8 and accepts any value in [0, 1]', () => {
    expect(parseConfig(paymentConfigSchema(8083), env({})).PAYMENT_SUCCESS_RATE).toBe(0.8);
    expect(parseConfig(paymentConfigSchema(8083), env({ PAYMENT_SUCCESS_RATE: '0.25' })).PAYMENT_SUCCESS_RATE).toBe(0.25);
  });

  it('a PAYMENT_SUCCESS_RATE outside [0, 1] or not a number is rejected, naming the variable', () => {
    for (const bad of ['1.5', '-0.1', 'often']) {
      expect(() => parseConfig(paymentConfigSchema(8083), env({ PAYMENT_SUCCESS_RATE: bad }))).toThrow(/PAYMENT_SUCCESS_RATE/);
    }
  });
});
