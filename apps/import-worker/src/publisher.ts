import type { ConfirmChannel } from 'amqplib';
import { transientError } from '@orderflow/errors';

export interface PublisherOptions {
  exchange: string;
  routingKey: string;
  /** Unconfirmed messages allowed in flight. */
  window: number;
  /** Messages waiting in the consumers' queue, or null when unknown. */
  backlog?: () => Promise<number | null>;
  /** Publishing waits while the backlog is above this, until it is back under 80 % of it. */
  maxBacklog?: number;
  backlogCheckIntervalMs?: number;
}

/**
 * Publishes one upload's chunks on its own confirm channel with a window of unconfirmed
 * messages, and makes every kind of "too fast" a wait for the caller (who stops reading the
 * upload meanwhile): a full confirm window, a full socket buffer (`publish` returned false,
 * which is also what the broker's flow control and memory alarm look like from here), and a
 * consumer queue deeper than `maxBacklog`. Messages are persistent and mandatory: a chunk no
 * queue takes (the order service's queue is missing) fails the upload instead of vanishing.
 */
export class ChunkPublisher {
  private inFlight = 0;
  private failure: Error | null = null;
  private waiters: Array<() => void> = [];
  private lastBacklogCheck = 0;
  private publishedSinceCheck = 0;
  /**
   * Milliseconds spent waiting for the consumers (backlog), for confirms, and for the socket to
   * the broker to drain (the broker reading slower than we publish, or its flow control):
   * where the upload's time went besides reading.
   */
  readonly waited = { backlogMs: 0, confirmsMs: 0, socketMs: 0 };
  confirmed = 0;

  constructor(
    private readonly channel: ConfirmChannel,
    private readonly o: PublisherOptions,
  ) {
    channel.on('return', (msg: { fields: { routingKey: string; replyText?: string } }) =>
      this.fail(transientError('IMPORT.UNROUTABLE', `no queue takes ${msg.fields.routingKey} messages (is the order service deployed?)`)),
    );
    channel.on('close', () => this.fail(transientError('IMPORT.BROKER_LOST', 'the broker channel closed while publishing the upload')));
    channel.on('error', (err: Error) => this.fail(transientError('IMPORT.BROKER_ERROR', `broker channel error: ${err.message}`, err)));
  }

  /** Resolves as soon as the message is handed to the channel (not when it is confirmed). */
  async publish(content: Buffer, props: { messageId: string; correlationId: string; type: string }): Promise<void> {
    this.throwIfFailed();
    if (this.inFlight >= this.o.window) {
      const t0 = Date.now();
      while (this.inFlight >= this.o.window) await this.next();
      this.waited.confirmsMs += Date.now() - t0;
    }
    await this.waitForBacklog();
    this.inFlight++;
    const writable = this.channel.publish(
      this.o.exchange,
      this.o.routingKey,
      content,
      { persistent: true, mandatory: true, contentType: 'application/json', timestamp: Math.floor(Date.now() / 1000), ...props },
      (err: unknown) => {
        this.inFlight--;
        if (err) this.fail(transientError('IMPORT.NACKED', 'the broker refused a chunk (nack)', err));
        else this.confirmed++;
        this.wake();
      },
    );
    if (!writable) {
      const t0 = Date.now();
      await this.drained();
      this.waited.socketMs += Date.now() - t0;
    }
  }

  /** Waits for every confirm; throws if any publish failed. */
  async flush(): Promise<void> {
    const t0 = Date.now();
    while (this.inFlight > 0 && !this.failure) await this.next();
    this.waited.confirmsMs += Date.now() - t0;
    this.throwIfFailed();
  }

  private async waitForBacklog(): Promise<void> {
    const { backlog, maxBacklog } = this.o;
    if (!backlog || !maxBacklog) return;
    // Asked every half second, and more often when the limit is small (the queue could fill
    // up between two looks).
    const every = this.o.backlogCheckIntervalMs ?? 500;
    this.publishedSinceCheck++;
    if (Date.now() - this.lastBacklogCheck < every && this.publishedSinceCheck < Math.max(1, Math.floor(maxBacklog / 10))) return;
    this.lastBacklogCheck = Date.now();
    this.publishedSinceCheck = 0;
    let depth = await backlog();
    if (depth === null || depth <= maxBacklog) return;
    const t0 = Date.now();
    // The consumers fell behind: hold the upload until they are well under the limit again.
    while (depth !== null && depth > maxBacklog * 0.8) {
      this.throwIfFailed();
      await new Promise((r) => setTimeout(r, Math.min(every, 250)));
      depth = await backlog();
    }
    this.lastBacklogCheck = Date.now();
    this.waited.backlogMs += Date.now() - t0;
  }

  private drained(): Promise<void> {
    return new Promise((resolve) => {
      const done = (): void => {
        this.channel.off('drain', done);
        this.waiters = this.waiters.filter((w) => w !== done);
        resolve();
      };
      this.channel.once('drain', done);
      this.waiters.push(done);
    });
  }

  private next(): Promise<void> {
    return new Promise((resolve) => this.waiters.push(resolve));
  }

  private wake(): void {
    const waiting = this.waiters;
    this.waiters = [];
    for (const w of waiting) w();
  }

  private fail(err: Error): void {
    this.failure ??= err;
    this.wake();
  }

  private throwIfFailed(): void {
    if (this.failure) throw this.failure;
  }
}
