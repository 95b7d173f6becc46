import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { ConfigError, parseConfig } from '@orderflow/config';
import { createTokenVerifier, DEV_JWT_SECRET, signToken } from '@orderflow/http';
import { serviceConfigSchema } from '../src';
import { jwtOptionsOf } from '../src/config';

const DATABASE_URL = 'postgresql://postgres@127.0.0.1:5432/orders';
const STRONG = randomBytes(32).toString('hex');
const parse = (env: Record<string, string>) => parseConfig(serviceConfigSchema(8080), { DATABASE_URL, ...env });

/** The problems a configuration is refused for, as `variable: message` lines. */
function problemsOf(env: Record<string, string>): string[] {
  try {
    parse(env);
  } catch (err) {
    if (err instanceof ConfigError) return err.problems.map((p) => `${p.variable}: ${p.message}`);
    throw err;
  }
  return [];
}

describe('JWT settings of a service', () => {
  it('outside production the development secret is accepted, with the default issuer, audience and clock tolerance', () => {
    const config = parse({ JWT_SECRET: DEV_JWT_SECRET });
    expect(config).toMatchObject({ JWT_SECRET: DEV_JWT_SECRET, JWT_ISSUER: 'orderflow', JWT_AUDIENCE: 'orderflow-api', JWT_CLOCK_TOLERANCE_S: 30 });
    expect(config.JWT_PUBLIC_KEY).toBeUndefined();
  });

  it.each([
    ['the development secret', DEV_JWT_SECRET, /is the development secret/],
    ['the Kubernetes placeholder', 'change-me-jwt-secret-at-least-16-chars', /contains "change-me"/],
    ['a secret under 32 bytes', 'k'.repeat(31), /has 31 bytes, fewer than the 32/],
  ])('in production %s is refused, naming JWT_SECRET', (_what, secret, reason) => {
    const problems = problemsOf({ NODE_ENV: 'production', JWT_SECRET: secret });
    expect(problems).toEqual([expect.stringMatching(/^JWT_SECRET: /)]);
    expect(problems[0]).toMatch(reason);
    expect(problems[0]).toMatch(/refused where NODE_ENV=production/);
  });

  it('in production a random secret of 32 bytes is accepted', () => {
    expect(parse({ NODE_ENV: 'production', JWT_SECRET: STRONG }).JWT_SECRET).toBe(STRONG);
  });

  it('with only a JWKS URL no secret is needed, in production too', () => {
    const config = parse({ NODE_ENV: 'production', JWT_JWKS_URL: 'https://idp.example/.well-known/jwks.json' });
    expect(config.JWT_JWKS_URL).toBe('https://idp.example/.well-known/jwks.json');
    expect(config.JWT_SECRET).toBeUndefined();
  });

  it('in production a JWKS URL over plain HTTP is refused (anyone on the path could hand out signing keys); outside production it is allowed', () => {
    expect(problemsOf({ NODE_ENV: 'production', JWT_JWKS_URL: 'http://idp.example/jwks.json' })).toEqual([expect.stringMatching(/^JWT_JWKS_URL: .*https/)]);
    expect(parse({ JWT_JWKS_URL: 'http://127.0.0.1:9999/jwks.json' }).JWT_JWKS_URL).toBe('http://127.0.0.1:9999/jwks.json');
  });

  it('without a secret, a public key or a JWKS URL the service is refused, naming JWT_SECRET and the alternatives', () => {
    expect(problemsOf({})).toEqual([expect.stringMatching(/^JWT_SECRET: is required but not set \(or set JWT_PUBLIC_KEY or JWT_JWKS_URL/)]);
  });

  it('every problem is reported at once: a bad variable elsewhere does not hide a missing key', () => {
    expect(problemsOf({ PORT: 'eighty' }).map((p) => p.split(':')[0])).toEqual(['PORT', 'JWT_SECRET']);
  });

  it('a public key and a JWKS URL together are refused, naming JWT_JWKS_URL', () => {
    const { publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    const pem = publicKey.export({ type: 'spki', format: 'pem' }).toString();
    expect(problemsOf({ JWT_PUBLIC_KEY: pem, JWT_JWKS_URL: 'https://idp.example/jwks' })).toEqual([expect.stringMatching(/^JWT_JWKS_URL: cannot be set together with JWT_PUBLIC_KEY/)]);
  });

  it('JWT_PUBLIC_KEY is read once from PEM text, one-line PEM with \\n escapes or a PEM file, and the service verifies with it', () => {
    const { publicKey, privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
    const pem = publicKey.export({ type: 'spki', format: 'pem' }).toString();
    const file = path.join(mkdtempSync(path.join(tmpdir(), 'jwt-config-')), 'idp.pem');
    writeFileSync(file, pem);
    for (const value of [pem, pem.replace(/\n/g, '\\n'), file]) {
      const config = parse({ NODE_ENV: 'production', JWT_PUBLIC_KEY: value });
      expect(config.JWT_PUBLIC_KEY?.asymmetricKeyType).toBe('rsa');
    }
    const verify = createTokenVerifier(jwtOptionsOf(parse({ JWT_PUBLIC_KEY: file })));
    return expect(verify(signToken({ sub: 'alice', role: 'customer' }, privateKey))).resolves.toEqual({ sub: 'alice', role: 'customer' });
  });

  it('an unusable JWT_PUBLIC_KEY is refused with the reason: missing file, private key, unsupported key', () => {
    const ec = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    const cases: Array<[string, RegExp]> = [
      ['/nonexistent/idp.pem', /ENOENT/],
      [ec.privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(), /holds a private key/],
      [generateKeyPairSync('ed25519').publicKey.export({ type: 'spki', format: 'pem' }).toString(), /not supported/],
      [generateKeyPairSync('rsa', { modulusLength: 1024 }).publicKey.export({ type: 'spki', format: 'pem' }).toString(), /at least 2048 bits/],
    ];
    for (const [value, reason] of cases) {
      const problems = problemsOf({ JWT_PUBLIC_KEY: value });
      expect(problems).toEqual([expect.stringMatching(/^JWT_PUBLIC_KEY: is not a usable public key: /)]);
      expect(problems[0]).toMatch(reason);
    }
  });

  it('the configured issuer, audience and tolerance reach the verifier', async () => {
    const secret = STRONG;
    const verify = createTokenVerifier(jwtOptionsOf(parse({ JWT_SECRET: secret, JWT_ISSUER: 'idp', JWT_AUDIENCE: 'shop', JWT_CLOCK_TOLERANCE_S: '0' })));
    await expect(verify(signToken({ sub: 'ops', role: 'admin' }, secret, { issuer: 'idp', audience: 'shop' }))).resolves.toEqual({ sub: 'ops', role: 'admin' });
    await expect(verify(signToken({ sub: 'ops', role: 'admin' }, secret))).rejects.toMatchObject({ code: 'AUTH.INVALID_TOKEN' });
  });
});
