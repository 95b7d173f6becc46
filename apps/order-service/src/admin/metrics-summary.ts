import { z } from 'zod';
import type { SqlClient } from '@orderflow/db';
import { timestamp } from '@orderflow/http';
import type { Broker } from '@orderflow/messaging';
import { ORDER_STATUSES, type OrderStatus } from '../decide';
import { OUTCOME_EVENTS, OUTCOMES } from '../metrics';
import { deadLetterDepths, SERVICES } from './broker';

// The figures of GET /api/admin/metrics (docs/contract.md), each read where it is kept: the
// orders' statuses and history in the order database, the dead letters in the broker. Reused by
// GET /api/admin/system.

/** The throughput windows, in minutes. */
export const WINDOWS = { '1m': 1, '5m': 5, '15m': 15 } as const;
type Window = keyof typeof WINDOWS;

/** The saga's percentiles are of the orders finished in the last `SAGA_WINDOW_MINUTES`, the newest `SAGA_SAMPLE` of them at most (a bound on the sort). */
export const SAGA_WINDOW_MINUTES = 15;
export const SAGA_SAMPLE = 5_000;
/**
 * How long before the window an order whose saga ended in it may have been placed: twice the
 * default ORDER_DEADLINE_S (the sweeper ends every saga at its deadline, the margin covers a
 * sweeper that lags). The admin endpoints pass twice the configured one (`sagaLookbackFor`).
 */
export const SAGA_LOOKBACK_S = 240;

/** The lookback for a configured ORDER_DEADLINE_S (both admin endpoints read the saga with it). */
export const sagaLookbackFor = (orderDeadlineS: number | undefined): number | undefined => (orderDeadlineS === undefined ? undefined : 2 * orderDeadlineS);

const count = z.number().int().nonnegative();
const seconds = z.number().nonnegative().nullable().meta({ description: 'Seconds; null when no order finished in the window' });
const throughputSchema = z.object({
  placed: z.object({ api: count, import: count }).meta({ description: 'Orders placed through the API and by imports' }),
  finished: z.object({ CONFIRMED: count, REJECTED: count, CANCELLED: count }).meta({ description: 'Outcomes (an order confirmed and then cancelled counts in both)' }),
});
export type Throughput = z.infer<typeof throughputSchema>;

/** The answer of GET /api/admin/metrics. */
export const adminMetricsResponse = z.object({
  at: timestamp.meta({ description: 'When the figures were read' }),
  orders: z.object({
    total: count,
    byStatus: z.object(Object.fromEntries(ORDER_STATUSES.map((s) => [s, count])) as Record<OrderStatus, typeof count>),
  }),
  throughput: z.object({ '1m': throughputSchema, '5m': throughputSchema, '15m': throughputSchema }).meta({ description: 'Counts over the last 1, 5 and 15 minutes' }),
  saga: z
    .object({
      windowMinutes: z.number().int().positive(),
      since: timestamp.meta({ description: `Where the sample begins: the window's start, or the oldest outcome in it when more than ${SAGA_SAMPLE} orders finished in the window (the newest are taken)` }),
      orders: count.meta({ description: 'Orders in the sample' }),
      p50: seconds,
      p95: seconds,
      p99: seconds,
    })
    .meta({ description: 'Placement → first outcome (a cancel after confirmation is not one) of the orders placed through the API that finished in the window; imported orders are left out' }),
  deadLetters: z
    .object(Object.fromEntries(SERVICES.map((s) => [s, count.nullable()])) as Record<(typeof SERVICES)[number], z.ZodNullable<typeof count>>)
    .meta({ description: "Messages parked in each service's dead-letter queue; null: the broker could not be asked, or has no such queue" }),
});
export type AdminMetrics = z.infer<typeof adminMetricsResponse>;

/** Every order by its status: exact, so the whole table is counted (no index holds the status: status changes stay HOT updates). */
export async function ordersByStatus(sql: SqlClient): Promise<AdminMetrics['orders']> {
  const rows = await sql.$queryRawUnsafe<Array<{ status: OrderStatus; n: string }>>(`SELECT status::text AS status, count(*) AS n FROM orders GROUP BY status`);
  const byStatus = Object.fromEntries(ORDER_STATUSES.map((s) => [s, 0])) as AdminMetrics['orders']['byStatus'];
  for (const r of rows) byStatus[r.status] = Number(r.n);
  return { total: ORDER_STATUSES.reduce((n, s) => n + byStatus[s], 0), byStatus };
}

const OUTCOME_TYPES = Object.keys(OUTCOME_EVENTS);
// An outcome event's outcome, in SQL (the same map as the metrics').
const OUTCOME_SQL = `CASE e.type ${Object.entries(OUTCOME_EVENTS)
  .map(([type, outcome]) => `WHEN '${type}' THEN '${outcome}'`)
  .join(' ')} END`;

const ALL_WINDOWS = Object.keys(WINDOWS) as Window[];

/**
 * Orders placed (by source) and outcomes over the last 1, 5 and 15 minutes before `at` (or only
 * the `windows` asked for: the range read is the longest of them), from the orders' events: one
 * range of their BRIN index on `at` (events are appended in time order).
 */
