import { randomUUID } from 'node:crypto';
import type { Socket } from 'node:net';
import amqplib, { type Channel, type ChannelModel, type ConfirmChannel, type Message, type Options } from 'amqplib';
import type { Logger } from '@orderflow/logging';

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

type AnyChannel = Channel | ConfirmChannel;

/** A mandatory publish the broker returned: no queue was bound for it. */
export interface Returned {
  exchange: string;
  routingKey: string;
  messageId: string | undefined;
  /** The broker's reason, e.g. `312 NO_ROUTE`. */
  replyText: string;
}

/**
 * Identifies a mandatory publish that has no messageId (a message parked for being invalid
 * may have none), so that its return can still be matched with its confirm.
 */
const PUBLISH_ID = 'x-publish-id';

function publishKey(properties: { messageId?: unknown; headers?: Record<string, unknown> | undefined }): string | undefined {
  if (typeof properties.messageId === 'string' && properties.messageId !== '') return properties.messageId;
  const id = properties.headers?.[PUBLISH_ID];
  return typeof id === 'string' ? id : undefined;
}

/**
 * Per channel, the returned publishes whose confirm has not come yet, by messageId (or
 * x-publish-id). A list per id: the same event can be in flight twice on one channel (a sweep
 * after a reconnect takes a row the direct path just published), and when both copies come
 * back each confirm must find its own return, or the second would count as routed.
 */
const pendingReturns = new WeakMap<Channel, Map<string, Returned[]>>();

/**
 * Records what the broker returns on this channel. RabbitMQ sends a mandatory message's
 * basic.return before its basic.ack, so the confirm callback finds it here (`takeReturn`).
 */
function trackReturns(channel: Channel, broker: Broker): void {
  const pending = new Map<string, Returned[]>();
  pendingReturns.set(channel, pending);
  channel.on('return', (msg: Message) => {
    const fields = msg.fields as Message['fields'] & { replyCode?: number; replyText?: string };
    const returned: Returned = {
      exchange: fields.exchange,
      routingKey: fields.routingKey,
      messageId: typeof msg.properties.messageId === 'string' ? msg.properties.messageId : undefined,
      replyText: `${fields.replyCode ?? ''} ${fields.replyText ?? ''}`.trim(),
    };
    const key = publishKey(msg.properties);
    if (key !== undefined) {
      const earlier = pending.get(key);
      if (earlier) earlier.push(returned);
      else pending.set(key, [returned]);
    }
    broker.emitReturn(returned);
  });
}

/**
 * Whether the broker returned the mandatory publish with this messageId (or x-publish-id): call
 * it from that publish's confirm callback (the return, if any, came before). O(1); forgets the
 * return.
 */
export function takeReturn(channel: Channel, messageId: string): Returned | undefined {
  const pending = pendingReturns.get(channel);
  if (!pending || pending.size === 0) return undefined;
  const returns = pending.get(messageId);
  if (!returns) return undefined;
  const returned = returns.shift();
  if (returns.length === 0) pending.delete(messageId);
  return returned;
}

/**
 * Publishes one message `mandatory` on a confirm channel of this broker and waits for its own
 * confirm, not the channel's others: resolves `undefined` once a queue took it, the return when
 * none did (no queue bound, queue deleted); rejects when the broker nacks it or the channel closes.
 */
export function publishMandatory(
  channel: ConfirmChannel,
  exchange: string,
  routingKey: string,
  content: Buffer,
  options: Options.Publish,
): Promise<Returned | undefined> {
  const headers = publishKey(options) === undefined ? { ...options.headers, [PUBLISH_ID]: randomUUID() } : options.headers;
  const key = publishKey({ messageId: options.messageId, headers })!;
  return new Promise((resolve, reject) => {
    try {
      channel.publish(exchange, routingKey, content, { ...options, headers, mandatory: true }, (err: unknown) =>
        err ? reject(err instanceof Error ? err : new Error(String(err))) : resolve(takeReturn(channel, key)),
      );
    } catch (err) {
      // The channel closed under us.
      reject(err);
    }
  });
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
    private readonly broker: Broker,
  ) {}

  /** The live channel, or undefined while the broker is unreachable. */
  get current(): C | undefined {
    return this.channel;
  }

  /** @internal */
  async open(model: ChannelModel): Promise<void> {
    if (this.closed || (this.model === model && this.channel)) return;
    const channel = (this.confirm ? await model.createConfirmChannel() : await model.createChannel()) as C;
    trackReturns(channel, this.broker);
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

/** `host:port` of a broker URL: what logs show of a node (never its credentials). */
export function nodeAddress(url: string): string {
  try {
    const u = new URL(url);
    return `${u.hostname}:${u.port || (u.protocol === 'amqps:' ? '5671' : '5672')}`;
  } catch {
    return '(invalid URL)';
  }
}

/**
 * The order in which nodes are tried: shuffled once, so that the processes of a fleet spread
 * over the nodes, then round-robin, so that after losing its node a process tries the others
 * before coming back to it.
 */
export class NodeRotation {
  private readonly order: string[];
  private next = 0;

  constructor(urls: readonly string[], random: () => number = Math.random) {
    if (urls.length === 0) throw new Error('no broker URL given');
    this.order = [...urls];
    for (let i = this.order.length - 1; i > 0; i--) {
      const j = Math.floor(random() * (i + 1));
      [this.order[i], this.order[j]] = [this.order[j]!, this.order[i]!];
    }
  }

  get size(): number {
    return this.order.length;
  }

  /** The next node to try. */
  take(): string {
    const url = this.order[this.next % this.order.length]!;
    this.next = (this.next + 1) % this.order.length;
    return url;
  }
}

/** Exponential backoff with ±20 % jitter, capped: the delay after the `round`-th round of refusals (1-based). */
export function backoffDelay(round: number, initialMs: number, maxMs: number, random: () => number = Math.random): number {
  const base = Math.min(maxMs / 1.2, initialMs * 2 ** Math.max(0, round - 1));
  return Math.round(base * (0.8 + 0.4 * random()));
}

/**
 * One AMQP connection per process, to any node of the broker (or cluster) that answers.
 * When it is lost the broker reconnects at once to the next node, and backs off (exponential,
 * with jitter) only after every node refused; each reconnection re-runs `onConnect` (the
 * topology) and restores every channel opened through it. amqplib's own recovery retries a
 * single URL, so the loop is ours.
 */
export class Broker {
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
    trackReturns(channel, this);
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
