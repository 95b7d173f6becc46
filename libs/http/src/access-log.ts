import { AsyncResource } from 'node:async_hooks';
import { performance } from 'node:perf_hooks';
import type { RequestHandler } from 'express';
import type { Logger } from '@orderflow/logging';
import { PROBE_PATHS } from './probes';

/** One `http`-level line per finished (or aborted) request, probes excepted. */
export function accessLog(logger: Logger): RequestHandler {
  return (req, res, next) => {
    // Read before any router rewrites req.url for a mounted sub-path.
    const { method, path } = req;
    // Below `http` level (production's warn) the line would be dropped: skip its set-up too.
    if (PROBE_PATHS.has(path) || !logger.isLevelEnabled('http')) return next();
    const started = performance.now();
    // An aborted request's 'close' comes from the socket, outside the request's log context.
    res.on(
      'close',
      AsyncResource.bind(() => {
        logger.http(`${method} ${path} ${res.statusCode}`, {
          method,
          path,
          status: res.statusCode,
          durationMs: Math.round((performance.now() - started) * 10) / 10,
          ...(res.writableFinished ? {} : { aborted: true }),
        });
      }),
    );
    next();
  };
}
