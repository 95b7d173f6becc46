import { randomUUID } from 'node:crypto';
import type { ConfirmChannel, ConsumeMessage } from 'amqplib';
import { parseEvent, parsePayload, type Envelope, type EventContract } from '@orderflow/events';
import { categorize, errorCode, errorMessage } from '@orderflow/errors';
import { withLogContext, type Logger } from '@orderflow/logging';
import { publishMandatory, type Broker, type ManagedChannel } from './broker';
import type { HandlerSpec, MessageContext } from './handlers';
import { H, attemptOf, type Headers } from './headers';
import { enqueueEvents, eventFactory, type OutgoingEvent } from './outbox';
import { isConnectionError, type SqlClient, type TransactionRunner } from '@orderflow/db';
import { assertTopology, type Topology } from './topology';

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
   * its last batch: under load a few ms per hop buy far fewer transactions, while a delivery
   * after a quiet spell is handled at once.
   */
  lingerMs?: number;
  /** Called after a commit that wrote outbox rows, with their events (the relay's direct path). */
  onEventsEnqueued: (events: readonly OutgoingEvent[]) => void;
  /** Observes each handled message: outcome and seconds spent. */
  observe?: (outcome: 'ack' | 'retry' | 'park' | 'duplicate', seconds: number, eventType: string) => void;
}

interface Delivery {
  channel: ConfirmChannel;
  msg: ConsumeMessage;
}

interface Decoded extends Delivery {
  event: Envelope;
  spec: HandlerSpec<SqlClient>;
  attempt: number;
  /** Redelivered after a delivery whose outcome is unknown: may be what killed its process. */
  suspect?: boolean;
  /**
   * A suspect this process counted and then gave back unhandled (database away, stop, channel
   * closed, a refused move): this delivery is not counted again.
   */
  givenBack?: boolean;
  /** Has a delivery counter row (delivery_attempts), deleted with the outcome. */
  counted?: boolean;
}

/**
 * Header a quorum queue puts on a redelivery: every earlier delivery that was returned, lost
 * ones and those this service gave back on purpose alike. Logged, not counted (see
 * `parkedAtDeliveryLimit`).
 */
const DELIVERY_COUNT = 'x-delivery-count';
/** Waits between database probes while the database is away: growing from the first to the last. */
const PROBE_DELAY_MS = { first: 100, max: 2_000 };
/**
 * Longest a probe may take: a database that takes longer to answer `SELECT 1` cannot take
 * batches either (and a probe stuck on a dead socket must not stall the resume for minutes).
 */
const PROBE_TIMEOUT_MS = 5_000;
/**
 * Waits before consuming again when the consumer is gone while the broker is connected (a
 * channel that failed to set up, consuming that failed): growing from the first to the last,
 * so a consumer that cannot come back does not hammer the broker and one that can is soon back.
 */
const RECONSUME_DELAY_MS = { first: 250, max: 10_000 };

/**
 * What a consumer is doing. `active`: consuming. `paused`: its database is away (see `pause`).
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
}

type Outcome = 'ack' | 'retry' | 'park' | 'duplicate';

/**
 * The one subscribe loop: takes what the prefetch window delivered, validates each envelope,
 * runs the handlers of a batch in one transaction together with the inbox records (so a
 * redelivered event changes nothing), commits, then acks. A failed batch is re-run message by
 * message so only the failing one is retried (transient, with growing delay) or parked.
 * A redelivery whose earlier delivery ended without an outcome runs alone and counted, and is
 * parked after `maxDeliveries` (a message that kills its process). While the database is
 * unreachable the consumer takes nothing: what it held goes back to the queue untouched.
 */
