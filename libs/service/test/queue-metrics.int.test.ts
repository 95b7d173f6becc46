import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import amqplib from 'amqplib';
import { createLogger } from '@orderflow/logging';
import { Broker } from '@orderflow/messaging';
import { AMQP_URL, tcpProxy, uniqueName, waitFor, type TcpProxy } from '@orderflow/testkit';
import { cachedFor, checkQueues, QUEUE_READ_TIMEOUT_MS } from '../src';

const run = promisify(execFile);

describe('reading queues by passive declare (real RabbitMQ)', () => {
  const prefix = uniqueName('qm');
  const user = `${prefix}-svc`;
  const [busy, consumed, missing] = [`${prefix}.busy`, `${prefix}.consumed`, `${prefix}.missing`];
  let admin: amqplib.ChannelModel;
  let broker: Broker;

  beforeAll(async () => {
    admin = await amqplib.connect(AMQP_URL);
    const ch = await admin.createConfirmChannel();
    for (const q of [busy, consumed]) await ch.assertQueue(q, { durable: true, arguments: { 'x-queue-type': 'quorum' } });
    for (let i = 0; i < 3; i++) ch.sendToQueue(busy, Buffer.from('x'), { persistent: true });
    await ch.waitForConfirms();
    await ch.consume(consumed, () => undefined);
    // A user like a service's: permissions on a queue of its own only, none on these.
    await run('rabbitmqctl', ['-q', 'add_user', user, 'secret-password']);
    await run('rabbitmqctl', ['-q', 'set_permissions', '-p', '/', user, `^${prefix}\\.own$`, `^${prefix}\\.own$`, `^${prefix}\\.own$`]);
    const url = new URL(AMQP_URL);
    url.username = user;
    url.password = 'secret-password';
    broker = new Broker({ url: url.toString(), connectionName: user, logger: createLogger({ service: 'test', level: 'error' }) });
    await broker.connect();
  });
  afterAll(async () => {
    await broker?.close();
    const ch = await admin.createChannel();
    for (const q of [busy, consumed]) await ch.deleteQueue(q);
    await admin.close();
    await run('rabbitmqctl', ['-q', 'delete_user', user]).catch(() => undefined);
  });

  it("a service's user without any permission on them reads each queue's ready messages and consumers; a queue the broker lacks is null, and the queues after it are still read", async () => {
    const stats = await checkQueues(broker, [busy, missing, consumed]);
    expect([...stats]).toEqual([
      [busy, { messages: 3, consumers: 0 }],
      [missing, null],
      [consumed, { messages: 0, consumers: 1 }],
    ]);
  });

  describe('with a broker that stops answering (its connection held by a proxy)', () => {
    let proxy: TcpProxy;
    let held: Broker;
    beforeAll(async () => {
      const target = new URL(AMQP_URL);
      proxy = await tcpProxy({ host: target.hostname, port: Number(target.port || 5672) });
      const through = new URL(AMQP_URL);
      through.hostname = '127.0.0.1';
      through.port = String(proxy.port);
      held = new Broker({ url: through.toString(), connectionName: `${prefix}-held`, logger: createLogger({ service: 'test', level: 'error' }) });
      await held.connect();
    });
    afterEach(() => proxy.resume());
    afterAll(async () => {
      await held?.close();
      await proxy?.close();
    });

    it('a reading gives up within its bound, and one asked while an earlier one still hangs gives up at once', async () => {
      proxy.pause();
      const started = Date.now();
      await expect(checkQueues(held, [busy])).rejects.toMatchObject({ code: 'ETIMEDOUT' });
      expect(Date.now() - started).toBeLessThan(QUEUE_READ_TIMEOUT_MS + 1_000);
      const again = Date.now();
      await expect(checkQueues(held, [busy])).rejects.toMatchObject({ code: 'ETIMEDOUT' });
      expect(Date.now() - again).toBeLessThan(500);
      proxy.resume();
      await waitFor(async () => (await checkQueues(held, [busy]).catch(() => null))?.get(busy)?.messages === 3, 'a reading once the broker answers again');
    }, 15_000);
  });

  it('a cached reading is shared until it is older than its time, then read again', async () => {
    let now = 0;
    let reads = 0;
    const read = cachedFor(5_000, async () => ++reads, () => now);
    expect([await read(), await read()]).toEqual([1, 1]);
    now = 5_000;
    expect(await read()).toBe(2);
  });
});
