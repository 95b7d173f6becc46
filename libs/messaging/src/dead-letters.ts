import { createHash } from 'node:crypto';
import type { ConfirmChannel, GetMessage } from 'amqplib';
import type { Pool } from 'pg';
import { AdvisoryLockTimeoutError, withAdvisoryLock } from '@orderflow/db';
import { AppError, errorMessage } from '@orderflow/errors';
import type { Broker } from './broker/connection';
import { publishMandatory } from './broker/returns';
import { H } from './headers';
import type { Topology } from './topology';

/** A service's dead-letter queue, and what its walks need. */
export interface DeadLetterQueue {
  broker: Broker;
  topology: Topology;
  /** The database the service's processes share: their walks take turns through it (without it, only this process's do). */
  pool?: Pool;
}

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

/** Which parked messages: all of the given criteria must hold (none given: every message). */
export interface ParkedFilter {
  parkedId?: string;
  /** A selection: any of these ids. The whole selection is one walk of the queue. */
  parkedIds?: Iterable<string>;
  errorCode?: string;
  originalQueue?: string;
}

/** One entry of the broker's `x-death` header: why and where it dead-lettered a message. */
type Death = Partial<Record<'queue' | 'reason' | 'count' | 'time' | 'exchange' | 'routing-keys', unknown>>;

/** Headers the broker adds when it dead-letters a message itself. */
const DEATH_HEADERS = ['x-death', 'x-first-death-queue', 'x-first-death-reason', 'x-first-death-exchange', 'x-last-death-queue', 'x-last-death-reason', 'x-last-death-exchange'];

/** The broker's dead-letter reasons, as our park reasons and error codes. */
const BROKER_REASONS: Record<string, { reason: string; code: string; why: string }> = {
  delivery_limit: { reason: 'delivery-limit', code: 'MESSAGE.DELIVERY_LIMIT', why: "delivered more often than the queue's x-delivery-limit allows" },
  rejected: { reason: 'rejected', code: 'BROKER.REJECTED', why: 'rejected by a consumer without requeue' },
  expired: { reason: 'expired', code: 'BROKER.EXPIRED', why: 'its TTL expired' },
  maxlen: { reason: 'maxlen', code: 'BROKER.MAXLEN', why: 'the queue was over its length limit' },
};

