import { bearer, waitFor } from '@orderflow/testkit';
import { systemUnderTest } from './system-under-test';

/** The sum of the samples of `name` whose labels include `labels`, in Prometheus text. */
function sum(text: string, name: string, labels: Record<string, string> = {}): number {
  return samples(text, name)
    .filter((s) => Object.entries(labels).every(([k, v]) => s.labels[k] === v))
    .reduce((n, s) => n + s.value, 0);
}
function samples(text: string, name: string): Array<{ labels: Record<string, string>; value: number }> {
  const found: Array<{ labels: Record<string, string>; value: number }> = [];
  for (const line of text.split('\n')) {
    const m = /^([a-zA-Z_:][\w:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
    if (m?.[1] === name) found.push({ labels: Object.fromEntries([...(m[2] ?? '').matchAll(/(\w+)="([^"]*)"/g)].map((l) => [l[1]!, l[2]!])), value: Number(m[3]) });
  }
  return found;
}

/** Non-zero values by the labels named, e.g. `{ 'CONFIRMED/none': 3 }`. */
function byLabels(text: string, name: string, keys: string[]): Record<string, number> {
  const totals: Record<string, number> = {};
  for (const s of samples(text, name)) {
    const key = keys.map((k) => s.labels[k]).join('/');
    totals[key] = (totals[key] ?? 0) + s.value;
  }
  return Object.fromEntries(Object.entries(totals).filter(([, n]) => n !== 0).sort(([a], [b]) => (a < b ? -1 : 1)));
}

/**
 * The business metrics of every process and GET /api/admin/metrics, on a fresh system started as
 * `npm start` starts it: one order of each outcome and an import with a rejected row give
 * exactly these counts (a fresh system, so every count is absolute).
 */
describe('business metrics and the admin summary, end to end', () => {
  const sut = systemUnderTest('e2e_metrics');
  const admin = bearer('ops', 'admin');

  async function call(method: string, path: string, o: { as?: string; body?: unknown; type?: string } = {}) {
    const res = await fetch(`${sut.gateway}${path}`, {
      method,
      headers: { ...(o.as ? { Authorization: o.as } : {}), ...(o.body !== undefined ? { 'Content-Type': o.type ?? 'application/json' } : {}) },
      body: o.body === undefined ? undefined : o.type ? (o.body as string) : JSON.stringify(o.body),
    });
    const text = await res.text();
    let body: any = text;
    try {
      body = JSON.parse(text);
    } catch {
      // not JSON
    }
    return { status: res.status, body };
  }
  const order = async (customer: string, productId: string, quantity: number, paymentMethod = 'pm_card_ok'): Promise<string> => {
    const res = await call('POST', '/api/orders', { as: bearer(customer), body: { items: [{ productId, quantity, unitPrice: 10 }], paymentMethod } });
    expect(res.status).toBe(202);
    return res.body.orderId as string;
  };
  const ended = (id: string, status: string) =>
    waitFor(async () => (await call('GET', `/api/orders/${id}`, { as: admin })).body.status === status, `order ${id} ${status}`, 30_000);
  /** Every process's /metrics (the payment gateway simulator is not ours), concatenated: what Prometheus sums. */
  const scrape = async (): Promise<Array<{ app: string; text: string }>> =>
    Promise.all(sut.system.services.filter((s) => s.app !== 'payment-gateway').map(async (s) => ({ app: s.app, text: await (await fetch(`${s.url}/metrics`)).text() })));

  it('one order of each outcome and an import with a rejected row: each process counts exactly, /api/admin/metrics agrees, a customer is refused', async () => {
    for (const [id, available] of [['MET-P', 100], ['MET-LOW', 1]] as const) {
      expect((await call('PUT', `/api/inventory/${id}`, { as: admin, body: { name: id, price: 10, available } })).status).toBe(201);
    }
    const confirmed = await order('m-ok', 'MET-P', 1);
    const noStock = await order('m-stock', 'MET-LOW', 5);
    const declined = await order('m-declined', 'MET-P', 1, 'pm_card_declined');
    const regretted = await order('m-cancel', 'MET-P', 1);
    await Promise.all([ended(confirmed, 'CONFIRMED'), ended(noStock, 'REJECTED'), ended(declined, 'CANCELLED'), ended(regretted, 'CONFIRMED')]);
    expect((await call('POST', `/api/orders/${regretted}/cancel`, { as: bearer('m-cancel') })).status).toBe(202);
    expect((await call('PUT', '/api/customers/m-blocked', { as: admin, body: { status: 'BLOCKED' } })).status).toBe(200);
    const blocked = await order('m-blocked', 'MET-P', 1);
    await ended(blocked, 'REJECTED');
    // The refund of the cancelled order is the last payment: wait for it.
    await waitFor(async () => (await call('GET', `/api/payments?orderId=${regretted}`, { as: admin })).body.items?.some((p: { type: string }) => p.type === 'REFUND'), 'the refund');

    const csv = ['orderRef,customerId,productId,quantity,unitPrice,paymentMethod', 'met-1,m-import,MET-P,1,10.00,pm_card_ok', 'met-2,m-import,MET-P,x,10.00,pm_card_ok'].join('\n');
    const imported = await call('POST', '/api/imports', { as: admin, body: csv, type: 'text/csv' });
    expect(imported).toMatchObject({ status: 202, body: { rows: { read: 2, accepted: 1, rejected: 1 } } });
    await waitFor(async () => (await call('GET', `/api/imports/${imported.body.importId}`, { as: admin })).body.state === 'COMPLETED', 'the import completed', 60_000);

    // Counters move once each commit is done and queue figures are cached a few seconds: wait for the whole picture.
    const expected = {
      placed: { api: 5, import: 1 },
      finished: { 'CANCELLED/CUSTOMER_CANCELLED': 1, 'CANCELLED/PAYMENT_FAILED': 1, 'CONFIRMED/none': 3, 'REJECTED/CUSTOMER_BLOCKED': 1, 'REJECTED/INSUFFICIENT_STOCK': 1 },
      // The customer's cancel after confirmation is not the end of a saga; the imported order waits behind its file.
      sagas: { CANCELLED: 1, CONFIRMED: 2, REJECTED: 2 },
      importOrders: { CONFIRMED: 1 },
      importRows: { accepted: 1, rejected: 1 },
      payments: { 'charge/failed': 1, 'charge/succeeded': 3, 'refund/succeeded': 1 },
      amounts: { 'charge/failed': 10, 'charge/succeeded': 30, 'refund/succeeded': 10 },
      queues: 'every queue consumed by one process, empty; every dead-letter queue empty, unconsumed',
    };
    let actual: unknown;
    const picture = async () => {
      const scraped = await scrape();
      const all = scraped.map((s) => s.text).join('\n');
      const queueProblems = scraped.flatMap(({ app, text }) => {
        const consumers = samples(text, 'orderflow_queue_consumers');
        const messages = samples(text, 'orderflow_queue_messages');
        const dlq = consumers.filter((c) => c.labels.queue!.endsWith('.dead-letter'));
        return [
          ...(dlq.length === 1 ? [] : [`${app}: ${dlq.length} dead-letter queues`]),
          ...(app === 'import-worker' || consumers.length >= 2 ? [] : [`${app}: consumes no queue`]),
          ...consumers.filter((c) => c.value !== (c.labels.queue!.endsWith('.dead-letter') ? 0 : 1)).map((c) => `${app}: ${c.labels.queue} has ${c.value} consumers`),
          ...messages.filter((m) => m.value !== 0).map((m) => `${app}: ${m.labels.queue} holds ${m.value}`),
        ];
      });
      return {
        placed: { api: sum(all, 'orderflow_orders_placed_total', { source: 'api' }), import: sum(all, 'orderflow_orders_placed_total', { source: 'import' }) },
        finished: byLabels(all, 'orderflow_orders_finished_total', ['status', 'reason']),
        sagas: byLabels(all, 'orderflow_saga_duration_seconds_count', ['status']),
        importOrders: byLabels(all, 'orderflow_import_orders_total', ['outcome']),
        importRows: { accepted: sum(all, 'orderflow_import_rows_total', { outcome: 'accepted' }), rejected: sum(all, 'orderflow_import_rows_total', { outcome: 'rejected' }) },
        payments: byLabels(all, 'orderflow_payments_total', ['kind', 'outcome']),
        amounts: byLabels(all, 'orderflow_payments_amount_total', ['kind', 'outcome']),
        queues: queueProblems.length === 0 ? expected.queues : queueProblems,
      };
    };
    await waitFor(async () => {
      actual = await picture();
      return JSON.stringify(actual) === JSON.stringify(expected);
    }, 'the metrics', 30_000).catch(() => undefined);
    expect(actual).toEqual(expected);

    const summary = await call('GET', '/api/admin/metrics', { as: admin });
    expect(summary.status).toBe(200);
    const window = { placed: { api: 5, import: 1 }, finished: { CONFIRMED: 3, REJECTED: 2, CANCELLED: 2 } };
    expect(summary.body).toMatchObject({
      orders: { total: 6, byStatus: { PENDING: 0, STOCK_RESERVED: 0, CONFIRMED: 2, REJECTED: 2, CANCELLED: 2 } },
      // The test takes less than five minutes: everything is in both windows.
      throughput: { '5m': window, '15m': window },
      saga: { windowMinutes: 15, orders: 5 },
      deadLetters: { order: 0, inventory: 0, payment: 0, notification: 0, 'import-worker': 0 },
    });
    const { p50, p95, p99 } = summary.body.saga;
    expect(0 <= p50 && p50 <= p95 && p95 <= p99).toBe(true);
    for (const outcome of ['CONFIRMED', 'REJECTED', 'CANCELLED']) expect(summary.body.throughput['1m'].finished[outcome]).toBeLessThanOrEqual(window.finished[outcome as 'CONFIRMED']);

    expect((await call('GET', '/api/admin/metrics', { as: bearer('m-ok') })).body).toMatchObject({ status: 403, code: 'AUTH.FORBIDDEN' });
    expect((await call('GET', '/api/admin/metrics')).status).toBe(401);
  }, 240_000);
});
