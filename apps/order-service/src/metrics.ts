import { Counter, Histogram, type Registry } from 'prom-client';
import type { SqlClient, TransactionRunner } from '@orderflow/db';
import { STOCK_FAILURE_REASONS } from '@orderflow/events';
import { metricSet, TransactionScope, type Report } from '@orderflow/service';
import { CANCEL_REASONS, CUSTOMER_BLOCKED, type OrderStatus } from './decide';
import type { OrderEvent, OrderEventType, OrderState } from './history';

// The order service's business metrics (docs/operations.md, "Metrics and alerts"). They move
// where the change commits: an API placement once its statement returned, everything a
// transaction did (`transition`, an import chunk) once that transaction committed — so a
// rolled-back batch counts nothing and a redelivered event, which the inbox stops before any
// handler, counts nothing again. Each replica counts what it committed: summed over replicas,
// every order counts once.

/** Placement → outcome: a checkout answered in tens of milliseconds … an order the deadline ends after minutes. */
export const SAGA_BUCKETS = [0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600];

export const OUTCOMES = ['CONFIRMED', 'REJECTED', 'CANCELLED'] as const;
export type Outcome = (typeof OUTCOMES)[number];

/** Why an order ended, as a bounded code (the timeline keeps the words). */
export const REASON_CODES = [
  'none',
  'INSUFFICIENT_STOCK',
  'UNKNOWN_PRODUCT',
  'PRICE_MISMATCH',
  'CUSTOMER_BLOCKED',
  'PAYMENT_FAILED',
  'CUSTOMER_CANCELLED',
  'ADMIN_CANCELLED',
  'DEADLINE_EXPIRED',
  'OTHER',
] as const;
export type ReasonCode = (typeof REASON_CODES)[number];

// inventory.failed's reason begins with its first cause, as the contract spells it.
const STOCK_REASONS: ReadonlyArray<[prefix: string, code: ReasonCode]> = [
  [STOCK_FAILURE_REASONS.priceMismatch, 'PRICE_MISMATCH'],
  [STOCK_FAILURE_REASONS.unknownProduct, 'UNKNOWN_PRODUCT'],
  [STOCK_FAILURE_REASONS.insufficientStock, 'INSUFFICIENT_STOCK'],
];
const CANCELS: Readonly<Record<string, ReasonCode>> = {
  [CANCEL_REASONS.customer]: 'CUSTOMER_CANCELLED',
  [CANCEL_REASONS.admin]: 'ADMIN_CANCELLED',
  [CANCEL_REASONS.deadline]: 'DEADLINE_EXPIRED',
};

/** The events that give an order an outcome (order.confirmed, .rejected or .cancelled; one each), and which. */
export const OUTCOME_EVENTS = {
  PaymentCompleted: 'CONFIRMED',
  OrderRejected: 'REJECTED',
  PaymentFailed: 'CANCELLED',
  OrderCancelled: 'CANCELLED',
} as const satisfies Partial<Record<OrderEventType, Outcome>>;

/** The outcome an event gives its order, or null: the event gives none. */
export function outcomeOf(e: Pick<OrderEvent, 'type'>): Outcome | null {
  return (OUTCOME_EVENTS as Partial<Record<OrderEventType, Outcome>>)[e.type] ?? null;
}

/** The reason code of an outcome event. */
export function reasonCode(e: Pick<OrderEvent, 'type' | 'reason'>): ReasonCode {
  const reason = e.reason ?? '';
  switch (e.type) {
    case 'PaymentCompleted':
      return 'none';
    case 'PaymentFailed':
      return 'PAYMENT_FAILED';
    case 'OrderCancelled':
      return CANCELS[reason] ?? 'OTHER';
    case 'OrderRejected':
      if (reason === CUSTOMER_BLOCKED) return 'CUSTOMER_BLOCKED';
      return STOCK_REASONS.find(([prefix]) => reason.startsWith(prefix))?.[1] ?? 'OTHER';
    default:
      return 'OTHER';
  }
}

const OPEN: ReadonlySet<OrderStatus> = new Set(['PENDING', 'STOCK_RESERVED']);

/** What one transaction did, counted once it commits. Indexes, not label objects: nothing is allocated per order. */
class Tally {
  placedByImport = 0;
  /** Per outcome × reason code. */
  finished: number[] | null = null;
  /** Per outcome, of imported orders. */
  imported: number[] | null = null;
  /** Saga durations: outcome index and seconds, pairwise. */
  sagas: number[] | null = null;
}

/** The order service's counters and histogram, on one registry. */
export class OrderMetrics {
  private readonly placed: Counter<'source'>;
  private readonly finished: Counter<'status' | 'reason'>;
  private readonly imported: Counter<'outcome'>;
  private readonly saga: Histogram<'status'>;

