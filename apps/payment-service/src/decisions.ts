/**
 * The payment decisions, pure so they are tested without I/O: what a reservation for an order
 * charged before answers, and what a cancellation does to the order's payments. Whether a card
 * is approved is the payment gateway's decision (apps/payment-gateway, called by gateway.ts).
 */

export const REASON_DECLINED = 'card declined';
export const REASON_CANCELLED = 'order cancelled';

export type ChargeStatus = 'SUCCEEDED' | 'FAILED' | 'VOIDED';

/**
 * A reservation for an order that already has its CHARGE row (another reservation event
 * charged it, or the order was cancelled first). One charge per order: nothing is charged
 * again. A cancelled order — its charge voided, or charged and refunded (a charge whose
 * answer was lost, refunded by the cancellation that voided it) — still answers
 * `payment.failed`, so inventory releases the stock it has just reserved (its release is
 * idempotent).
 */
export function answerToRepeatedReservation(status: ChargeStatus, refunded = false): { reason: string } | null {
  return status === 'VOIDED' || (status === 'SUCCEEDED' && refunded) ? { reason: REASON_CANCELLED } : null;
}

export type Cancellation =
  | { action: 'refund'; amount: number }
  /**
   * No charge here yet: remember the cancellation so a later reservation charges nothing, and
   * void the charge key at the gateway, which may have charged all the same (a lost answer).
   */
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
