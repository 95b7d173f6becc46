/**
 * The order lifecycle as a pure function: current status + what happened → the next status,
 * the reason recorded in the timeline and the event to emit (docs/contract.md, "Order statuses").
 */
export const ORDER_STATUSES = ['PENDING', 'STOCK_RESERVED', 'CONFIRMED', 'REJECTED', 'CANCELLED'] as const;
export type OrderStatus = (typeof ORDER_STATUSES)[number];

export type SagaInput =
  | { type: 'stock-reserved' }
  | { type: 'stock-failed'; reason: string }
  | { type: 'payment-completed'; amount: number }
  | { type: 'payment-failed'; reason: string }
  | { type: 'stock-released'; reason: string }
  | { type: 'payment-refunded'; amount: number }
  | { type: 'cancel'; reason: string }
  /** The order was placed by a customer an administrator blocked: nothing is reserved or charged. */
  | { type: 'customer-blocked' }
  /** New contact details or shipping address (those given; `evolve` keeps only the ones that differ). */
  | { type: 'update'; changes: ContactChanges };

/** Contact fields of an order being changed (history.ts `Contact`, by name: no import cycle). */
export type ContactChanges = Partial<Record<'email' | 'phone' | 'shippingAddress', string | null>>;

export type Emit = 'order.confirmed' | 'order.rejected' | 'order.cancelled';

export type Decision =
  /** A status change (or, for compensations that finished, a note on the timeline). */
  | { kind: 'change'; status: OrderStatus; reason: string; emit: Emit | null }
  /** Nothing to do: a late or repeated event whose consequences are handled elsewhere. */
  | { kind: 'ignore'; why: string }
  /** Refused: the caller asked for something the order's state does not allow. */
  | { kind: 'refuse'; code: 'ORDER.NOT_CANCELLABLE' | 'ORDER.NOT_UPDATABLE'; message: string };

export const TERMINAL: ReadonlySet<OrderStatus> = new Set(['REJECTED', 'CANCELLED']);

/** The reason a blocked customer's order is rejected with. */
export const CUSTOMER_BLOCKED = 'CUSTOMER_BLOCKED';

/** The reasons of a cancel, by who cancelled: the timeline's words, and what the metrics tell apart. */
export const CANCEL_REASONS = { customer: 'cancelled by the customer', admin: 'cancelled by an administrator', deadline: 'timeout' } as const;

const money = (n: number): string => n.toFixed(2);

export function decide(status: OrderStatus, input: SagaInput): Decision {
  switch (input.type) {
    case 'stock-reserved':
      return status === 'PENDING'
        ? { kind: 'change', status: 'STOCK_RESERVED', reason: 'stock reserved', emit: null }
        : { kind: 'ignore', why: `stock reserved while ${status}` };
    case 'stock-failed':
      return status === 'PENDING'
        ? { kind: 'change', status: 'REJECTED', reason: input.reason, emit: 'order.rejected' }
        : { kind: 'ignore', why: `stock failure while ${status}` };
    case 'payment-completed':
      // PENDING too: the payment may overtake the reservation's own notice on its way here.
      return status === 'PENDING' || status === 'STOCK_RESERVED'
        ? { kind: 'change', status: 'CONFIRMED', reason: `payment of ${money(input.amount)} completed`, emit: 'order.confirmed' }
        : { kind: 'ignore', why: `payment completed while ${status} (payment refunds it on order.cancelled)` };
    case 'payment-failed':
      return status === 'PENDING' || status === 'STOCK_RESERVED'
        ? { kind: 'change', status: 'CANCELLED', reason: `payment failed: ${input.reason}`, emit: 'order.cancelled' }
        : { kind: 'ignore', why: `payment failed while ${status}` };
    case 'cancel':
      return status === 'PENDING' || status === 'STOCK_RESERVED' || status === 'CONFIRMED'
        ? { kind: 'change', status: 'CANCELLED', reason: input.reason, emit: 'order.cancelled' }
        : { kind: 'refuse', code: 'ORDER.NOT_CANCELLABLE', message: `order is ${status} and cannot be cancelled` };
    case 'stock-released':
      return status === 'CANCELLED' || status === 'REJECTED'
        ? { kind: 'change', status, reason: `stock released (${input.reason})`, emit: null }
        : { kind: 'ignore', why: `stock released while ${status}` };
    case 'payment-refunded':
      return { kind: 'change', status, reason: `payment of ${money(input.amount)} refunded`, emit: null };
    case 'customer-blocked':
      return status === 'PENDING'
        ? { kind: 'change', status: 'REJECTED', reason: CUSTOMER_BLOCKED, emit: 'order.rejected' }
        : { kind: 'ignore', why: `customer blocked while ${status}` };
    case 'update':
      if (TERMINAL.has(status)) return { kind: 'refuse', code: 'ORDER.NOT_UPDATABLE', message: `order is ${status} and cannot be changed` };
      return Object.keys(input.changes).length === 0
        ? { kind: 'ignore', why: 'nothing changed' }
        : { kind: 'change', status, reason: `details updated: ${Object.keys(input.changes).join(', ')}`, emit: null };
  }
}

/**
 * Order total from its lines, in cents to avoid float drift; null when a line has no price (the
 * catalog prices it when inventory reserves the order).
 */
export function totalOf(lines: ReadonlyArray<{ quantity: number; unitPrice?: number | null | undefined }>): number | null {
  let cents = 0;
  for (const l of lines) {
    if (l.unitPrice == null) return null;
    cents += l.quantity * Math.round(l.unitPrice * 100);
  }
  return cents / 100;
}
