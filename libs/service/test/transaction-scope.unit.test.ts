import type { SqlClient } from '@orderflow/db';
import { TransactionScope } from '../src';

/** A transaction runner without a database: each call is one transaction that commits. */
const committing = async <T>(fn: (tx: SqlClient) => Promise<T>): Promise<T> => fn({} as SqlClient);

describe('values handed over once their transaction committed', () => {
  it('a throw while handing over a committed value does not fail the committed work: the caller gets its result, and the failure is reported once', async () => {
    const scope = new TransactionScope<{ n: number }>();
    const reported: Array<[string, Record<string, unknown>]> = [];
    const run = scope.wrap(
      committing,
      () => ({ n: 0 }),
      () => {
        throw new Error('label set too large');
      },
      (message, meta) => reported.push([message, meta]),
    );
    await expect(run(async (tx) => (scope.of(tx)!.n++, 'first'))).resolves.toBe('first');
    await expect(run(async () => 'second')).resolves.toBe('second');
    expect(reported).toEqual([[expect.stringContaining('committed'), { err: 'label set too large' }]]);
  });

  it('a transaction that fails hands nothing over, and its error reaches the caller', async () => {
    const scope = new TransactionScope<{ n: number }>();
    const handed: number[] = [];
    const run = scope.wrap(committing, () => ({ n: 0 }), (v) => handed.push(v.n));
    await expect(run(async (tx) => ((scope.of(tx)!.n = 1), Promise.reject(new Error('deadlock'))))).rejects.toThrow('deadlock');
    await run(async (tx) => (scope.of(tx)!.n = 2));
    expect(handed).toEqual([2]);
  });
});
