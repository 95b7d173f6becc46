import { randomUUID } from 'node:crypto';
import type { Socket } from 'node:net';
import amqplib, { type Channel, type ChannelModel, type ConfirmChannel, type Message, type Options, type RecoveringChannelModel } from 'amqplib';
import type { Logger } from '@orderflow/logging';

export interface BrokerOptions {
  url: string;
  /** Shown in the management UI's connection list (and used by tests to close it). */
  connectionName: string;
  logger: Logger;
  /** Reconnect backoff: first delay and cap, in ms. */
  initialReconnectDelayMs?: number;
  maxReconnectDelayMs?: number;
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

/** Per channel, the returned publishes whose confirm has not come yet, by messageId. */
const pendingReturns = new WeakMap<Channel, Map<string, Returned>>();

/**
 * Records what the broker returns on this channel. RabbitMQ sends a mandatory message's
 * basic.return before its basic.ack, so the confirm callback finds it here (`takeReturn`).
 */
function trackReturns(channel: Channel, broker: Broker): void {
  const pending = new Map<string, Returned>();
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
    if (key !== undefined) pending.set(key, returned);
    broker.emitReturn(returned);
  });
}

/**
 * Whether the broker returned the mandatory publish with this messageId: call it from that
 * publish's confirm callback (the return, if any, came before). O(1); forgets the return.
 */
export function takeReturn(channel: Channel, messageId: string): Returned | undefined {
  const pending = pendingReturns.get(channel);
  if (!pending || pending.size === 0) return undefined;
  const returned = pending.get(messageId);
  if (returned) pending.delete(messageId);
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

/**
 * One AMQP connection per process, kept alive by amqplib's built-in recovery (exponential
 * backoff with jitter). Channels opened through it are restored after every reconnect.
 */
export class Broker {
  private connection: RecoveringChannelModel | undefined;
  private readonly channels: ManagedChannel[] = [];
  private readonly listeners = new Set<() => void>();
  private readonly returnListeners = new Set<(returned: Returned) => void>();
  currentModel: ChannelModel | undefined;

  constructor(private readonly options: BrokerOptions) {}

  get logger(): Logger {
    return this.options.logger;
  }

  /** Starts connecting; resolves once connected the first time. */
  async connect(): Promise<void> {
    if (this.connection) return;
    const { url, connectionName } = this.options;
    this.connection = await amqplib.connect(url, {
      noDelay: true,
      clientProperties: { connection_name: connectionName },
      recovery: {
        initialDelay: this.options.initialReconnectDelayMs ?? 100,
        maxDelay: this.options.maxReconnectDelayMs ?? 5_000,
        maxRetries: Infinity,
        waitForConnect: false,
        setup: async (model: ChannelModel) => {
          try {
            coalesceWrites((model as unknown as { connection: { stream: Socket } }).connection.stream);
            await this.options.onConnect?.(model);
            this.currentModel = model;
            for (const channel of this.channels) await channel.open(model);
          } catch (err) {
            this.currentModel = undefined;
            throw err;
          }
        },
      },
    });
    this.connection.on('connect', () => {
      this.logger.info('broker connected', { connection: connectionName });
      this.emitChannelState();
    });
    this.connection.on('disconnect', (err: Error) => {
      this.currentModel = undefined;
      this.logger.warn('broker disconnected', { connection: connectionName, err: err.message });
      this.emitChannelState();
    });
    this.connection.on('connect-failed', (err: Error) =>
      this.logger.warn('broker connection attempt failed', { connection: connectionName, err: err.message }),
    );
    this.connection.on('error', () => undefined);
    await this.connection.waitForConnect();
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
    for (const channel of this.channels) await channel.close();
    await this.connection?.close().catch(() => undefined);
    this.currentModel = undefined;
  }
}
