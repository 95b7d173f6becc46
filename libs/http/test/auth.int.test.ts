import { execFile } from 'node:child_process';
import { generateKeyPairSync } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { SignJWT, UnsecuredJWT, jwtVerify } from 'jose';
import request from 'supertest';
import { Registry } from 'prom-client';
import { createLogger } from '@orderflow/logging';
import { authenticate, createApp, DEV_JWT_SECRET, principalOf, requireRole, signToken } from '../src';

const SECRET = 'test-secret-0123456789';
const bytes = (secret: string) => new TextEncoder().encode(secret);
const nowS = () => Math.floor(Date.now() / 1000);

const app = createApp({
  service: 'test',
  logger: createLogger({ service: 'test', silent: true }),
  jwt: { secret: SECRET },
  metrics: new Registry(),
  routes: (router) => {
    router.get('/me', authenticate(), (req, res) => {
      res.json(principalOf(req));
    });
    router.put('/stock', requireRole('admin'), (req, res) => {
      res.json({ by: principalOf(req).sub });
    });
    router.get('/forgot-auth', (req, res) => {
      res.json(principalOf(req));
    });
  },
});

const bearer = (token: string) => `Bearer ${token}`;

/**
 * An HS256 token as another issuer would sign it: every claim the service checks, valid for
 * five minutes, with `claims` replacing them (undefined drops one).
 */
async function tokenWith(claims: Record<string, unknown>, secret = SECRET): Promise<string> {
  const payload = { sub: 'alice', role: 'customer', iss: 'orderflow', aud: 'orderflow-api', exp: nowS() + 300, ...claims };
  const defined = Object.fromEntries(Object.entries(payload).filter(([, v]) => v !== undefined));
  return new SignJWT(defined).setProtectedHeader({ alg: 'HS256' }).sign(bytes(secret));
}

const me = (token: string) => request(app).get('/me').set('Authorization', bearer(token));

describe('authentication', () => {
  it('a valid customer token gives the handler its principal', async () => {
    const res = await me(signToken({ sub: 'alice', role: 'customer' }, SECRET)).expect(200);
    expect(res.body).toEqual({ sub: 'alice', role: 'customer' });
  });

  it('a token of another issuer with every checked claim is accepted', async () => {
    const res = await me(await tokenWith({ sub: 'bob' })).expect(200);
    expect(res.body).toEqual({ sub: 'bob', role: 'customer' });
  });

  it('without a token the request is answered 401 AUTH.MISSING_TOKEN with WWW-Authenticate', async () => {
    const res = await request(app).get('/me').expect(401);
    expect(res.body).toMatchObject({ status: 401, code: 'AUTH.MISSING_TOKEN' });
    expect(res.headers['www-authenticate']).toBe('Bearer');
  });

  it('a token signed with another secret is answered 401 AUTH.INVALID_TOKEN', async () => {
    const res = await me(signToken({ sub: 'alice', role: 'admin' }, 'someone-elses-secret-42')).expect(401);
    expect(res.body).toMatchObject({ code: 'AUTH.INVALID_TOKEN', detail: 'The token is invalid' });
  });

  it('a token without exp is answered 401 AUTH.INVALID_TOKEN: a leaked one would never expire', async () => {
    const res = await me(await tokenWith({ exp: undefined })).expect(401);
    expect(res.body).toMatchObject({ code: 'AUTH.INVALID_TOKEN', detail: 'The token has no exp claim' });
  });

  it('an expired token is answered 401 AUTH.INVALID_TOKEN saying it expired', async () => {
    const res = await me(await tokenWith({ exp: nowS() - 60 })).expect(401);
    expect(res.body).toMatchObject({ code: 'AUTH.INVALID_TOKEN', detail: 'The token has expired' });
  });

  it('a token not valid before a time still ahead (nbf) is answered 401', async () => {
    const res = await me(await tokenWith({ nbf: nowS() + 120 })).expect(401);
    expect(res.body).toMatchObject({ code: 'AUTH.INVALID_TOKEN', detail: 'The token is not valid yet' });
  });

  it('exp and nbf a few seconds off are accepted: clocks of issuer and service may differ by the tolerance', async () => {
    await me(await tokenWith({ exp: nowS() - 10 })).expect(200);
    await me(await tokenWith({ nbf: nowS() + 10 })).expect(200);
  });

  it('a token for another audience is answered 401', async () => {
    const res = await me(await tokenWith({ aud: 'billing-api' })).expect(401);
    expect(res.body).toMatchObject({ code: 'AUTH.INVALID_TOKEN', detail: "The token's aud claim is not accepted" });
    const none = await me(await tokenWith({ aud: undefined })).expect(401);
    expect(none.body).toMatchObject({ detail: 'The token has no aud claim' });
  });

  it('a token from another issuer is answered 401', async () => {
    const res = await me(await tokenWith({ iss: 'https://evil.example' })).expect(401);
    expect(res.body).toMatchObject({ code: 'AUTH.INVALID_TOKEN', detail: "The token's iss claim is not accepted" });
    const none = await me(await tokenWith({ iss: undefined })).expect(401);
    expect(none.body).toMatchObject({ detail: 'The token has no iss claim' });
  });

  it('a token with an unknown role or an unsigned token is answered 401', async () => {
    await me(await tokenWith({ role: 'root' })).expect(401);
    const unsigned = new UnsecuredJWT({ sub: 'alice', role: 'admin', iss: 'orderflow', aud: 'orderflow-api', exp: nowS() + 300 }).encode();
    const res = await me(unsigned).expect(401);
    expect(res.body).toMatchObject({ code: 'AUTH.INVALID_TOKEN' });
  });

  it('a customer on an admin route is answered 403 AUTH.FORBIDDEN', async () => {
    const token = signToken({ sub: 'alice', role: 'customer' }, SECRET);
    const res = await request(app).put('/stock').set('Authorization', bearer(token)).expect(403);
    expect(res.body).toMatchObject({ status: 403, code: 'AUTH.FORBIDDEN' });
  });

  it('an admin on an admin route is let through', async () => {
    const token = signToken({ sub: 'ops', role: 'admin' }, SECRET);
    const res = await request(app).put('/stock').set('Authorization', bearer(token)).expect(200);
    expect(res.body).toEqual({ by: 'ops' });
  });

  it('principalOf on a route without auth middleware fails as a server error, never anonymously', async () => {
    await request(app).get('/forgot-auth').expect(500);
  });
});

