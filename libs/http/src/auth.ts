import { createHmac, createPrivateKey, createPublicKey, createSecretKey, sign as signData, type KeyObject } from 'node:crypto';
import { readFileSync } from 'node:fs';
import type { Application, Request, RequestHandler } from 'express';
import { createRemoteJWKSet, errors, jwtVerify, type JWTVerifyGetKey, type JWTVerifyOptions } from 'jose';
import { z } from 'zod';
import { AppError } from '@orderflow/errors';

export const ROLES = ['customer', 'admin'] as const;
export type Role = (typeof ROLES)[number];

/** Who is calling: `sub` is the customer id for role `customer`. */
export interface Principal {
  sub: string;
  role: Role;
}

/** The documented local-development secret; refused where `NODE_ENV=production`. */
export const DEV_JWT_SECRET = 'orderflow-dev-secret-change-me';
/** The `iss` Orderflow's own tokens carry and services expect unless configured otherwise. */
export const DEFAULT_JWT_ISSUER = 'orderflow';
/** The `aud` Orderflow's own tokens carry and services expect unless configured otherwise. */
export const DEFAULT_JWT_AUDIENCE = 'orderflow-api';
/** Seconds of clock difference between issuer and service tolerated on `exp` and `nbf`. */
export const DEFAULT_JWT_CLOCK_TOLERANCE_S = 30;
/** Shortest HS256 secret accepted in production: the size of the hash's output (RFC 7518 §3.2). */
export const MIN_PRODUCTION_SECRET_BYTES = 32;

/** The signature algorithms Orderflow accepts; each key type has exactly one. */
export type JwtAlgorithm = 'HS256' | 'RS256' | 'ES256';

/**
 * Which tokens a service accepts. At least one key source: `secret` (HS256), `publicKey`
 * (RS256 or ES256, from the key's type) or `jwksUrl` (RS256 and ES256 keys chosen by `kid`);
 * `publicKey` and `jwksUrl` exclude each other.
 */
export interface JwtOptions {
  /** HS256 shared secret: tokens of `npm run token` and of anyone else holding it. */
  secret?: string;
  /** An RSA (≥ 2048 bits, RS256) or P-256 (ES256) public key: a KeyObject, PEM text or the path of a PEM file. */
  publicKey?: KeyObject | string;
  /** An identity provider's JSON Web Key Set: fetched on first use, cached, fetched again for an unknown `kid`. */
  jwksUrl?: string;
  /** Required `iss`. Default {@link DEFAULT_JWT_ISSUER}. */
  issuer?: string;
  /** Required `aud` (one of the token's audiences). Default {@link DEFAULT_JWT_AUDIENCE}. */
  audience?: string;
  /** Default {@link DEFAULT_JWT_CLOCK_TOLERANCE_S}. */
  clockToleranceS?: number;
}

/** Verifies a compact JWT and returns its principal, or throws a 401 (503 when a JWKS cannot be fetched). */
export type TokenVerifier = (token: string) => Promise<Principal>;

const claims = z.object({ sub: z.string().min(1), role: z.enum(ROLES) });

/** Algorithms a JWKS may supply keys for: public-key ones only, so a JWKS key is never an HMAC secret. */
const JWKS_ALGORITHMS: JwtAlgorithm[] = ['RS256', 'ES256'];

/**
 * Builds the verifier once per app: keys are imported here, not per request (a token is
 * verified on every request). Each algorithm maps to one key and jose refuses any other
 * algorithm before a key is chosen, so a token cannot pick its own (`none`, or HS256 keyed
 * with a public key).
 */
