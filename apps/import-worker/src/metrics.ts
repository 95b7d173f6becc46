import { Counter, type Registry } from 'prom-client';
import { metricSet } from '@orderflow/service';
import type { RowCounts } from './csv/orders';

/**
 * `orderflow_import_rows_total{outcome}`: the rows of the uploads that ended, accepted (in an
 * order of a chunk) or rejected, counted once the upload's end committed — accepted (PROCESSING),
 * failed, or failed by the sweeper after its worker stopped — with the counts that commit
 * records: exactly the rows `GET /api/imports/:id` reports.
 */
export function importRows(registry: Registry | undefined): (rows: Pick<RowCounts, 'accepted' | 'rejected'>) => void {
  const counter = metricSet(registry, 'import-rows', (r) => {
    const made = new Counter({ name: 'orderflow_import_rows_total', help: 'Rows of the uploads that ended, by outcome (accepted, rejected)', labelNames: ['outcome'], registers: r ? [r] : [] });
    // Series present from the start, so a rate over them is 0 rather than absent.
    made.inc({ outcome: 'accepted' }, 0);
    made.inc({ outcome: 'rejected' }, 0);
    return made;
  });
  return (rows) => {
    counter.inc({ outcome: 'accepted' }, rows.accepted);
    counter.inc({ outcome: 'rejected' }, rows.rejected);
  };
}