export class QueueConsumer<Tx extends SqlClient> {
  private channel: ManagedChannel<ConfirmChannel> | undefined;
  private consumerTag: string | undefined;
  /**
   * Lanes process batches concurrently; a message's lane is chosen by its correlation id, so
   * the events of one order (or import) are still handled one after another, in order.
   */
  private readonly lanes: Array<{ buffer: Delivery[]; processing: Promise<void> | undefined; lastBatchAt: number }>;
  private stopping = false;
  /** Channels that have closed: their unacked deliveries are back on the queue already. */
  private readonly closedChannels = new WeakSet<ConfirmChannel>();
  /** `type@version` → the handler and the contract its payload is validated against. */
  private readonly specs = new Map<string, { spec: HandlerSpec<Tx>; contract: EventContract }>();
  private readonly newEvent;
  private readonly maxDeliveries: number;
  /** The channel set up last; the subscription lives on it. Undefined once it closed. */
  private live: ConfirmChannel | undefined;
  private subscribing = false;
  /** While the database is away nothing is consumed: a message taken then could only fail. */
  private paused = false;
  /** Ends the wait before the next database probe (on stop). */
  private wakeProbe: (() => void) | undefined;
  /**
   * Ids of messages that went back to the queue untouched (given back while the database was
   * away or on stop, or not yet started when their channel closed), each with whether it was a
   * suspect: when one comes back redelivered to this process, its earlier delivery's outcome
   * is known, so it is not counted toward the delivery limit (and keeps its batch unless it
   * was a suspect already).
   */
  private readonly givenBack = new Map<string, boolean>();
  /** The state last observed and since when (see `status`). */
  private observed: { state: ConsumerState; since: Date } = { state: 'stopped', since: new Date() };
  /** Failed attempts in a row to bring back a gone consumer: each waits longer. */
  private reconsumeAttempts = 0;
  private reconsumeTimer: NodeJS.Timeout | undefined;
  private goneLogged = false;
  private unlisten: (() => void) | undefined;

  constructor(private readonly o: ConsumerOptions<Tx>) {
    this.maxDeliveries = o.maxDeliveries ?? 5;
    this.lanes = Array.from({ length: Math.max(1, o.concurrency ?? 1) }, () => ({ buffer: [], processing: undefined, lastBatchAt: 0 }));
    for (const spec of o.handlers) {
      for (const contract of spec.contracts) this.specs.set(`${contract.type}@${contract.version}`, { spec, contract });
    }
    this.newEvent = eventFactory(o.topology);
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
    this.paused = false;
    // Whatever changes the consumer's state comes with a state change of the broker or a channel.
    this.unlisten ??= this.o.broker.onStateChange(() => this.observe());
    this.channel = await this.o.broker.openChannel<ConfirmChannel>(`consumer:${this.o.queue}`, true, async (ch) => {
      this.consumerTag = undefined;
      // Set-ups that keep failing (the queue declared otherwise, consuming refused) wait longer and longer.
      if (this.reconsumeAttempts > 0) await new Promise((r) => setTimeout(r, this.reconsumeDelay()).unref());
      if (this.stopping) {
        await ch.close().catch(() => undefined);
        throw new Error('consumer stopped');
      }
      await assertTopology(ch, this.o.topology);
      await ch.prefetch(this.o.prefetch);
      ch.on('close', () => {
        this.closedChannels.add(ch);
        this.consumerTag = undefined;
        if (this.live === ch) this.live = undefined;
        // The broker requeues what this channel delivered; what no handler started yet has a
        // known fate and must not count toward the delivery limit when it comes back.
        for (const lane of this.lanes) for (const d of lane.buffer) if (d.channel === ch) this.remember(d);
      });
      this.live = ch;
      // While paused (database away) the channel is ready, and the resume subscribes on it.
      await this.subscribe();
    });
    this.observe();
  }

  /** What the consumer is doing, and since when. */
  status(): ConsumerStatus {
    return this.observe();
  }

  private stateNow(): ConsumerState {
    if (this.stopping || !this.channel) return 'stopped';
    if (this.active) return 'active';
    if (this.paused) return 'paused';
    return this.o.broker.isConnected() ? 'gone' : 'disconnected';
  }

