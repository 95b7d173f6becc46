import type { ConfirmChannel, GetMessage } from 'amqplib';
import { AppError, errorMessage } from '@orderflow/errors';
import { publishMandatory, type Broker } from './broker';
import { H } from './headers';
import type { Topology } from './topology';

/** A message parked in a service's dead-letter queue, as an operator sees it. */
export interface ParkedMessage {
  parkedId: string;
  parkedAt: string | null;
  reason: string;
  error: string;
  errorCode: string;
  attempts: number;
  originalQueue: string;
  originalExchange: string;
  originalRoutingKey: string;
  eventId: string | null;
  eventType: string | null;
  /** The message body as received (parsed when it is JSON). */
  body: unknown;
}

export interface ParkedFilter {
  parkedId?: string;
  errorCode?: string;
  originalQueue?: string;
}

function describe(msg: GetMessage): ParkedMessage {
  const h = msg.properties.headers ?? {};
  const text = msg.content.toString('utf8');
  let body: unknown = text;
  try {
    body = JSON.parse(text);
  } catch {
    // Kept as text: it was parked for not being JSON.
  }
  const str = (v: unknown): string => (v === undefined || v === null ? '' : String(v));
  return {
    parkedId: str(h[H.parkedId]),
    parkedAt: h[H.parkedAt] ? str(h[H.parkedAt]) : null,
    reason: str(h[H.parkReason]),
    error: str(h[H.error]),
    errorCode: str(h[H.errorCode]),
    attempts: Number(h[H.attempts] ?? 0),
    originalQueue: str(h[H.originalQueue]),
    originalExchange: str(h[H.originalExchange]),
    originalRoutingKey: str(h[H.originalRoutingKey]),
    eventId: msg.properties.messageId ? str(msg.properties.messageId) : null,
    eventType: msg.properties.type ? str(msg.properties.type) : null,
    body,
  };
}

const matches = (m: ParkedMessage, f: ParkedFilter): boolean =>
  (!f.parkedId || m.parkedId === f.parkedId) &&
  (!f.errorCode || m.errorCode === f.errorCode) &&
  (!f.originalQueue || m.originalQueue === f.originalQueue);

/**
 * Walks the dead-letter queue once without losing anything: every message is taken unacked,
 * `visit` decides to keep it or to settle it, and all kept messages are returned to the queue
 * together at the end (returning them one by one would hand them straight back to `get`).
 */
async function walk(
  broker: Broker,
  topology: Topology,
  visit: (msg: GetMessage, parked: ParkedMessage, ch: ConfirmChannel) => Promise<'keep' | 'settled'>,
  limit = Infinity,
): Promise<void> {
  await broker.withChannel(true, async (ch) => {
    const { messageCount } = await ch.checkQueue(topology.deadLetterQueue);
    for (let seen = 0; seen < Math.min(messageCount, limit); seen++) {
      const msg = await ch.get(topology.deadLetterQueue, { noAck: false });
      if (!msg) break;
      if ((await visit(msg, describe(msg), ch)) === 'keep') continue;
    }
    ch.nackAll(true);
  });
}

/** Lists parked messages, oldest first (they stay parked). */
export async function listParked(broker: Broker, topology: Topology, filter: ParkedFilter = {}, limit = 1000): Promise<ParkedMessage[]> {
  const found: ParkedMessage[] = [];
  await walk(broker, topology, async (_msg, parked) => {
    if (matches(parked, filter)) found.push(parked);
    return 'keep';
  }, limit);
  return found;
}

/**
 * Sends matching parked messages back to the queue they failed in, as a first attempt; returns
 * how many. Each is removed from the dead-letter queue only after the broker confirmed that its
 * queue took it. One the broker returns (that queue is gone) or refuses stays parked, and the
 * call then rejects with `DEAD_LETTER.NOT_REPLAYED` (a conflict) saying how many were replayed
 * and which were not, and why.
 */
export async function replayParked(broker: Broker, topology: Topology, filter: ParkedFilter): Promise<number> {
  let replayed = 0;
  /** Messages left parked, by the queue they were to go back to: how many and why. */
  const notReplayed = new Map<string, { count: number; reason: string }>();
  await walk(broker, topology, async (msg, parked, ch) => {
    if (!matches(parked, filter) || !parked.originalQueue) return 'keep';
    const headers: Record<string, unknown> = { ...msg.properties.headers };
    for (const h of [H.attempt, H.lastError, H.parkedId, H.parkedAt, H.parkReason, H.error, H.errorCode, H.attempts, H.originalQueue]) {
      delete headers[h];
    }
    headers[H.replayedAt] = new Date().toISOString();
    let refusal: string | undefined;
    try {
      const returned = await publishMandatory(ch, '', parked.originalQueue, msg.content, {
        persistent: true,
        contentType: msg.properties.contentType,
        messageId: msg.properties.messageId,
        correlationId: msg.properties.correlationId,
        type: msg.properties.type,
        timestamp: msg.properties.timestamp,
        headers,
      });
      if (returned) refusal = `no such queue (${returned.replyText})`;
    } catch (err) {
      // A nack; a closed channel also fails the walk's next get, and the broker requeues all.
      refusal = errorMessage(err);
    }
    if (refusal !== undefined) {
      const entry = notReplayed.get(parked.originalQueue) ?? { count: 0, reason: refusal };
      entry.count++;
      notReplayed.set(parked.originalQueue, entry);
      return 'keep';
    }
    ch.ack(msg);
    replayed++;
    return 'settled';
  });
  if (notReplayed.size > 0) {
    const queues = [...notReplayed].map(([queue, { count, reason }]) => ({ queue, count, reason }));
    const total = queues.reduce((n, q) => n + q.count, 0);
    throw new AppError(
      'DEAD_LETTER.NOT_REPLAYED',
      `${total} parked message(s) not replayed and still parked (${queues.map((q) => `${q.count} to ${q.queue}: ${q.reason}`).join('; ')}); ${replayed} replayed`,
      { category: 'conflict', details: { replayed, notReplayed: total, queues } },
    );
  }
  return replayed;
}

/** Deletes matching parked messages for good. */
export async function discardParked(broker: Broker, topology: Topology, filter: ParkedFilter): Promise<number> {
  let discarded = 0;
  await walk(broker, topology, async (msg, parked, ch) => {
    if (!matches(parked, filter)) return 'keep';
    ch.ack(msg);
    discarded++;
    return 'settled';
  });
  return discarded;
}

/** Messages waiting in the dead-letter queue (for metrics and the auditor). */
export async function parkedCount(broker: Broker, topology: Topology): Promise<number> {
  return broker.withChannel(false, async (ch) => (await ch.checkQueue(topology.deadLetterQueue)).messageCount);
}
