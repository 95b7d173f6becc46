import type { Logger } from '@orderflow/logging';
import type { ConsumerState, ConsumerStatus } from './options';

/**
 * Waits before consuming again when the consumer is gone while the broker is connected (a
 * channel that failed to set up, consuming that failed): growing from the first to the last,
 * so a consumer that cannot come back does not hammer the broker and one that can is soon back.
 */
const RECONSUME_DELAY_MS = { first: 250, max: 10_000 };

export interface LivenessOptions {
  queue: string;
  logger: Logger;
  /** The consumer's state now. */
  state: () => ConsumerState;
  /** One attempt to consume again (on the live channel, or by closing it for a fresh one). */
  reconsume: () => Promise<void>;
}

/**
 * A consumer's state over time: records each change with its time and brings back a consumer
 * `gone` (not consuming although the broker is connected), with growing delays between tries.
 */
export class ConsumerLiveness {
  /** The state last observed and since when. */
  private observed: { state: ConsumerState; since: Date } = { state: 'stopped', since: new Date() };
  /** Failed attempts in a row to bring back a gone consumer: each waits longer. */
  private attempts = 0;
  private timer: NodeJS.Timeout | undefined;
  private goneLogged = false;

  constructor(private readonly o: LivenessOptions) {}

  /** Whether the consumer is being brought back after failed attempts (a channel set-up then waits `delay()`). */
  get retrying(): boolean {
    return this.attempts > 0;
  }

  /** Records a change of state with its time; a consumer gone is brought back (`reconsume`). */
  observe(): ConsumerStatus {
    const state = this.o.state();
    if (state !== this.observed.state) {
      if (state === 'active' && this.goneLogged) this.o.logger.info('consumer consuming again', { queue: this.o.queue, goneSince: this.observed.since.toISOString() });
      this.observed = { state, since: new Date() };
    }
    if (state === 'gone') {
      this.soon();
    } else {
      // A fresh connection, a resume or a stop starts over.
      clearTimeout(this.timer);
      this.timer = undefined;
      this.attempts = 0;
      this.goneLogged = false;
    }
    return { state, active: state === 'active', since: this.observed.since };
  }

  delay(): number {
    return Math.min(RECONSUME_DELAY_MS.first * 2 ** Math.max(0, this.attempts - 1), RECONSUME_DELAY_MS.max);
  }

  private soon(): void {
    if (this.timer) return;
    this.timer = setTimeout(() => {
      this.timer = undefined;
      void this.reconsume();
    }, this.delay());
    this.timer.unref();
  }

  /**
   * Brings back a consumer gone while the broker is connected (briefly so after every
   * reconnect, until its channel is open again). Without a live channel, its re-open is under
   * way, and its set-up waits `delay()` first.
   */
  private async reconsume(): Promise<void> {
    if (this.o.state() !== 'gone') return void this.observe();
    this.attempts++;
    if (!this.goneLogged) {
      this.goneLogged = true;
      this.o.logger.warn('consumer not consuming although the broker is connected; trying again with growing delays', { queue: this.o.queue, since: this.observed.since.toISOString() });
    }
    await this.o.reconsume();
    this.observe();
  }
}
