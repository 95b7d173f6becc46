import { randomUUID } from 'node:crypto';
import type { ConfirmChannel, ConsumeMessage } from 'amqplib';
import { parseEvent, parsePayload, type Envelope, type EventContract } from '@orderflow/events';
import { categorize, errorCode, errorMessage } from '@orderflow/errors';
import { withLogContext, type Logger } from '@orderflow/logging';
import type { Broker, ManagedChannel } from './broker';
import type { HandlerSpec, MessageContext } from './handlers';
import { H, attemptOf, type Headers } from './headers';
import { enqueueEvents, eventFactory, type OutgoingEvent } from './outbox';
import type { SqlClient, TransactionRunner } from './sql';
import { assertTopology, type Topology } from './topology';

export interface ConsumerOptions<Tx extends SqlClient> {
  broker: Broker;
  topology: Topology;
  queue: string;
  handlers: ReadonlyArray<HandlerSpec<Tx>>;
  transaction: TransactionRunner<Tx>;
  logger: Logger;
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
}

type Outcome = 'ack' | 'retry' | 'park' | 'duplicate';

/**
 * The one subscribe loop: takes what the prefetch window delivered, validates each envelope,
 * runs the handlers of a batch in one transaction together with the inbox records (so a
 * redelivered event changes nothing), commits, then acks. A failed batch is re-run message by
 * message so only the failing one is retried (transient, with growing delay) or parked.
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

  constructor(private readonly o: ConsumerOptions<Tx>) {
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
    this.channel = await this.o.broker.openChannel<ConfirmChannel>(`consumer:${this.o.queue}`, true, async (ch) => {
      this.consumerTag = undefined;
      await assertTopology(ch, this.o.topology);
      await ch.prefetch(this.o.prefetch);
      ch.on('close', () => {
        this.closedChannels.add(ch);
        this.consumerTag = undefined;
      });
      const { consumerTag } = await ch.consume(this.o.queue, (msg) => this.onDelivery(ch, msg), { noAck: false });
      this.consumerTag = consumerTag;
      this.o.broker.emitChannelState();
    });
  }

  private onDelivery(channel: ConfirmChannel, msg: ConsumeMessage | null): void {
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
    while (lane.buffer.length > 0 && !this.stopping) {
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
    const started = process.hrtime.bigint();
    try {
      const outcomes = await this.handle(decoded);
      this.settle(decoded, outcomes, started);
    } catch (err) {
      if (decoded.length === 1) {
        await this.fail(decoded[0]!, err, started);
        return;
      }
      // One message spoiled the batch: find it by handling each alone.
      for (const d of decoded) {
        const one = process.hrtime.bigint();
        try {
          this.settle([d], await this.handle([d]), one);
        } catch (e) {
          await this.fail(d, e, one);
        }
      }
    }
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
    // at a time), so one multiple-ack settles the whole batch; lanes ack their own messages.
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
      await this.republish(d, level.exchange, this.o.queue, {
        ...this.originHeaders(d),
        [H.attempt]: d.attempt + 1,
        [H.lastError]: `${code}: ${message}`.slice(0, 1000),
      });
      this.o.observe?.('retry', seconds, d.event.eventType);
      return;
    }
    const reason = category === 'transient' ? 'retries-exhausted' : 'permanent-failure';
    this.o.logger.error('handler failed; message parked in the dead-letter queue', { ...log, reason, stack: err instanceof Error ? err.stack : undefined });
    await this.park(d, reason, message, code, d.attempt);
    this.o.observe?.('park', seconds, d.event.eventType);
  }

  private originHeaders(d: Delivery): Headers {
    const h = d.msg.properties.headers ?? {};
    return {
      ...h,
      [H.originalExchange]: h[H.originalExchange] ?? d.msg.fields.exchange,
      [H.originalRoutingKey]: h[H.originalRoutingKey] ?? d.msg.fields.routingKey,
    };
  }

  /** Moves a message to the service's dead-letter queue with the why; ack only after the broker confirmed it. */
  private async park(d: Delivery, reason: string, error: string, code: string, attempts: number): Promise<void> {
    if (reason === 'invalid-message') this.o.logger.error('invalid message parked in the dead-letter queue', { queue: this.o.queue, err: error });
    await this.republish(d, '', this.o.topology.deadLetterQueue, {
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

  private async republish(d: Delivery, exchange: string, routingKey: string, headers: Headers): Promise<void> {
    const { properties } = d.msg;
    try {
      d.channel.publish(exchange, routingKey, d.msg.content, {
        persistent: true,
        contentType: properties.contentType,
        messageId: properties.messageId,
        correlationId: properties.correlationId,
        type: properties.type,
        timestamp: properties.timestamp,
        headers,
      });
      await d.channel.waitForConfirms();
      d.channel.ack(d.msg);
    } catch (err) {
      // Channel gone: the broker redelivers the original, nothing is lost.
      this.o.logger.warn('could not move message; it will be redelivered', { queue: this.o.queue, err: errorMessage(err) });
    }
  }

  /**
   * Stops taking deliveries, lets the batch in flight finish, hands the deliveries not yet
   * started back to the broker (for another replica, or this one after restart), closes.
   */
  async stop(): Promise<void> {
    this.stopping = true;
    const ch = this.channel?.current;
    if (ch && this.consumerTag) await ch.cancel(this.consumerTag).catch(() => undefined);
    this.consumerTag = undefined;
    await Promise.all(this.lanes.map(async (lane) => {
      while (lane.processing) await lane.processing;
    }));
    for (const lane of this.lanes) for (const d of lane.buffer.splice(0)) safely(() => d.channel.nack(d.msg, false, true));
    await this.channel?.close();
  }
}

function laneOf(correlationId: unknown, lanes: number): number {
  if (lanes === 1 || typeof correlationId !== 'string') return 0;
  let h = 0;
  for (let i = 0; i < correlationId.length; i++) h = (h * 31 + correlationId.charCodeAt(i)) | 0;
  return Math.abs(h) % lanes;
}

function safely(fn: () => void): void {
  try {
    fn();
  } catch {
    // The channel closed under us; the broker redelivers and the inbox drops the duplicate.
  }
}
