import express, { Router, type Express } from 'express';
import type { Registry } from 'prom-client';
import type { Logger } from '@orderflow/logging';
import type { Tracing } from '@orderflow/tracing';
import { accessLog } from './access-log';
import { createTokenVerifier, setTokenVerifier, type JwtOptions } from './auth';
import { jsonBody } from './body';
import { createMetricsRegistry, measureRequests } from './metrics';
import { probes, type DetailOnRequest, type LivenessCheck, type ReadinessCheck } from './probes';
import { notFound, problemHandler } from './problem';
import { requestId } from './request-id';
import { traceRequests } from './tracing';

export interface AppOptions {
  /** Service name, used as the `service` label of the default metrics registry. */
  service: string;
  logger: Logger;
  /** Which bearer tokens `authenticate()` / `requireRole()` accept; keys are imported once, here. */
  jwt?: JwtOptions;
  /** Shorthand for `jwt: { secret }` (HS256, default issuer and audience). One of the two is required. */
  jwtSecret?: string;
  /** Largest JSON body accepted (bytes-style string); larger → 413. Default `'1mb'`. */
  bodyLimit?: string;
  /** Content types other than JSON that routes read themselves (e.g. `['text/csv']`); others → 415. */
  rawBodyTypes?: string[];
  /** Named checks behind `GET /ready`, each given ~2 s. Default: none (always ready). */
  readiness?: Record<string, ReadinessCheck>;
  /** More of `GET /ready`'s answer (e.g. broker and consumers): reported, not checked. No key `status` or `checks`. */
  readinessDetail?: () => Record<string, unknown>;
  /** Figures `GET /ready?include=<name>,…` adds to its answer, read when asked (`DetailOnRequest`): the probes do not ask. */
  detailOnRequest?: DetailOnRequest;
  /** Behind `GET /health`, on every liveness probe: cheap, no I/O. Default: always alive. */
  liveness?: LivenessCheck;
  /** Registry served on `GET /metrics`. Default: `createMetricsRegistry(service)`. */
  metrics?: Registry;
  /** Mounts the service's routes; errors they throw become problem documents. */
  routes: (router: Router) => void;
  /** On: a server span per request (`traceRequests`); off (undefined): none. */
  tracing?: Tracing;
}

// Nginx runs on the same host, pod network or compose network: trust only private
// addresses, so a client on the internet cannot forge X-Forwarded-For.
const TRUSTED_PROXIES = 'loopback, linklocal, uniquelocal';

/**
 * The Express app of a service, not yet listening: request id and log context, access log,
 * request metrics, server spans (with `tracing`), `/health` `/ready` `/metrics`, JSON bodies,
 * the service's routes, and one error middleware answering RFC 7807 problem documents.
 */
export function createApp(options: AppOptions): Express {
  const { logger } = options;
  const registry = options.metrics ?? createMetricsRegistry(options.service);
  const app = express();
  app.disable('x-powered-by');
  // Responses are dynamic and no client sends If-None-Match: hashing every body for an ETag
  // was a measurable share of a POST's CPU.
  app.set('etag', false);
  app.set('trust proxy', TRUSTED_PROXIES);
  const jwt = options.jwt ?? (options.jwtSecret === undefined ? undefined : { secret: options.jwtSecret });
  if (jwt === undefined) throw new Error('createApp: give jwt (or jwtSecret): how bearer tokens are verified');
  setTokenVerifier(app, createTokenVerifier(jwt));

  app.use(requestId(), accessLog(logger), measureRequests(registry));
  if (options.tracing) app.use(traceRequests(options.tracing));
  app.use(probes({ readiness: options.readiness ?? {}, readinessDetail: options.readinessDetail, detailOnRequest: options.detailOnRequest, liveness: options.liveness, registry, logger }));
  app.use(jsonBody({ limit: options.bodyLimit ?? '1mb', rawTypes: options.rawBodyTypes ?? [] }));

  const routes = Router();
  options.routes(routes);
  app.use(routes);

  app.use(notFound(), problemHandler(logger));
  return app;
}
