import { createHash } from 'node:crypto';

/**
 * The payment decisions, pure so they are tested without I/O: what the simulated card
 * gateway answers, and what a cancellation does to the order's payments.
 */

export const CARD_OK = 'pm_card_ok';
export const CARD_DECLINED = 'pm_card_declined';
export const CARD_FLAKY = 'pm_card_flaky';
/** The flaky card's gateway is unavailable on this many attempts, then it approves. */
export const FLAKY_FAILURES = 2;

export const REASON_DECLINED = 'card declined';
export const REASON_CANCELLED = 'order cancelled';

export type CardAnswer =
  | { outcome: 'approved' }
  | { outcome: 'declined'; reason: string }
  /** Transient: the messaging layer retries the event later; no record is written. */
  | { outcome: 'unavailable' };

/**
 * A stable number in [0, 1) for an order: any card other than the test cards is approved
 * when it is below the success rate, so a redelivered event gets the same answer.
 */
export function scoreOf(orderId: string): number {
  return createHash('sha256').update(orderId).digest().readUIntBE(0, 6) / 2 ** 48;
}

/** The gateway's answer to charging `paymentMethod` for `orderId` on delivery `attempt` (1 = first). */
export function chargeCard(input: { orderId: string; paymentMethod: string; attempt: number }, successRate: number): CardAnswer {
  switch (input.paymentMethod) {
    case CARD_OK:
      return { outcome: 'approved' };
    case CARD_DECLINED:
      return { outcome: 'declined', reason: REASON_DECLINED };
    case CARD_FLAKY:
      return input.attempt <= FLAKY_FAILURES ? { outcome: 'unavailable' } : { outcome: 'approved' };
    default:
      return scoreOf(input.orderId) < successRate ? { outcome: 'approved' } : { outcome: 'declined', reason: REASON_DECLINED };
  }
}

export type ChargeStatus = 'SUCCEEDED' | 'FAILED' | 'VOIDED';

/**
 * A reservation for an order that already has its CHARGE row (another reservation event
 * charged it, or the order was cancelled first). One charge per order: nothing is charged
 * again. A cancelled order still answers `payment.failed`, so inventory releases the stock
 * it has just reserved (its release is idempotent).
 */
export function answerToRepeatedReservation(status: ChargeStatus): { reason: string } | null {
  return status === 'VOIDED' ? { reason: REASON_CANCELLED } : null;
}

export type Cancellation =
  | { action: 'refund'; amount: number }
  /** Nothing charged yet: remember the cancellation so a later reservation charges nothing. */
  | { action: 'void' }
  | { action: 'none'; why: 'charge failed' | 'already refunded' | 'already cancelled' };

/** What `order.cancelled` does, given the order's CHARGE (if any) and whether it was refunded. */
export function decideCancellation(charge: { status: ChargeStatus; amount: number } | null, refunded: boolean): Cancellation {
  if (charge === null) return { action: 'void' };
  switch (charge.status) {
    case 'SUCCEEDED':
      return refunded ? { action: 'none', why: 'already refunded' } : { action: 'refund', amount: charge.amount };
    case 'FAILED':
      return { action: 'none', why: 'charge failed' };
    case 'VOIDED':
      return { action: 'none', why: 'already cancelled' };
  }
}
