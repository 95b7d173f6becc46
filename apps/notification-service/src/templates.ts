/** What the customer is told, per event: pure, so it is tested without I/O. */
export type Channel = 'EMAIL' | 'SMS';

export interface Message {
  channel: Channel;
  recipient: string;
  template: string;
  /** An email's subject line; null for an SMS. */
  subject: string | null;
  body: string;
}

/** How an order's customer is reached, as the order said it (order.created, order.updated). */
export interface Contact {
  email?: string | undefined;
  phone?: string | undefined;
  shippingAddress?: string | undefined;
}

export type ContactField = keyof Contact;

// `total` is absent or null while an order is not priced yet: the catalog prices it when stock
// is reserved, so an order placed without prices has none when it is received (or rejected).
export type Outcome =
  | { kind: 'received'; orderId: string; customerId: string; total?: number | null | undefined }
  | { kind: 'confirmed' | 'rejected' | 'cancelled'; orderId: string; customerId: string; total: number | null; reason: string | null }
  | { kind: 'refunded'; orderId: string; customerId: string; amount: number }
  | { kind: 'updated'; orderId: string; customerId: string; changed: readonly ContactField[] };

/**
 * The customer's address on file (simulated: there is no customer directory), used where the
 * order gave none of its own.
 */
export const emailOf = (customerId: string): string => `${customerId}@customers.orderflow.test`;
export const phoneOf = (customerId: string): string => {
  let h = 0;
  for (const c of customerId) h = (h * 31 + c.charCodeAt(0)) >>> 0;
  return `+1555${String(h % 10_000_000).padStart(7, '0')}`;
};

/**
 * The order's number as its customer reads it: the last 8 hex digits of its id. (Order ids are
 * UUIDv7, whose first digits are the time: orders placed in the same minute would share them.)
 */
export const shortId = (orderId: string): string => orderId.replace(/-/g, '').slice(-8).toLowerCase();

const money = (n: number): string => n.toFixed(2);

/** Why an order was refused, as a few words for a subject line (the reason itself goes in the body). */
export function rejectionHeadline(reason: string | null): string {
  if (reason?.startsWith('PRICE_MISMATCH')) return 'Price Changed';
  if (reason?.includes('unknown product')) return 'Product Unavailable';
  if (reason?.includes('insufficient stock')) return 'Out of Stock';
  return 'Not Accepted';
}

/** Why an order ended cancelled, as a few words for a subject line. */
export function cancellationHeadline(reason: string | null): string {
  return reason?.startsWith('payment failed') ? 'Payment Failed' : 'Cancelled';
}

const FIELD_NAMES: Record<ContactField, string> = { email: 'email address', phone: 'phone number', shippingAddress: 'shipping address' };

function describeUpdate(changed: readonly ContactField[], contact: Contact): string {
  return changed.map((f) => `${FIELD_NAMES[f]}: ${contact[f] ?? '(removed)'}`).join('; ');
}

/**
 * The messages an outcome sends: an email for each, and an SMS too for the news a customer must
 * not miss (confirmed, rejected, cancelled, refunded); receipt and updates are email only. Each
 * goes to the order's own email address and phone number when it gave them, else to the
 * customer's on file.
 */
export function render(o: Outcome, contact: Contact = {}): Message[] {
  const ref = shortId(o.orderId);
  const email = (template: string, headline: string, body: string): Message => ({
    channel: 'EMAIL',
    recipient: contact.email ?? emailOf(o.customerId),
    template,
    subject: `Order #${ref} - ${headline}`,
    body,
  });
  const sms = (template: string, body: string): Message => ({ channel: 'SMS', recipient: contact.phone ?? phoneOf(o.customerId), template, subject: null, body: `Order #${ref}: ${body}` });
  switch (o.kind) {
    case 'received':
      return [email('order-received', 'Received', o.total == null ? `We received your order #${ref}.` : `We received your order #${ref} (${money(o.total)}).`)];
    case 'confirmed':
      return [
        email('order-confirmed', 'Payment Successful!', o.total === null ? `Your order #${ref} is confirmed.` : `Your order #${ref} is confirmed: ${money(o.total)} charged.`),
        sms('order-confirmed', o.total === null ? 'payment successful, order confirmed.' : `payment successful, ${money(o.total)} charged.`),
      ];
    case 'rejected': {
      const headline = rejectionHeadline(o.reason);
      return [
        email('order-rejected', headline, `We could not accept your order #${ref}: ${o.reason ?? 'rejected'}. Nothing was charged.`),
        sms('order-rejected', `${headline.toLowerCase()}, order not accepted. Nothing was charged.`),
      ];
    }
    case 'cancelled': {
      const headline = cancellationHeadline(o.reason);
      return [
        email('order-cancelled', headline, `Your order #${ref} was cancelled: ${o.reason ?? 'cancelled'}.`),
        sms('order-cancelled', headline === 'Payment Failed' ? 'payment failed, order cancelled.' : 'order cancelled.'),
      ];
    }
    case 'refunded':
      return [
        email('payment-refunded', 'Refunded', `We refunded ${money(o.amount)} for your order #${ref}.`),
        sms('payment-refunded', `${money(o.amount)} refunded.`),
      ];
    case 'updated':
      return [email('order-updated', 'Details Updated', `We updated your order #${ref}: ${describeUpdate(o.changed, contact)}.`)];
  }
}

/** The log line of a message sent, as the users of the systems Orderflow replaces look for it. */
export function logLine(m: Message): string {
  return m.channel === 'EMAIL' ? `EMAIL NOTIFICATION SENT to ${m.recipient}: ${m.subject ?? m.template}` : `SMS NOTIFICATION SENT to ${m.recipient}: ${m.body}`;
}
