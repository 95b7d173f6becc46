import { createSecretKey, type KeyObject } from 'node:crypto';
import type { Application, Request, RequestHandler } from 'express';
import jwt, { type SignOptions } from 'jsonwebtoken';
import { z } from 'zod';
import { AppError } from '@orderflow/errors';

export const ROLES = ['customer', 'admin'] as const;
export type Role = (typeof ROLES)[number];

/** Who is calling: `sub` is the customer id for role `customer`. */
export interface Principal {
  sub: string;
  role: Role;
}

/** The documented local-development secret; configuration must override it anywhere else. */
export const DEV_JWT_SECRET = 'orderflow-dev-secret-change-me';

const claims = z.object({ sub: z.string().min(1), role: z.enum(ROLES) });

// Keyed by the app, not stored in app.locals, so the secret never reaches a view or a dump.
// Held as a KeyObject: given a string, jsonwebtoken re-derives a key (createPublicKey, then
// createSecretKey) on every verify, which cost more CPU than the rest of a request.
const secrets = new WeakMap<Application, KeyObject>();
const principals = new WeakMap<Request, Principal>();

/** Called by createApp: the secret authenticate() and requireRole() verify tokens with. */
export function setJwtSecret(app: Application, secret: string): void {
  secrets.set(app, createSecretKey(Buffer.from(secret, 'utf8')));
}

/** Signs an HS256 token carrying `sub` and `role`. */
export function signToken(principal: Principal, secret: string, expiresIn: SignOptions['expiresIn'] = '1h'): string {
  return jwt.sign({ sub: principal.sub, role: principal.role }, secret, { algorithm: 'HS256', expiresIn });
}

/**
 * Requires a valid `Authorization: Bearer <JWT>`: missing → 401 `AUTH.MISSING_TOKEN`;
 * bad signature, expired or without valid claims → 401 `AUTH.INVALID_TOKEN`.
 * Handlers read the caller with `principalOf(req)`.
 */
export function authenticate(): RequestHandler {
  return (req, _res, next) => {
    principals.set(req, verifyRequest(req));
    next();
  };
}

/** Like `authenticate()`, then 403 `AUTH.FORBIDDEN` unless the caller has one of `roles`. */
export function requireRole(...roles: Role[]): RequestHandler {
  return (req, _res, next) => {
    const principal = principals.get(req) ?? verifyRequest(req);
    principals.set(req, principal);
    if (!roles.includes(principal.role)) {
      throw new AppError('AUTH.FORBIDDEN', `This action requires the role ${roles.join(' or ')}`, {
        category: 'forbidden',
      });
    }
    next();
  };
}

/** The authenticated caller of a request that went through `authenticate()` or `requireRole()`. */
export function principalOf(req: Request): Principal {
  const principal = principals.get(req);
  // A route that forgot its auth middleware is a bug: fail loudly (500), never serve it anonymously.
  if (!principal) throw new Error(`principalOf: no authenticate() or requireRole() on ${req.method} ${req.path}`);
  return principal;
}

function verifyRequest(req: Request): Principal {
  const secret = secrets.get(req.app);
  if (secret === undefined) throw new Error('authenticate: the app was not built by createApp (no JWT secret)');
  const token = /^Bearer\s+(\S+)\s*$/i.exec(req.get('authorization') ?? '')?.[1];
  if (token === undefined) {
    throw new AppError('AUTH.MISSING_TOKEN', 'An Authorization: Bearer token is required', { category: 'unauthorized' });
  }
  let payload: unknown;
  try {
    // Pinning the algorithm stops a token from choosing its own (`none`, RS/HS confusion).
    payload = jwt.verify(token, secret, { algorithms: ['HS256'] });
  } catch (err) {
    const detail = err instanceof jwt.TokenExpiredError ? 'The token has expired' : 'The token is invalid';
    throw new AppError('AUTH.INVALID_TOKEN', detail, { category: 'unauthorized', cause: err });
  }
  const parsed = claims.safeParse(payload);
  if (!parsed.success) {
    throw new AppError('AUTH.INVALID_TOKEN', `The token needs a sub and a role (${ROLES.join(' or ')})`, {
      category: 'unauthorized',
    });
  }
  return parsed.data;
}
