import type { OrderStatus } from './decide';

// The order's history, event-sourced (docs/architecture.md, "Order history"). Every change of
// an order is an event with a per-order sequence number; the `orders` row is the projection of
// its events by `apply`, a pure function. The live path (transition.ts) and the rebuild
// (rebuild.ts) fold the same function, so the row is, by construction, what its events say.

/** How to reach the customer about an order (null: not given). */
export interface Contact {
  email: string | null;
  phone: string | null;
  shippingAddress: string | null;
}
export const NO_CONTACT: Contact = { email: null, phone: null, shippingAddress: null };
export const CONTACT_FIELDS = ['email', 'phone', 'shippingAddress'] as const satisfies ReadonlyArray<keyof Contact>;

/** What the saga reads and writes of an order, under its row lock: the projection's moving parts. */
export interface OrderState {
  id: string;
  status: OrderStatus;
  customerId: string;
  /** Null until the order is priced (a line had no client price and inventory has not priced it yet). */
  total: number | null;
  /** The catalog's unit prices in line order, once inventory priced the order. */
  unitPrices: readonly number[] | null;
  /** The import that created the order (null for orders placed through the API). */
  importId: string | null;
  contact: Contact;
  /** Sequence number of the last event applied. */
  version: number;
  /** When the order was placed (ms since the epoch), where read from its row: the start of its saga, for the saga's duration metric. */
  placedAtMs?: number;
}

/** The whole `orders` row: the state plus what the placement fixed for good. */
export interface OrderRow extends OrderState {
  paymentMethod: string;
  idempotencyKey: string | null;
  orderRef: string | null;
  createdAt: Date;
  updatedAt: Date;
}

/** What an order was placed with (its lines are stored beside the event, in order_lines). */
export interface Placed {
  customerId: string;
  paymentMethod: string;
  /** The client's claimed total (null when a line had no price). */
  total: number | null;
  importId?: string;
  orderRef?: string;
  idempotencyKey?: string;
  contact?: Partial<Contact>;
}

export interface Priced {
  total: number;
  /** Null: only the total (the amount charged). */
  unitPrices: readonly number[] | null;
}

/** An event's type with its data. `status` of the event is the order's status after it. */
export type Change =
  | { type: 'OrderPlaced'; data: Placed }
  /** With the catalog's prices when they are news to the order. */
  | { type: 'StockReserved'; data: Priced | null }
  /** Prices that changed without a status change (a late reservation, an import's catalog prices). */
  | { type: 'OrderPriced'; data: Priced }
  /** The amount charged becomes the order's total (it may overtake the reservation that prices it). */
  | { type: 'PaymentCompleted'; data: { amount: number } | null }
  | { type: 'PaymentRefunded'; data: { amount: number } | null }
  | { type: 'OrderUpdated'; data: { contact: Partial<Contact> } }
  | { type: 'OrderRejected' | 'PaymentFailed' | 'OrderCancelled' | 'StockReleased'; data: null };

export type OrderEventType = Change['type'];

export type OrderEvent = Change & {
  orderId: string;
  seq: number;
  status: OrderStatus;
  /** The line on the order's timeline; null for events that are not on it (OrderPriced). */
  reason: string | null;
  at: Date;
};

const withContact = (c: Contact, update: Partial<Contact> | undefined): Contact => (update ? { ...c, ...update } : c);

/** The row an OrderPlaced event starts. */
export function placedRow(e: OrderEvent & { type: 'OrderPlaced' }): OrderRow {
  const d = e.data;
  return {
    id: e.orderId,
    status: e.status,
    customerId: d.customerId,
    // `?? null`: a placement carried over from a timeline may have no total in its data.
    total: d.total ?? null,
    unitPrices: null,
    importId: d.importId ?? null,
    contact: withContact(NO_CONTACT, d.contact),
    version: e.seq,
    paymentMethod: d.paymentMethod,
    idempotencyKey: d.idempotencyKey ?? null,
    orderRef: d.orderRef ?? null,
    createdAt: e.at,
    updatedAt: e.at,
  };
}

/** The projection: an order's state after one more of its events. Pure. */
export function apply<S extends OrderState>(s: S, e: OrderEvent): S {
  const next: S = { ...s, status: e.status, version: e.seq };
  if ('updatedAt' in s) (next as S & { updatedAt: Date }).updatedAt = e.at;
  switch (e.type) {
    case 'StockReserved':
    case 'OrderPriced':
      if (e.data) {
        next.total = e.data.total;
        if (e.data.unitPrices) next.unitPrices = e.data.unitPrices;
      }
      return next;
    case 'PaymentCompleted':
      if (e.data) next.total = e.data.amount;
      return next;
    case 'OrderUpdated':
      next.contact = withContact(s.contact, e.data.contact);
      return next;
    default:
      return next;
  }
}

/** An order's row from all its events, in sequence order (null when they do not start with its placement). */
export function replay(events: readonly OrderEvent[]): OrderRow | null {
  const [first, ...rest] = events;
  if (!first || first.type !== 'OrderPlaced') return null;
  return rest.reduce((row, e) => apply(row, e), placedRow(first));
}

/** The events of one order as the API shows them. */
export function presentEvent(e: OrderEvent) {
  return { seq: e.seq, type: e.type, status: e.status, reason: e.reason, data: e.data, at: e.at.toISOString() };
}
