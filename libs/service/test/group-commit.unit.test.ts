import { groupCommit } from '../src';

const tick = (): Promise<void> => new Promise((r) => setImmediate(r));

describe('groupCommit', () => {
  it('writes a lone request at once, alone', async () => {
    const groups: number[][] = [];
    const write = groupCommit(async (items: number[]) => {
      groups.push(items);
      return items.map((n) => n * 2);
    });
    expect(await write(21)).toBe(42);
    expect(groups).toEqual([[21]]);
  });

  it('when requests arrive while writes are in flight, they wait and go together, each getting its own result', async () => {
    const groups: number[][] = [];
    const release: Array<() => void> = [];
    const write = groupCommit(
      async (items: number[]) => {
        groups.push(items);
        await new Promise<void>((r) => release.push(r));
        return items.map((n) => `r${n}`);
      },
      { maxInFlight: 1, maxGroup: 3 },
    );
    const results = [1, 2, 3, 4, 5, 6].map((n) => write(n));
    await tick();
    expect(groups).toEqual([[1]]);
    release.shift()!();
    await tick();
    expect(groups).toEqual([[1], [2, 3, 4]]);
    release.shift()!();
    await tick();
    release.shift()!();
    expect(await Promise.all(results)).toEqual(['r1', 'r2', 'r3', 'r4', 'r5', 'r6']);
    expect(groups).toEqual([[1], [2, 3, 4], [5, 6]]);
  });

  it('when a group fails, each item is written alone: only the bad one fails', async () => {
    const write = groupCommit(
      async (items: number[]) => {
        if (items.includes(13)) throw new Error(`unlucky ${items.join(',')}`);
        await tick();
        return items;
      },
      { maxInFlight: 1 },
    );
    const first = write(0);
    const outcomes = await Promise.allSettled([first, ...[12, 13, 14].map((n) => write(n))]);
    expect(outcomes.map((o) => (o.status === 'fulfilled' ? o.value : (o.reason as Error).message))).toEqual([0, 12, 'unlucky 13', 14]);
  });

  it('with a linger, requests that arrive close together while nothing is in flight are written as one group', async () => {
    const groups: number[][] = [];
    const write = groupCommit(
      async (items: number[]) => {
        groups.push(items);
        return items;
      },
      { maxInFlight: 1, lingerMs: 30 },
    );
    const first = write(1);
    await new Promise((r) => setTimeout(r, 5));
    const second = write(2);
    expect(await Promise.all([first, second])).toEqual([1, 2]);
    expect(groups).toEqual([[1, 2]]);
  });

  it('with a linger, requests that arrived while a write was in flight are written as soon as it ends', async () => {
    const groups: number[][] = [];
    let release: () => void = () => undefined;
    const write = groupCommit(
      async (items: number[]) => {
        groups.push(items);
        if (items[0] === 1) await new Promise<void>((r) => (release = r));
        return items;
      },
      { maxInFlight: 1, lingerMs: 1_000 },
    );
    const started = Date.now();
    const first = write(1);
    await new Promise((r) => setTimeout(r, 1_050));
    const more = [write(2), write(3)];
    release();
    expect(await Promise.all([first, ...more])).toEqual([1, 2, 3]);
    expect(groups).toEqual([[1], [2, 3]]);
    // One linger (the first request's), not a second one for the requests that waited.
    expect(Date.now() - started).toBeLessThan(1_900);
  });
});
