import type { EventContract, EventOf, PayloadOf, EnvelopeMeta } from '@orderflow/events';
import type { Logger } from '@orderflow/logging';
import type { SqlClient } from './sql';

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
  | { contract: EventContract; kind: 'single'; fn: Handler<EventContract, Tx> }
  | { contract: EventContract; kind: 'batch'; fn: BatchHandler<EventContract, Tx> };

/** Registers a handler for one event type. */
export function on<C extends EventContract, Tx extends SqlClient>(contract: C, fn: Handler<C, Tx>): HandlerSpec<Tx> {
  return { contract, kind: 'single', fn: fn as unknown as Handler<EventContract, Tx> };
}

/** Registers a handler that receives all events of one type from a delivered batch together. */
export function onBatch<C extends EventContract, Tx extends SqlClient>(
  contract: C,
  fn: BatchHandler<C, Tx>,
): HandlerSpec<Tx> {
  return { contract, kind: 'batch', fn: fn as unknown as BatchHandler<EventContract, Tx> };
}

/** Queue purpose (as in the topology's `consumes`) → the handlers of the events routed there. */
export type Subscriptions<Tx extends SqlClient> = Record<string, ReadonlyArray<HandlerSpec<Tx>>>;
