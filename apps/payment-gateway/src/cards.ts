import { createHash } from 'node:crypto';

/**
 * The card rules of the simulated gateway, pure so they are tested without I/O. They are the
 * test cards the systems we replace document (docs/contract.md): the answer depends on the
 * card, on the order (a stable score) and, for the flaky card, on how many times this very
 * operation (its idempotency key) was asked for.
 */

export const CARD_OK = 'pm_card_ok';
export const CARD_DECLINED = 'pm_card_declined';
export const CARD_FLAKY = 'pm_card_flaky';
/** The flaky card's network is unavailable on this many requests for a charge, then it approves. */
export const FLAKY_FAILURES = 2;

export const REASON_DECLINED = 'card declined';

export type CardAnswer =
  | { outcome: 'approved' }
  | { outcome: 'declined'; reason: string }
  /** Transient, and not an answer: nothing is recorded as final, the same key may be tried again. */
  | { outcome: 'unavailable' };

/**
 * A stable number in [0, 1) for an order: any card other than the test cards is approved
 * when it is below the success rate, so asking again gets the same answer.
 */
export function scoreOf(orderId: string): number {
  return createHash('sha256').update(orderId).digest().readUIntBE(0, 6) / 2 ** 48;
}

/**
 * What the card network answers to charging `paymentMethod` for `orderId`, on the `request`-th
 * request for this charge (1 = the first; requests with the same idempotency key count).
 */
export function decideCharge(input: { orderId: string; paymentMethod: string; request: number }, successRate: number): CardAnswer {
  switch (input.paymentMethod) {
    case CARD_OK:
      return { outcome: 'approved' };
    case CARD_DECLINED:
      return { outcome: 'declined', reason: REASON_DECLINED };
    case CARD_FLAKY:
      return input.request <= FLAKY_FAILURES ? { outcome: 'unavailable' } : { outcome: 'approved' };
    default:
      return scoreOf(input.orderId) < successRate ? { outcome: 'approved' } : { outcome: 'declined', reason: REASON_DECLINED };
  }
}
