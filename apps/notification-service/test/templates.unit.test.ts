import { applyContactNews, type KnownContact } from '../src/contacts';
import { emailOf, logLine, phoneOf, render, shortId } from '../src/templates';

const orderId = '0b6f9d2e-1111-7222-8333-444455556666';
const ref = '55556666';

describe('notification templates', () => {
  it('a confirmed order is announced by email and SMS to the customer on file when the order gave no contact', () => {
    const messages = render({ kind: 'confirmed', orderId, customerId: 'alice', total: 42.5, reason: null });
    expect(messages).toEqual([
      { channel: 'EMAIL', recipient: emailOf('alice'), template: 'order-confirmed', subject: `Order #${ref} - Payment Successful!`, body: `Your order #${ref} is confirmed: 42.50 charged.` },
      { channel: 'SMS', recipient: phoneOf('alice'), template: 'order-confirmed', subject: null, body: `Order #${ref}: payment successful, 42.50 charged.` },
    ]);
  });

  it("the order's own email address and phone number are the recipients when it gave them", () => {
    const contact = { email: 'john@example.com', phone: '+1 (555) 010-9999' };
    expect(render({ kind: 'confirmed', orderId, customerId: 'cust-123', total: 199.99, reason: null }, contact).map((m) => `${m.channel} ${m.recipient}`)).toEqual([
      'EMAIL john@example.com',
      'SMS +1 (555) 010-9999',
    ]);
    // One without the other: the missing one is the customer's on file.
    expect(render({ kind: 'refunded', orderId, customerId: 'cust-123', amount: 5 }, { email: 'john@example.com' }).map((m) => m.recipient)).toEqual(['john@example.com', phoneOf('cust-123')]);
  });

  it.each([
    ['insufficient stock for PROD-001 (requested 100, available 10)', 'Out of Stock'],
    ['PRICE_MISMATCH: line 1 (P1): client price 0.01, catalog price 10.00', 'Price Changed'],
    ['unknown product NOPE', 'Product Unavailable'],
    ['CUSTOMER_BLOCKED', 'Not Accepted'],
  ])('a rejection for "%s" is headed "%s", and the body gives the reason', (reason, headline) => {
    const [email, sms] = render({ kind: 'rejected', orderId, customerId: 'bob', total: null, reason });
    expect(email).toMatchObject({ subject: `Order #${ref} - ${headline}`, body: expect.stringContaining(reason) });
    expect(sms?.body).toBe(`Order #${ref}: ${headline.toLowerCase()}, order not accepted. Nothing was charged.`);
  });

  it('a cancellation for a failed payment is headed Payment Failed; any other, Cancelled; a refund names its amount', () => {
    expect(render({ kind: 'cancelled', orderId, customerId: 'bob', total: 1, reason: 'payment failed: card declined' })[0]).toMatchObject({ subject: `Order #${ref} - Payment Failed`, body: expect.stringContaining('card declined') });
    expect(render({ kind: 'cancelled', orderId, customerId: 'bob', total: 1, reason: 'cancelled by the customer' })[0]?.subject).toBe(`Order #${ref} - Cancelled`);
    const [email, sms] = render({ kind: 'refunded', orderId, customerId: 'bob', amount: 9.99 });
    expect(email).toMatchObject({ subject: `Order #${ref} - Refunded`, body: expect.stringContaining('9.99') });
    expect(sms?.body).toBe(`Order #${ref}: 9.99 refunded.`);
  });

  it('a received order and an update get an email only; the update names what changed, as it is now', () => {
    expect(render({ kind: 'received', orderId, customerId: 'bob', total: 3 }).map((m) => m.channel)).toEqual(['EMAIL']);
    const [update, ...rest] = render({ kind: 'updated', orderId, customerId: 'bob', changed: ['shippingAddress', 'phone'] }, { shippingAddress: '1 New Rd, Town', email: 'bob@example.com' });
    expect(rest).toEqual([]);
    expect(update).toEqual({
      channel: 'EMAIL',
      recipient: 'bob@example.com',
      template: 'order-updated',
      subject: `Order #${ref} - Details Updated`,
      body: `We updated your order #${ref}: shipping address: 1 New Rd, Town; phone number: (removed).`,
    });
  });

  it('an order not priced yet (placed without prices: the catalog prices it) is received without an amount', () => {
    expect(render({ kind: 'received', orderId, customerId: 'bob' })[0]?.body).toBe(`We received your order #${ref}.`);
    expect(render({ kind: 'received', orderId, customerId: 'bob', total: 12.5 })[0]?.body).toBe(`We received your order #${ref} (12.50).`);
  });

  it('the log lines read as the users of the systems Orderflow replaces look for them', () => {
    const [email, sms] = render({ kind: 'confirmed', orderId, customerId: 'cust-123', total: 10, reason: null }, { email: 'john@example.com', phone: '+15550100' });
    expect(logLine(email!)).toBe(`EMAIL NOTIFICATION SENT to john@example.com: Order #${ref} - Payment Successful!`);
    expect(logLine(sms!)).toBe(`SMS NOTIFICATION SENT to +15550100: Order #${ref}: payment successful, 10.00 charged.`);
  });

  it("an order's short number is the end of its id, which differs between orders placed in the same minute (UUIDv7 begins with the time)", () => {
    expect(shortId('019AF3C2-7B10-7000-8000-00000000ABCD')).toBe('0000abcd');
    expect(shortId('019af3c2-7b10-7000-8000-00000000abce')).not.toBe(shortId('019af3c2-7b10-7000-8000-00000000abcd'));
  });

  it('each customer has a stable, distinct phone number on file', () => {
    expect(phoneOf('alice')).toBe(phoneOf('alice'));
    expect(phoneOf('alice')).not.toBe(phoneOf('bob'));
    expect(phoneOf('alice')).toMatch(/^\+1555\d{7}$/);
  });
});

describe("an order's contact", () => {
  const at = (s: number) => new Date(Date.UTC(2026, 0, 1, 0, 0, s));
  const known = (email: string, s: number): KnownContact => ({ orderId, customerId: 'c', contact: { email }, asOf: at(s) });

  it('the contact given at placement is taken when none is known', () => {
    expect(applyContactNews(undefined, { kind: 'placed', known: known('a@x.io', 1) })).toEqual(known('a@x.io', 1));
  });

  it('an update replaces it; a placement arriving late (retried) does not undo the update', () => {
    const updated = applyContactNews(known('a@x.io', 1), { kind: 'updated', known: known('b@x.io', 2) });
    expect(updated?.contact.email).toBe('b@x.io');
    expect(applyContactNews(updated, { kind: 'placed', known: known('a@x.io', 1) })?.contact.email).toBe('b@x.io');
  });

  it('an update older than the one known changes nothing; one at the same time or later applies', () => {
    expect(applyContactNews(known('b@x.io', 5), { kind: 'updated', known: known('old@x.io', 4) })?.contact.email).toBe('b@x.io');
    expect(applyContactNews(known('b@x.io', 5), { kind: 'updated', known: known('c@x.io', 5) })?.contact.email).toBe('c@x.io');
  });
});
