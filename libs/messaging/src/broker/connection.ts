import type { Socket } from 'node:net';
import amqplib, { type ChannelModel, type ConfirmChannel } from 'amqplib';
import type { Logger } from '@orderflow/logging';
import { ManagedChannel, type AnyChannel, type ChannelHost } from './channels';
import { backoffDelay, nodeAddress, NodeRotation } from './nodes';
import { trackReturns, type Returned } from './returns';

export interface BrokerOptions {
  /**
   * The broker, or the nodes of a cluster: the connection goes to any of them (a fleet spreads
   * over the nodes) and, when its node is lost, to another.
   */
  url: string | readonly string[];
  /** Shown in the management UI's connection list (and used by tests to close it). */
  connectionName: string;
  logger: Logger;
  /** Reconnect backoff once every node refused: first delay and cap, in ms. */
  initialReconnectDelayMs?: number;
  maxReconnectDelayMs?: number;
  /** Longest a connection attempt to one node may take (TCP and AMQP handshake), in ms. Default 10 s. */
  connectTimeoutMs?: number;
  /** Runs on every (re)connection before any channel opens: declare topology here. */
  onConnect?: (model: ChannelModel) => Promise<void>;
}

/**
 * Gathers every write a socket gets in one tick into one system call. amqplib writes each
 * frame on its own (a publish is three, an ack one), and a write system call on loopback
 * costs about as much CPU as encoding the message: corking until the next tick turns a
 * batch's acks and publishes into one `writev`.
 */
export function coalesceWrites(socket: Socket): void {
  const write = socket.write.bind(socket) as (...args: unknown[]) => boolean;
  let corked = false;
  socket.write = ((...args: unknown[]) => {
    if (!corked) {
      corked = true;
      socket.cork();
      process.nextTick(() => {
        corked = false;
        socket.uncork();
      });
    }
    return write(...args);
  }) as Socket['write'];
}

/**
 * One AMQP connection per process, to any node of the broker (or cluster) that answers.
 * When it is lost the broker reconnects at once to the next node, and backs off (exponential,
 * with jitter) only after every node refused; each reconnection re-runs `onConnect` (the
 * topology) and restores every channel opened through it. amqplib's own recovery retries a
 * single URL, so the loop is ours.
 */
export class Broker implements ChannelHost {
  private readonly channels: ManagedChannel[] = [];
  private readonly listeners = new Set<() => void>();
  private readonly returnListeners = new Set<(returned: Returned) => void>();
  private readonly nodes: NodeRotation;
  private started: Promise<void> | undefined;
  private closing = false;
  private wakeSleep: (() => void) | undefined;
  /** The connection whose setup finished and which has not closed since. */
  private live: { model: ChannelModel; url: string } | undefined;
  currentModel: ChannelModel | undefined;

  constructor(private readonly options: BrokerOptions) {
    this.nodes = new NodeRotation(typeof options.url === 'string' ? [options.url] : options.url);
  }

  get logger(): Logger {
    return this.options.logger;
  }

  /** `host:port` of the node connected to, or undefined while disconnected. */
  get node(): string | undefined {
    return this.live && nodeAddress(this.live.url);
  }

  /** Starts connecting; resolves once connected the first time (trying the nodes until one answers). */
  connect(): Promise<void> {
    this.started ??= this.connectLoop();
    return this.started;
  }

  /** Tries the nodes in turn until one connects and its setup succeeds; rejects only if closed first. */
  private async connectLoop(): Promise<void> {
    let failures = 0;
    while (!this.closing) {
      const url = this.nodes.take();
      try {
        await this.connectTo(url);
        return;
      } catch (err) {
        failures++;
        if (this.closing) break;
        this.logger.warn('broker connection attempt failed', { connection: this.options.connectionName, node: nodeAddress(url), err: (err as Error).message });
        // Every node refused once more: wait before the next round.
        if (failures % this.nodes.size === 0) {
          await this.sleep(backoffDelay(failures / this.nodes.size, this.options.initialReconnectDelayMs ?? 100, this.options.maxReconnectDelayMs ?? 5_000));
        }
      }
    }
    throw new Error('broker closed before it connected');
  }