  /** Records a change of state with its time; a consumer gone is brought back (`reconsume`). */
  private observe(): ConsumerStatus {
    const state = this.stateNow();
    if (state !== this.observed.state) {
      if (state === 'active' && this.goneLogged) this.o.logger.info('consumer consuming again', { queue: this.o.queue, goneSince: this.observed.since.toISOString() });
      this.observed = { state, since: new Date() };
    }
    if (state === 'gone') {
      this.reconsumeSoon();
    } else {
      // A fresh connection, a resume or a stop starts over.
      clearTimeout(this.reconsumeTimer);
      this.reconsumeTimer = undefined;
      this.reconsumeAttempts = 0;
      this.goneLogged = false;
    }
    return { state, active: state === 'active', since: this.observed.since };
  }

  private reconsumeDelay(): number {
    return Math.min(RECONSUME_DELAY_MS.first * 2 ** Math.max(0, this.reconsumeAttempts - 1), RECONSUME_DELAY_MS.max);
  }

  private reconsumeSoon(): void {
    if (this.reconsumeTimer) return;
    this.reconsumeTimer = setTimeout(() => {
      this.reconsumeTimer = undefined;
      void this.reconsume();
    }, this.reconsumeDelay());
    this.reconsumeTimer.unref();
  }

  /**
   * Brings back a consumer gone while the broker is connected (briefly so after every
   * reconnect, until its channel is open again): consumes again on its live channel or, when
   * that fails, closes it, so that a fresh one re-declares the topology and consumes. Without a
   * live channel, its re-open is under way, and its set-up waits `reconsumeDelay` first.
   */
  private async reconsume(): Promise<void> {
    if (this.stateNow() !== 'gone') return void this.observe();
    this.reconsumeAttempts++;
    if (!this.goneLogged) {
      this.goneLogged = true;
      this.o.logger.warn('consumer not consuming although the broker is connected; trying again with growing delays', { queue: this.o.queue, since: this.observed.since.toISOString() });
    }
    const ch = this.live;
    if (ch) {
      await this.subscribe().catch((err: unknown) => {
        this.o.logger.warn('could not consume again; re-opening the channel', { queue: this.o.queue, err: errorMessage(err) });
        void ch.close().catch(() => undefined);
      });
    }
    this.observe();
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
    if (this.paused && msg !== null) {
      // Sent before the broker saw the cancel: straight back.
      this.giveBack([{ channel, msg }]);
      return;
    }
    if (msg === null) {
      // The broker cancelled us (queue deleted): a fresh channel re-declares and re-consumes.
      this.o.logger.warn('consumer cancelled by broker', { queue: this.o.queue });
      this.consumerTag = undefined;
      void channel.close().catch(() => undefined);
      return;
    }
    const lane = this.lanes[laneOf(msg.properties.correlationId, this.lanes.length)]!;
    lane.buffer.push({ channel, msg });
    this.kick(lane);
  }

  private kick(lane: (typeof this.lanes)[number]): void {
    if (lane.processing) return;
    lane.processing = this.run(lane).finally(() => {
      lane.processing = undefined;
      if (lane.buffer.length > 0 && !this.stopping) this.kick(lane);
    });
  }

  private async run(lane: (typeof this.lanes)[number]): Promise<void> {
    const linger = this.o.lingerMs ?? 0;
    while (lane.buffer.length > 0 && !this.stopping && !this.paused) {
      const busy = performance.now() - lane.lastBatchAt < linger;
      if (busy && lane.buffer.length < this.o.batchSize) await new Promise((r) => setTimeout(r, linger));
      // Deliveries of a channel that has since closed are redelivered by the broker anyway.
      // (Never drop one of a live channel: a later multiple-ack would settle it unhandled.)
      const batch = lane.buffer.splice(0, this.o.batchSize).filter((d) => !this.closedChannels.has(d.channel));
      if (batch.length > 0) await this.processBatch(batch);
      lane.lastBatchAt = performance.now();
    }
  }

