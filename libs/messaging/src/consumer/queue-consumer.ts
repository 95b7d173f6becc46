import type { ConfirmChannel, ConsumeMessage } from 'amqplib';
import { errorMessage } from '@orderflow/errors';
import type { SqlClient } from '@orderflow/db';
import type { ManagedChannel } from '../broker/channels';
import { assertTopology } from '../topology';
import { BatchProcessor } from './batches';
import { DeliveryLedger, handlerTable, laneOf, type Delivery } from './delivery';
import { ConsumerLiveness } from './liveness';
import type { ConsumerOptions, ConsumerState, ConsumerStatus } from './options';
import { untilAnswers, type Outage } from './outage';
import { PoisonGuard } from './poison';
import { Settlement } from './settlement';
import { HandlerTransaction } from './transaction';

interface Lane {
  buffer: Delivery[];
  processing: Promise<void> | undefined;
  lastBatchAt: number;
}

/**
 * The one subscribe loop: takes what the prefetch window delivered, validates each envelope,
 * runs the handlers of a batch in one transaction together with the inbox records (so a
 * redelivered event changes nothing), commits, then acks (`BatchProcessor`). A failed batch
 * is re-run message by message so only the failing one is retried (transient, with growing
 * delay) or parked. A redelivery whose earlier delivery ended without an outcome runs alone
 * and counted, and is parked after `maxDeliveries` (`PoisonGuard`). While a dependency is
 * away — the database, or one a handler declared unavailable (a payment gateway) — the
 * consumer takes nothing more, and keeps what it holds, in order, for when it answers (`pause`).
 */
export class QueueConsumer<Tx extends SqlClient> {
  private channel: ManagedChannel<ConfirmChannel> | undefined;
  private consumerTag: string | undefined;
  /**
   * Lanes process batches concurrently; a message's lane is chosen by its correlation id, so
   * the events of one order (or import) are still handled one after another, in order.
   */
  private readonly lanes: Lane[];
  private stopping = false;
  private readonly ledger: DeliveryLedger;
  private readonly batches: BatchProcessor<Tx>;
  private readonly liveness: ConsumerLiveness;
  /** The channel set up last; the subscription lives on it. Undefined once it closed. */
  private live: ConfirmChannel | undefined;
  private subscribing = false;
  /** The dependency that is away: meanwhile nothing is consumed, a message taken then could only fail. */
  private paused: Outage | undefined;
  /** Ends the wait before the next probe (on stop). */
  private wakeProbe: (() => void) | undefined;
  private unlisten: (() => void) | undefined;

  constructor(private readonly o: ConsumerOptions<Tx>) {
    this.lanes = Array.from({ length: Math.max(1, o.concurrency ?? 1) }, () => ({ buffer: [], processing: undefined, lastBatchAt: 0 }));
    this.ledger = new DeliveryLedger(4 * o.prefetch);
    const settlement = new Settlement({ topology: o.topology, queue: o.queue, logger: o.logger, ledger: this.ledger, lanes: this.lanes.length, observe: o.observe });
    this.batches = new BatchProcessor({
      queue: o.queue,
      sql: o.sql,
      logger: o.logger,
      handlers: handlerTable(o.handlers),
      transaction: new HandlerTransaction({ topology: o.topology, queue: o.queue, transaction: o.transaction, logger: o.logger, onEventsEnqueued: o.onEventsEnqueued, tracing: o.tracing }),
      settlement,
      poison: new PoisonGuard({ queue: o.queue, sql: o.sql, logger: o.logger, maxDeliveries: o.maxDeliveries ?? 5, ledger: this.ledger, settlement, observe: o.observe }),
      tracing: o.tracing,
    });
    this.liveness = new ConsumerLiveness({ queue: o.queue, logger: o.logger, state: () => this.stateNow(), reconsume: () => this.reconsume() });
  }

  get queueName(): string {
    return this.o.queue;
  }

  /** True while a live channel has an active consumer on the queue. */
  get active(): boolean {
    return Boolean(this.consumerTag && this.channel?.current);
  }

