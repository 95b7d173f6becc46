import { useState } from 'preact/hooks';
import { getJson, postJson } from '../api';
import { formatMoney, formatTime, shortId } from '../format';
import { usePoll } from '../hooks';
import type { Answer, Notification, Order, Payment } from '../types';
import { act, Empty, Loading, Notice, Num, Page, Problem, StatusBadge, useConfirm, Table } from '../ui';

const SETTLED = new Set(['CONFIRMED', 'REJECTED', 'CANCELLED']);
const CANCELLABLE = new Set(['PENDING', 'STOCK_RESERVED', 'CONFIRMED']);

interface OrderPage {
  order: Order;
  payments: Payment[];
  notifications: Notification[];
}

async function loadOrder(id: string): Promise<OrderPage> {
  const [order, payments, notifications] = await Promise.all([
    getJson<Order>(`/api/orders/${encodeURIComponent(id)}`),
    getJson<Answer<'listPayments'>>(`/api/payments?orderId=${encodeURIComponent(id)}`),
    getJson<Answer<'listNotifications'>>(`/api/notifications?orderId=${encodeURIComponent(id)}`),
  ]);
  return { order, payments: payments.items, notifications: notifications.items };
}

/**
 * One order: lines, total, payments, notifications and the timeline, polled — every second
 * while the saga runs, every five once it settled (a refund or a late note still shows up) —
 * and a cancel behind a confirmation.
 */
export function OrderView(props: { id: string }) {
  const [settled, setSettled] = useState(false);
  const page = usePoll(
    async () => {
      const loaded = await loadOrder(props.id);
      setSettled(SETTLED.has(loaded.order.status));
      return loaded;
    },
    settled ? 5000 : 1000,
    [props.id],
  );
  const [notice, setNotice] = useState<{ kind: 'ok' | 'error'; text: string } | null>(null);
  const [dialog, ask] = useConfirm();

  async function cancel(order: Order): Promise<void> {
    const refund = order.status === 'CONFIRMED' ? ' The charge is refunded and the stock released.' : ' Whatever stock it holds is released.';
    const yes = await ask({ title: `Cancel order ${shortId(order.orderId)}?`, body: `${order.customerId}'s order will end CANCELLED.${refund}`, confirm: 'Cancel the order', danger: true });
    if (!yes) return;
    await act(async () => {
      const answer = await postJson<Answer<'cancelOrder', 202>>(`/api/orders/${order.orderId}/cancel`);
      await page.reload();
      return `Order ${shortId(order.orderId)} is ${answer.status}; the compensations follow.`;
    }, setNotice);
  }

  const title = `Order ${shortId(props.id)}`;
  if (page.error && !page.data) {
    return (
      <Page title={title}>
        <Problem error={page.error} retry={() => void page.reload()} />
      </Page>
    );
  }
  if (!page.data) {
    return (
      <Page title={title}>
        <Loading what="the order" />
      </Page>
    );
  }
  const { order, payments, notifications } = page.data;
  return (
    <Page
      title={title}
      lead={
        <>
          <a href={`#/orders?customerId=${encodeURIComponent(order.customerId)}`}>{order.customerId}</a> · placed {formatTime(order.createdAt)} ·{' '}
          <span class="mono">{order.orderId}</span>
        </>
      }
      actions={
        CANCELLABLE.has(order.status) && (
          <button type="button" class="danger" onClick={() => void cancel(order)}>
            Cancel order…
          </button>
        )
      }
    >
      {dialog}
      <Notice notice={notice} />
      <div class="summary card" aria-live="polite">
        <div>
          <span class="label">Status</span>
          <span data-testid="order-status">
            <StatusBadge status={order.status} />
          </span>
        </div>
        <div>
          <span class="label">Total</span>
          <Num class="big">{formatMoney(order.total)}</Num>
        </div>
        <div>
          <span class="label">Payment method</span>
          <span class="mono">{order.paymentMethod}</span>
        </div>
        <div>
          <span class="label">Saga</span>
          <span>{SETTLED.has(order.status) ? 'settled' : 'running — updating every second'}</span>
        </div>
      </div>
      {page.error && <Problem error={page.error} retry={() => void page.reload()} />}
      <div class="grid-2">
        <section aria-labelledby="lines-title">
          <h2 id="lines-title">Lines</h2>
          <Table columns={['Product', { label: 'Quantity', right: true }, { label: 'Unit price', right: true }, { label: 'Amount', right: true }]}>
            {order.items.map((l, i) => (
              <tr key={i}>
                <td class="mono">{l.productId}</td>
                <td class="right">
                  <Num>{l.quantity}</Num>
                </td>
                <td class="right">
                  <Num>{formatMoney(l.unitPrice)}</Num>
                </td>
                <td class="right">
                  <Num>{l.unitPrice === null ? '—' : formatMoney(l.unitPrice * l.quantity)}</Num>
                </td>
              </tr>
            ))}
          </Table>
          <h2>Contact</h2>
          <dl class="facts">
            <dt>Email</dt>
            <dd>{order.customerEmail ?? '— (the address on file)'}</dd>
            <dt>Phone</dt>
            <dd>{order.customerPhone ?? '— (the number on file)'}</dd>
            <dt>Shipping</dt>
            <dd>{order.shippingAddress ?? '—'}</dd>
          </dl>
        </section>
        <section aria-labelledby="timeline-title">
          <h2 id="timeline-title">Timeline</h2>
          <ol class="timeline">
            {order.timeline.map((t, i) => (
              <li key={i}>
                <StatusBadge status={t.status} />
                <span class="reason">{t.reason}</span>
                <time dateTime={t.at}>{formatTime(t.at)}</time>
              </li>
            ))}
          </ol>
        </section>
      </div>
      <section aria-labelledby="payments-title">
        <h2 id="payments-title">Payments</h2>
        {payments.length === 0 ? (
          <Empty title="No payment yet">
            <p>The card is charged once the stock is reserved; an order rejected or cancelled before that is never charged.</p>
          </Empty>
        ) : (
          <Table columns={['Type', 'Status', { label: 'Amount', right: true }, { label: 'Attempts', right: true }, 'Reason', 'When']}>
            {payments.map((p) => (
              <tr key={p.id}>
                <td>{p.type}</td>
                <td>
                  <StatusBadge status={p.status} />
                </td>
                <td class="right">
                  <Num>{formatMoney(p.amount)}</Num>
                </td>
                <td class="right">
                  <Num>{p.attempts}</Num>
                </td>
                <td>{p.reason ?? '—'}</td>
                <td>{formatTime(p.createdAt)}</td>
              </tr>
            ))}
          </Table>
        )}
      </section>
      <section aria-labelledby="notifications-title">
        <h2 id="notifications-title">Notifications</h2>
        {notifications.length === 0 ? (
          <Empty title="Nothing sent yet">
            <p>The customer is told when the order is received and when it ends.</p>
          </Empty>
        ) : (
          <ul class="notifications">
            {notifications.map((n) => (
              <li key={n.id}>
                <span class="badge channel">{n.channel}</span> to <span class="mono">{n.recipient}</span>: <strong>{n.subject ?? n.body}</strong>
                <time dateTime={n.sentAt}>{formatTime(n.sentAt)}</time>
              </li>
            ))}
          </ul>
        )}
      </section>
    </Page>
  );
}
