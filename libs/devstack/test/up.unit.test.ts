import { isConsuming } from '../src';

describe('when the system counts a process as up (start-up, restarts)', () => {
  const since = '2026-01-01T00:00:00.000Z';
  const consumer = (active: boolean) => ({ active, state: active ? 'active' : 'disconnected', since });

  it('a ready process connected to the broker with every consumer consuming is up', () => {
    expect(isConsuming({ status: 'ready', broker: { connected: true, since }, consumers: { 'order.saga': consumer(true), 'order.bulk': consumer(true) } })).toBe(true);
    // The import worker consumes nothing: connected is enough.
    expect(isConsuming({ status: 'ready', broker: { connected: true, since }, consumers: {} })).toBe(true);
  });

  it('a ready process whose broker is away, or one of whose consumers is not consuming, is not up yet', () => {
    expect(isConsuming({ status: 'ready', broker: { connected: false, since }, consumers: { 'order.saga': consumer(false) } })).toBe(false);
    expect(isConsuming({ status: 'ready', broker: { connected: true, since }, consumers: { 'order.saga': consumer(true), 'order.bulk': consumer(false) } })).toBe(false);
    // An answer without the detail (an older process) says nothing about the broker.
    expect(isConsuming({ status: 'ready', checks: { database: true } })).toBe(false);
    expect(isConsuming(null)).toBe(false);
  });
});
