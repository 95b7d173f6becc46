import type { Request } from 'express';

/** The reader of each request's route pattern, so every middleware that asks shares one accessor. */
const readers = new WeakMap<Request, () => string | undefined>();

/**
 * The full route pattern a request matched (`/api/orders/:id`), for the request metrics' label
 * and the server span's name, never the raw path: ids in paths would explode a label's
 * cardinality. Call it before the router runs; read the returned function at the end.
 *
 * Express restores `req.baseUrl` when an error leaves a mounted router, so reading
 * `req.baseUrl + req.route.path` at the end would lose the mount prefix of failed requests.
 * The full pattern is captured at the moment the router assigns `req.route`.
 */
export function routePattern(req: Request): () => string | undefined {
  const known = readers.get(req);
  if (known) return known;
  let route: { path?: unknown } | undefined;
  let pattern: string | undefined;
  Object.defineProperty(req, 'route', {
    configurable: true,
    enumerable: true,
    get: () => route,
    set: (value: { path?: unknown } | undefined) => {
      route = value;
      if (value) pattern = req.baseUrl + String(value.path);
    },
  });
  const read = () => pattern;
  readers.set(req, read);
  return read;
}
