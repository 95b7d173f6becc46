import { randomUUID } from 'node:crypto';
import type { RequestHandler } from 'express';
import { withLogContext } from '@orderflow/logging';

declare global {
  // eslint-disable-next-line @typescript-eslint/no-namespace -- Express exposes its request type only this way
  namespace Express {
    interface Request {
      /** The request id: the caller's `X-Request-Id` when it is a sane token, else a fresh uuid. */
      id: string;
    }
  }
}

// An incoming id ends up in log lines and response headers, so only short plain tokens are
// trusted; anything else (log injection, huge values) is replaced.
const SANE_REQUEST_ID = /^[A-Za-z0-9._-]{1,128}$/;

/** Assigns `req.id`, echoes it as `X-Request-Id` and runs the rest of the request in its log context. */
export function requestId(): RequestHandler {
  return (req, res, next) => {
    const incoming = req.get('x-request-id');
    const id = incoming !== undefined && SANE_REQUEST_ID.test(incoming) ? incoming : randomUUID();
    req.id = id;
    res.setHeader('X-Request-Id', id);
    // Until a handler knows better (e.g. an order id), the request is its own correlation.
    withLogContext({ requestId: id, correlationId: id }, () => next());
  };
}
