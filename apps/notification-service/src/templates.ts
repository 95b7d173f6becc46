/** What the customer is told, per event: pure, so it is tested without I/O. */
export type Channel = 'EMAIL' | 'SMS';

export interface Message {
  channel: Channel;
  recipient: string;
  template: string;
  body: string;
}

// `total` is absent or null while an order is not priced yet: the catalog prices it when stock
// is reserved, so an order placed without prices has none when it is received (or rejected).
export type Outcome =
  | { kind: 'received'; orderId: string; customerId: string; total?: number | null | undefined }
  | { kind: 'confirmed' | 'rejected' | 'cancelled'; orderId: string; customerId: string; total: number | null; reason: string | null }
  | { kind: 'refunded'; orderId: string; customerId: string; amount: number };

/** Simulated address book: every customer has an email address and a phone number. */
export const emailOf = (customerId: string): string => `${customerId}@customers.orderflow.test`;
export const phoneOf = (customerId: string): string => {
  let h = 0;
  for (const c of customerId) h = (h * 31 + c.charCodeAt(0)) >>> 0;
  return `+1555${String(h % 10_000_000).padStart(7, '0')}`;
};

const money = (n: number): string => n.toFixed(2);

export function render(o: Outcome): Message[] {
  const email = (template: string, body: string): Message => ({ channel: 'EMAIL', recipient: emailOf(o.customerId), template, body });
  const sms = (template: string, body: string): Message => ({ channel: 'SMS', recipient: phoneOf(o.customerId), template, body });
  const ref = o.orderId.slice(0, 8);
  switch (o.kind) {
    case 'received':
      return [email('order-received', o.total == null ? `We received your order ${ref}.` : `We received your order ${ref} (${money(o.total)}).`)];
    case 'confirmed':
      return [
        email('order-confirmed', o.total === null ? `Your order ${ref} is confirmed.` : `Your order ${ref} is confirmed: ${money(o.total)} charged.`),
        sms('order-confirmed', `Order ${ref} confirmed.`),
      ];
    case 'rejected':
      return [
        email('order-rejected', `We could not accept your order ${ref}: ${o.reason ?? 'rejected'}.`),
        sms('order-rejected', `Order ${ref} rejected.`),
      ];
    case 'cancelled':
      return [
        email('order-cancelled', `Your order ${ref} was cancelled: ${o.reason ?? 'cancelled'}.`),
        sms('order-cancelled', `Order ${ref} cancelled.`),
      ];
    case 'refunded':
      return [
        email('payment-refunded', `We refunded ${money(o.amount)} for order ${ref}.`),
        sms('payment-refunded', `Refund of ${money(o.amount)} for order ${ref}.`),
      ];
  }
}
