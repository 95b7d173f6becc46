/**
 * Prints a bearer token for local use: `npm run token -- --sub alice --role customer`.
 * Signs with JWT_SECRET, or the documented development secret when it is unset.
 */
import { parseArgs } from 'node:util';
import type { SignOptions } from 'jsonwebtoken';
import { DEV_JWT_SECRET, ROLES, signToken, type Role } from './auth';

const USAGE = `usage: npm run token -- --sub <id> --role <${ROLES.join('|')}> [--expires-in 24h]`;

function main(): void {
  const { values } = parseArgs({
    options: {
      sub: { type: 'string' },
      role: { type: 'string' },
      'expires-in': { type: 'string', default: '24h' },
    },
  });
  const { sub, role } = values;
  if (!sub || !ROLES.includes(role as Role)) throw new Error(USAGE);
  const secret = process.env.JWT_SECRET || DEV_JWT_SECRET;
  // jsonwebtoken checks the duration string itself (`24h`, `7d`).
  const expiresIn = values['expires-in'] as SignOptions['expiresIn'];
  // Only the token on stdout, so `TOKEN=$(npm run -s token -- ...)` works.
  process.stdout.write(`${signToken({ sub, role: role as Role }, secret, expiresIn)}\n`);
}

try {
  main();
} catch (err) {
  process.stderr.write(`${err instanceof Error ? err.message : String(err)}\n`);
  process.exitCode = 64; // EX_USAGE
}
