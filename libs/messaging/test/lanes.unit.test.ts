import { BULK_LANE, on, selectLanes, type Subscriptions } from '../src';
import { workRequested } from './support';

describe('lanes: which queues a process consumes (LANES)', () => {
  const handler = on(workRequested, async () => undefined);
  const subscriptions: Subscriptions<never> = {
    saga: [handler],
    'import-status': { handlers: [handler], prefetch: 50 },
    import: { handlers: [handler], ...BULK_LANE },
    bulk: { handlers: [handler], ...BULK_LANE },
  };

  it('a process running every lane consumes every queue', () => {
    expect(Object.keys(selectLanes(subscriptions, 'all'))).toEqual(['saga', 'import-status', 'import', 'bulk']);
  });

  it('the interactive process consumes the queues not marked bulk (plain handler lists included)', () => {
    expect(Object.keys(selectLanes(subscriptions, 'interactive'))).toEqual(['saga', 'import-status']);
  });

  it('the bulk process consumes only the queues whose settings are BULK_LANE', () => {
    const bulk = selectLanes(subscriptions, 'bulk');
    expect(Object.keys(bulk)).toEqual(['import', 'bulk']);
    expect(bulk.import).toBe(subscriptions.import);
  });
});
