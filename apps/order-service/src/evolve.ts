import type { PayloadOf, orderConfirmed } from '@orderflow/events';
import { decide, type Decision, type Emit, type SagaInput } from './decide';
import type { OrderState, Pricing, StatusChange } from './store';

// What a decision does to an order, as data: the next state, the timeline entry, the prices and
// the outcome event. Pure, so every caller (cancel, saga step, bulk step, sweeper) gets the same
// answer from the same states; `transition` does the I/O around it.

/** Prices an event fixes for an order (see `Pricing`). */
export type Prices = Omit<Pricing, 'orderId'>;

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

/** One input applied to an order. */
export interface Step {
  state: OrderState;
  decision: Decision;
  change: StatusChange | null;
  pricing: Pricing | null;
  outcome: Outcome | null;
}

/** The prices inventory fixed when it reserved an order: the catalog's unit prices (in line order) and total. */
export const catalogPrices = (reserved: { total: number; items: ReadonlyArray<{ unitPrice: number }> }): Prices => ({
  total: reserved.total,
  unitPrices: reserved.items.map((i) => i.unitPrice),
});

/** Sets an order's prices; `pricing` is null when nothing changes (a charged amount equal to its total). */
export function price(state: OrderState, prices: Prices): { state: OrderState; pricing: Pricing | null } {
  if (prices.unitPrices === null && state.total === prices.total) return { state, pricing: null };
  return { state: { ...state, total: prices.total }, pricing: { orderId: state.id, ...prices } };
}

/**
 * Decides one input. The amount a payment charged becomes the order's total first (it may
 * overtake the reservation that prices the order), so the outcome event carries it.
 */
export function step(state: OrderState, input: SagaInput, at: Date): Step {
  const charged = input.type === 'payment-completed' ? price(state, { total: input.amount, unitPrices: null }) : { state, pricing: null };
  const decision = decide(charged.state.status, input);
  if (decision.kind !== 'change') return { state: charged.state, decision, change: null, pricing: charged.pricing, outcome: null };
  const next = { ...charged.state, status: decision.status };
  const outcome = decision.emit && {
    type: decision.emit,
    payload: { orderId: next.id, customerId: next.customerId, total: next.total, reason: decision.emit === 'order.confirmed' ? null : decision.reason },
  };
  return { state: next, decision, change: { orderId: next.id, status: next.status, reason: decision.reason, at }, pricing: charged.pricing, outcome };
}

/** What one event's news did to one order. */
export interface Evolution {
  state: OrderState;
  decisions: Decision[];
  changes: StatusChange[];
  prices: Pricing[];
  outcomes: Outcome[];
}

/** Applies one event's news to an order: its prices, then each input in order. */
export function evolve(state: OrderState, news: Pick<OrderNews, 'inputs' | 'prices'>, at: Date): Evolution {
  const priced = news.prices ? price(state, news.prices) : { state, pricing: null };
  const result: Evolution = { state: priced.state, decisions: [], changes: [], prices: priced.pricing ? [priced.pricing] : [], outcomes: [] };
  for (const input of news.inputs) {
    const s = step(result.state, input, at);
    result.state = s.state;
    result.decisions.push(s.decision);
    if (s.change) result.changes.push(s.change);
    if (s.pricing) result.prices.push(s.pricing);
    if (s.outcome) result.outcomes.push(s.outcome);
  }
  return result;
}

/** What one event did: per order it named, the decisions and the state after them; the outcomes to emit. */
export interface EventEffect {
  orders: Array<{ orderId: string; state: OrderState; decisions: Decision[] }>;
  outcomes: Outcome[];
  /** The orders it named that are not among the states (not found, or not the caller's). */
  unknown: string[];
}

export interface Folded {
  /** One per event, in order. */
  events: EventEffect[];
  /** Every order's state after all the events. */
  states: Map<string, OrderState>;
  /** What to record: the timeline changes and the prices, in order. */
  changes: StatusChange[];
  prices: Pricing[];
}

/**
 * Applies events, in delivery order, to the orders' states (keyed by id, lower case): each
 * event's news about each of its orders, in order.
 */
export function fold(states: ReadonlyMap<string, OrderState>, events: ReadonlyArray<readonly OrderNews[]>, at: Date): Folded {
  const folded: Folded = { events: [], states: new Map(states), changes: [], prices: [] };
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
      folded.changes.push(...e.changes);
      folded.prices.push(...e.prices);
      effect.orders.push({ orderId: id, state: e.state, decisions: e.decisions });
      effect.outcomes.push(...e.outcomes);
    }
    folded.events.push(effect);
  }
  return folded;
}
