import { Router } from 'express';
import type { Registry } from 'prom-client';
import { errorMessage } from '@orderflow/errors';
import type { Logger } from '@orderflow/logging';

/** Answers whether one dependency (database, broker) is usable; throwing counts as `false`. */
export type ReadinessCheck = () => boolean | Promise<boolean>;

/** Whether the process should go on running; a restart is what `alive: false` asks for. */
export interface Liveness {
  alive: boolean;
  /** Why not, for the probe's answer and the log. */
  reason?: string;
}

/** Answers `/health`: called on every liveness probe, so no I/O — read state the process keeps. */
export type LivenessCheck = () => Liveness;

/** Probe and scrape endpoints: no auth, no access log, no request metrics. */
export const PROBE_PATHS: ReadonlySet<string> = new Set(['/health', '/ready', '/metrics']);

// Kubernetes probes time out on their own; a hanging check must answer before they do.
const CHECK_TIMEOUT_MS = 2_000;

/**
 * Figures `/ready` reports only when asked for them by name (`/ready?include=a,b`): they cost
 * I/O, and the probes, which do not ask, stay one check each. Each is given the checks' time
 * and is null when it fails or takes longer; it decides nothing.
 */
export type DetailOnRequest = Record<string, () => Promise<unknown>>;

/**
 * `/health` (liveness: 200 unless `liveness` says the process is stuck), `/ready` (200 when
 * every readiness check passes, else 503; the answer also carries `readinessDetail`, and the
 * figures of `detailOnRequest` the caller names, which inform but decide nothing) and `/metrics`.
 */
export function probes(deps: {
  readiness: Record<string, ReadinessCheck>;
  readinessDetail?: () => Record<string, unknown>;
  detailOnRequest?: DetailOnRequest;
  liveness?: LivenessCheck;
  registry: Registry;
  logger: Logger;
}): Router {
  const router = Router();

  router.get('/health', (_req, res) => {
    const liveness = deps.liveness?.() ?? { alive: true };
    if (liveness.alive) {
      res.json({ status: 'ok' });
      return;
    }
    deps.logger.warn('liveness check failed', { reason: liveness.reason });
    res.status(503).json({ status: 'failing', reason: liveness.reason });
  });

  router.get('/ready', async (req, res) => {
    const asked = typeof req.query.include === 'string' ? req.query.include.split(',').filter((name) => Object.hasOwn(deps.detailOnRequest ?? {}, name)) : [];
    // The asked figures are read beside the checks, not after them.
    const [results, figures] = await Promise.all([
      Promise.all(Object.entries(deps.readiness).map(async ([name, check]) => [name, await runCheck(name, check, deps.logger)] as const)),
      Promise.all(asked.map(async (name) => [name, await bounded(deps.detailOnRequest![name]!).catch(() => null)] as const)),
    ]);
    const ready = results.every(([, ok]) => ok);
    res.status(ready ? 200 : 503).json({ status: ready ? 'ready' : 'not ready', checks: Object.fromEntries(results), ...deps.readinessDetail?.(), ...Object.fromEntries(figures) });
  });

  router.get('/metrics', async (_req, res) => {
    res.type(deps.registry.contentType).send(await deps.registry.metrics());
  });

  return router;
}

/** `read`'s answer, or a rejection after `CHECK_TIMEOUT_MS`; a synchronous throw is a rejection too. */
async function bounded<T>(read: () => T | Promise<T>): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out after ${CHECK_TIMEOUT_MS} ms`)), CHECK_TIMEOUT_MS);
  });
  try {
    return await Promise.race([Promise.resolve().then(read), timeout]);
  } finally {
    clearTimeout(timer);
  }
}

async function runCheck(name: string, check: ReadinessCheck, logger: Logger): Promise<boolean> {
  try {
    const ok = (await bounded(check)) === true;
    if (!ok) logger.warn('readiness check failed', { check: name, reason: 'reported not ready' });
    return ok;
  } catch (err) {
    logger.warn('readiness check failed', { check: name, reason: errorMessage(err) });
    return false;
  }
}
