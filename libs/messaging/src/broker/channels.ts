import type { Channel, ChannelModel, ConfirmChannel } from 'amqplib';
import type { Logger } from '@orderflow/logging';
import { trackReturns, type Returned } from './returns';

export type AnyChannel = Channel | ConfirmChannel;

/** What a managed channel needs of the broker it belongs to. */
export interface ChannelHost {
  readonly logger: Logger;
  /** The connection channels open on, or undefined while disconnected. */
  readonly currentModel: ChannelModel | undefined;
  emitChannelState(): void;
  emitReturn(returned: Returned): void;
}

/**
 * A channel that outlives connections: re-opened (and its `setup` re-run) after a reconnect,
 * or after the broker closed just this channel (e.g. a channel-level error).
 */
export class ManagedChannel<C extends AnyChannel = AnyChannel> {
  private channel: C | undefined;
  private model: ChannelModel | undefined;
  private reopenTimer: NodeJS.Timeout | undefined;
  closed = false;

  constructor(
    readonly name: string,
    private readonly confirm: boolean,
    private readonly setup: (channel: C) => Promise<void>,
    private readonly broker: ChannelHost,
  ) {}

  /** The live channel, or undefined while the broker is unreachable. */
  get current(): C | undefined {
    return this.channel;
  }

  /** @internal */
  async open(model: ChannelModel): Promise<void> {
    if (this.closed || (this.model === model && this.channel)) return;
    const channel = (this.confirm ? await model.createConfirmChannel() : await model.createChannel()) as C;
    trackReturns(channel, (returned) => this.broker.emitReturn(returned));
    channel.on('error', (err: Error) => this.broker.logger.warn('channel error', { channel: this.name, err: err.message }));
    channel.on('close', () => {
      if (this.channel !== channel) return;
      this.channel = undefined;
      this.broker.emitChannelState();
      // The connection may still be up (a channel-level error): re-open on it.
      if (!this.closed && this.broker.currentModel === model) this.scheduleReopen(model);
    });
    await this.setup(channel);
    this.model = model;
    this.channel = channel;
    this.broker.emitChannelState();
  }

  private scheduleReopen(model: ChannelModel): void {
    clearTimeout(this.reopenTimer);
    this.reopenTimer = setTimeout(() => {
      if (this.broker.currentModel !== model) return;
      this.open(model).catch((err: Error) => {
        this.broker.logger.warn('channel reopen failed', { channel: this.name, err: err.message });
        this.scheduleReopen(model);
      });
    }, 250);
    this.reopenTimer.unref();
  }

  async close(): Promise<void> {
    this.closed = true;
    clearTimeout(this.reopenTimer);
    const channel = this.channel;
    this.channel = undefined;
    await channel?.close().catch(() => undefined);
  }
}
