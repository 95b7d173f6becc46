import { randomUUID } from 'node:crypto';
import type { Channel, ConfirmChannel, Message, Options } from 'amqplib';

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
 * Records what the broker returns on this channel, and tells `onReturn`. RabbitMQ sends a
 * mandatory message's basic.return before its basic.ack, so the confirm callback finds it
 * here (`takeReturn`).
 */
export function trackReturns(channel: Channel, onReturn: (returned: Returned) => void): void {
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
    onReturn(returned);
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