  private async processBatch(batch: Delivery[]): Promise<void> {
    const decoded: Decoded[] = [];
    for (const d of batch) {
      const result = this.decode(d);
      if ('reason' in result) await this.park(d, 'invalid-message', result.reason, 'MESSAGE.INVALID', attemptOf(d.msg.properties.headers));
      else decoded.push(result);
    }
    if (decoded.length === 0) return;
    const groups = this.groupsOf(decoded);
    for (let g = 0; g < groups.length; g++) {
      const unhandled = await this.runGroup(groups[g]!);
      if (unhandled.length > 0) {
        // The database is away: no message's fault. Back to the queue as they came, and no
        // more deliveries until the database answers.
        // Cancel first: a message nacked while still subscribed can come straight back.
        this.pause();
        this.giveBack([...unhandled, ...groups.slice(g + 1).flat()]);
        return;
      }
    }
  }

  /**
   * The batch as the groups it is handled in, in queue order. A redelivery whose earlier
   * delivery ended without an outcome may be the message that killed its process: it runs
   * alone (and counted), so it cannot take healthy neighbours down with it again and again.
   */
  private groupsOf(decoded: Decoded[]): Decoded[][] {
    if (!decoded.some((d) => d.msg.fields.redelivered)) return [decoded];
    const groups: Decoded[][] = [];
    let run: Decoded[] = [];
    for (const d of decoded) {
      const id = d.msg.fields.redelivered ? idOf(d) : undefined;
      const wasSuspect = id === undefined ? undefined : this.givenBack.get(id);
      if (wasSuspect !== undefined) this.givenBack.delete(id!);
      if (d.msg.fields.redelivered && wasSuspect !== false) {
        if (run.length > 0) groups.push(run);
        run = [];
        d.suspect = true;
        d.givenBack = wasSuspect;
        groups.push([d]);
      } else {
        run.push(d);
      }
    }
    if (run.length > 0) groups.push(run);
    return groups;
  }

  /**
   * Handles a group in one transaction; a failed group is re-run message by message so only
   * the failing one is retried or parked. Returns the messages left unhandled because the
   * database is away: none of them is retried or parked for that.
   */
  private async runGroup(group: Decoded[]): Promise<Decoded[]> {
    const started = process.hrtime.bigint();
    try {
      if (group[0]!.suspect && (await this.parkedAtDeliveryLimit(group[0]!))) return [];
      this.settle(group, await this.handle(group), started);
      return [];
    } catch (err) {
      if (await this.databaseAway(err)) return group;
      if (group.length === 1) {
        await this.fail(group[0]!, err, started);
        // The handler failed: an outcome (retried, parked, or requeued when the move failed).
        // The limit is on deliveries in a row that end without one.
        if (group[0]!.counted) await this.forgetDeliveries(group[0]!);
        return [];
      }
      // One message spoiled the batch: find it by handling each alone.
      for (let i = 0; i < group.length; i++) {
        const d = group[i]!;
        const one = process.hrtime.bigint();
        try {
          this.settle([d], await this.handle([d]), one);
        } catch (e) {
          if (await this.databaseAway(e)) return group.slice(i);
          await this.fail(d, e, one);
        }
      }
      return [];
    }
  }

