import type { RequestHandler, Router } from 'express';
import { z } from 'zod';
import { AppError } from '@orderflow/errors';
import { orderUpdated } from '@orderflow/events';
import { authenticate, requireRole, timestamp, validate } from '@orderflow/http';
import type { Messaging } from '@orderflow/messaging';
import type { SqlClient } from '@orderflow/db';
import { notFound, orderIdParam, orderView, ownCustomer } from './api';
import type { Tx } from './db';
import { CONTACT_FIELDS, presentEvent, type Contact, type OrderEventType } from './history';
import { contactFields } from './requests';
import { readEvents } from './rebuild';
import { transition } from './transition';

/** PATCH's body: the contact fields of POST /api/orders, at least one. */
export const orderPatch = z
  .object(contactFields)
  .refine((b) => Object.values(b).some((v) => v !== undefined), { message: 'give at least one of customerEmail, customerPhone, shippingAddress', path: ['customerEmail'] });
export const customerParam = z.object({ id: z.string().trim().min(1).max(200) });
export const customerStatus = z.object({ status: z.enum(['ACTIVE', 'BLOCKED']) });

/** The answers of these routes; the OpenAPI document is written from them. */
const EVENT_TYPES = [
  'OrderPlaced', 'StockReserved', 'OrderPriced', 'PaymentCompleted', 'PaymentRefunded',
  'OrderUpdated', 'OrderRejected', 'PaymentFailed', 'OrderCancelled', 'StockReleased',
] as const satisfies readonly OrderEventType[];
export const orderEventView = z.object({
  seq: z.number().int(),
  type: z.enum(EVENT_TYPES),
  status: orderView.shape.status.meta({ description: "The order's status after the event" }),
  reason: z.string().nullable().meta({ description: "The line on the order's timeline; null for an event that is not on it" }),
  data: z.unknown().meta({ description: "The event's data: its shape depends on its type" }),
  at: timestamp,
});
export const orderHistory = z.object({ orderId: z.uuid(), version: z.number().int(), events: z.array(orderEventView) });
export const updatedOrder = orderView.pick({ orderId: true, status: true, customerEmail: true, customerPhone: true, shippingAddress: true, version: true });
export const customerView = z.object({ customerId: z.string(), status: customerStatus.shape.status, updatedAt: timestamp.nullable().meta({ description: 'Null: never set (ACTIVE)' }) });

/** A body's contact fields under the order's names (`customerEmail` → `email`). */
const contactOf = (b: z.output<typeof orderPatch>): Partial<Contact> => ({
  ...(b.customerEmail !== undefined ? { email: b.customerEmail } : {}),
  ...(b.customerPhone !== undefined ? { phone: b.customerPhone } : {}),
  ...(b.shippingAddress !== undefined ? { shippingAddress: b.shippingAddress } : {}),
});

/** Drops unknown (null) contact fields: the event lists what is known. */
const known = (c: Contact): Partial<Record<keyof Contact, string>> => Object.fromEntries(CONTACT_FIELDS.filter((f) => c[f] !== null).map((f) => [f, c[f]!]));

export interface HistoryApiDeps {
  sql: SqlClient;
  messaging: Messaging<Tx>;
  now: () => Date;
}

/**
 * An order's history and what changes it besides the saga (docs/contract.md, "Orders"):
 * `GET /api/orders/:id/events`, `PATCH /api/orders/:id` (contact and shipping address), and
 * the customers an administrator blocks (`PUT /api/customers/:id`).
 */
export function historyApi(deps: HistoryApiDeps) {
  const { sql, messaging, now } = deps;
  return (router: Router): void => {
    router.get('/api/orders/:id/events', authenticate(), async (req, res) => {
      const { id } = validate(orderIdParam, req.params);
      const [owner] = await sql.$queryRawUnsafe<Array<{ customer_id: string }>>('SELECT customer_id FROM orders WHERE id = $1::uuid', id);
      const own = ownCustomer(req);
      if (!owner || (own !== undefined && own !== owner.customer_id)) throw notFound(id);
      const events = await readEvents(sql, [id]);
      res.json({ orderId: id, version: events.at(-1)?.seq ?? 0, events: events.map(presentEvent) } satisfies z.output<typeof orderHistory>);
    });

    const update: RequestHandler = async (req, res) => {
      const { id } = validate(orderIdParam, req.params);
      const changes = contactOf(validate(orderPatch, req.body));
      const customerId = ownCustomer(req);
      const order = await messaging.transaction(async (tx, publish) => {
        const [effect] = (await transition(tx, [[{ orderId: id, inputs: [{ type: 'update', changes }] }]], { at: now(), customerId })).events;
        const updated = effect?.orders[0];
        if (!updated) throw notFound(id);
        for (const d of updated.decisions) if (d.kind === 'refuse') throw new AppError(d.code, d.message, { category: 'conflict' });
        for (const e of updated.history) {
          if (e.type !== 'OrderUpdated') continue;
          const changed = CONTACT_FIELDS.filter((f) => e.data.contact[f] !== undefined);
          publish(orderUpdated, { orderId: id, customerId: updated.state.customerId, contact: known(updated.state.contact), changed }, { correlationId: id, causationId: req.id ?? null });
        }
        return updated.state;
      });
      res.json({
        orderId: id,
        status: order.status,
        customerEmail: order.contact.email,
        customerPhone: order.contact.phone,
        shippingAddress: order.contact.shippingAddress,
        version: order.version,
      } satisfies z.output<typeof updatedOrder>);
    };
    router.patch('/api/orders/:id', authenticate(), update);
    // PUT too: the event-sourcing system Orderflow replaces updates an order with PUT /orders/{id}.
    router.put('/api/orders/:id', authenticate(), update);

    router.get('/api/customers/:id', requireRole('admin'), async (req, res) => {
      const { id } = validate(customerParam, req.params);
      const [row] = await sql.$queryRawUnsafe<Array<{ status: z.output<typeof customerStatus>['status']; updated_at: Date }>>('SELECT status::text, updated_at FROM customers WHERE id = $1', id);
      res.json({ customerId: id, status: row?.status ?? 'ACTIVE', updatedAt: row?.updated_at.toISOString() ?? null } satisfies z.output<typeof customerView>);
    });

    router.put('/api/customers/:id', requireRole('admin'), async (req, res) => {
      const { id } = validate(customerParam, req.params);
      const { status } = validate(customerStatus, req.body);
      const at = now();
      await sql.$executeRawUnsafe(
        `INSERT INTO customers (id, status, updated_at) VALUES ($1, $2::"CustomerStatus", $3::timestamptz)
         ON CONFLICT (id) DO UPDATE SET status = EXCLUDED.status, updated_at = EXCLUDED.updated_at`,
        id,
        status,
        at.toISOString(),
      );
      res.json({ customerId: id, status, updatedAt: at.toISOString() } satisfies z.output<typeof customerView>);
    });
  };
}