  async start(): Promise<void> {
    this.stopping = false;
    this.paused = undefined;
    // Whatever changes the consumer's state comes with a state change of the broker or a channel.
    this.unlisten ??= this.o.broker.onStateChange(() => this.liveness.observe());
    this.channel = await this.o.broker.openChannel<ConfirmChannel>(`consumer:${this.o.queue}`, true, async (ch) => {
      this.consumerTag = undefined;
      // Set-ups that keep failing (the queue declared otherwise, consuming refused) wait longer and longer.
      if (this.liveness.retrying) await new Promise((r) => setTimeout(r, this.liveness.delay()).unref());
      if (this.stopping) {
        await ch.close().catch(() => undefined);
        throw new Error('consumer stopped');
      }
      await assertTopology(ch, this.o.topology);
      await ch.prefetch(this.o.prefetch);
      ch.on('close', () => {
        this.consumerTag = undefined;
        if (this.live === ch) this.live = undefined;
        // The broker requeues what this channel delivered; what no handler started yet has a
        // known fate and must not count toward the delivery limit when it comes back.
        this.ledger.channelClosed(ch, this.lanes.flatMap((lane) => lane.buffer));
      });
      this.live = ch;
      // While paused (a dependency away) the channel is ready, and the resume subscribes on it.
      await this.subscribe();
    });
    this.liveness.observe();
  }

  /** What the consumer is doing, and since when (and, while paused, what it waits for). */
  status(): ConsumerStatus {
    const status = this.liveness.observe();
    const waitingFor = this.paused?.dependency;
    return status.state === 'paused' && waitingFor ? { ...status, waitingFor } : status;
  }

  private stateNow(): ConsumerState {
    if (this.stopping || !this.channel) return 'stopped';
    if (this.active) return 'active';
    if (this.paused) return 'paused';
    return this.o.broker.isConnected() ? 'gone' : 'disconnected';
  }

  /**
   * One attempt to bring back a gone consumer: consumes again on its live channel or, when
   * that fails, closes it, so that a fresh one re-declares the topology and consumes.
   */
  private async reconsume(): Promise<void> {
    const ch = this.live;
    if (!ch) return;
    await this.subscribe().catch((err: unknown) => {
      this.o.logger.warn('could not consume again; re-opening the channel', { queue: this.o.queue, err: errorMessage(err) });
      void ch.close().catch(() => undefined);
    });
  }

  /** Consumes on the live channel, unless paused, stopping or consuming already. */
  private async subscribe(): Promise<void> {
    const ch = this.live;
    if (!ch || this.paused || this.stopping || this.consumerTag || this.subscribing) return;
    this.subscribing = true;
    try {
      const { consumerTag } = await ch.consume(this.o.queue, (msg) => this.onDelivery(ch, msg), { noAck: false });
      this.consumerTag = consumerTag;
    } finally {
      this.subscribing = false;
    }
    if (this.paused) this.unsubscribe();
    this.o.broker.emitChannelState();
  }

  private unsubscribe(): void {
    const ch = this.live;
    const tag = this.consumerTag;
    this.consumerTag = undefined;
    if (ch && tag) void ch.cancel(tag).catch(() => undefined);
    this.o.broker.emitChannelState();
  }

  private onDelivery(channel: ConfirmChannel, msg: ConsumeMessage | null): void {
    if (msg === null) {
      // The broker cancelled us (queue deleted): a fresh channel re-declares and re-consumes.
      this.o.logger.warn('consumer cancelled by broker', { queue: this.o.queue });
      this.consumerTag = undefined;
      void channel.close().catch(() => undefined);
      return;
    }
    // While paused (sent before the broker saw the cancel) it waits in its lane with the rest.
    const lane = this.lanes[laneOf(msg.properties.correlationId, this.lanes.length)]!;
    lane.buffer.push({ channel, msg });
    this.kick(lane);
  }

  private kick(lane: Lane): void {
    if (lane.processing || this.paused || this.stopping) return;
    lane.processing = this.run(lane).finally(() => {
      lane.processing = undefined;
      if (lane.buffer.length > 0) this.kick(lane);
    });
  }