export function createTokenVerifier(options: JwtOptions): TokenVerifier {
  if (options.publicKey !== undefined && options.jwksUrl !== undefined) {
    throw new Error('createTokenVerifier: give a public key or a JWKS URL, not both');
  }
  const keys = new Map<JwtAlgorithm, KeyObject>();
  if (options.secret !== undefined) keys.set('HS256', createSecretKey(Buffer.from(options.secret, 'utf8')));
  if (options.publicKey !== undefined) {
    const key = typeof options.publicKey === 'string' ? readPublicKey(options.publicKey) : options.publicKey;
    if (key.type !== 'public') throw new Error('createTokenVerifier: publicKey must be a public key: a service only verifies');
    keys.set(publicKeyAlgorithm(key), key);
  }
  const jwks = options.jwksUrl === undefined ? undefined : createRemoteJWKSet(new URL(options.jwksUrl));
  if (keys.size === 0 && jwks === undefined) {
    throw new Error('createTokenVerifier: configure a secret, a public key or a JWKS URL');
  }

  const getKey: JWTVerifyGetKey = async (header, token) => {
    const key = keys.get(header.alg as JwtAlgorithm);
    if (key) return key;
    if (!jwks) throw new errors.JOSEAlgNotAllowed('"alg" (Algorithm) Header Parameter value not allowed');
    try {
      return await jwks(header, token);
    } catch (err) {
      // A kid the set does not hold is the token's fault; a set that cannot be had is not.
      if (err instanceof errors.JWKSNoMatchingKey || err instanceof errors.JWKSMultipleMatchingKeys) throw err;
      throw new AppError('AUTH.KEYS_UNAVAILABLE', 'The token signing keys could not be fetched', { category: 'transient', cause: err });
    }
  };
  const verifyOptions: JWTVerifyOptions = {
    algorithms: [...keys.keys(), ...(jwks ? JWKS_ALGORITHMS : [])],
    issuer: options.issuer ?? DEFAULT_JWT_ISSUER,
    audience: options.audience ?? DEFAULT_JWT_AUDIENCE,
    clockTolerance: options.clockToleranceS ?? DEFAULT_JWT_CLOCK_TOLERANCE_S,
    // A token without an expiry would be valid for ever once leaked.
    requiredClaims: ['exp'],
  };

  return async (token) => {
    let payload: unknown;
    try {
      ({ payload } = await jwtVerify(token, getKey, verifyOptions));
    } catch (err) {
      throw rejection(err);
    }
    const parsed = claims.safeParse(payload);
    if (!parsed.success) {
      throw new AppError('AUTH.INVALID_TOKEN', `The token needs a sub and a role (${ROLES.join(' or ')})`, {
        category: 'unauthorized',
      });
    }
    return parsed.data;
  };
}

function rejection(err: unknown): AppError {
  if (err instanceof AppError) return err;
  let detail = 'The token is invalid';
  if (err instanceof errors.JWTExpired) detail = 'The token has expired';
  else if (err instanceof errors.JWTClaimValidationFailed) {
    if (err.reason === 'missing') detail = `The token has no ${err.claim} claim`;
    else if (err.claim === 'nbf') detail = 'The token is not valid yet';
    else detail = `The token's ${err.claim} claim is not accepted`;
  }
  return new AppError('AUTH.INVALID_TOKEN', detail, { category: 'unauthorized', cause: err });
}

/**
 * The algorithm of a public or private key: RS256 for RSA of at least 2048 bits (jose's
 * minimum), ES256 for P-256. Throws for any other key, naming what is supported.
 */
export function publicKeyAlgorithm(key: KeyObject): 'RS256' | 'ES256' {
  const details = key.asymmetricKeyDetails;
  if (key.asymmetricKeyType === 'rsa') {
    if ((details?.modulusLength ?? 0) < 2048) throw new Error(`an RSA key needs at least 2048 bits (this one has ${details?.modulusLength})`);
    return 'RS256';
  }
  if (key.asymmetricKeyType === 'ec' && details?.namedCurve === 'prime256v1') return 'ES256';
  const kind = key.asymmetricKeyType === 'ec' ? `an EC key on ${details?.namedCurve}` : `a ${key.asymmetricKeyType ?? key.type} key`;
  throw new Error(`${kind} is not supported: use an RSA key (RS256) or a P-256 EC key (ES256)`);
}

