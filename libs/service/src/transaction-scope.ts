import type { SqlClient, TransactionRunner } from '@orderflow/db';

/** Where a failure nobody can act on is told (the service's logger). */
export type Report = (message: string, meta: Record<string, unknown>) => void;

/**
 * A value that lives as long as one transaction and is handed over only once that transaction
 * committed: what a service counts of its changes (business metrics) then moves exactly when the
 * change took effect. A transaction that rolls back — a batch re-run message by message, a
 * handler retried later — hands over nothing, and a redelivered event that the inbox recognises
 * never reaches the code that counts, so nothing is counted twice.
 *
 * The code that counts finds its transaction's value with `of(tx)`, from the transaction it is
 * given: no parameter to thread through every caller.
 */
export class TransactionScope<T> {
  private readonly open = new WeakMap<SqlClient, T>();

  /**
   * `run`, with a fresh value (`create`) for each transaction, given to `commit` once the
   * transaction committed. The change is done by then: a throw of `commit` must not turn it into
   * a failure (an HTTP 500 for a cancel that happened, a batch nacked and redelivered as a
   * duplicate), so it is caught and `report`ed — the first one only, not one line per transaction.
   */
  wrap<Tx extends SqlClient>(run: TransactionRunner<Tx>, create: () => T, commit: (value: T) => void, report: Report = () => undefined): TransactionRunner<Tx> {
    let reported = false;
    return async <R>(fn: (tx: Tx) => Promise<R>): Promise<R> => {
      let value: T | undefined;
      const result = await run((tx) => {
        value = create();
        this.open.set(tx, value);
        return fn(tx);
      });
      if (value !== undefined) {
        try {
          commit(value);
        } catch (err) {
          if (!reported) {
            reported = true;
            report('counting a committed transaction failed; the work is committed, what it counted is lost (reported once)', { err: (err as Error).message });
          }
        }
      }
      return result;
    };
  }

  /** The value of the transaction `tx`; undefined when `tx` is not a transaction of a wrapped runner (nothing is counted). */
  of(tx: SqlClient): T | undefined {
    return this.open.get(tx);
  }
}