  constructor(registry: Registry | undefined) {
    const registers = registry ? [registry] : [];
    this.placed = new Counter({ name: 'orderflow_orders_placed_total', help: 'Orders placed, by source (api, import)', labelNames: ['source'], registers });
    this.finished = new Counter({
      name: 'orderflow_orders_finished_total',
      help: 'Outcomes of orders (order.confirmed, order.rejected, order.cancelled), by status and reason code; an order confirmed and then cancelled counts once in each',
      labelNames: ['status', 'reason'],
      registers,
    });
    this.imported = new Counter({ name: 'orderflow_import_orders_total', help: 'Outcomes of imported orders, by outcome', labelNames: ['outcome'], registers });
    this.saga = new Histogram({
      name: 'orderflow_saga_duration_seconds',
      help: 'Time from placement to the first outcome of an order placed through the API, by that outcome',
      labelNames: ['status'],
      buckets: SAGA_BUCKETS,
      registers,
    });
    // Series present from the start, so a rate over them is 0 rather than absent.
    this.placed.inc({ source: 'api' }, 0);
    this.placed.inc({ source: 'import' }, 0);
    for (const outcome of OUTCOMES) this.imported.inc({ outcome }, 0);
    this.finished.inc({ status: 'CONFIRMED', reason: 'none' }, 0);
  }

  /** Orders placed through the API, once their statement committed. */
  placedThroughApi(n = 1): void {
    this.placed.inc({ source: 'api' }, n);
  }

  /** What a committed transaction did. */
  commit(t: Tally): void {
    if (t.placedByImport > 0) this.placed.inc({ source: 'import' }, t.placedByImport);
    if (t.finished) {
      t.finished.forEach((n, i) => {
        if (n > 0) this.finished.inc({ status: OUTCOMES[Math.floor(i / REASON_CODES.length)]!, reason: REASON_CODES[i % REASON_CODES.length]! }, n);
      });
    }
    t.imported?.forEach((n, i) => n > 0 && this.imported.inc({ outcome: OUTCOMES[i]! }, n));
    const sagas = t.sagas;
    if (sagas) for (let i = 0; i < sagas.length; i += 2) this.saga.observe({ status: OUTCOMES[sagas[i]!]! }, sagas[i + 1]!);
  }
}

/** The order service's metrics on `registry` (one set per registry); without one, metrics nobody serves. */
export function orderMetrics(registry?: Registry): OrderMetrics {
  return metricSet(registry, 'order', (r) => new OrderMetrics(r));
}

const scope = new TransactionScope<Tally>();

/** `run`, whose transactions' counts (`countOutcomes`, `countImported`) go to `metrics` once each commits. */
export function countingTransactions<Tx extends SqlClient>(run: TransactionRunner<Tx>, metrics: OrderMetrics, report?: Report): TransactionRunner<Tx> {
  return scope.wrap(
    run,
    () => new Tally(),
    (t) => metrics.commit(t),
    report,
  );
}

/** Orders an import chunk created, counted when its transaction commits. */
export function countImported(tx: SqlClient, orders: number): void {
  const t = scope.of(tx);
  if (t) t.placedByImport += orders;
}

/**
 * The outcomes among the events a transition appends (`history`, in order), counted when its
 * transaction commits; `before`: the orders' states the events were decided from. The saga's
 * duration is its first outcome's (not a cancel after confirmation), of orders placed through
 * the API: an imported order waits behind the rest of its file.
 */
export function countOutcomes(tx: SqlClient, history: readonly OrderEvent[], before: ReadonlyMap<string, OrderState>): void {
  const t = scope.of(tx);
  if (!t) return;
  for (let i = 0; i < history.length; i++) {
    const e = history[i]!;
    const outcome = outcomeOf(e);
    if (outcome === null) continue;
    const o = OUTCOMES.indexOf(outcome);
    const state = before.get(e.orderId);
    const k = o * REASON_CODES.length + REASON_CODES.indexOf(reasonCode(e));
    t.finished ??= new Array<number>(OUTCOMES.length * REASON_CODES.length).fill(0);
    t.finished[k] = (t.finished[k] ?? 0) + 1;
    if (state?.importId) {
      t.imported ??= [0, 0, 0];
      t.imported[o] = (t.imported[o] ?? 0) + 1;
    } else if (state?.placedAtMs !== undefined && (e.type !== 'OrderCancelled' || OPEN.has(statusBefore(history, i, state)))) {
      (t.sagas ??= []).push(o, Math.max(0, e.at.getTime() - state.placedAtMs) / 1000);
    }
  }
}

/**
 * The status of event `i`'s order just before it (only a cancel can end an order that was not
 * open: a confirmed one): its state before the transition when the event follows it directly,
 * else its previous event in `history`.
 */
function statusBefore(history: readonly OrderEvent[], i: number, state: OrderState): OrderStatus {
  const e = history[i]!;
  if (e.seq === state.version + 1) return state.status;
  for (let j = i - 1; j >= 0; j--) if (history[j]!.orderId === e.orderId) return history[j]!.status;
  return state.status;
}
