import type { EventContract, EventOf, PayloadOf, EnvelopeMeta } from '@orderflow/events';
import type { Logger } from '@orderflow/logging';
import type { SqlClient } from '@orderflow/db';

/** What a handler may do besides reading its event: use the transaction, emit events. */
export interface HandlerContext<Tx extends SqlClient> {
  /** The transaction in which the inbox record, the handler's writes and its events commit together. */
  tx: Tx;
  /**
   * Emits an event through the outbox, in the same transaction. Correlation and causation
   * default to the event being handled.
   */
  publish<C extends EventContract>(contract: C, payload: PayloadOf<C>, meta?: Partial<Omit<EnvelopeMeta, 'source'>>): void;
  logger: Logger;
  /** The delivery attempt (1 = first) of an event being handled; 1 for events not in this call. */
  attemptOf(event: { eventId: string }): number;
}

export interface MessageContext<Tx extends SqlClient> extends HandlerContext<Tx> {
  /** 1 on the first delivery, n on the n-th try after failures. */
  attempt: number;
}

export type Handler<C extends EventContract, Tx extends SqlClient> = (
  event: EventOf<C>,
  ctx: MessageContext<Tx>,
) => Promise<void>;

/** Handles every event of one type in a delivered batch at once (bulk paths). */
export type BatchHandler<C extends EventContract, Tx extends SqlClient> = (
  events: Array<EventOf<C>>,
  ctx: HandlerContext<Tx>,
) => Promise<void>;

export type HandlerSpec<Tx extends SqlClient> =
  | { contracts: readonly EventContract[]; kind: 'single'; fn: Handler<EventContract, Tx> }
  | { contracts: readonly EventContract[]; kind: 'batch'; fn: BatchHandler<EventContract, Tx> };

/** Registers a handler for one event type. */
export function on<C extends EventContract, Tx extends SqlClient>(contract: C, fn: Handler<C, Tx>): HandlerSpec<Tx> {
  return { contracts: [contract], kind: 'single', fn: fn as unknown as Handler<EventContract, Tx> };
}

/**
 * Registers a handler that receives the events of a delivered batch together, in delivery
 * order. Given several contracts, it receives all of their events in one call (a saga step
 * that must see, say, reservations and payments of the same orders in order).
 */
export function onBatch<C extends EventContract, Tx extends SqlClient>(
  contracts: C | readonly C[],
  fn: BatchHandler<C, Tx>,
): HandlerSpec<Tx> {
  const list = (Array.isArray(contracts) ? contracts : [contracts]) as readonly EventContract[];
  return { contracts: list, kind: 'batch', fn: fn as unknown as BatchHandler<EventContract, Tx> };
}

/**
 * A queue's handlers with consumer settings of its own, for queues whose messages differ in
 * size from the rest (a bulk queue carries a thousand orders per message: see `BULK_LANE`).
 */
export interface QueueSubscription<Tx extends SqlClient> {
  handlers: ReadonlyArray<HandlerSpec<Tx>>;
  /** Which processes consume the queue (see `Lanes`); default `interactive`. */
  lane?: Lane;
  prefetch?: number;
  batchSize?: number;
  concurrency?: number;
  lingerMs?: number;
}

/**
 * Consumer settings of a bulk lane, whose messages each carry an import chunk (many orders):
 * a few messages in flight and ONE per transaction. Its transactions then stay short — the
 * row locks they share with checkout (orders, import counters) are held briefly — and no
 * batch keeps the event loop from checkout traffic for long (decoding and validating a chunk
 * is synchronous work). Two chunks per transaction slowed checkout down during an import; one
 * per transaction did not (see docs/performance.md).
 */
export const BULK_LANE = { lane: 'bulk', prefetch: 4, batchSize: 1, concurrency: 1 } as const;

/**
 * `interactive`: the queues of checkout traffic (and small control events); `bulk`: the
 * queues of imports. A process consumes one of them or both (`Lanes`): run apart, a chunk's
 * synchronous work never stands in a checkout's event loop, and the operating
 * system (or Kubernetes' CPU shares) can give the bulk processes a lower priority.
 */
export type Lane = 'interactive' | 'bulk';
export type Lanes = Lane | 'all';

/** The subscriptions a process consumes when it runs `lanes`. */
export function selectLanes<Tx extends SqlClient>(subscriptions: Subscriptions<Tx>, lanes: Lanes): Subscriptions<Tx> {
  if (lanes === 'all') return subscriptions;
  return Object.fromEntries(
    Object.entries(subscriptions).filter(([, s]) => (('handlers' in s ? s.lane : undefined) ?? 'interactive') === lanes),
  );
}

/** Queue purpose (as in the topology's `consumes`) → the handlers of the events routed there. */
export type Subscriptions<Tx extends SqlClient> = Record<string, ReadonlyArray<HandlerSpec<Tx>> | QueueSubscription<Tx>>;
