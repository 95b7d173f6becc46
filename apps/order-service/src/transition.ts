import { orderCancelled, orderConfirmed, orderRejected } from '@orderflow/events';
import type { Emit } from './decide';
import type { Tx } from './db';
import { fold, type EventEffect, type OrderNews } from './evolve';
import { applyTallies, talliesOf } from './import-store';
import { countOutcomes } from './metrics';
import { lockOrders, recordHistory, type OrderState } from './store';

/** The contract of each outcome event (they share one payload shape). */
export const outcomeContract = {
  'order.confirmed': orderConfirmed,
  'order.rejected': orderRejected,
  'order.cancelled': orderCancelled,
} as const satisfies Record<Emit, unknown>;

export interface TransitionOptions {
  at: Date;
  /**
   * The orders' states when the caller claimed them under lock already (the sweeper's SKIP
   * LOCKED claim); otherwise the orders the events name are locked here, in id order, so
   * concurrent transitions cannot deadlock.
   */
  locked?: readonly OrderState[];
  /** Only this customer's orders: another's is treated as unknown (customers act only on their own). */
  customerId?: string | undefined;
  /** False: the caller counts the imported orders' moves itself (default: the import counters move here). */
  countImports?: boolean;
}

/** What a transition did: per event its effect (same order as given); every order's state after. */
export interface Transition {
  events: EventEffect[];
  states: ReadonlyMap<string, OrderState>;
}

/**
 * The one status transition of orders, in the caller's transaction: lock the orders, decide
 * every event's news in delivery order (`fold`), then append the orders' events and write their
 * projection and deadlines, and the import counters — a fixed number of statements, whatever the
 * number of orders and events. Its outcomes are counted in the metrics once the caller's
 * transaction commits. Returns the outcomes to emit rather than publishing them: an interactive
 * caller publishes each as its own event, the bulk lane one order.batch-concluded per event.
 */
export async function transition(tx: Tx, events: ReadonlyArray<readonly OrderNews[]>, o: TransitionOptions): Promise<Transition> {
  const held = o.locked
    ? new Map(o.locked.map((s) => [s.id, s]))
    : await lockOrders(tx, [...new Set(events.flatMap((news) => news.map((n) => n.orderId.toLowerCase())))]);
  const states = o.customerId === undefined ? held : new Map([...held].filter(([, s]) => s.customerId === o.customerId));
  const folded = fold(states, events, o.at);
  await recordHistory(tx, folded.history, states, folded.states);
  countOutcomes(tx, folded.history, states);
  // An imported order that moved (answered by a batch, cancelled by its customer, timed out) moves its import's counters.
  if (o.countImports !== false) await applyTallies(tx, talliesOf(new Map([...states.values()].map((s) => [s.id, s.status])), folded.states.values()), o.at);
  return { events: folded.events, states: folded.states };
}
