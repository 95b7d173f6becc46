import type { PayloadOf, orderConfirmed } from '@orderflow/events';
import { decide, type Decision, type Emit, type SagaInput } from './decide';
import { apply, CONTACT_FIELDS, type Change, type Contact, type OrderEvent, type OrderState, type Priced } from './history';

// What a decision does to an order, as data: the events it appends to the order's history, the
// state they project to and the outcome event. Pure, so every caller (cancel, update, saga step,
// bulk step, sweeper) gets the same answer from the same states; `transition` does the I/O.

/** Prices an event fixes for an order: the catalog's unit prices (in line order) and total. */
export type Prices = Priced;

/** An outcome event to emit: order.confirmed, order.rejected or order.cancelled (one payload shape). */
export interface Outcome {
  type: Emit;
  payload: PayloadOf<typeof orderConfirmed>;
}

/** What one event says about one order: the inputs to `decide` in order, and the catalog prices it fixes. */
export interface OrderNews {
  orderId: string;
  inputs: readonly SagaInput[];
  /** Recorded whatever the order's status, before its inputs are decided. */
  prices?: Prices | null;
}

/** The prices inventory fixed when it reserved an order: the catalog's unit prices (in line order) and total. */
export const catalogPrices = (reserved: { total: number; items: ReadonlyArray<{ unitPrice: number }> }): Prices => ({
  total: reserved.total,
  unitPrices: reserved.items.map((i) => i.unitPrice),
});

const samePrices = (a: readonly number[] | null, b: readonly number[] | null): boolean =>
  a === b || (a !== null && b !== null && a.length === b.length && a.every((x, i) => x === b[i]));

/** Whether prices are news to the order (else nothing is recorded: idempotent). */
const newsTo = (state: OrderState, p: Prices): boolean => state.total !== p.total || (p.unitPrices !== null && !samePrices(state.unitPrices, p.unitPrices));

/** The given contact fields that differ from the order's. */
function changesTo(contact: Contact, update: Partial<Contact>): Partial<Contact> {
  const changes: Partial<Contact> = {};
  for (const f of CONTACT_FIELDS) if (update[f] !== undefined && update[f] !== contact[f]) changes[f] = update[f];
  return changes;
}

/** The event a decided change appends (`prices`: the catalog's, carried by the reservation). */
function changeOf(input: SagaInput, prices: Prices | null): Change {
  switch (input.type) {
    case 'stock-reserved':
      return { type: 'StockReserved', data: prices };
    case 'payment-completed':
      return { type: 'PaymentCompleted', data: { amount: input.amount } };
    case 'payment-refunded':
      return { type: 'PaymentRefunded', data: { amount: input.amount } };
    case 'update':
      return { type: 'OrderUpdated', data: { contact: input.changes } };
    case 'stock-failed':
    case 'customer-blocked':
      return { type: 'OrderRejected', data: null };
    case 'payment-failed':
      return { type: 'PaymentFailed', data: null };
    case 'cancel':
      return { type: 'OrderCancelled', data: null };
    case 'stock-released':
      return { type: 'StockReleased', data: null };
  }
}

/** What one event's news did to one order. */
export interface Evolution {
  state: OrderState;
  decisions: Decision[];
  /** The events appended to its history, in sequence. */
  history: OrderEvent[];
  outcomes: Outcome[];
}

/**
 * Appends an event to an evolution's history and applies it. The event is built field by field:
 * `{ ...change, orderId, … }` (a two-field object spread, then five fields added) cost ≈ 5 µs
 * in V8 (Node 20) against ≈ 20 ns — a quarter of an imported order's step.
 */
function append(result: Evolution, change: Change, status: OrderState['status'], reason: string | null, at: Date): void {
  const event = { type: change.type, data: change.data, orderId: result.state.id, seq: result.state.version + 1, status, reason, at } as OrderEvent;
  result.history.push(event);
  result.state = apply(result.state, event);
}

/**
 * Applies one event's news to an order: its prices, then each input in order. Prices are
 * recorded with the reservation that brings them, or, when that reservation changes nothing
 * (it came late, or the news has no input), as an OrderPriced event of their own. The amount a
 * payment charged becomes the order's total even when the payment changes no status.
 */
export function evolve(state: OrderState, news: Pick<OrderNews, 'inputs' | 'prices'>, at: Date): Evolution {
  const result: Evolution = { state, decisions: [], history: [], outcomes: [] };
  let prices = news.prices && newsTo(state, news.prices) ? news.prices : null;
  const [first] = news.inputs;
  if (prices && !(first?.type === 'stock-reserved' && decide(state.status, first).kind === 'change')) {
    append(result, { type: 'OrderPriced', data: prices }, state.status, null, at);
    prices = null;
  }
  for (const given of news.inputs) {
    const input: SagaInput = given.type === 'update' ? { type: 'update', changes: changesTo(result.state.contact, given.changes) } : given;
    const decision = decide(result.state.status, input);
    result.decisions.push(decision);
    if (decision.kind !== 'change') {
      if (input.type === 'payment-completed' && result.state.total !== input.amount) {
        append(result, { type: 'OrderPriced', data: { total: input.amount, unitPrices: null } }, result.state.status, null, at);
      }
      continue;
    }
    append(result, changeOf(input, input.type === 'stock-reserved' ? prices : null), decision.status, decision.reason, at);
    if (input.type === 'stock-reserved') prices = null;
    if (decision.emit) {
      const next = result.state;
      result.outcomes.push({
        type: decision.emit,
        payload: { orderId: next.id, customerId: next.customerId, total: next.total, reason: decision.emit === 'order.confirmed' ? null : decision.reason },
      });
    }
  }
  return result;
}

/** What one event did: per order it named, the decisions and the state after them; the outcomes to emit. */
export interface EventEffect {
  orders: Array<{ orderId: string; state: OrderState; decisions: Decision[]; history: OrderEvent[] }>;
  outcomes: Outcome[];
  /** The orders it named that are not among the states (not found, or not the caller's). */
  unknown: string[];
}

export interface Folded {
  /** One per event, in order. */
  events: EventEffect[];
  /** Every order's state after all the events. */
  states: Map<string, OrderState>;
  /** What to record: the orders' new events, in order. */
  history: OrderEvent[];
}

/**
 * Applies events, in delivery order, to the orders' states (keyed by id, lower case): each
 * event's news about each of its orders, in order.
 */
export function fold(states: ReadonlyMap<string, OrderState>, events: ReadonlyArray<readonly OrderNews[]>, at: Date): Folded {
  const folded: Folded = { events: [], states: new Map(states), history: [] };
  for (const news of events) {
    const effect: EventEffect = { orders: [], outcomes: [], unknown: [] };
    for (const n of news) {
      const id = n.orderId.toLowerCase();
      const state = folded.states.get(id);
      if (!state) {
        effect.unknown.push(n.orderId);
        continue;
      }
      const e = evolve(state, n, at);
      folded.states.set(id, e.state);
      folded.history.push(...e.history);
      effect.orders.push({ orderId: id, state: e.state, decisions: e.decisions, history: e.history });
      effect.outcomes.push(...e.outcomes);
    }
    folded.events.push(effect);
  }
  return folded;
}