  /**
   * Counts a suspect delivery and, when the deliveries before it that ended without an outcome
   * reached `maxDeliveries`, parks it unhandled. The count lives in the service database,
   * committed in a statement of its own before the handler runs: it survives the process dying
   * in the handler. A quorum queue's `x-delivery-count` is not used: it also counts what this
   * service gave back on purpose (database away, a refused move, a graceful stop), which must
   * never park a healthy message; the queue's own `x-delivery-limit` is only a far backstop.
   */
  private async parkedAtDeliveryLimit(d: Decoded): Promise<boolean> {
    if (d.givenBack) {
      // Its last delivery ended here, returned untouched: nothing to count. (It was below the
      // limit then; its counter, if any, goes with the outcome.)
      d.counted = true;
      return false;
    }
    const rows = await this.o.sql.$queryRawUnsafe<Array<{ deliveries: number }>>(
      `INSERT INTO delivery_attempts AS a (consumer, event_id) VALUES ($1, $2::uuid)
       ON CONFLICT (consumer, event_id) DO UPDATE SET deliveries = a.deliveries + 1, last_delivered_at = now()
       RETURNING deliveries`,
      this.o.queue,
      d.event.eventId,
    );
    const previous = Number(rows[0]?.deliveries ?? 1);
    d.counted = true;
    if (previous < this.maxDeliveries) return false;
    const error = `delivered ${previous} times without an outcome (each time its process died or lost its connection while handling it)`;
    this.o.logger.error('message parked after too many deliveries without an outcome', {
      queue: this.o.queue, eventType: d.event.eventType, eventId: d.event.eventId, correlationId: d.event.correlationId, deliveries: previous, maxDeliveries: this.maxDeliveries,
      brokerDeliveryCount: d.msg.properties.headers?.[DELIVERY_COUNT],
    });
    // Not moved: it was requeued, comes back and is counted again.
    if (!(await this.park(d, 'delivery-limit', error, 'MESSAGE.DELIVERY_LIMIT', previous))) return true;
    this.o.observe?.('park', 0, d.event.eventType);
    if (d.counted) await this.forgetDeliveries(d);
    return true;
  }

  /** Deletes a message's delivery counter once it has an outcome outside a handler's transaction. */
  private async forgetDeliveries(d: Decoded): Promise<void> {
    await this.o.sql
      .$executeRawUnsafe('DELETE FROM delivery_attempts WHERE consumer = $1 AND event_id = $2::uuid', this.o.queue, d.event.eventId)
      .catch((err: unknown) => this.o.logger.warn('could not delete a delivery counter; the inbox retention will', { queue: this.o.queue, err: errorMessage(err) }));
  }

  /** True when `err` is a lost connection and the database does not answer either. */
  private async databaseAway(err: unknown): Promise<boolean> {
    return isConnectionError(err) && !(await this.databaseAnswers());
  }

  private async databaseAnswers(): Promise<boolean> {
    let timer: NodeJS.Timeout | undefined;
    try {
      await Promise.race([
        this.o.sql.$queryRawUnsafe('SELECT 1'),
        new Promise((_, reject) => {
          timer = setTimeout(() => reject(new Error('database probe timed out')), PROBE_TIMEOUT_MS);
        }),
      ]);
      return true;
    } catch {
      return false;
    } finally {
      clearTimeout(timer);
    }
  }

  /**
   * Stops consuming while the database is away: cancels the subscription, gives back what the
   * prefetch window holds, probes the database with growing delays and consumes again once it
   * answers. Meanwhile the consumer is not active, so the service is not ready.
   */
  private pause(): void {
    if (this.paused || this.stopping) return;
    this.paused = true;
    this.o.logger.warn('database unreachable: consumer paused until it answers', { queue: this.o.queue });
    this.unsubscribe();
    for (const lane of this.lanes) this.giveBack(lane.buffer.splice(0));
    void this.resumeOnceDatabaseAnswers();
  }

