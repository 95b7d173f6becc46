import type { RequestHandler } from 'express';
import { collectDefaultMetrics, Histogram, Registry } from 'prom-client';
import { PROBE_PATHS } from './probes';
import { routePattern } from './route-pattern';

const DURATION_METRIC = 'http_request_duration_seconds';

/**
 * How often the event-loop-lag monitor samples, less often than prom-client's default. Each
 * sample is a timer that wakes an idle process, and at the default rate those wake-ups were a
 * noticeable share of a core across the system's processes (see docs/performance.md); this
 * period still shows a stalled loop within any scrape.
 */
export const EVENT_LOOP_SAMPLE_MS = 100;
type DurationLabels = 'method' | 'route' | 'status';

/**
 * A Prometheus registry with the Node.js process metrics, labelled with the service name.
 * Build it in `main.ts` when the service adds metrics of its own, and pass it to `createApp`.
 */
export function createMetricsRegistry(service: string): Registry {
  const registry = new Registry();
  registry.setDefaultLabels({ service });
  collectDefaultMetrics({ register: registry, eventLoopMonitoringPrecision: EVENT_LOOP_SAMPLE_MS });
  return registry;
}

/** Observes every non-probe request in `http_request_duration_seconds{method,route,status}`. */
export function measureRequests(registry: Registry): RequestHandler {
  const duration =
    (registry.getSingleMetric(DURATION_METRIC) as Histogram<DurationLabels> | undefined) ??
    new Histogram<DurationLabels>({
      name: DURATION_METRIC,
      help: 'Duration of HTTP requests in seconds',
      labelNames: ['method', 'route', 'status'],
      registers: [registry],
    });

  return (req, res, next) => {
    if (PROBE_PATHS.has(req.path)) return next();
    const matchedRoute = routePattern(req);
    const stop = duration.startTimer({ method: req.method });
    res.on('close', () => {
      stop({ route: matchedRoute() ?? 'unmatched', status: String(res.statusCode) });
    });
    next();
  };
}
