import type { ConfirmChannel, GetMessage } from 'amqplib';
import type { Pool } from 'pg';
import { AdvisoryLockTimeoutError, withAdvisoryLock } from '@orderflow/db';
import { AppError, errorMessage } from '@orderflow/errors';
import type { Broker } from './broker/connection';
import { publishMandatory } from './broker/returns';
import { H } from './headers';
import { DEATH_HEADERS, describeParked, type ParkedMessage } from './parked-message';
import type { Topology } from './topology';

export type { ParkedMessage } from './parked-message';

/** A service's dead-letter queue, and what its walks need. */
export interface DeadLetterQueue {
  broker: Broker;
  topology: Topology;
  /** The database the service's processes share: their walks take turns through it (without it, only this process's do). */
  pool?: Pool;
}

/** Which parked messages: all of the given criteria must hold (none given: every message). */
export interface ParkedFilter {
  parkedId?: string;
  /** A selection: any of these ids. The whole selection is one walk of the queue. */
  parkedIds?: Iterable<string>;
  errorCode?: string;
  originalQueue?: string;
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
      if ((await visit(msg, describeParked(msg), ch)) === 'keep') kept++;
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
