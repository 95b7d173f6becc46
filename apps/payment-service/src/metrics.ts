import { Counter, type Registry } from 'prom-client';
import type { SqlClient, TransactionRunner } from '@orderflow/db';
import { metricSet, TransactionScope, type Report } from '@orderflow/service';

// The payment service's business metrics (docs/operations.md, "Metrics and alerts"): charges and
// refunds, counted once the transaction that records them commits — a batch rolled back and
// retried (a flaky card, the gateway away) counts nothing until it commits, and a redelivered
// event the inbox recognises counts nothing again.

export type PaymentKind = 'charge' | 'refund';
/** `failed`: a charge the card network declined, or the gateway voided (the order was cancelled meanwhile). */
export type PaymentOutcome = 'succeeded' | 'failed';

const KINDS: readonly PaymentKind[] = ['charge', 'refund'];
const OUTCOMES: readonly PaymentOutcome[] = ['succeeded', 'failed'];
const slot = (kind: PaymentKind, outcome: PaymentOutcome): number => KINDS.indexOf(kind) * OUTCOMES.length + OUTCOMES.indexOf(outcome);

/** What one transaction recorded: per kind × outcome, how many and their amount in cents (no drift while summing). */
class Tally {
  readonly count = [0, 0, 0, 0];
  readonly cents = [0, 0, 0, 0];
}

/** `orderflow_payments_total` and `orderflow_payments_amount_total`, by kind and outcome. */
export class PaymentMetrics {
  private readonly payments: Counter<'kind' | 'outcome'>;
  private readonly amounts: Counter<'kind' | 'outcome'>;

  constructor(registry: Registry | undefined) {
    const registers = registry ? [registry] : [];
    this.payments = new Counter({ name: 'orderflow_payments_total', help: 'Charges and refunds, by kind and outcome', labelNames: ['kind', 'outcome'], registers });
    this.amounts = new Counter({ name: 'orderflow_payments_amount_total', help: 'Amounts of the charges and refunds, by kind and outcome', labelNames: ['kind', 'outcome'], registers });
    // Series present from the start, so a rate over them is 0 rather than absent.
    for (const kind of KINDS) {
      for (const outcome of OUTCOMES) {
        this.payments.inc({ kind, outcome }, 0);
        this.amounts.inc({ kind, outcome }, 0);
      }
    }
  }

  commit(t: Tally): void {
    for (const kind of KINDS) {
      for (const outcome of OUTCOMES) {
        const i = slot(kind, outcome);
        if (t.count[i] === 0) continue;
        this.payments.inc({ kind, outcome }, t.count[i]);
        this.amounts.inc({ kind, outcome }, t.cents[i]! / 100);
      }
    }
  }
}

const scope = new TransactionScope<Tally>();

/** `run`, whose transactions' payments (`countPayment`) go to the metrics on `registry` (one set per registry) once each commits. */
export function countingTransactions<Tx extends SqlClient>(run: TransactionRunner<Tx>, registry: Registry | undefined, report?: Report): TransactionRunner<Tx> {
  const metrics = metricSet(registry, 'payment', (r) => new PaymentMetrics(r));
  return scope.wrap(
    run,
    () => new Tally(),
    (t) => metrics.commit(t),
    report,
  );
}

/** A charge or refund recorded in `tx`, counted when it commits. */
export function countPayment(tx: SqlClient, kind: PaymentKind, outcome: PaymentOutcome, amount: number): void {
  const t = scope.of(tx);
  if (!t) return;
  const i = slot(kind, outcome);
  t.count[i]! += 1;
  t.cents[i]! += Math.round(amount * 100);
}
