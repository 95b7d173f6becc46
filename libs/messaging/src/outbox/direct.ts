import type { ConfirmChannel } from 'amqplib';
import type { Pool } from 'pg';
import type { Logger } from '@orderflow/logging';
import { startPublish, type PublishSpan, type Tracing } from '@orderflow/tracing';
import { takeReturn } from '../broker/returns';
import { postponeReturned, propertiesOf, type ReturnBackoff, type ReturnedEvent } from './returns';
import { jsonOf, type OutgoingEvent } from './write';

export interface DirectPublisherOptions {
  pool: Pool;
  logger: Logger;
  /** How long confirmed rows gather before one statement deletes them (default 50 ms). */
  deleteDelayMs?: number;
  /**
   * When an event the broker returned as unroutable is published again: `initialMs` after its
   * first return, doubling with each further return, at most `maxMs` (defaults 1 s and 60 s).
   */
  unroutableRetry?: ReturnBackoff;
  /** On: each publish is a producer span, the child of its row's context, carried in the message's headers. */
  tracing?: Tracing;
}

/** A published row is deleted: the outbox holds only what is still to publish. */
const DELETE_PUBLISHED = 'DELETE FROM outbox_events WHERE event_id = ANY($1::uuid[])';

/**
 * The relay's direct path: publishes events its writer has just committed, without reading
 * their rows back, and settles the rows once the broker answers — confirmed rows are deleted
 * together in one statement per round, returned ones postponed (`postponeReturned`).
 */
export class DirectPublisher {
  /** Event ids confirmed by the broker whose rows are not deleted yet. */
  private confirmed: string[] = [];
  /** Events the broker returned whose rows are not postponed yet. */
  private returned: ReturnedEvent[] = [];
  private writing: Promise<void> | undefined;
  /** Publishes the broker has not confirmed (or refused) yet. */
  private unconfirmed = 0;
  private settled: Array<() => void> = [];
  private refused = 0;
  private lastRefusedLog = 0;
  /** Rows published and deleted since start. */
  published = 0;

  constructor(private readonly options: DirectPublisherOptions) {}

  /** Publishes on `channel`; a publish the channel refuses leaves its row to a sweep. */
  publish(channel: ConfirmChannel, events: readonly OutgoingEvent[]): void {
    const timestamp = Math.floor(Date.now() / 1000);
    const { tracing } = this.options;
    for (const e of events) {
      this.unconfirmed++;
      const { eventId } = e.envelope;
      let span: PublishSpan | undefined;
      // Inside the try: whatever throws here must still settle this publish's count (`drain` waits for it).
      try {
        span = tracing ? startPublish(tracing, { exchange: e.exchange, routingKey: e.routingKey, eventId, correlationId: e.envelope.correlationId, traceContext: e.traceContext }) : undefined;
        channel.publish(e.exchange, e.routingKey, Buffer.from(jsonOf(e)), propertiesOf(eventId, e.routingKey, e.envelope.correlationId, timestamp, span?.headers), (err) => {
          let returned: ReturnType<typeof takeReturn>;
          if (err) this.unconfirmedWarning(String(err));
          else {
            // Confirmed is not delivered: a mandatory message no queue took was returned first.
            returned = takeReturn(channel, eventId);
            if (returned) this.postpone({ eventId, returned });
            else this.forget(eventId);
          }
          span?.end(err ? `not confirmed: ${String(err)}` : returned ? `returned: ${returned.replyText}` : undefined);
          this.confirmedOne();
        });
      } catch (err) {
        // The channel closed under us (no callback will come): the reconnect's sweep publishes the rows.
        span?.end(err);
        this.unconfirmedWarning((err as Error).message);
        this.confirmedOne();
        return;
      }
    }
  }

  private confirmedOne(): void {
    this.unconfirmed--;
    if (this.unconfirmed === 0) for (const resolve of this.settled.splice(0)) resolve();
  }

  /** One warning per second however many publishes a lost channel took with it. */
  private unconfirmedWarning(err: string): void {
    this.refused++;
    if (Date.now() - this.lastRefusedLog < 1_000) return;
    this.lastRefusedLog = Date.now();
    this.options.logger.warn('direct publishes not confirmed; the sweep republishes them', { refusedSoFar: this.refused, err });
  }

  /**
   * Deletes the row of a confirmed event. Coalesced: the rows confirmed within
   * `deleteDelayMs` go in one statement — nothing waits for it (the event is out). A row left
   * a little longer may be published again by a sweep without grace (`wake`, `flush`): a
   * duplicate the consumers' inbox drops, and its return, if any, is matched on its own.
   */
  private forget(eventId: string): void {
    this.confirmed.push(eventId);
    this.write();
  }

  /** Keeps the row of a returned event for a later attempt; coalesced like `forget`. */
  private postpone(event: ReturnedEvent): void {
    this.returned.push(event);
    this.write();
  }

  private write(): void {
    if (this.writing) return;
    this.writing = (async () => {
      await new Promise((r) => setTimeout(r, this.options.deleteDelayMs ?? 50));
      while (this.confirmed.length > 0 || this.returned.length > 0) {
        const ids = this.confirmed.splice(0, 5_000);
        const returned = this.returned.splice(0, 5_000);
        if (ids.length > 0) {
          try {
            await this.options.pool.query(DELETE_PUBLISHED, [ids]);
            this.published += ids.length;
          } catch (err) {
            // Left unsent: a sweep republishes them and consumers drop the duplicates.
            this.options.logger.warn('could not delete published outbox rows', { rows: ids.length, err: (err as Error).message });
          }
        }
        if (returned.length > 0) {
          // Without the delay a sweep publishes them again once past its grace.
          await postponeReturned(this.options.pool, returned, this.options.unroutableRetry, this.options.logger).catch((err: Error) =>
            this.options.logger.warn('could not record unroutable outbox events', { rows: returned.length, err: err.message }),
          );
        }
      }
    })().finally(() => {
      this.writing = undefined;
      // Confirms that came in after the last look.
      if (this.confirmed.length > 0 || this.returned.length > 0) this.write();
    });
  }

  /** Waits for publishes to be confirmed (at most `timeoutMs`) and their rows settled. */
  async settle(timeoutMs: number): Promise<void> {
    if (this.unconfirmed > 0) {
      await Promise.race([
        new Promise<void>((resolve) => this.settled.push(resolve)),
        new Promise<void>((resolve) => setTimeout(resolve, timeoutMs).unref()),
      ]);
    }
    while (this.writing) await this.writing;
  }
}
