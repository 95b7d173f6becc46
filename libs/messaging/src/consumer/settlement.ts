import { randomUUID } from 'node:crypto';
import { categorize, errorCode, errorMessage } from '@orderflow/errors';
import type { Logger } from '@orderflow/logging';
import { publishMandatory } from '../broker/returns';
import { H, type Headers } from '../headers';
import type { Topology } from '../topology';
import { safely, type Decoded, type Delivery, type DeliveryLedger } from './delivery';
import type { Observe, Outcome } from './options';

export interface SettlementOptions {
  topology: Topology;
  queue: string;
  logger: Logger;
  ledger: DeliveryLedger;
  /** Lanes of the consumer: with one, a batch is settled by one multiple-ack. */
  lanes: number;
  observe?: Observe;
}

/** A message's way out of the queue: acked when handled, moved to a retry level or parked when not. */
export class Settlement {
  constructor(private readonly o: SettlementOptions) {}

  /** Acks a handled batch and observes each message's outcome. */
  settle(batch: Decoded[], outcomes: Outcome[], started: bigint): void {
    const seconds = Number(process.hrtime.bigint() - started) / 1e9 / batch.length;
    const last = batch[batch.length - 1]!;
    // With one lane every earlier delivery of this channel is settled already (batches run one
    // at a time, and a message whose move failed was requeued on its own before its lane went
    // on: see `republish`), so one multiple-ack settles the whole batch, and only it; lanes ack
    // their own messages.
    const sameChannel = batch.every((d) => d.channel === last.channel);
    if (sameChannel && this.o.lanes === 1) safely(() => last.channel.ack(last.msg, true));
    else for (const d of batch) safely(() => d.channel.ack(d.msg));
    batch.forEach((d, i) => this.o.observe?.(outcomes[i]!, seconds, d.event.eventType));
  }

  /** A handler failed on `d`: transient and tries left → the next retry level; else parked. */
  async fail(d: Decoded, err: unknown, started: bigint): Promise<void> {
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
        ...originHeaders(d),
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

  /**
   * Moves a message to the service's dead-letter queue with the why; ack only after the broker
   * confirmed it. Returns whether it moved (if not, it is requeued: see `republish`). Through the
   * service's direct exchange: its broker user may not write to the default exchange.
   */
  async park(d: Delivery, reason: string, error: string, code: string, attempts: number): Promise<boolean> {
    if (reason === 'invalid-message') this.o.logger.error('invalid message parked in the dead-letter queue', { queue: this.o.queue, err: error });
    return this.republish(d, this.o.topology.directExchange, this.o.topology.deadLetterQueue, {
      ...originHeaders(d),
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
    if (this.o.ledger.isClosed(d.channel)) {
      // Channel gone: the broker redelivers the original, nothing is lost.
      this.o.logger.warn('could not move message; it will be redelivered', log);
      return false;
    }
    const pauseMs = 1_000;
    this.o.logger.warn('could not move message; it is requeued and handled again', { ...log, requeueInMs: pauseMs });
    await new Promise((r) => setTimeout(r, pauseMs));
    // Its outcome is known (handled, not moved): a redelivery is no suspect.
    this.o.ledger.giveBack([d]);
    return false;
  }
}

/** The message's headers, with where it was first published (kept across moves). */
function originHeaders(d: Delivery): Headers {
  const h = d.msg.properties.headers ?? {};
  return {
    ...h,
    [H.originalExchange]: h[H.originalExchange] ?? d.msg.fields.exchange,
    [H.originalRoutingKey]: h[H.originalRoutingKey] ?? d.msg.fields.routingKey,
  };
}
