import { parseConfig } from '@orderflow/config';
import { gatewayConfigSchema } from '../src/config';
import { decideCharge, scoreOf } from '../src/cards';

const orderId = '0b6f9d2e-1111-4222-8333-444455556666';
/** 10,000 distinct, reproducible order ids. */
const orderIds = Array.from({ length: 10_000 }, (_, i) => `00000000-0000-4000-8000-${i.toString(16).padStart(12, '0')}`);

describe('the card rules of the simulated gateway', () => {
  it('pm_card_ok is approved on every request, whatever the success rate', () => {
    for (const request of [1, 2, 5]) expect(decideCharge({ orderId, paymentMethod: 'pm_card_ok', request }, 0)).toEqual({ outcome: 'approved' });
  });

  it('pm_card_declined is declined with reason "card declined", whatever the success rate', () => {
    for (const request of [1, 3]) {
      expect(decideCharge({ orderId, paymentMethod: 'pm_card_declined', request }, 1)).toEqual({ outcome: 'declined', reason: 'card declined' });
    }
  });

  it('pm_card_flaky is unavailable on the first two requests for its charge and approved from the third', () => {
    const outcomes = [1, 2, 3, 4].map((request) => decideCharge({ orderId, paymentMethod: 'pm_card_flaky', request }, 0).outcome);
    expect(outcomes).toEqual(['unavailable', 'unavailable', 'approved', 'approved']);
  });

  it('any other card gets the same answer for the same order on every request (asking again cannot flip it)', () => {
    for (const id of orderIds.slice(0, 200)) {
      const first = decideCharge({ orderId: id, paymentMethod: 'pm_visa', request: 1 }, 0.5);
      expect(decideCharge({ orderId: id, paymentMethod: 'pm_other', request: 4 }, 0.5)).toEqual(first);
    }
  });

  it('any other card is approved for about PAYMENT_SUCCESS_RATE of 10,000 orders', () => {
    for (const rate of [0.8, 0.3]) {
      const approved = orderIds.filter((id) => decideCharge({ orderId: id, paymentMethod: 'pm_visa', request: 1 }, rate).outcome === 'approved').length;
      expect(approved / orderIds.length).toBeGreaterThan(rate - 0.02);
      expect(approved / orderIds.length).toBeLessThan(rate + 0.02);
    }
  });

  it('a success rate of 0 declines every other card and 1 approves every one', () => {
    const outcomes = (rate: number) => new Set(orderIds.slice(0, 500).map((id) => decideCharge({ orderId: id, paymentMethod: 'pm_x', request: 1 }, rate).outcome));
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

describe('the simulator\'s configuration', () => {
  it('PAYMENT_SUCCESS_RATE defaults to 0.8 and accepts any value in [0, 1]', () => {
    expect(parseConfig(gatewayConfigSchema, {}).PAYMENT_SUCCESS_RATE).toBe(0.8);
    expect(parseConfig(gatewayConfigSchema, { PAYMENT_SUCCESS_RATE: '0.25' }).PAYMENT_SUCCESS_RATE).toBe(0.25);
  });

  it('a rate outside [0, 1] or not a number, a negative latency or an unknown outage mode is rejected, naming the variable', () => {
    for (const bad of ['1.5', '-0.1', 'often']) {
      expect(() => parseConfig(gatewayConfigSchema, { PAYMENT_SUCCESS_RATE: bad })).toThrow(/PAYMENT_SUCCESS_RATE/);
      expect(() => parseConfig(gatewayConfigSchema, { GATEWAY_FAILURE_RATE: bad })).toThrow(/GATEWAY_FAILURE_RATE/);
    }
    expect(() => parseConfig(gatewayConfigSchema, { GATEWAY_LATENCY_MS: '-1' })).toThrow(/GATEWAY_LATENCY_MS/);
    expect(() => parseConfig(gatewayConfigSchema, { GATEWAY_OUTAGE: 'sometimes' })).toThrow(/GATEWAY_OUTAGE/);
  });

  it('by default it listens on 8090, serves (no outage), answers at once and never fails on its own', () => {
    const config = parseConfig(gatewayConfigSchema, {});
    expect([config.PORT, config.GATEWAY_OUTAGE, config.GATEWAY_LATENCY_MS, config.GATEWAY_FAILURE_RATE]).toEqual([8090, 'none', 0, 0]);
  });
});