  private async resumeOnceDatabaseAnswers(): Promise<void> {
    for (let delay = PROBE_DELAY_MS.first; ; delay = Math.min(2 * delay, PROBE_DELAY_MS.max)) {
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, delay);
        this.wakeProbe = () => {
          clearTimeout(timer);
          resolve();
        };
      });
      this.wakeProbe = undefined;
      if (this.stopping) return;
      if (await this.databaseAnswers()) break;
    }
    if (this.stopping) return;
    this.paused = false;
    this.o.logger.info('database answers again: consumer resumed', { queue: this.o.queue });
    // If this fails the channel is closing: its re-open subscribes.
    await this.subscribe().catch((err: unknown) => this.o.logger.warn('could not resume consuming', { queue: this.o.queue, err: errorMessage(err) }));
    // Not consuming now (and no channel event to say so): brought back by `reconsume`.
    this.observe();
  }

  /**
   * Returns deliveries to the queue untouched, each on its own (a later multiple-ack must never
   * settle one of them), and remembers their ids (see `givenBack`).
   */
  private giveBack(deliveries: readonly Delivery[]): void {
    for (const d of deliveries) {
      // A closed channel's deliveries are back on the queue already.
      if (this.closedChannels.has(d.channel)) continue;
      safely(() => d.channel.nack(d.msg, false, true));
      this.remember(d);
    }
  }

  /** Remembers a delivery that goes back to the queue unhandled (see `givenBack`). */
  private remember(d: Delivery | Decoded): void {
    const id = idOf(d);
    if (id === undefined) return;
    // true: a suspect whose delivery was counted already (it runs alone, not counted again);
    // false: not a suspect. A suspect given back before it was counted is forgotten, so its
    // next delivery is counted: the delivery that made it suspect ended without an outcome.
    // Of a message not yet decoded nothing was looked up: what was known of it stays.
    const known = 'event' in d
      ? d.suspect ? (d.counted ? true : undefined) : false
      : (this.givenBack.get(id) ?? (d.msg.fields.redelivered ? undefined : false));
    this.givenBack.delete(id);
    if (known !== undefined) this.givenBack.set(id, known);
    // Bounded: the id of a message another replica took is never looked up here again.
    if (this.givenBack.size > 4 * this.o.prefetch) this.givenBack.delete(this.givenBack.keys().next().value!);
  }

  private decode(d: Delivery): Decoded | { reason: string } {
    let raw: unknown;
    try {
      raw = JSON.parse(d.msg.content.toString('utf8'));
    } catch {
      return { reason: 'message body is not valid JSON' };
    }
    const envelope = parseEvent(raw);
    if (!envelope.ok) return { reason: envelope.reason };
    const found = this.specs.get(`${envelope.event.eventType}@${envelope.event.version}`);
    if (!found) {
      return { reason: `no handler for ${envelope.event.eventType} v${envelope.event.version} on ${this.o.queue}` };
    }
    const parsed = parsePayload(envelope.event, found.contract);
    if (!parsed.ok) return { reason: parsed.reason };
    return { ...d, event: parsed.event, spec: found.spec as HandlerSpec<SqlClient>, attempt: attemptOf(d.msg.properties.headers) };
  }

  /** One transaction: inbox records, handlers, outbox rows. Returns per-message outcome. */
  private async handle(batch: Decoded[]): Promise<Outcome[]> {
    const emitted: OutgoingEvent[] = [];
    const outcomes = await this.o.transaction(async (tx) => {
      const fresh = await this.claim(tx, batch.map((d) => d.event.eventId));
      const result: Outcome[] = batch.map((d) => (fresh.delete(d.event.eventId) ? 'ack' : 'duplicate'));
      // A counted message runs alone; its outcome commits here, and its delivery counter with it.
      if (batch.length === 1 && batch[0]!.counted) {
        await tx.$executeRawUnsafe('DELETE FROM delivery_attempts WHERE consumer = $1 AND event_id = $2::uuid', this.o.queue, batch[0]!.event.eventId);
      }
      const todo = batch.filter((_, i) => result[i] === 'ack');
      // Consecutive events for the same batch handler (any of its event types) go to it in one call.
      for (let i = 0; i < todo.length; ) {
        const first = todo[i]!;
        if (first.spec.kind === 'batch') {
          let j = i;
          while (j < todo.length && todo[j]!.spec === first.spec) j++;
          const group = todo.slice(i, j);
          await first.spec.fn(group.map((d) => d.event), this.context(tx, first, emitted, group));
          i = j;
        } else {
          const ctx = this.context(tx, first, emitted);
          await withLogContext(
            { correlationId: first.event.correlationId, eventId: first.event.eventId, causationId: first.event.causationId ?? undefined },
            () => (first.spec.fn as (e: Envelope, c: MessageContext<SqlClient>) => Promise<void>)(first.event, ctx),
          );
          i++;
        }
      }
      await enqueueEvents(tx, emitted);
      return result;
    });
    if (emitted.length > 0) this.o.onEventsEnqueued(emitted);
    return outcomes;
  }

  /** Records event ids in the inbox; returns those not seen before. */
  private async claim(tx: SqlClient, eventIds: string[]): Promise<Set<string>> {
    const rows = await tx.$queryRawUnsafe<Array<{ event_id: string }>>(
      `INSERT INTO processed_events (consumer, event_id)
       SELECT $1, unnest($2::uuid[]) ON CONFLICT DO NOTHING RETURNING event_id::text`,
      this.o.queue,
      eventIds,
    );
    return new Set(rows.map((r) => r.event_id));
  }

  private context(tx: SqlClient, d: Decoded, emitted: OutgoingEvent[], group: Decoded[] = [d]): MessageContext<SqlClient> {
    const attempts = new Map(group.map((g) => [g.event.eventId, g.attempt]));
    return {
      tx,
      attempt: d.attempt,
      attemptOf: (event) => attempts.get(event.eventId) ?? 1,
      logger: this.o.logger,
      publish: (contract, payload, meta) => {
        emitted.push(
          this.newEvent(contract, payload, {
            correlationId: d.event.correlationId,
            causationId: d.event.eventId,
            ...meta,
          }),
        );
      },
    };
  }

  private settle(batch: Decoded[], outcomes: Outcome[], started: bigint): void {
    const seconds = Number(process.hrtime.bigint() - started) / 1e9 / batch.length;
    const last = batch[batch.length - 1]!;
    // With one lane every earlier delivery of this channel is settled already (batches run one
    // at a time, and a message whose move failed was requeued on its own before its lane went
    // on: see `republish`), so one multiple-ack settles the whole batch, and only it; lanes ack
    // their own messages.
    const sameChannel = batch.every((d) => d.channel === last.channel);
    if (sameChannel && this.lanes.length === 1) safely(() => last.channel.ack(last.msg, true));
    else for (const d of batch) safely(() => d.channel.ack(d.msg));
    batch.forEach((d, i) => this.o.observe?.(outcomes[i]!, seconds, d.event.eventType));
  }

  private async fail(d: Decoded, err: unknown, started: bigint): Promise<void> {
    const category = categorize(err);
    const delays = this.o.topology.retryLevels;
    const code = errorCode(err);
    const message = errorMessage(err);
    const log = { queue: this.o.queue, eventType: d.event.eventType, eventId: d.event.eventId, correlationId: d.event.correlationId, attempt: d.attempt, code, err: message };
    const seconds = Number(process.hrtime.bigint() - started) / 1e9;
    if (category === 'transient' && d.attempt <= delays.length) {
      const level = delays[d.attempt - 1]!;
      this.o.logger.warn('handler failed transiently; retrying later', { ...log, delayMs: level.delayMs });
      const moved = await this.republish(d, level.exchange, this.o.queue, {
        ...this.originHeaders(d),
        [H.attempt]: d.attempt + 1,
        [H.lastError]: `${code}: ${message}`.slice(0, 1000),
      });
      // Not moved: it comes back and is handled (and observed) again.
      if (moved) this.o.observe?.('retry', seconds, d.event.eventType);
      return;
    }
    const reason = category === 'transient' ? 'retries-exhausted' : 'permanent-failure';
    this.o.logger.error('handler failed; message parked in the dead-letter queue', { ...log, reason, stack: err instanceof Error ? err.stack : undefined });
    if (await this.park(d, reason, message, code, d.attempt)) this.o.observe?.('park', seconds, d.event.eventType);
  }

  private originHeaders(d: Delivery): Headers {
    const h = d.msg.properties.headers ?? {};
    return {
      ...h,
      [H.originalExchange]: h[H.originalExchange] ?? d.msg.fields.exchange,
      [H.originalRoutingKey]: h[H.originalRoutingKey] ?? d.msg.fields.routingKey,
    };
  }

  /**
   * Moves a message to the service's dead-letter queue with the why; ack only after the broker
   * confirmed it. Returns whether it moved (if not, it is requeued: see `republish`).
   */
  private async park(d: Delivery, reason: string, error: string, code: string, attempts: number): Promise<boolean> {
    if (reason === 'invalid-message') this.o.logger.error('invalid message parked in the dead-letter queue', { queue: this.o.queue, err: error });
    return this.republish(d, '', this.o.topology.deadLetterQueue, {
      ...this.originHeaders(d),
      [H.parkedId]: randomUUID(),
      [H.parkedAt]: new Date().toISOString(),
      [H.parkReason]: reason,
      [H.error]: error.slice(0, 4000),
      [H.errorCode]: code,
      [H.attempts]: attempts,
      [H.originalQueue]: this.o.queue,
    });
  }

  /**
   * Moves a message (to a retry level or the dead-letter queue): publishes the copy `mandatory`
   * and acks the original only once the broker confirmed that a queue took the copy. Returns
   * whether it moved.
   *
   * A failed move — nacked (the target queue refuses: full, reject-publish), returned (the
   * target queue or its binding is gone) — leaves the original unacked on a live channel,
   * where the next batch's multiple-ack would settle it unhandled. So it is settled here, on
   * its own: requeued after a short pause (a target that keeps refusing is not hammered), and
   * its lane waits for that, so no later ack of the lane can cover it meanwhile.
   */
  private async republish(d: Delivery, exchange: string, routingKey: string, headers: Headers): Promise<boolean> {
    const { properties } = d.msg;
    let failure: string;
    try {
      const returned = await publishMandatory(d.channel, exchange, routingKey, d.msg.content, {
        persistent: true,
        contentType: properties.contentType,
        messageId: properties.messageId,
        correlationId: properties.correlationId,
        type: properties.type,
        timestamp: properties.timestamp,
        headers,
      });
      if (!returned) {
        d.channel.ack(d.msg);
        return true;
      }
      failure = `no queue took it (${returned.replyText})`;
    } catch (err) {
      failure = errorMessage(err);
    }
    const log = { queue: this.o.queue, to: exchange || routingKey, eventId: properties.messageId, err: failure };
    if (this.closedChannels.has(d.channel)) {
      // Channel gone: the broker redelivers the original, nothing is lost.
      this.o.logger.warn('could not move message; it will be redelivered', log);
      return false;
    }
    const pauseMs = 1_000;
    this.o.logger.warn('could not move message; it is requeued and handled again', { ...log, requeueInMs: pauseMs });
    await new Promise((r) => setTimeout(r, pauseMs));
    // Its outcome is known (handled, not moved): a redelivery is no suspect.
    this.giveBack([d]);
    return false;
  }

  /**
   * Stops taking deliveries, lets the batch in flight finish, hands the deliveries not yet
   * started back to the broker (for another replica, or this one after restart), closes.
   */
  async stop(): Promise<void> {
    this.stopping = true;
    this.unlisten?.();
    this.unlisten = undefined;
    this.observe();
    this.wakeProbe?.();
    const ch = this.channel?.current;
    if (ch && this.consumerTag) await ch.cancel(this.consumerTag).catch(() => undefined);
    this.consumerTag = undefined;
    await Promise.all(this.lanes.map(async (lane) => {
      while (lane.processing) await lane.processing;
    }));
    for (const lane of this.lanes) this.giveBack(lane.buffer.splice(0));
    await this.channel?.close();
  }
}

function laneOf(correlationId: unknown, lanes: number): number {
  if (lanes === 1 || typeof correlationId !== 'string') return 0;
  let h = 0;
  for (let i = 0; i < correlationId.length; i++) h = (h * 31 + correlationId.charCodeAt(i)) | 0;
  return Math.abs(h) % lanes;
}

/** The id a delivery is remembered by: its message id (the event id, as the relay publishes it). */
function idOf(d: Delivery | Decoded): string | undefined {
  const id: unknown = d.msg.properties.messageId;
  if (typeof id === 'string') return id;
  return 'event' in d ? d.event.eventId : undefined;
}

function safely(fn: () => void): void {
  try {
    fn();
  } catch {
    // The channel closed under us; the broker redelivers and the inbox drops the duplicate.
  }
}
