/**
 * `npm start` runs every service as its own broker user: created (or updated) from the broker
 * definitions before the services start, through the management API or, when it is off,
 * rabbitmqctl. Here with prefixed users on the real broker, deleted afterwards.
 */
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import amqplib from 'amqplib';
import { AMQP_URL, uniqueName } from '@orderflow/testkit';
import { ensureServiceUsers, managementApi, rabbitmqctl, serviceUsers, type BrokerUser } from '../src/broker-users';

const run = promisify(execFile);

describe('the services\' broker users (npm start)', () => {
  it('are every service of the broker definitions, each with its own permissions', () => {
    const users = serviceUsers();
    expect(users.map((u) => u.name)).toEqual(expect.arrayContaining(['order-service', 'inventory-service', 'payment-service', 'notification-service', 'import-worker']));
    for (const u of users) {
      expect(u.vhost).toBe('/');
      expect(u.permissions.write).not.toMatch(/amq\.default|\.\*/);
    }
  });

  it('are created with a fresh password and their permissions, falling back to rabbitmqctl when the management API is off, and can connect', async () => {
    const prefix = uniqueName('users');
    const queue = `${prefix}.own`;
    const users: BrokerUser[] = [{ name: `${prefix}-svc`, vhost: '/', permissions: { configure: `^${prefix}\\.own$`, write: `^${prefix}\\.own$`, read: `^${prefix}\\.own$` } }];
    // A management API nobody listens on: the first way fails, the second one works.
    const admins = [managementApi(AMQP_URL, 'http://127.0.0.1:1'), rabbitmqctl()];
    try {
      const urls = await ensureServiceUsers({ adminAmqpUrl: AMQP_URL, admins, users });
      const url = new URL(urls[`${prefix}-svc`]!);
      expect(decodeURIComponent(url.username)).toBe(`${prefix}-svc`);
      expect(url.host).toBe(new URL(AMQP_URL).host);
      const conn = await amqplib.connect(url.toString());
      const ch = await conn.createChannel();
      // Exclusive: gone with the connection.
      await ch.assertQueue(queue, { durable: false, exclusive: true });
      await conn.close();

      const { stdout } = await run('rabbitmqctl', ['-q', 'list_user_permissions', `${prefix}-svc`, '--no-table-headers']);
      expect(stdout.trim().split('\t')).toEqual(['/', `^${prefix}\\.own$`, `^${prefix}\\.own$`, `^${prefix}\\.own$`]);

      // Again (every start): the password changes, the old one no longer works.
      const again = await ensureServiceUsers({ adminAmqpUrl: AMQP_URL, admins: [rabbitmqctl()], users });
      expect(again[`${prefix}-svc`]).not.toBe(urls[`${prefix}-svc`]);
      await expect(amqplib.connect(url.toString())).rejects.toThrow(/ACCESS_REFUSED|403/);
    } finally {
      await rabbitmqctl().deleteUser(`${prefix}-svc`);
    }
  });
});
