import { backoffDelay, NodeRotation, nodeAddress } from '../src/broker/nodes';

describe('choosing a broker node', () => {
  it('tries every node once before coming back to the first, in an order shuffled per process', () => {
    const urls = ['amqp://a:1', 'amqp://b:2', 'amqp://c:3'];
    const rotation = new NodeRotation(urls, () => 0);
    const round = [rotation.take(), rotation.take(), rotation.take()];
    expect([...round].sort()).toEqual(urls);
    expect(round).not.toEqual(urls);
    expect([rotation.take(), rotation.take(), rotation.take()]).toEqual(round);
  });

  it('with a single URL, always that one', () => {
    const rotation = new NodeRotation(['amqp://only:5672']);
    expect([rotation.take(), rotation.take()]).toEqual(['amqp://only:5672', 'amqp://only:5672']);
  });

  it('refuses an empty list', () => {
    expect(() => new NodeRotation([])).toThrow(/no broker URL/);
  });

  it('backs off exponentially between rounds of refusals, with jitter, up to the cap', () => {
    expect(backoffDelay(1, 100, 5_000, () => 0.5)).toBe(100);
    expect(backoffDelay(3, 100, 5_000, () => 0.5)).toBe(400);
    expect(backoffDelay(30, 100, 5_000, () => 1)).toBeLessThanOrEqual(5_000);
    expect(backoffDelay(2, 100, 5_000, () => 0)).toBe(160);
  });

  it('logs a node as host:port, never with its credentials', () => {
    expect(nodeAddress('amqp://user:secret@10.0.0.7:5681/vhost')).toBe('10.0.0.7:5681');
    expect(nodeAddress('amqps://user:secret@rabbit-2')).toBe('rabbit-2:5671');
    expect(nodeAddress('not a url')).toBe('(invalid URL)');
  });
});