  private async connectTo(url: string): Promise<void> {
    const { connectionName } = this.options;
    const model = await amqplib.connect(url, {
      noDelay: true,
      timeout: this.options.connectTimeoutMs ?? 10_000,
      clientProperties: { connection_name: connectionName },
    });
    // A connection error (e.g. 320 CONNECTION_FORCED on a node's shutdown) comes before its close.
    model.on('error', () => undefined);
    let lost = false;
    model.once('close', (err?: Error) => {
      lost = true;
      if (this.live?.model === model) this.onLost(url, err);
    });
    if (this.closing) {
      await model.close().catch(() => undefined);
      throw new Error('broker closed');
    }
    try {
      coalesceWrites((model as unknown as { connection: { stream: Socket } }).connection.stream);
      await this.options.onConnect?.(model);
      this.currentModel = model;
      for (const channel of this.channels) await channel.open(model);
      if (lost) throw new Error('connection lost during setup');
      if (this.closing) throw new Error('broker closed');
    } catch (err) {
      this.currentModel = undefined;
      await model.close().catch(() => undefined);
      throw err;
    }
    this.live = { model, url };
    this.logger.info('broker connected', { connection: connectionName, node: nodeAddress(url) });
    this.emitChannelState();
  }

  private onLost(url: string, err: Error | undefined): void {
    this.live = undefined;
    this.currentModel = undefined;
    this.logger.warn('broker disconnected', { connection: this.options.connectionName, node: nodeAddress(url), err: err?.message ?? 'closed' });
    this.emitChannelState();
    if (this.closing) return;
    // The rotation goes on from the node after the lost one.
    this.started = this.connectLoop();
    this.started.catch(() => undefined);
  }

  private sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.wakeSleep = undefined;
        resolve();
      }, ms);
      this.wakeSleep = () => {
        clearTimeout(timer);
        this.wakeSleep = undefined;
        resolve();
      };
    });
  }

  isConnected(): boolean {
    return this.currentModel !== undefined;
  }

  /** Opens a channel that is restored, with `setup` re-run, whenever it or the connection is lost. */
  async openChannel<C extends AnyChannel>(
    name: string,
    confirm: boolean,
    setup: (channel: C) => Promise<void> = async () => undefined,
  ): Promise<ManagedChannel<C>> {
    const channel = new ManagedChannel<C>(name, confirm, setup, this);
    this.channels.push(channel as unknown as ManagedChannel);
    if (this.currentModel) await channel.open(this.currentModel);
    return channel;
  }

  /** Runs `fn` on a short-lived channel of the current connection (admin operations). */
  async withChannel<T>(confirm: boolean, fn: (channel: ConfirmChannel) => Promise<T>): Promise<T> {
    const model = this.currentModel;
    if (!model) throw Object.assign(new Error('broker is not connected'), { code: 'ECONNREFUSED' });
    const channel = confirm ? await model.createConfirmChannel() : ((await model.createChannel()) as ConfirmChannel);
    trackReturns(channel, (returned) => this.emitReturn(returned));
    channel.on('error', () => undefined);
    try {
      return await fn(channel);
    } finally {
      await channel.close().catch(() => undefined);
    }
  }

  /** Called with no argument whenever a connection or channel comes or goes. */
  onStateChange(listener: () => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** Called with every mandatory publish the broker returned, on any channel of this broker (for metrics). */
  onReturn(listener: (returned: Returned) => void): () => void {
    this.returnListeners.add(listener);
    return () => this.returnListeners.delete(listener);
  }

  /** @internal */
  emitReturn(returned: Returned): void {
    for (const listener of this.returnListeners) listener(returned);
  }

  /** @internal */
  emitChannelState(): void {
    for (const listener of this.listeners) listener();
  }

  async close(): Promise<void> {
    this.closing = true;
    this.wakeSleep?.();
    for (const channel of this.channels) await channel.close();
    const live = this.live;
    this.live = undefined;
    this.currentModel = undefined;
    await live?.model.close().catch(() => undefined);
  }
}
