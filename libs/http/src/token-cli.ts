/**
 * Prints a bearer token for local use: `npm run token -- --sub alice --role customer`.
 * HS256 with JWT_SECRET, or the documented development secret when it is unset; RS256 or
 * ES256 with `--key <private key PEM file>` (for services that verify with JWT_PUBLIC_KEY).
 * `iss` and `aud` are JWT_ISSUER and JWT_AUDIENCE when set, as the services read them.
 */
import { parseArgs } from 'node:util';
import {
  DEFAULT_JWT_AUDIENCE,
  DEFAULT_JWT_ISSUER,
  DEV_JWT_SECRET,
  ROLES,
  durationSeconds,
  readPrivateKey,
  signToken,
  type Role,
} from './auth';

const USAGE = `usage: npm run token -- --sub <id> --role <${ROLES.join('|')}> [--ttl 1h] [--key private.pem [--kid id]] [--issuer iss] [--audience aud]`;

function main(): void {
  const { values } = parseArgs({
    options: {
      sub: { type: 'string' },
      role: { type: 'string' },
      ttl: { type: 'string' },
      // The option's earlier name.
      'expires-in': { type: 'string' },
      key: { type: 'string' },
      kid: { type: 'string' },
      issuer: { type: 'string' },
      audience: { type: 'string' },
    },
  });
  const { sub, role } = values;
  if (!sub || !ROLES.includes(role as Role)) throw new Error(USAGE);
  const ttl = values.ttl ?? values['expires-in'] ?? '1h';
  try {
    durationSeconds(ttl);
  } catch (err) {
    throw new Error(`--ttl: ${(err as Error).message}\n${USAGE}`);
  }
  const key = values.key === undefined ? process.env.JWT_SECRET || DEV_JWT_SECRET : readPrivateKey(values.key);
  const token = signToken({ sub, role: role as Role }, key, {
    ttl,
    issuer: values.issuer ?? (process.env.JWT_ISSUER || DEFAULT_JWT_ISSUER),
    audience: values.audience ?? (process.env.JWT_AUDIENCE || DEFAULT_JWT_AUDIENCE),
    keyId: values.kid,
  });
  // Only the token on stdout, so `TOKEN=$(npm run -s token -- ...)` works.
  process.stdout.write(`${token}\n`);
}

try {
  main();
} catch (err) {
  process.stderr.write(`${err instanceof Error ? err.message : String(err)}\n`);
  process.exitCode = 64; // EX_USAGE
}
