import { Registry } from 'prom-client';
import type { SqlClient } from '@orderflow/db';
import { countingTransactions, countPayment } from '../src/metrics';

/** A transaction runner without a database: each call is one transaction that commits. */
const committing = async <T>(fn: (tx: SqlClient) => Promise<T>): Promise<T> => fn({} as SqlClient);

describe('the payment metrics of one registry', () => {
  it('two runners on the same registry (a second database of the same process) share one set of counters instead of failing to register it again', async () => {
    const registry = new Registry();
    const first = countingTransactions(committing, registry);
    const second = countingTransactions(committing, registry);
    await first(async (tx) => countPayment(tx, 'charge', 'succeeded', 10.1));
    await second(async (tx) => countPayment(tx, 'charge', 'succeeded', 5.2));
    const text = await registry.metrics();
    expect(text).toContain('orderflow_payments_total{kind="charge",outcome="succeeded"} 2');
    expect(text).toContain('orderflow_payments_amount_total{kind="charge",outcome="succeeded"} 15.3');
  });
});