  private async run(lane: Lane): Promise<void> {
    const linger = this.o.lingerMs ?? 0;
    while (lane.buffer.length > 0 && !this.stopping && !this.paused) {
      const busy = performance.now() - lane.lastBatchAt < linger;
      if (busy && lane.buffer.length < this.o.batchSize) await new Promise((r) => setTimeout(r, linger));
      // Another lane may have paused the consumer (or a stop begun) while this one lingered.
      if (this.paused || this.stopping) break;
      // Deliveries of a channel that has since closed are redelivered by the broker anyway.
      // (Never drop one of a live channel: a later multiple-ack would settle it unhandled.)
      const batch = lane.buffer.splice(0, this.o.batchSize).filter((d) => !this.ledger.isClosed(d.channel));
      if (batch.length > 0) {
        const interrupted = await this.batches.process(batch);
        if (interrupted) {
          // A dependency is away: the unhandled messages go back to the head of their lane, in
          // their order, to be handled first once it answers (see `pause`).
          this.ledger.keep(interrupted.unhandled);
          lane.buffer.unshift(...interrupted.unhandled.map(({ channel, msg }) => ({ channel, msg })));
          this.pause(interrupted.outage);
        }
      }
      lane.lastBatchAt = performance.now();
    }
  }

  /**
   * Stops consuming while a dependency is away: cancels the subscription, probes the dependency
   * with growing delays and, once it answers, handles what it kept and consumes again. The same
   * for the database and for a dependency a handler declared unavailable: none spends a retry
   * or is parked for the outage, and once the dependency is back the backlog drains by itself.
   *
   * What the consumer holds — the batch the outage interrupted and the prefetch window — it
   * keeps, unacknowledged, in queue order, instead of giving it back: a quorum queue counts
   * every return in `x-delivery-count`, and its `x-delivery-limit` (a backstop, see
   * docs/decisions.md) would dead-letter a message that a few dozen pauses gave back without it
   * ever being handled. The cost: another replica cannot take those few messages meanwhile (a
   * stop gives them back; a channel closed meanwhile returns them, and they are then dropped
   * here: see `run`). Meanwhile the consumer is not active (a bulk lane, whose readiness is
   * consuming, is not ready), but not gone either: a restart would not bring the dependency back.
   */
  private pause(outage: Outage): void {
    if (this.paused || this.stopping) return;
    this.paused = outage;
    this.o.logger.warn(`${outage.dependency} unavailable: consumer paused until it answers`, { queue: this.o.queue, dependency: outage.dependency, code: outage.code, err: outage.reason });
    this.unsubscribe();
    void this.resumeOnceAnswered(outage);
  }

  private async resumeOnceAnswered(outage: Outage): Promise<void> {
    const answered = await untilAnswers(
      outage,
      () => this.stopping,
      (wake) => {
        this.wakeProbe = wake;
      },
      // A probe failed: the dependency really was away, so the failures that paused are not
      // the held messages' own (strikes are for a dependency that answers but fails a request).
      () => this.batches.outageConfirmed(),
    );
    if (!answered) return;
    this.paused = undefined;
    this.o.logger.info(`${outage.dependency} answers again: consumer resumed`, { queue: this.o.queue, dependency: outage.dependency });
    // What was kept first, each lane in its order; deliveries to come join behind.
    for (const lane of this.lanes) if (lane.buffer.length > 0) this.kick(lane);
    // If this fails the channel is closing: its re-open subscribes.
    await this.subscribe().catch((err: unknown) => this.o.logger.warn('could not resume consuming', { queue: this.o.queue, err: errorMessage(err) }));
    // Not consuming now (and no channel event to say so): brought back by `reconsume`.
    this.liveness.observe();
  }

  /**
   * Stops taking deliveries, lets the batch in flight finish, hands the deliveries not yet
   * started back to the broker (for another replica, or this one after restart), closes.
   */
  async stop(): Promise<void> {
    this.stopping = true;
    this.unlisten?.();
    this.unlisten = undefined;
    this.liveness.observe();
    this.wakeProbe?.();
    const ch = this.channel?.current;
    if (ch && this.consumerTag) await ch.cancel(this.consumerTag).catch(() => undefined);
    this.consumerTag = undefined;
    await Promise.all(this.lanes.map(async (lane) => {
      while (lane.processing) await lane.processing;
    }));
    for (const lane of this.lanes) this.ledger.giveBack(lane.buffer.splice(0));
    await this.channel?.close();
  }
}