/**
 * A verification key from PEM text (`-----BEGIN PUBLIC KEY-----…`; `\n` escapes are read as
 * line breaks, for one-line environment values) or from the path of a PEM file. Refuses a
 * private key: a service only verifies, and must not hold what signs.
 */
export function readPublicKey(value: string): KeyObject {
  const pem = value.includes('-----BEGIN') ? value.replace(/\\n/g, '\n') : readFileSync(value, 'utf8');
  if (/-----BEGIN [A-Z ]*PRIVATE KEY-----/.test(pem)) throw new Error('holds a private key: give services the public key only');
  const key = createPublicKey(pem);
  publicKeyAlgorithm(key);
  return key;
}

/** A signing key from a PEM file of an RSA or P-256 private key (`npm run token -- --key`). */
export function readPrivateKey(path: string): KeyObject {
  const key = createPrivateKey(readFileSync(path, 'utf8'));
  publicKeyAlgorithm(key);
  return key;
}

/** Why `secret` may not sign tokens in production (`NODE_ENV=production`), or undefined when it may. */
export function weakSecretReason(secret: string): string | undefined {
  if (secret === DEV_JWT_SECRET) return 'is the development secret';
  if (/change-me/i.test(secret)) return 'is a placeholder (it contains "change-me")';
  const bytes = Buffer.byteLength(secret, 'utf8');
  if (bytes < MIN_PRODUCTION_SECRET_BYTES) return `has ${bytes} bytes, fewer than the ${MIN_PRODUCTION_SECRET_BYTES} HS256 needs`;
  return undefined;
}

export interface TokenOptions {
  /** Lifetime: seconds, or a duration such as `15m`, `1h`, `7d` (see {@link durationSeconds}). Default `1h`. */
  ttl?: string | number;
  /** Default {@link DEFAULT_JWT_ISSUER}. */
  issuer?: string;
  /** Default {@link DEFAULT_JWT_AUDIENCE}. */
  audience?: string;
  /** `kid` header: which key of a JWKS verifies the token. */
  keyId?: string;
}

/**
 * Signs a token carrying `sub`, `role`, `iss`, `aud`, `iat` and `exp`: HS256 with a secret
 * (string), RS256 or ES256 with an RSA or P-256 private key. `options` as a string is the ttl.
 *
 * Synchronous on purpose (test helpers build headers inline), so it uses node:crypto rather
 * than jose, whose signing is async: a compact JWS is two base64url JSON parts and a
 * signature over them, and the tests verify what this signs with jose.
 */
export function signToken(principal: Principal, key: string | KeyObject, options: TokenOptions | string = {}): string {
  const { ttl = '1h', issuer = DEFAULT_JWT_ISSUER, audience = DEFAULT_JWT_AUDIENCE, keyId } = typeof options === 'string' ? { ttl: options } : options;
  const signingKey = typeof key === 'string' ? createSecretKey(Buffer.from(key, 'utf8')) : key;
  const alg: JwtAlgorithm = signingKey.type === 'secret' ? 'HS256' : publicKeyAlgorithm(signingKey);
  const iat = Math.floor(Date.now() / 1000);
  const header = { alg, typ: 'JWT', ...(keyId === undefined ? {} : { kid: keyId }) };
  const payload = { sub: principal.sub, role: principal.role, iss: issuer, aud: audience, iat, exp: iat + durationSeconds(ttl) };
  const input = `${base64url(header)}.${base64url(payload)}`;
  const signature =
    alg === 'HS256'
      ? createHmac('sha256', signingKey).update(input).digest()
      : // JWS wants ECDSA signatures as r‖s (IEEE P1363), not Node's default DER.
        signData('sha256', Buffer.from(input), { key: signingKey, dsaEncoding: 'ieee-p1363' });
  return `${input}.${signature.toString('base64url')}`;
}

const base64url = (value: object): string => Buffer.from(JSON.stringify(value)).toString('base64url');

const UNIT_SECONDS: Record<string, number> = { s: 1, m: 60, h: 3600, d: 86_400 };