export async function throughput<W extends Window = Window>(sql: SqlClient, at: Date, windows: readonly W[] = ALL_WINDOWS as W[]): Promise<Record<W, Throughput>> {
  const longest = Math.max(...windows.map((w) => WINDOWS[w]));
  const rows = await sql.$queryRawUnsafe<Array<{ kind: string } & Record<`w${number}`, number>>>(
    `SELECT CASE WHEN e.type = 'OrderPlaced' THEN CASE WHEN e.data ? 'importId' THEN 'import' ELSE 'api' END ELSE ${OUTCOME_SQL} END AS kind,
            ${windows.map((w, i) => `count(*) FILTER (WHERE e.at > $1::timestamptz - interval '${WINDOWS[w]} minutes')::int AS w${i}`).join(', ')}
       FROM order_events e
      WHERE e.at > $1::timestamptz - interval '${longest} minutes' AND e.at <= $1::timestamptz AND e.type = ANY($2::text[])
      GROUP BY 1`,
    at.toISOString(),
    ['OrderPlaced', ...OUTCOME_TYPES],
  );
  const empty = (): Throughput => ({ placed: { api: 0, import: 0 }, finished: { CONFIRMED: 0, REJECTED: 0, CANCELLED: 0 } });
  const result = Object.fromEntries(windows.map((w) => [w, empty()])) as Record<W, Throughput>;
  for (const r of rows) {
    windows.forEach((window, i) => {
      const n = r[`w${i}`] ?? 0;
      if (r.kind === 'api' || r.kind === 'import') result[window].placed[r.kind] += n;
      else if ((OUTCOMES as readonly string[]).includes(r.kind)) result[window].finished[r.kind as keyof Throughput['finished']] += n;
    });
  }
  return result;
}

/**
 * The saga's duration (placement → first outcome) at the 50th, 95th and 99th percentile, over
 * the orders placed through the API whose saga ended in the last `SAGA_WINDOW_MINUTES` before
 * `at` — the newest `sample` of them at most; `since` tells how far back those go. Imported
 * orders (they wait behind their file) are left out before the newest are taken, so an import
 * finishing thousands of orders does not crowd them out. Only the events' BRIN range is read:
 * the placements through the API since the window's start minus `lookbackS` (an order's saga
 * ends by its deadline, so its placement is in that range), joined with the outcomes of the
 * same range — the first one of each order is its saga's end (not a cancel after confirmation).
 */
export async function sagaLatency(sql: SqlClient, at: Date, o: { sample?: number; lookbackS?: number } = {}): Promise<AdminMetrics['saga']> {
  const sample = o.sample ?? SAGA_SAMPLE;
  const windowStart = new Date(at.getTime() - SAGA_WINDOW_MINUTES * 60_000);
  const rangeStart = new Date(windowStart.getTime() - (o.lookbackS ?? SAGA_LOOKBACK_S) * 1000);
  const [row] = await sql.$queryRawUnsafe<Array<{ orders: number; oldest: Date | null; p: number[] | null }>>(
    `WITH placed AS (
       SELECT p.order_id, p.at FROM order_events p
        WHERE p.at > $1::timestamptz AND p.at <= $3::timestamptz AND p.type = 'OrderPlaced' AND NOT (p.data ? 'importId')
     ), ended AS (
       SELECT min(e.at) AS at, p.at AS placed_at FROM placed p JOIN order_events e ON e.order_id = p.order_id
        WHERE e.at > $1::timestamptz AND e.at <= $3::timestamptz AND e.type = ANY($4::text[])
        GROUP BY p.order_id, p.at
     ), newest AS (
       SELECT at, extract(epoch FROM at - placed_at)::float8 AS took FROM ended
        WHERE at > $2::timestamptz ORDER BY at DESC LIMIT $5
     )
     SELECT count(*)::int AS orders, min(at) AS oldest, percentile_cont(ARRAY[0.5, 0.95, 0.99]) WITHIN GROUP (ORDER BY took)::float8[] AS p FROM newest`,
    rangeStart.toISOString(),
    windowStart.toISOString(),
    at.toISOString(),
    OUTCOME_TYPES,
    sample,
  );
  const orders = row?.orders ?? 0;
  const p = (i: number): number | null => (row?.p?.[i] == null ? null : Math.max(0, row.p[i]!));
  // A full sample may not reach back to the window's start: its oldest outcome is where it begins.
  const since = orders >= sample && row?.oldest ? new Date(row.oldest) : windowStart;
  return { windowMinutes: SAGA_WINDOW_MINUTES, since: since.toISOString(), orders, p50: p(0), p95: p(1), p99: p(2) };
}

export interface SummaryDeps {
  /** Statements on the order database (the HTTP pool). */
  sql: SqlClient;
  broker: Broker;
  /** TOPOLOGY_PREFIX: the broker's queue names carry it. */
  topologyPrefix: string;
  now: () => Date;
  /** See `sagaLatency`'s `lookbackS` (default `SAGA_LOOKBACK_S`). */
  sagaLookbackS?: number;
}

/** The whole summary, its parts read concurrently, checked against `adminMetricsResponse`. */
export async function metricsSummary(deps: SummaryDeps): Promise<AdminMetrics> {
  const at = deps.now();
  const [orders, recent, saga, deadLetters] = await Promise.all([
    ordersByStatus(deps.sql),
    throughput(deps.sql, at),
    sagaLatency(deps.sql, at, { lookbackS: deps.sagaLookbackS }),
    deadLetterDepths(deps.broker, deps.topologyPrefix),
  ]);
  return adminMetricsResponse.parse({ at: at.toISOString(), orders, throughput: recent, saga, deadLetters });
}
