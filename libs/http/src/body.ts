import express, { type Request, type RequestHandler } from 'express';
import { HttpError } from './problem';

const JSON_TYPES = ['application/json', 'application/*+json'];

/**
 * Parses JSON bodies up to `limit`. A body of any other type is refused with 415 unless it
 * is listed in `rawTypes` (e.g. `text/csv` for a streamed upload the route reads itself).
 */
export function jsonBody(options: { limit: string; rawTypes: readonly string[] }): RequestHandler[] {
  const accepted = [...JSON_TYPES, ...options.rawTypes];
  const refuseOtherTypes: RequestHandler = (req, _res, next) => {
    if (carriesBody(req) && !req.is(accepted)) {
      throw new HttpError(
        415,
        'REQUEST.UNSUPPORTED_MEDIA_TYPE',
        `Content-Type ${req.get('content-type') ?? '(none)'} is not supported; send application/json`,
      );
    }
    next();
  };
  return [refuseOtherTypes, express.json({ limit: options.limit, type: JSON_TYPES })];
}

// type-is counts `Content-Length: 0` as a body; a bodiless POST (e.g. `/cancel`) is fine.
function carriesBody(req: Request): boolean {
  return req.headers['transfer-encoding'] !== undefined || Number(req.headers['content-length'] ?? 0) > 0;
}
