import { tcpProxy, type TcpProxy } from '@orderflow/testkit';
import { Harness } from './harness';
import { AMQP_URL, waitFor } from './support';

/**
 * Failing over between broker nodes, without a cluster: three TCP proxies in front of the
 * machine's broker stand for three nodes, and stopping one is the loss of that node for this
 * client only. (The real thing, quorum queues and all: cluster.int.test.ts.)
 */
describe('messaging with several broker URLs', () => {
  const target = new URL(AMQP_URL);
  const urlOf = (proxy: TcpProxy): string => {
    const u = new URL(AMQP_URL);
    u.hostname = '127.0.0.1';
    u.port = String(proxy.port);
    return u.toString();
  };
  let proxies: TcpProxy[] = [];

  beforeEach(async () => {
    proxies = await Promise.all([1, 2, 3].map(() => tcpProxy({ host: target.hostname, port: Number(target.port || 5672) })));
  });
  afterEach(async () => {
    await Promise.all(proxies.map((p) => p.close()));
  });

  it('when its node is lost mid-stream, it reconnects to another, re-declares, resumes and handles every message once', async () => {
    const h = await Harness.create({ amqpUrl: proxies.map(urlOf), relayPollIntervalMs: 500 });
    try {
      await h.messaging.start(h.subscriptions());
      const first = h.messaging.broker.node;
      const lost = proxies.find((p) => first === `127.0.0.1:${p.port}`)!;
      expect(lost).toBeDefined();

      const keys: string[] = [];
      for (let round = 0; round < 20; round++) {
        if (round === 6) await lost.stop();
        const batch = Array.from({ length: 50 }, (_, i) => `failover-${round}-${i}`);
        keys.push(...batch);
        await h.request(...batch);
      }
      await waitFor(async () => (await h.ledger()).length >= keys.length, 'every message handled', 30_000);
      expect((await h.ledger()).map((r) => r.key).sort()).toEqual([...keys].sort());
      await waitFor(() => h.messaging.isReady(), 'ready on another node');
      expect(h.messaging.broker.node).not.toBe(first);
      expect(h.messaging.broker.node).toMatch(/^127\.0\.0\.1:\d+$/);
    } finally {
      await h.close();
    }
  });

  it('when every node is away it is not ready, and it connects to the first that comes back', async () => {
    const h = await Harness.create({ amqpUrl: proxies.map(urlOf) });
    try {
      await h.messaging.start(h.subscriptions());
      await Promise.all(proxies.map((p) => p.stop()));
      await waitFor(() => !h.messaging.isReady(), 'not ready');
      await h.request('while-away');
      const back = proxies[1]!;
      await back.start();
      await waitFor(() => h.messaging.isReady(), 'ready again', 20_000);
      expect(h.messaging.broker.node).toBe(`127.0.0.1:${back.port}`);
      await waitFor(async () => (await h.ledger('while-away')).length === 1, 'the event published while away handled');
    } finally {
      await h.close();
    }
  });
});