describe('token CLI', () => {
  const run = promisify(execFile);
  const root = path.join(__dirname, '..', '..', '..');
  const cli = (args: string[], env: Record<string, string | undefined> = {}) => {
    const merged: NodeJS.ProcessEnv = { ...process.env, ...env };
    for (const name of ['JWT_SECRET', 'JWT_ISSUER', 'JWT_AUDIENCE']) if (!(name in env)) delete merged[name];
    return run(process.execPath, ['--import', 'tsx', 'libs/http/src/token-cli.ts', ...args], { cwd: root, env: merged });
  };

  it('prints only a token for the given sub and role, signed with the dev secret for the default issuer and audience, valid for an hour', async () => {
    const { stdout } = await cli(['--sub', 'alice', '--role', 'customer']);
    const token = stdout.trim();
    expect(token.split('.')).toHaveLength(3);
    const { payload } = await jwtVerify(token, bytes(DEV_JWT_SECRET), { algorithms: ['HS256'], issuer: 'orderflow', audience: 'orderflow-api' });
    expect(payload).toMatchObject({ sub: 'alice', role: 'customer' });
    expect(payload.exp! - payload.iat!).toBe(3600);
  });

  it('signs with JWT_SECRET for JWT_ISSUER and JWT_AUDIENCE when set, with the --ttl asked for', async () => {
    const { stdout } = await cli(['--sub', 'ops', '--role', 'admin', '--ttl', '15m'], { JWT_SECRET: SECRET, JWT_ISSUER: 'idp', JWT_AUDIENCE: 'orders' });
    const { payload } = await jwtVerify(stdout.trim(), bytes(SECRET), { algorithms: ['HS256'], issuer: 'idp', audience: 'orders' });
    expect(payload).toMatchObject({ sub: 'ops', role: 'admin' });
    expect(payload.exp! - payload.iat!).toBe(900);
  });

  it('signs ES256 with --key, verifiable with the public key', async () => {
    const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    const file = path.join(mkdtempSync(path.join(tmpdir(), 'token-cli-')), 'signing.pem');
    writeFileSync(file, privateKey.export({ type: 'pkcs8', format: 'pem' }));
    const { stdout } = await cli(['--sub', 'alice', '--role', 'customer', '--key', file, '--kid', 'k1']);
    const { payload, protectedHeader } = await jwtVerify(stdout.trim(), publicKey, { algorithms: ['ES256'], issuer: 'orderflow', audience: 'orderflow-api' });
    expect(protectedHeader).toMatchObject({ alg: 'ES256', kid: 'k1' });
    expect(payload).toMatchObject({ sub: 'alice', role: 'customer' });
  });

  it('rejects an unknown role or a bad --ttl with a usage message (exit 64)', async () => {
    await expect(cli(['--sub', 'x', '--role', 'root'])).rejects.toMatchObject({ code: 64, stderr: expect.stringContaining('usage:') });
    await expect(cli(['--sub', 'x', '--role', 'admin', '--ttl', 'soon'])).rejects.toMatchObject({ code: 64, stderr: expect.stringContaining('--ttl') });
  });
});
