import type { RequestHandler } from 'express';
import { startServer, type Tracing } from '@orderflow/tracing';
import { PROBE_PATHS } from './probes';
import { routePattern } from './route-pattern';

/**
 * A server span per request (probes aside: an orchestrator's polls are no one's trace), named
 * by the route's pattern once the router matched it, the child of the caller's `traceparent`
 * when it sent one (an internal caller: the gateway drops a public client's, which would
 * otherwise choose its own sampling and trace ids). The rest of the request runs in its context: what a route publishes
 * through the outbox carries it to the next service.
 */
export function traceRequests(tracing: Tracing): RequestHandler {
  return (req, res, next) => {
    if (PROBE_PATHS.has(req.path)) return next();
    const route = routePattern(req);
    const span = startServer(tracing, { method: req.method, path: req.path, scheme: req.protocol, headers: req.headers });
    res.on('close', () => span.finish(route(), res.statusCode));
    tracing.run(span.context, next);
  };
}
