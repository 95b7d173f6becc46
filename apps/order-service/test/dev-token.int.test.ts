import request from 'supertest';
import { parseConfig } from '@orderflow/config';
import type { Service } from '@orderflow/service';
import { serviceEnv, uniquePrefix, type ServiceUnderTest } from '@orderflow/testkit';
import { orderConfigSchema } from '../src/config';
import type { Db, Tx } from '../src/db';
import { orderServiceUnderTest } from './support';

describe('order service: the dev token route exists in local development only (real PostgreSQL and RabbitMQ)', () => {
  let dev: ServiceUnderTest<Service<Db, Tx>>;
  let prod: ServiceUnderTest<Service<Db, Tx>>;
  beforeAll(async () => {
    dev = await orderServiceUnderTest({ prefix: uniquePrefix(), env: { DEV_TOKENS: '1' } });
    prod = await orderServiceUnderTest({ prefix: uniquePrefix() });
  });
  afterAll(async () => {
    await dev?.stop();
    await prod?.stop();
  });

  it('with DEV_TOKENS=1 it mints an admin token by default that the service accepts as an admin', async () => {
    const minted = await request(dev.service.app).post('/api/dev/token');
    expect(minted.status).toBe(201);
    expect(minted.body).toMatchObject({ token: expect.stringMatching(/^[\w-]+\.[\w-]+\.[\w-]+$/), sub: 'operator', role: 'admin', expiresAt: expect.any(String) });
    expect(new Date(minted.body.expiresAt).getTime()).toBeGreaterThan(Date.now() + 3_600_000);
    // Only an admin may list every customer's orders.
    const listed = await request(dev.service.app).get('/api/orders?customerId=someone').set('Authorization', `Bearer ${minted.body.token}`);
    expect(listed.status).toBe(200);
  });

  it('with DEV_TOKENS=1 a customer token can be asked for, and a bad role is refused', async () => {
    const customer = await request(dev.service.app).post('/api/dev/token').send({ sub: 'alice', role: 'customer' });
    expect(customer.body).toMatchObject({ sub: 'alice', role: 'customer' });
    const forbidden = await request(dev.service.app).get('/api/orders?customerId=bob').set('Authorization', `Bearer ${customer.body.token}`);
    expect(forbidden.status).toBe(403);
    const bad = await request(dev.service.app).post('/api/dev/token').send({ role: 'root' });
    expect(bad.status).toBe(400);
    expect(bad.body.code).toBe('REQUEST.INVALID');
  });

  it('without DEV_TOKENS the path answers 404 like any unknown route', async () => {
    const res = await request(prod.service.app).post('/api/dev/token');
    expect(res.status).toBe(404);
    expect(res.body.code).toBe('ROUTE.NOT_FOUND');
  });

  it('DEV_TOKENS is refused where NODE_ENV=production and without JWT_SECRET, naming the variable', () => {
    const env = serviceEnv({ DATABASE_URL: 'postgresql://x@127.0.0.1/x', DEV_TOKENS: '1' });
    expect(() => parseConfig(orderConfigSchema(0), { ...env, NODE_ENV: 'production', JWT_SECRET: 'a'.repeat(40) })).toThrow(/DEV_TOKENS: mints tokens for anyone/);
    const { JWT_SECRET: _secret, ...noSecret } = env;
    expect(() => parseConfig(orderConfigSchema(0), { ...noSecret, JWT_JWKS_URL: 'https://idp.example/jwks' })).toThrow(/DEV_TOKENS: signs with JWT_SECRET/);
    expect(() => parseConfig(orderConfigSchema(0), { ...env, DEV_TOKENS: 'yes' })).toThrow(/DEV_TOKENS/);
  });
});
