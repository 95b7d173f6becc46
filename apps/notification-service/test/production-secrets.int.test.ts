/**
 * The service started as its image starts it (NODE_ENV=production): a real process, so the
 * exit code and the message an operator sees are the ones asserted.
 */
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import path from 'node:path';
import { DEV_JWT_SECRET, signToken } from '@orderflow/http';
import { cloneDatabase, deleteTopologies, freePorts, serviceEnv, uniquePrefix, waitFor } from '@orderflow/testkit';
import { topology } from '../src/topology';

const MAIN = path.join(__dirname, '..', 'src', 'main.ts');

function startService(env: Record<string, string>) {
  const child = spawn(process.execPath, ['--import', 'tsx', MAIN], { env: { ...process.env, ...env }, stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  const exited = new Promise<{ code: number | null; stderr: string }>((resolve) => child.once('exit', (code) => resolve({ code, stderr })));
  return { child, exited };
}

describe('notification service started in production mode', () => {
  it.each([
    ['the development secret', DEV_JWT_SECRET, 'is the development secret'],
    ['the Kubernetes placeholder secret', 'change-me-jwt-secret-at-least-16-chars', 'is a placeholder (it contains "change-me")'],
    ['a secret under 32 bytes', randomBytes(15).toString('hex'), 'has 30 bytes'],
  ])('with %s it refuses to start: exit 78 and a message naming JWT_SECRET', async (_what, secret, reason) => {
    const env = serviceEnv({ NODE_ENV: 'production', JWT_SECRET: secret, DATABASE_URL: 'postgresql://postgres@127.0.0.1:5432/never_connected', PORT: '18084' });
    const { code, stderr } = await startService(env).exited;
    expect(code).toBe(78);
    expect(stderr).toContain('Invalid configuration');
    expect(stderr).toContain(`JWT_SECRET: ${reason}`);
    expect(stderr).toContain('refused where NODE_ENV=production');
  });

  it('with a random 32-byte secret it starts, accepts tokens signed with it and refuses development-secret tokens', async () => {
    const secret = randomBytes(32).toString('hex');
    const prefix = uniquePrefix();
    const db = await cloneDatabase('notification');
    const [port] = await freePorts(1);
    const env = serviceEnv({ NODE_ENV: 'production', JWT_SECRET: secret, DATABASE_URL: db.url, TOPOLOGY_PREFIX: prefix, PORT: String(port), SHUTDOWN_TIMEOUT_S: '5' });
    const { child, exited } = startService(env);
    try {
      const base = `http://127.0.0.1:${port}`;
      await waitFor(async () => (await fetch(`${base}/ready`).catch(() => null))?.status === 200, 'the service ready', 30_000);
      const asAlice = (key: string) => fetch(`${base}/api/notifications?customerId=alice`, { headers: { authorization: `Bearer ${signToken({ sub: 'alice', role: 'customer' }, key)}` } });
      expect((await asAlice(secret)).status).toBe(200);
      expect((await asAlice(DEV_JWT_SECRET)).status).toBe(401);
    } finally {
      child.kill('SIGTERM');
      await exited;
      await deleteTopologies(topology(prefix, env.RETRY_DELAYS_MS!.split(',').map(Number)));
      await db.drop();
    }
  }, 60_000);
});
