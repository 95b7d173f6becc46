import { z } from 'zod';
import type { SqlClient } from '@orderflow/db';
import { timestamp } from '@orderflow/http';
import type { Broker } from '@orderflow/messaging';
import { deadLetterQueueOf, queueStats, SERVICES } from './broker';
import { adminMetricsResponse, sagaLatency, throughput } from './metrics-summary';
import { laneOf, probeReady, serviceOf, type ProcessEndpoint } from './system-processes';

// GET /api/admin/system: what the operator console's System view shows, gathered from where
// each fact is kept — every process's /ready (with its service's outbox lag), the broker
// (queues, consumers, dead letters) and the order database (orders per minute, saga
// percentiles; the same queries as GET /api/admin/metrics). Asked when the view asks, on an
// idle system too: one request per process, no more than the view shows.

const count = z.number().int().nonnegative();

export const adminSystemResponse = z.object({
  at: timestamp.meta({ description: 'When the figures were read' }),
  processes: z
    .array(
      z.object({
        name: z.string().meta({ description: 'order-service, order-service-bulk, …, import-worker' }),
        service: z.string(),
        lane: z.enum(['interactive', 'bulk']),
        ready: z.boolean(),
        error: z.string().nullable().meta({ description: 'Why it is not ready, or could not be asked' }),
        broker: z.object({ connected: z.boolean() }).nullable(),
        consumers: z.record(z.string(), z.object({ active: z.boolean(), state: z.string() })).meta({ description: 'Its consumers by queue, as its /ready reports them' }),
      }),
    )
    .meta({ description: 'Each process of SYSTEM_PROCESS_URLS, asked on its own port' }),
  queues: z
    .array(z.object({ name: z.string(), messages: count.meta({ description: 'Ready messages (not the unacknowledged ones)' }), consumers: count }))
    .nullable()
    .meta({ description: 'The queues the processes consume and the dead-letter queues; null while the broker cannot be asked' }),
  outbox: z.array(z.object({ service: z.string(), lagSeconds: z.number().nonnegative().nullable() })).meta({ description: "Age of each service's oldest unsent event; null: unknown" }),
  deadLetters: adminMetricsResponse.shape.deadLetters,
  ordersLastMinute: adminMetricsResponse.shape.throughput.shape['1m'],
  saga: adminMetricsResponse.shape.saga,
});
export type AdminSystem = z.infer<typeof adminSystemResponse>;

export interface SystemDeps {
  sql: SqlClient;
  broker: Broker;
  topologyPrefix: string;
  processes: readonly ProcessEndpoint[];
  now: () => Date;
  /** See `sagaLatency`'s `lookbackS`: the same as GET /api/admin/metrics's. */
  sagaLookbackS?: number;
  /** Longest wait for one process (default 1 s): a process that takes longer is reported as not answering. */
  timeoutMs?: number;
}

/**
 * Reads the whole picture, its parts at once. A process or the broker that cannot be asked is
 * reported as such (not ready, null) rather than failing the answer: the view is most useful
 * when something is down. (The order database failing fails it, as any route of this service.)
 */
export function systemReader(deps: SystemDeps): () => Promise<AdminSystem> {
  const timeoutMs = deps.timeoutMs ?? 1000;
  // The queues each process consumed when last asked: a process that is down still has queues,
  // and those are the ones that fill up.
  const knownQueues = new Map<string, string[]>();
  const deadLetterQueues = SERVICES.map((s) => deadLetterQueueOf(s, deps.topologyPrefix));

  return async () => {
    const at = deps.now();
    const consumed = (): string[] => [...new Set([...knownQueues.values()].flat())].sort();
    const statsOf = (queues: string[]) => queueStats(deps.broker, [...queues, ...deadLetterQueues]).catch(() => null);
    // The broker is asked at the same time as the processes, for the queues they named last
    // time; only the first reading waits for their answers to learn the queues.
    const early = knownQueues.size > 0 ? statsOf(consumed()) : null;
    const [answers, [recent, saga]] = await Promise.all([
      Promise.all(deps.processes.map(async (p) => ({ name: p.name, service: serviceOf(p.name), lane: laneOf(p.name), ...(await probeReady(p, timeoutMs)) }))),
      // One after the other, on one connection (the one the pool keeps open while idle): a
      // second would be set up for them, which costs PostgreSQL more than the 1-minute count
      // takes — and both fit in the time the processes take to answer.
      (async () => [(await throughput(deps.sql, at, ['1m']))['1m'], await sagaLatency(deps.sql, at, { lookbackS: deps.sagaLookbackS })] as const)(),
    ]);
    const processes = answers.map(({ outboxLagSeconds: _lag, ...p }) => p);
    // A service's processes share its database and so its outbox: any of them that could tell.
    const outbox = SERVICES.map((service) => ({ service, lagSeconds: answers.find((a) => a.service === service && a.outboxLagSeconds !== null)?.outboxLagSeconds ?? null }));
    const before = consumed().join();
    for (const p of processes) if (Object.keys(p.consumers).length > 0) knownQueues.set(p.name, Object.keys(p.consumers));
    const stats = early && consumed().join() === before ? await early : await statsOf(consumed());
    const queues = stats && consumed().flatMap((name) => (stats.get(name) ? [{ name, ...stats.get(name)! }] : []));
    const deadLetters = Object.fromEntries(SERVICES.map((s, i) => [s, stats?.get(deadLetterQueues[i]!)?.messages ?? null])) as AdminSystem['deadLetters'];
    return adminSystemResponse.parse({ at: at.toISOString(), processes, queues, outbox, deadLetters, ordersLastMinute: recent, saga });
  };
}