/** A stable UUID for a message parked by the broker (it has no x-parked-id): the same on every listing. */
function derivedParkedId(msg: GetMessage, death: Death): string {
  const h = createHash('sha1')
    .update(JSON.stringify([msg.properties.messageId ?? null, String(death.queue), String(death.reason), Number(death.count ?? 0), Number(death.time ?? 0)]))
    .update(msg.content)
    .digest('hex');
  const variant = ((parseInt(h[16]!, 16) & 0x3) | 0x8).toString(16);
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-5${h.slice(13, 16)}-${variant}${h.slice(17, 20)}-${h.slice(20, 32)}`;
}

/** AMQP timestamps (x-death `time`) come as seconds since the epoch. */
function isoFromSeconds(v: unknown): string | null {
  const seconds = Number(typeof v === 'object' && v !== null && 'value' in v ? (v as { value: unknown }).value : v);
  return Number.isFinite(seconds) && seconds > 0 ? new Date(seconds * 1000).toISOString() : null;
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
  const eventId = msg.properties.messageId ? str(msg.properties.messageId) : null;
  const eventType = msg.properties.type ? str(msg.properties.type) : null;
  const deaths = Array.isArray(h['x-death']) ? (h['x-death'] as Death[]) : [];
  if (h[H.parkedId] === undefined && deaths.length > 0) {
    // Dead-lettered by the broker itself (a work queue's delivery limit): the latest death says why.
    const death = deaths[0]!;
    const known = BROKER_REASONS[str(death.reason)];
    const routingKeys = Array.isArray(death['routing-keys']) ? (death['routing-keys'] as unknown[]) : [];
    return {
      parkedId: derivedParkedId(msg, death),
      parkedAt: isoFromSeconds(death.time),
      reason: known?.reason ?? str(death.reason),
      error: `dead-lettered by the broker from ${str(death.queue)}: ${known?.why ?? str(death.reason)} (x-death reason ${str(death.reason)}, count ${str(death.count)})`,
      errorCode: known?.code ?? `BROKER.${str(death.reason).toUpperCase()}`,
      attempts: Number(h[H.attempt] ?? 1),
      originalQueue: str(death.queue),
      originalExchange: str(h[H.originalExchange] ?? death.exchange),
      originalRoutingKey: str(h[H.originalRoutingKey] ?? routingKeys[0]),
      eventId,
      eventType,
      body,
    };
  }
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
    eventId,
    eventType,
    body,
  };
}

function matcher(f: ParkedFilter): (m: ParkedMessage) => boolean {
  const ids = f.parkedIds === undefined ? undefined : new Set(f.parkedIds);
  return (m) =>
    (!f.parkedId || m.parkedId === f.parkedId) &&
    (!ids || ids.has(m.parkedId)) &&
    (!f.errorCode || m.errorCode === f.errorCode) &&
    (!f.originalQueue || m.originalQueue === f.originalQueue);
}

/** The last walk queued on each dead-letter queue of a broker (settles, never rejects). */
const walks = new WeakMap<Broker, Map<string, Promise<void>>>();

/**
 * Runs `fn` once every walk of `queue` this process started before has ended. A walk holds
 * every message it has taken until it ends, so a walk running beside it would see only what
 * is left: a replay would miss the messages a list holds, and a list would answer fewer.
 * Within one process, walks queue up here, in memory; across processes, `acrossProcesses`
 * makes them take turns as well.
 */
function oneWalkAtATime<T>(broker: Broker, queue: string, fn: () => Promise<T>): Promise<T> {
  let queues = walks.get(broker);
  if (!queues) walks.set(broker, (queues = new Map()));
  const mine = (queues.get(queue) ?? Promise.resolve()).then(fn);
  const done = mine.then(
    () => undefined,
    () => undefined,
  );
  queues.set(queue, done);
  void done.then(() => {
    if (queues.get(queue) === done) queues.delete(queue);
  });
  return mine;
}

/** The advisory lock class of dead-letter walks (the queue's name says which queue). */
const WALK_LOCK = { classId: 0x444c5157, waitMs: 30_000 };

/**
 * Runs `fn` while no other process of the service walks `queue`: under a session advisory lock
 * on the database they share; inside `oneWalkAtATime`, so a process waits in memory first and
 * holds at most one connection for this (none while it waits). Waiting longer than `waitMs`
 * (within the gateway's read timeout) fails with `DEAD_LETTER.BUSY` (HTTP 503), no message touched.
 */
function acrossProcesses<T>(pool: Pool | undefined, queue: string, fn: () => Promise<T>): Promise<T> {
  if (!pool) return fn();
  return withAdvisoryLock(pool, { classId: WALK_LOCK.classId, name: queue }, fn, WALK_LOCK).catch((err: unknown) => {
    throw err instanceof AdvisoryLockTimeoutError ? new AppError('DEAD_LETTER.BUSY', `another process of the service is walking ${queue}; try again`, { category: 'transient', cause: err }) : err;
  });
}

/**
 * Walks the dead-letter queue once without losing anything: every message is taken unacked,
 * `visit` decides to keep it or to settle it, and all kept messages are returned to the queue
 * together at the end (returning them one by one would hand them straight back to `get`).
 * Answers the queue's depth when the walk began: no walk it takes turns with held any message then.
 */
function walk(
  { broker, topology, pool }: DeadLetterQueue,
  visit: (msg: GetMessage, parked: ParkedMessage, ch: ConfirmChannel) => Promise<'keep' | 'settled'>,
  limit = Infinity,
): Promise<number> {
  const queue = topology.deadLetterQueue;
  return oneWalkAtATime(broker, queue, () => acrossProcesses(pool, queue, () => broker.withChannel(true, async (ch) => {
    const { messageCount } = await ch.checkQueue(queue);
    let kept = 0;
    for (let seen = 0; seen < Math.min(messageCount, limit); seen++) {
      const msg = await ch.get(queue, { noAck: false });
      if (!msg) break;
      if ((await visit(msg, describe(msg), ch)) === 'keep') kept++;
    }
    ch.nackAll(true);
    // A quorum queue takes the returns back asynchronously (a Raft command): wait until it
    // counts them again, so that a walk right after this one sees every parked message.
    for (let waited = 0; kept > 0 && waited < 2_000; waited += 20) {
      if ((await ch.checkQueue(queue)).messageCount >= kept) break;
      await new Promise((r) => setTimeout(r, 20));
    }
    return messageCount;
  })));
}

/**
 * The dead-letter queue's depth and the first `limit` parked messages that match, oldest
 * first, from one walk (they stay parked): the depth is the queue's count when that walk
 * began, so it agrees with the messages.
 */
export async function parkedSnapshot(dlq: DeadLetterQueue, filter: ParkedFilter = {}, limit = 1000): Promise<{ depth: number; items: ParkedMessage[] }> {
  const matches = matcher(filter);
  const items: ParkedMessage[] = [];
  const depth = await walk(dlq, async (_msg, parked) => {
    if (matches(parked)) items.push(parked);
    return 'keep';
  }, limit);
  return { depth, items };
}

/** Lists parked messages, oldest first (they stay parked). */
export async function listParked(dlq: DeadLetterQueue, filter: ParkedFilter = {}, limit = 1000): Promise<ParkedMessage[]> {
  return (await parkedSnapshot(dlq, filter, limit)).items;
}

/**
 * Sends matching parked messages back to the queue they failed in, as a first attempt; returns
 * how many. Through the service's direct exchange, which reaches the service's own queues only. Each is removed from the dead-letter queue only after the broker confirmed that its
 * queue took it. One the broker returns (that queue is gone) or refuses stays parked, and the
 * call then rejects with `DEAD_LETTER.NOT_REPLAYED` (a conflict) saying how many were replayed
 * and which were not, and why.
 */
export async function replayParked(dlq: DeadLetterQueue, filter: ParkedFilter): Promise<number> {
  let replayed = 0;
  /** Messages left parked, by the queue they were to go back to: how many and why. */
  const notReplayed = new Map<string, { count: number; reason: string }>();
  const matches = matcher(filter);
  await walk(dlq, async (msg, parked, ch) => {
    if (!matches(parked) || !parked.originalQueue) return 'keep';
    const headers: Record<string, unknown> = { ...msg.properties.headers };
    for (const h of [H.attempt, H.lastError, H.parkedId, H.parkedAt, H.parkReason, H.error, H.errorCode, H.attempts, H.originalQueue, ...DEATH_HEADERS]) delete headers[h];
    headers[H.replayedAt] = new Date().toISOString();
    let refusal: string | undefined;
    try {
      const returned = await publishMandatory(ch, dlq.topology.directExchange, parked.originalQueue, msg.content, {
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
export async function discardParked(dlq: DeadLetterQueue, filter: ParkedFilter): Promise<number> {
  let discarded = 0;
  const matches = matcher(filter);
  await walk(dlq, async (msg, parked, ch) => {
    if (!matches(parked)) return 'keep';
    ch.ack(msg);
    discarded++;
    return 'settled';
  });
  return discarded;
}

/**
 * Messages waiting in the dead-letter queue (for metrics and the auditor): the broker's count
 * of ready messages, so fewer while a walk (of any process) holds some.
 */
export async function parkedCount({ broker, topology }: DeadLetterQueue): Promise<number> {
  return broker.withChannel(false, async (ch) => (await ch.checkQueue(topology.deadLetterQueue)).messageCount);
}