/** Seconds in a positive duration: a number of seconds, or digits with `s`, `m`, `h` or `d` (`90s`, `15m`, `1h`, `7d`). */
export function durationSeconds(value: string | number): number {
  const match = /^\s*(\d+)\s*([smhd]?)\s*$/.exec(String(value));
  const seconds = match ? Number(match[1]) * (UNIT_SECONDS[match[2] || 's'] ?? 1) : NaN;
  if (!(seconds > 0)) throw new Error(`${JSON.stringify(value)} is not a duration (e.g. 90s, 15m, 1h, 7d)`);
  return seconds;
}

// Keyed by the app, not stored in app.locals, so keys never reach a view or a dump.
const verifiers = new WeakMap<Application, TokenVerifier>();
const principals = new WeakMap<Request, Principal>();

/** Called by createApp: how authenticate() and requireRole() verify tokens. */
export function setTokenVerifier(app: Application, verifier: TokenVerifier): void {
  verifiers.set(app, verifier);
}

/**
 * Where the handlers of `authenticate()` and `requireRole()` carry the roles they let through:
 * a registered symbol, so that a second copy of this module (jest's isolated modules, a
 * duplicated package) reads what the first one wrote.
 */
const ROLES_ALLOWED = Symbol.for('orderflow.rolesAllowed');

const allowing = (roles: readonly Role[], handler: RequestHandler): RequestHandler => Object.assign(handler, { [ROLES_ALLOWED]: Object.freeze([...roles]) });

/**
 * The roles an auth handler lets through: every role for `authenticate()`'s, the given ones
 * for `requireRole()`'s; undefined for any other handler. Lets a test read what each route
 * requires from the app itself (tools/contract compares it with the OpenAPI document).
 */
export function rolesAllowedBy(handler: unknown): readonly Role[] | undefined {
  return typeof handler === 'function' ? (handler as { [ROLES_ALLOWED]?: readonly Role[] })[ROLES_ALLOWED] : undefined;
}

/**
 * Requires a valid `Authorization: Bearer <JWT>`: missing → 401 `AUTH.MISSING_TOKEN`;
 * bad signature, algorithm, `iss` or `aud`, expired, not yet valid, without `exp` or without
 * valid claims → 401 `AUTH.INVALID_TOKEN`. Handlers read the caller with `principalOf(req)`.
 */
export function authenticate(): RequestHandler {
  return allowing(ROLES, async (req, _res, next) => {
    principals.set(req, await verifyRequest(req));
    next();
  });
}

/** Like `authenticate()`, then 403 `AUTH.FORBIDDEN` unless the caller has one of `roles`. */
export function requireRole(...roles: Role[]): RequestHandler {
  return allowing(roles, async (req, _res, next) => {
    const principal = principals.get(req) ?? (await verifyRequest(req));
    principals.set(req, principal);
    if (!roles.includes(principal.role)) {
      throw new AppError('AUTH.FORBIDDEN', `This action requires the role ${roles.join(' or ')}`, {
        category: 'forbidden',
      });
    }
    next();
  });
}

/** The authenticated caller of a request that went through `authenticate()` or `requireRole()`. */
export function principalOf(req: Request): Principal {
  const principal = principals.get(req);
  // A route that forgot its auth middleware is a bug: fail loudly (500), never serve it anonymously.
  if (!principal) throw new Error(`principalOf: no authenticate() or requireRole() on ${req.method} ${req.path}`);
  return principal;
}

function verifyRequest(req: Request): Promise<Principal> {
  const verify = verifiers.get(req.app);
  if (verify === undefined) throw new Error('authenticate: the app was not built by createApp (no token verifier)');
  const token = /^Bearer\s+(\S+)\s*$/i.exec(req.get('authorization') ?? '')?.[1];
  if (token === undefined) {
    throw new AppError('AUTH.MISSING_TOKEN', 'An Authorization: Bearer token is required', { category: 'unauthorized' });
  }
  return verify(token);
}
