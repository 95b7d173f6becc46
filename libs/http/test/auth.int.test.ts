import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import jwt from 'jsonwebtoken';
import request from 'supertest';
import { Registry } from 'prom-client';
import { createLogger } from '@orderflow/logging';
import { authenticate, createApp, DEV_JWT_SECRET, principalOf, requireRole, signToken } from '../src';

const SECRET = 'test-secret-0123456789';

const app = createApp({
  service: 'test',
  logger: createLogger({ service: 'test', silent: true }),
  jwtSecret: SECRET,
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

describe('authentication', () => {
  it('a valid customer token gives the handler its principal', async () => {
    const res = await request(app)
      .get('/me')
      .set('Authorization', bearer(signToken({ sub: 'alice', role: 'customer' }, SECRET)))
      .expect(200);
    expect(res.body).toEqual({ sub: 'alice', role: 'customer' });
  });

  it('without a token the request is answered 401 AUTH.MISSING_TOKEN with WWW-Authenticate', async () => {
    const res = await request(app).get('/me').expect(401);
    expect(res.body).toMatchObject({ status: 401, code: 'AUTH.MISSING_TOKEN' });
    expect(res.headers['www-authenticate']).toBe('Bearer');
  });

  it('a token signed with another secret is answered 401 AUTH.INVALID_TOKEN', async () => {
    const token = signToken({ sub: 'alice', role: 'admin' }, 'someone-elses-secret-42');
    const res = await request(app).get('/me').set('Authorization', bearer(token)).expect(401);
    expect(res.body).toMatchObject({ code: 'AUTH.INVALID_TOKEN', detail: 'The token is invalid' });
  });

  it('an expired token is answered 401 AUTH.INVALID_TOKEN saying it expired', async () => {
    const token = jwt.sign({ sub: 'alice', role: 'customer', exp: Math.floor(Date.now() / 1000) - 60 }, SECRET);
    const res = await request(app).get('/me').set('Authorization', bearer(token)).expect(401);
    expect(res.body).toMatchObject({ code: 'AUTH.INVALID_TOKEN', detail: 'The token has expired' });
  });

  it('a token with an unknown role or an unsigned token is answered 401', async () => {
    const badRole = jwt.sign({ sub: 'alice', role: 'root' }, SECRET);
    await request(app).get('/me').set('Authorization', bearer(badRole)).expect(401);
    const unsigned = jwt.sign({ sub: 'alice', role: 'admin' }, '', { algorithm: 'none' });
    await request(app).get('/me').set('Authorization', bearer(unsigned)).expect(401);
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

  it('prints only a token for the given sub and role, signed with the dev secret by default', async () => {
    const env = { ...process.env };
    delete env.JWT_SECRET;
    const { stdout } = await run('npx', ['tsx', 'libs/http/src/token-cli.ts', '--sub', 'alice', '--role', 'customer'], {
      cwd: `${__dirname}/../../..`,
      env,
    });
    const token = stdout.trim();
    expect(token.split('.')).toHaveLength(3);
    expect(jwt.verify(token, DEV_JWT_SECRET, { algorithms: ['HS256'] })).toMatchObject({ sub: 'alice', role: 'customer' });
  });

  it('signs with JWT_SECRET when set, and rejects an unknown role with a usage message', async () => {
    const cwd = `${__dirname}/../../..`;
    const { stdout } = await run('npx', ['tsx', 'libs/http/src/token-cli.ts', '--sub', 'ops', '--role', 'admin'], {
      cwd,
      env: { ...process.env, JWT_SECRET: SECRET },
    });
    expect(jwt.verify(stdout.trim(), SECRET)).toMatchObject({ sub: 'ops', role: 'admin' });
    await expect(
      run('npx', ['tsx', 'libs/http/src/token-cli.ts', '--sub', 'x', '--role', 'root'], { cwd }),
    ).rejects.toMatchObject({ code: 64, stderr: expect.stringContaining('usage:') });
  });
});
