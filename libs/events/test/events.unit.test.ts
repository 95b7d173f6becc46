import { randomUUID } from 'node:crypto';
import { createEvent, exchanges, orderCreated, orderUpdated, parseEvent } from '../src';

const payload = {
  orderId: randomUUID(),
  customerId: 'alice',
  items: [{ productId: 'PROD-001', quantity: 2, unitPrice: 10.5 }],
  total: 21,
  paymentMethod: 'pm_card_ok',
};

describe('event contracts', () => {
  it('a created event round-trips through JSON and validates against its contract', () => {
    const event = createEvent(orderCreated, payload, { source: 'order-service', correlationId: payload.orderId });
    const parsed = parseEvent(JSON.parse(JSON.stringify(event)), orderCreated);
    expect(parsed).toEqual({ ok: true, event });
    expect(event).toMatchObject({ eventType: 'order.created', version: 1, causationId: null });
  });

  it('an envelope without an eventId is rejected with the field named', () => {
    const event = createEvent(orderCreated, payload, { source: 'order-service', correlationId: 'c' });
    const { eventId: _dropped, ...rest } = event;
    expect(parseEvent(rest, orderCreated)).toEqual({ ok: false, reason: expect.stringContaining('eventId') });
  });

  it('a payload that breaks the contract is rejected with the path of the bad field', () => {
    const event = createEvent(orderCreated, payload, { source: 'order-service', correlationId: 'c' });
    const bad = { ...event, payload: { ...payload, items: [{ productId: 'P', quantity: 0, unitPrice: 1 }] } };
    expect(parseEvent(bad, orderCreated)).toEqual({
      ok: false,
      reason: expect.stringContaining('payload.items.0.quantity'),
    });
  });

  it('another event type or version is not accepted as this contract', () => {
    const event = createEvent(orderCreated, payload, { source: 'order-service', correlationId: 'c' });
    expect(parseEvent({ ...event, version: 2 }, orderCreated)).toMatchObject({ ok: false });
  });

  it('order.created may carry the contact or not (a tolerant change: version 1 either way)', () => {
    const contact = { email: 'john@example.com', shippingAddress: '123 Main St, City, Country' };
    const withContact = createEvent(orderCreated, { ...payload, contact }, { source: 'order-service', correlationId: 'c' });
    expect(withContact).toMatchObject({ version: 1, payload: { contact } });
    expect(parseEvent(JSON.parse(JSON.stringify(withContact)), orderCreated)).toMatchObject({ ok: true });
    expect(parseEvent(createEvent(orderCreated, payload, { source: 'order-service', correlationId: 'c' }), orderCreated)).toMatchObject({ ok: true });
  });

  it('order.updated carries the whole contact after the change and names the fields changed', () => {
    const update = { orderId: payload.orderId, customerId: 'alice', contact: { phone: '+1 555 0100' }, changed: ['phone' as const] };
    expect(createEvent(orderUpdated, update, { source: 'order-service', correlationId: payload.orderId })).toMatchObject({ eventType: 'order.updated', version: 1, payload: update });
    const event = createEvent(orderUpdated, update, { source: 'order-service', correlationId: payload.orderId });
    expect(parseEvent({ ...event, payload: { ...update, changed: ['colour'] } }, orderUpdated)).toMatchObject({ ok: false, reason: expect.stringContaining('changed') });
    expect(parseEvent({ ...event, payload: { ...update, changed: [] } }, orderUpdated)).toMatchObject({ ok: false });
  });

  it('events travel on the exchanges of the contract (docs/contract.md)', () => {
    expect([...exchanges].sort()).toEqual(['import.events', 'inventory.events', 'order.events', 'payment.events']);
  });
});
