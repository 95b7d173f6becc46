import type { Logger } from '@orderflow/logging';
import type { SqlClient, TransactionRunner } from '@orderflow/db';
import type { Tracing } from '@orderflow/tracing';
import type { Broker } from '../broker/connection';
import type { HandlerSpec } from '../handlers';
import type { OutgoingEvent } from '../outbox/write';
import type { Topology } from '../topology';

export interface ConsumerOptions<Tx extends SqlClient> {
  broker: Broker;
  topology: Topology;
  queue: string;
  handlers: ReadonlyArray<HandlerSpec<Tx>>;
  transaction: TransactionRunner<Tx>;
  /** Single statements on the handlers' database, outside their transactions: delivery counts, probes. */
  sql: SqlClient;
  logger: Logger;
  /**
   * Deliveries of a message that may end without an outcome (the process handling it dies, its
   * connection is lost) before it is parked instead of handled again: a message that kills its
   * process must not loop forever. Default 5.
   */
  maxDeliveries?: number;
  /** Unacknowledged messages the broker may push to this consumer. */
  prefetch: number;
  /** Most messages handled in one database transaction. */
  batchSize: number;
  /** Batches in flight at once (lanes by correlation id); 1 keeps strict queue order. */
  concurrency?: number;
  /**
   * How long a busy lane waits for more deliveries before handling a batch smaller than
   * `batchSize` (0: never). A lane is busy while deliveries keep coming within this time of
   * its last batch: under load a short wait per hop buys far fewer transactions, while a
   * delivery after a quiet spell is handled at once.
   */
  lingerMs?: number;
  /** Called after a commit that wrote outbox rows, with their events (the relay's direct path). */
  onEventsEnqueued: (events: readonly OutgoingEvent[]) => void;
  /** Observes each handled message: outcome and seconds spent. */
  observe?: Observe;
  /** On: a span per batch and per handled message, and the handlers' events carry their context. */
  tracing?: Tracing;
}

export type Outcome = 'ack' | 'retry' | 'park' | 'duplicate';

export type Observe = (outcome: Outcome, seconds: number, eventType: string) => void;

/**
 * What a consumer is doing. `active`: consuming. `paused`: a dependency is away, its database or
 * one its handlers declared unavailable (see `pause`; `waitingFor` names it).
 * `disconnected`: the broker is. `gone`: not consuming although the broker is connected (the
 * broker cancelled it, its channel keeps failing to set up): it tries again with growing
 * delays, and a service's liveness fails when that lasts. `stopped`: not started, or stopped.
 */
export type ConsumerState = 'active' | 'paused' | 'disconnected' | 'gone' | 'stopped';

export interface ConsumerStatus {
  state: ConsumerState;
  /** `state === 'active'`. */
  active: boolean;
  /** When it entered `state`. */
  since: Date;
  /** While paused: the dependency it waits for (`database`, `payment-gateway`…). */
  waitingFor?: string;
}
