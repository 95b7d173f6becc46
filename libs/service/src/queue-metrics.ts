import { Gauge, type Registry } from 'prom-client';
import type { Broker } from '@orderflow/messaging';

/** A queue as the broker counts it: messages ready for a consumer, and its consumers. */
export interface QueueStat {
  messages: number;
  consumers: number;
}

/** A reading of queues: each queue's figures, null for a queue the broker does not have. */
export type QueueReading = Map<string, QueueStat | null>;

const NOT_FOUND = 404;

/** Longest a reading of the broker may take: a broker that stops answering must not hold up a scrape. */
export const QUEUE_READ_TIMEOUT_MS = 2_000;

/**
 * The readings that did not answer in time and have not answered since, per broker. A broker
 * under a resource alarm stops reading the connections that publish — all of ours — so the
 * channel it was asked to open answers only once the alarm clears (or the connection drops):
 * until then, a new reading would only add one more request that hangs.
 */
const hanging = new WeakMap<Broker, Promise<unknown>>();

const timedOut = (why: string): Error => Object.assign(new Error(`the broker ${why}`), { code: 'ETIMEDOUT' });

/**
 * Each queue's ready messages and consumers, asked of the broker with passive declares, one
 * channel for all of them. A passive declare needs no permission on the queue (RabbitMQ checks
 * none), so a service's own broker user can read any queue's figures without the management
 * API or its credentials. Messages delivered and not yet acknowledged are not in the count (at
 * most the consumers' prefetch windows). A queue the broker does not have is null (the broker
 * closes the channel on it: the rest are asked on a new one). Rejects when the broker is not
 * connected, and with code ETIMEDOUT when it has not answered within `timeoutMs` — at once
 * while an earlier reading of this broker still waits for its answer.
 */
export async function checkQueues(broker: Broker, names: readonly string[], timeoutMs = QUEUE_READ_TIMEOUT_MS): Promise<QueueReading> {
  if (hanging.has(broker)) throw timedOut('has not answered an earlier reading of its queues yet');
  const reading = readQueues(broker, names);
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(timedOut(`did not answer a reading of its queues within ${timeoutMs} ms`)), timeoutMs);
  });
  try {
    return await Promise.race([reading, late]);
  } catch (err) {
    if ((err as { code?: unknown }).code === 'ETIMEDOUT' && !hanging.has(broker)) {
      hanging.set(broker, reading);
      const settled = (): void => {
        if (hanging.get(broker) === reading) hanging.delete(broker);
      };
      reading.then(settled, settled);
    }
    throw err;
  } finally {
    clearTimeout(timer);
  }
}

async function readQueues(broker: Broker, names: readonly string[]): Promise<QueueReading> {
  const stats: QueueReading = new Map();
  let next = 0;
  while (next < names.length) {
    await broker.withChannel(false, async (channel) => {
      while (next < names.length) {
        const name = names[next++]!;
        try {
          const q = await channel.checkQueue(name);
          stats.set(name, { messages: q.messageCount, consumers: q.consumerCount });
        } catch (err) {
          if ((err as { code?: unknown }).code !== NOT_FOUND) throw err;
          stats.set(name, null);
          return;
        }
      }
    });
  }
  return stats;
}

/** `read`, called at most once per `ms`: callers within that time share its last answer (or failure). */
export function cachedFor<T>(ms: number, read: () => Promise<T>, now: () => number = Date.now): () => Promise<T> {
  let last: { at: number; value: Promise<T> } | undefined;
  return () => {
    const t = now();
    if (!last || t - last.at >= ms) last = { at: t, value: read() };
    return last.value;
  };
}

/** How long a scrape's reading of the queues serves the next scrapes (every replica and lane is scraped). */
export const QUEUE_METRICS_CACHE_MS = 5_000;

/**
 * `orderflow_queue_messages{queue}` and `orderflow_queue_consumers{queue}` on `registry`: per
 * queue of `queues()` (those the process consumes, and its service's dead-letter queue), its
 * ready messages (the consumers' lag) and its consumers (0: nobody works the queue off), read
 * from the broker when scraped — at most once per `cacheMs`, within `QUEUE_READ_TIMEOUT_MS` —
 * and −1 when unknown: the broker is not connected, did not answer in time, or has no such
 * queue. Returns that reading (a queue unknown is null), for other figures of the same scrape.
 */
export function queueMetrics(registry: Registry, broker: Broker, queues: () => readonly string[], cacheMs = QUEUE_METRICS_CACHE_MS): () => Promise<QueueReading> {
  const read = cachedFor(cacheMs, async (): Promise<QueueReading> => {
    const names = queues();
    return checkQueues(broker, names).catch(() => new Map(names.map((n) => [n, null])));
  });
  const gauge = (name: string, help: string, pick: (s: QueueStat) => number): void => {
    new Gauge({
      name,
      help,
      labelNames: ['queue'],
      registers: [registry],
      async collect() {
        const stats = await read();
        this.reset();
        for (const [queue, s] of stats) this.set({ queue }, s ? pick(s) : -1);
      },
    });
  };
  const unknown = `-1: unknown (the broker not connected, not answering within ${QUEUE_READ_TIMEOUT_MS / 1000} s, or without the queue)`;
  gauge('orderflow_queue_messages', `Messages ready in a queue the process consumes, or its dead-letter queue (the consumers' lag; ${unknown})`, (s) => s.messages);
  gauge('orderflow_queue_consumers', `Consumers of a queue the process consumes, or of its dead-letter queue (${unknown})`, (s) => s.consumers);
  return read;
}
