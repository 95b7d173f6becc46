import { FRESH_MS, servedFresh, STALE_MS } from '../src/admin/system-api';

/** A reader whose readings the test resolves one by one, and a clock it moves. */
function harness() {
  let t = 0;
  const readings: Array<(value: number) => void> = [];
  const failures: Array<(err: Error) => void> = [];
  const read = () =>
    new Promise<number>((resolve, reject) => {
      readings.push(resolve);
      failures.push(reject);
    });
  const served = servedFresh(read, () => t);
  const settle = () => new Promise((r) => setImmediate(r));
  return { served, readings, failures, settle, advance: (ms: number) => (t += ms) };
}

describe('the System endpoint\'s cache: fresh answers at once, recent ones while a new reading is made', () => {
  it('the first request waits for a reading; requests meanwhile share it', async () => {
    const h = harness();
    const a = h.served();
    const b = h.served();
    expect(h.readings).toHaveLength(1);
    h.readings[0]!(1);
    expect([await a, await b]).toEqual([1, 1]);
  });

  it('a fresh reading is served without reading again', async () => {
    const h = harness();
    const first = h.served();
    h.readings[0]!(1);
    await first;
    h.advance(FRESH_MS - 1);
    expect(await h.served()).toBe(1);
    expect(h.readings).toHaveLength(1);
  });

  it('an older one is served at once while one new reading is made, which the next request gets', async () => {
    const h = harness();
    const first = h.served();
    h.readings[0]!(1);
    await first;
    h.advance(FRESH_MS);
    expect(await h.served()).toBe(1);
    expect(await h.served()).toBe(1);
    expect(h.readings).toHaveLength(2);
    h.readings[1]!(2);
    await h.settle();
    expect(await h.served()).toBe(2);
  });

  it('one too old is not served: the request waits for a new reading', async () => {
    const h = harness();
    const first = h.served();
    h.readings[0]!(1);
    await first;
    h.advance(STALE_MS);
    const next = h.served();
    h.readings[1]!(2);
    expect(await next).toBe(2);
  });

  it('a failed reading is not kept: the request fails, the next one reads again', async () => {
    const h = harness();
    const first = h.served();
    h.failures[0]!(new Error('database away'));
    await expect(first).rejects.toThrow('database away');
    const second = h.served();
    expect(h.readings).toHaveLength(2);
    h.readings[1]!(3);
    expect(await second).toBe(3);
  });
});
