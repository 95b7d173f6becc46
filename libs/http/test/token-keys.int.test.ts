import { generateKeyPairSync, type KeyObject } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { Express } from 'express';
import request from 'supertest';
import { Registry } from 'prom-client';
import { createLogger } from '@orderflow/logging';
import { authenticate, createApp, principalOf, signToken, type JwtOptions } from '../src';

/** An app whose one route answers the caller's principal, verifying tokens as `jwt` says. */
const appWith = (jwt: JwtOptions): Express =>
  createApp({
    service: 'test',
    logger: createLogger({ service: 'test', silent: true }),
    jwt,
    metrics: new Registry(),
    routes: (router) => {
      router.get('/me', authenticate(), (req, res) => {
        res.json(principalOf(req));
      });
    },
  });

const me = (app: Express, token: string) => request(app).get('/me').set('Authorization', `Bearer ${token}`);
const alice = { sub: 'alice', role: 'customer' } as const;
const pem = (key: KeyObject) => key.export({ type: 'spki', format: 'pem' }).toString();

describe('tokens of an identity provider, verified through its JWKS (RS256)', () => {
  const idp = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const impostor = generateKeyPairSync('rsa', { modulusLength: 2048 });
  let server: Server;
  let fetches = 0;
  let app: Express;

  beforeAll(async () => {
    const jwk = { ...idp.publicKey.export({ format: 'jwk' }), kid: 'idp-1', alg: 'RS256', use: 'sig' };
    server = createServer((_req, res) => {
      fetches += 1;
      res.setHeader('content-type', 'application/json');
      res.end(JSON.stringify({ keys: [jwk] }));
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    app = appWith({ jwksUrl: `http://127.0.0.1:${(server.address() as AddressInfo).port}/.well-known/jwks.json` });
  });
  afterAll(() => new Promise((resolve) => server.close(resolve)));

  it('a token signed by the provider is accepted, and the key set is fetched once for many requests', async () => {
    const token = signToken(alice, idp.privateKey, { keyId: 'idp-1' });
    const res = await me(app, token).expect(200);
    expect(res.body).toEqual(alice);
    await me(app, signToken({ sub: 'bob', role: 'admin' }, idp.privateKey, { keyId: 'idp-1' })).expect(200);
    expect(fetches).toBe(1);
  });

  it('a token signed by another key under the provider\'s kid is answered 401', async () => {
    const res = await me(app, signToken(alice, impostor.privateKey, { keyId: 'idp-1' })).expect(401);
    expect(res.body).toMatchObject({ code: 'AUTH.INVALID_TOKEN' });
  });

  it('an HS256 token is answered 401: a JWKS-only service has no secret to accept', async () => {
    const res = await me(app, signToken(alice, 'any-secret-at-all-0123456789-abcdef')).expect(401);
    expect(res.body).toMatchObject({ code: 'AUTH.INVALID_TOKEN' });
  });

  it('a token naming a key the set does not hold is answered 401', async () => {
    const res = await me(app, signToken(alice, idp.privateKey, { keyId: 'unknown' })).expect(401);
    expect(res.body).toMatchObject({ code: 'AUTH.INVALID_TOKEN' });
  });

  it('when the key set cannot be fetched, the request is answered 503 AUTH.KEYS_UNAVAILABLE, not 401', async () => {
    const closed = createServer();
    await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve));
    const { port } = closed.address() as AddressInfo;
    await new Promise((resolve) => closed.close(resolve));
    const unreachable = appWith({ jwksUrl: `http://127.0.0.1:${port}/jwks.json` });
    const res = await me(unreachable, signToken(alice, idp.privateKey, { keyId: 'idp-1' })).expect(503);
    expect(res.body).toMatchObject({ code: 'AUTH.KEYS_UNAVAILABLE' });
  });
});

describe('tokens verified with a configured public key', () => {
  const ec = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const rsa = generateKeyPairSync('rsa', { modulusLength: 2048 });

  it('ES256 with the public key read from a PEM file: a token signed by its private key is accepted, another key\'s is 401', async () => {
    const file = path.join(mkdtempSync(path.join(tmpdir(), 'jwt-key-')), 'public.pem');
    writeFileSync(file, pem(ec.publicKey));
    const app = appWith({ publicKey: file });
    const res = await me(app, signToken(alice, ec.privateKey)).expect(200);
    expect(res.body).toEqual(alice);
    const other = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    await me(app, signToken(alice, other.privateKey)).expect(401);
  });

  it('an HS256 token keyed with the public key itself is answered 401 (no algorithm confusion)', async () => {
    const text = pem(rsa.publicKey);
    const app = appWith({ publicKey: text });
    await me(app, signToken(alice, rsa.privateKey)).expect(200);
    const res = await me(app, signToken(alice, text)).expect(401);
    expect(res.body).toMatchObject({ code: 'AUTH.INVALID_TOKEN' });
  });

  it('with a secret and a public key both kinds of tokens are accepted, each only with its own key', async () => {
    const secret = 'shared-secret-for-internal-tools-0123';
    const app = appWith({ secret, publicKey: rsa.publicKey });
    await me(app, signToken(alice, secret)).expect(200);
    await me(app, signToken(alice, rsa.privateKey)).expect(200);
    await me(app, signToken(alice, ec.privateKey)).expect(401);
  });

  it('a configured issuer and audience are the ones required', async () => {
    const app = appWith({ publicKey: ec.publicKey, issuer: 'https://idp.example', audience: 'orderflow' });
    await me(app, signToken(alice, ec.privateKey, { issuer: 'https://idp.example', audience: 'orderflow' })).expect(200);
    const defaults = await me(app, signToken(alice, ec.privateKey)).expect(401);
    expect(defaults.body).toMatchObject({ detail: "The token's iss claim is not accepted" });
  });

  it('a key of an unsupported type or size is refused when the app is built', () => {
    expect(() => appWith({ publicKey: generateKeyPairSync('ed25519').publicKey })).toThrow(/not supported: use an RSA key \(RS256\) or a P-256 EC key \(ES256\)/);
    expect(() => appWith({ publicKey: generateKeyPairSync('rsa', { modulusLength: 1024 }).publicKey })).toThrow(/at least 2048 bits/);
    expect(() => appWith({ publicKey: ec.privateKey.export({ type: 'pkcs8', format: 'pem' }).toString() })).toThrow(/private key/);
  });
});
