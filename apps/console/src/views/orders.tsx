import { useState } from 'preact/hooks';
import { getJson, query } from '../api';
import { formatMoney, formatTime, shortId } from '../format';
import { hashQuery, usePoll } from '../hooks';
import { ORDER_STATUSES, type Answer } from '../types';
import { Empty, Loading, Num, Page, Problem, StatusBadge, Table } from '../ui';

/** A `datetime-local` value (the operator's local time) as an ISO instant, or undefined. */
const instant = (local: string): string | undefined => (local ? new Date(local).toISOString() : undefined);

/**
 * Orders: search by customer, status and placement time, newest first, a page at a time
 * (`GET /api/orders`). The search lives in the URL, so a result can be linked and reloaded.
 */
export function Orders() {
  const initial = hashQuery();
  const [form, setForm] = useState({ customerId: initial.get('customerId') ?? '', status: initial.get('status') ?? '', since: initial.get('since') ?? '', until: initial.get('until') ?? '' });
  const [search, setSearch] = useState(form);
  const [cursors, setCursors] = useState<Array<string | undefined>>([undefined]);
  const cursor = cursors[cursors.length - 1];

  const page = usePoll(
    () =>
      getJson<Answer<'listOrders'>>(
        `/api/orders${query({ customerId: search.customerId.trim(), status: search.status, since: instant(search.since), until: instant(search.until), limit: 25, cursor })}`,
      ),
    5000,
    [search, cursor],
  );

  function submit(e: Event): void {
    e.preventDefault();
    setSearch(form);
    setCursors([undefined]);
    const q = new URLSearchParams(Object.entries(form).filter(([, v]) => v !== ''));
    history.replaceState(null, '', `#/orders${q.toString() ? `?${q}` : ''}`);
  }
  const field = (name: keyof typeof form) => ({
    id: `orders-${name}`,
    name,
    value: form[name],
    onInput: (e: Event) => setForm({ ...form, [name]: (e.target as HTMLInputElement).value }),
  });

  return (
    <Page title="Orders" lead="Every order with its status; open one to follow its saga live.">
      <form class="filters card" onSubmit={submit} role="search" aria-label="Search orders">
        <div class="field">
          <label for="orders-customerId">Customer</label>
          <input {...field('customerId')} type="search" placeholder="e.g. alice" autocomplete="off" />
        </div>
        <div class="field">
          <label for="orders-status">Status</label>
          <select {...field('status')}>
            <option value="">any</option>
            {ORDER_STATUSES.map((s) => (
              <option value={s}>{s}</option>
            ))}
          </select>
        </div>
        <div class="field">
          <label for="orders-since">Placed from</label>
          <input {...field('since')} type="datetime-local" step={1} />
        </div>
        <div class="field">
          <label for="orders-until">Placed before</label>
          <input {...field('until')} type="datetime-local" step={1} />
        </div>
        <button type="submit" class="primary">
          Search
        </button>
      </form>
      {page.error ? (
        <Problem error={page.error} retry={() => void page.reload()} />
      ) : page.loading && !page.data ? (
        <Loading what="orders" />
      ) : page.data && page.data.items.length === 0 ? (
        <Empty title="No orders match">
          <p>{cursor ? 'This page is empty: go back to the first page.' : 'Widen the search (clear the customer, status or time), or place an order through the API.'}</p>
        </Empty>
      ) : (
        <Table caption="Orders, newest first" columns={['Order', 'Customer', 'Status', { label: 'Total', right: true }, 'Placed']}>
          {page.data?.items.map((o) => (
            <tr key={o.orderId}>
              <td>
                <a href={`#/orders/${o.orderId}`} class="mono" aria-label={`Order ${shortId(o.orderId)} of ${o.customerId}`}>
                  {shortId(o.orderId)}
                </a>
              </td>
              <td>{o.customerId}</td>
              <td>
                <StatusBadge status={o.status} />
              </td>
              <td class="right">
                <Num>{formatMoney(o.total)}</Num>
              </td>
              <td>
                <Num>{formatTime(o.createdAt)}</Num>
              </td>
            </tr>
          ))}
        </Table>
      )}
      <nav class="row pager" aria-label="Pages">
        <button type="button" disabled={cursors.length < 2} onClick={() => setCursors(cursors.slice(0, -1))}>
          Newer
        </button>
        <button type="button" disabled={!page.data?.nextCursor} onClick={() => page.data?.nextCursor && setCursors([...cursors, page.data.nextCursor])}>
          Older
        </button>
      </nav>
    </Page>
  );
}
