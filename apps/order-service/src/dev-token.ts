import type { Router } from 'express';
import { z } from 'zod';
import { ROLES, signToken, validate } from '@orderflow/http';
import type { OrderConfig } from './config';

/** Long enough for a working session in the console; a 401 sends the operator back to sign-in. */
const DEV_TOKEN_TTL = '8h';

const body = z.object({
  sub: z.string().trim().min(1).max(200).default('operator'),
  role: z.enum(ROLES).default('admin'),
});

/**
 * `POST /api/dev/token` — local development only (DEV_TOKENS=1, which `npm start` sets): a
 * token signed with JWT_SECRET, by default an admin's, for the operator console's sign-in
 * button. Without DEV_TOKENS the route is not registered at all, so the path answers 404
 * like any unknown one: nothing in a deployment can mint a token.
 */
export function devTokenApi(config: Pick<OrderConfig, 'DEV_TOKENS' | 'JWT_SECRET' | 'JWT_ISSUER' | 'JWT_AUDIENCE'>) {
  return (router: Router): void => {
    if (!config.DEV_TOKENS || config.JWT_SECRET === undefined) return;
    const secret = config.JWT_SECRET;
    router.post('/api/dev/token', (req, res) => {
      const { sub, role } = validate(body, req.body ?? {});
      const token = signToken({ sub, role }, secret, { ttl: DEV_TOKEN_TTL, issuer: config.JWT_ISSUER, audience: config.JWT_AUDIENCE });
      const { exp } = JSON.parse(Buffer.from(token.split('.')[1]!, 'base64url').toString('utf8')) as { exp: number };
      res.status(201).json({ token, sub, role, expiresAt: new Date(exp * 1000).toISOString() });
    });
  };
}
