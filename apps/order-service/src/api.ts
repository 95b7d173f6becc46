import type { Request, Router } from 'express';
import type { Registry } from 'prom-client';
import { z } from 'zod';
import { AppError } from '@orderflow/errors';
import { newId, orderCreated, type PayloadOf } from '@orderflow/events';
import { authenticate, principalOf, timestamp, validate } from '@orderflow/http';
import { groupCommit } from '@orderflow/service';
import type { Messaging } from '@orderflow/messaging';
import type { SqlClient } from '@orderflow/db';
import type { Db, Tx } from './db';
import { CANCEL_REASONS, ORDER_STATUSES } from './decide';
import type { Contact } from './history';
import { orderMetrics } from './metrics';
import { parseOrderRequest } from './requests';
import { insertOrders, type NewOrder, type Placement, type PlacementResult } from './store';
import { outcomeContract, transition } from './transition';

export const idempotencyKey = z.string().min(1).max(200).regex(/^[\x21-\x7e]+$/, 'must be printable ASCII without spaces');
export const orderIdParam = z.object({ id: z.uuid() });
export const listQuery = z.object({
  customerId: z.string().min(1).max(200).optional(),
  status: z.enum(ORDER_STATUSES).optional(),
  /** Placed at or after / before these instants (ISO 8601 with an offset). */
  since: z.iso.datetime({ offset: true }).optional(),
  until: z.iso.datetime({ offset: true }).optional(),
  limit: z.coerce.number().int().min(1).max(100).default(20),
  cursor: z.string().max(200).optional(),
});

/** An order with its lines and the events that are on its timeline (the others carry data only). */
const ORDER_INCLUDE = {
  lines: { orderBy: { lineNo: 'asc' } },
  events: { where: { reason: { not: null } }, orderBy: { seq: 'asc' }, select: { status: true, reason: true, at: true } },
} as const;

type OrderRow = Awaited<ReturnType<typeof loadOrder>>;

async function loadOrder(db: Db, id: string) {
  return db.order.findUnique({
    where: { id },
    include: ORDER_INCLUDE,
  });
}

const amount = (d: { toNumber(): number } | null): number | null => (d === null ? null : d.toNumber());

/** An order as the API answers it (`present`); the OpenAPI document is written from it. */
export const orderView = z
  .object({
    orderId: z.uuid(),
    customerId: z.string(),
    status: z.enum(ORDER_STATUSES),
    total: z.number().nullable().meta({ description: 'What is charged once inventory priced the order; before that the claimed total, or null' }),
    paymentMethod: z.string(),
    customerEmail: z.string().nullable(),
    customerPhone: z.string().nullable(),
    shippingAddress: z.string().nullable(),
    items: z.array(z.object({ productId: z.string(), quantity: z.number().int(), unitPrice: z.number().nullable() })),
    timeline: z.array(z.object({ status: z.enum(ORDER_STATUSES), at: timestamp, reason: z.string().nullable() })),
    version: z.number().int().meta({ description: 'Sequence number of the last event of the order' }),
    createdAt: timestamp,
    updatedAt: timestamp,
  })
  .meta({ id: 'Order' });
/** The answer to placing an order (202): what is known at once. */
export const placedOrder = orderView.pick({ orderId: true, status: true, customerId: true, total: true, createdAt: true });
export const orderPage = z.object({ items: z.array(orderView), nextCursor: z.string().nullable() });
export const cancelledOrder = orderView.pick({ orderId: true, status: true });

/**
 * An order as the API shows it. `total` and a line's `unitPrice` are what is charged once
 * inventory priced the order from the catalog; before that, the client's claimed prices, and
 * null where it claimed none. The timeline is read from the order's events.
 */
function present(o: NonNullable<OrderRow>): z.output<typeof orderView> {
  const catalog = o.unitPrices ?? [];
  return {
    orderId: o.id,
    customerId: o.customerId,
    status: o.status,
    total: amount(o.total),
    paymentMethod: o.paymentMethod,
    customerEmail: o.customerEmail,
    customerPhone: o.customerPhone,
    shippingAddress: o.shippingAddress,
    items: o.lines.map((l, i) => ({ productId: l.productId, quantity: l.quantity, unitPrice: amount(catalog[i] ?? l.unitPrice) })),
    timeline: o.events.map((t) => ({ status: t.status, at: t.at.toISOString(), reason: t.reason })),
    version: o.version,
    createdAt: o.createdAt.toISOString(),
    updatedAt: o.updatedAt.toISOString(),
  };
}

/** Customers act only for themselves; admins for anyone (undefined). Others' orders look absent. */
export const ownCustomer = (req: Request): string | undefined => {
  const me = principalOf(req);
  return me.role === 'admin' ? undefined : me.sub;
};
const visibleTo = (req: Request, customerId: string): boolean => {
  const own = ownCustomer(req);
  return own === undefined || own === customerId;
};

export const notFound = (id: string): AppError => new AppError('ORDER.NOT_FOUND', `order ${id} not found`, { category: 'not_found' });

/** Cursor of keyset paging (newest first): the last item's creation time and id. */
const encodeCursor = (createdAt: Date, id: string): string => Buffer.from(JSON.stringify([createdAt.toISOString(), id])).toString('base64url');
function decodeCursor(cursor: string): { createdAt: Date; id: string } {
  try {
    const [at, id] = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8')) as [string, string];
    const createdAt = new Date(at);
    if (Number.isNaN(createdAt.getTime()) || !z.uuid().safeParse(id).success) throw new Error('bad cursor');
    return { createdAt, id };
  } catch {
    throw new AppError('REQUEST.INVALID', 'invalid cursor', { category: 'validation', details: [{ field: 'cursor', message: 'is not a cursor returned by this API' }] });
  }
}

export interface OrdersApiDeps {
  db: Db;
  sql: SqlClient;
  messaging: Messaging<Tx>;
  now: () => Date;
  newId?: () => string;
  /** The service's registry: placements are counted there. */
  metrics?: Registry;
}

/** `/api/orders`: place, read, list and cancel orders (docs/contract.md, "Orders (order service)"). */
export function api(deps: OrdersApiDeps) {
  const { db, sql, messaging, now } = deps;
  const makeId = deps.newId ?? newId;
  const metrics = orderMetrics(deps.metrics);
  /** Orders placed while others are being written go together: one statement, one commit. */
  const placeOrder = groupCommit((orders: Placement[]) => insertOrders(sql, orders), { maxInFlight: 1, lingerMs: 2 });

  /**
   * A blocked customer's order: placed and rejected (CUSTOMER_BLOCKED) in one transaction,
   * through the one transition; no order.created, so nothing is reserved or charged.
   */
  const placeRejected = (order: NewOrder, causationId: string | null): Promise<PlacementResult> =>
    messaging.transaction(async (tx, publish) => {
      const [placed] = await insertOrders(tx, [{ order, created: null }], { admitBlocked: true });
      if (!placed!.created) return placed!;
      const [effect] = (await transition(tx, [[{ orderId: order.id, inputs: [{ type: 'customer-blocked' }] }]], { at: order.at })).events;
      for (const { type, payload } of effect!.outcomes) publish(outcomeContract[type], payload, { correlationId: order.id, causationId });
      return { ...placed!, blocked: true };
    });


  return (router: Router): void => {
    router.post('/api/orders', authenticate(), async (req, res) => {
      const asked = parseOrderRequest(req.body, principalOf(req));
      const key = req.get('Idempotency-Key');
      const idemKey = key === undefined ? null : validate(z.object({ 'Idempotency-Key': idempotencyKey }), { 'Idempotency-Key': key })['Idempotency-Key'];
      const at = now();
      const contact: Contact = { email: asked.contact.email ?? null, phone: asked.contact.phone ?? null, shippingAddress: asked.contact.shippingAddress ?? null };
      const order: NewOrder = { id: makeId(), customerId: asked.customerId, paymentMethod: asked.paymentMethod, total: asked.totalClaim ?? null, idempotencyKey: idemKey, lines: asked.items, contact, at };
      const payload: PayloadOf<typeof orderCreated> = {
        orderId: order.id,
        customerId: order.customerId,
        items: asked.items,
        total: asked.totalClaim,
        paymentMethod: order.paymentMethod,
        ...(Object.keys(asked.contact).length > 0 ? { contact: asked.contact } : {}),
      };
      const created = messaging.event(orderCreated, payload, { correlationId: order.id, causationId: req.id ?? null, occurredAt: at });
      let result = await placeOrder({ order, created });
      if (result.blocked) result = await placeRejected(order, req.id ?? null);
      if (result.created && !result.blocked) messaging.relay.publish([created]);
      // Committed by now (a blocked customer's order too, rejected in its own transaction); a replay places nothing.
      if (result.created) metrics.placedThroughApi();
      if (!result.created) res.set('Idempotent-Replayed', 'true');
      // A new order's answer is known without reading it back; a replayed or rejected one is read.
      const fresh = result.created && !result.blocked;
      res
        .status(202)
        .location(`/api/orders/${result.id}`)
        .json(
          fresh
            ? ({ orderId: result.id, status: 'PENDING', customerId: order.customerId, total: order.total, createdAt: at.toISOString() } satisfies z.output<typeof placedOrder>)
            : (({ orderId, status, customerId, total: t, createdAt }) => ({ orderId, status, customerId, total: t, createdAt }))(present((await loadOrder(db, result.id))!)),
        );
    });

    router.get('/api/orders/:id', authenticate(), async (req, res) => {
      const { id } = validate(orderIdParam, req.params);
      const order = await loadOrder(db, id);
      if (!order || !visibleTo(req, order.customerId)) throw notFound(id);
      res.json(present(order));
    });

    router.get('/api/orders', authenticate(), async (req, res) => {
      const q = validate(listQuery, req.query);
      const me = principalOf(req);
      if (me.role === 'customer' && q.customerId && q.customerId !== me.sub) {
        throw new AppError('AUTH.FORBIDDEN', 'customers list only their own orders', { category: 'forbidden' });
      }
      const customerId = me.role === 'customer' ? me.sub : q.customerId;
      const after = q.cursor ? decodeCursor(q.cursor) : undefined;
      const rows = await db.order.findMany({
        where: {
          ...(customerId ? { customerId } : {}),
          ...(q.status ? { status: q.status } : {}),
          ...(q.since || q.until ? { createdAt: { ...(q.since ? { gte: new Date(q.since) } : {}), ...(q.until ? { lt: new Date(q.until) } : {}) } } : {}),
          ...(after ? { OR: [{ createdAt: { lt: after.createdAt } }, { createdAt: after.createdAt, id: { lt: after.id } }] } : {}),
        },
        orderBy: [{ createdAt: 'desc' }, { id: 'desc' }],
        take: q.limit + 1,
        include: ORDER_INCLUDE,
      });
      const page = rows.slice(0, q.limit);
      const last = page[page.length - 1];
      res.json({ items: page.map(present), nextCursor: rows.length > q.limit && last ? encodeCursor(last.createdAt, last.id) : null } satisfies z.output<typeof orderPage>);
    });

    router.post('/api/orders/:id/cancel', authenticate(), async (req, res) => {
      const { id } = validate(orderIdParam, req.params);
      const customerId = ownCustomer(req);
      const reason = customerId === undefined ? CANCEL_REASONS.admin : CANCEL_REASONS.customer;
      const status = await messaging.transaction(async (tx, publish) => {
        const cancel = { orderId: id, inputs: [{ type: 'cancel', reason } as const] };
        const [effect] = (await transition(tx, [[cancel]], { at: now(), customerId })).events;
        const order = effect?.orders[0];
        if (!order) throw notFound(id);
        for (const d of order.decisions) if (d.kind === 'refuse') throw new AppError(d.code, d.message, { category: 'conflict' });
        for (const { type, payload } of effect.outcomes) publish(outcomeContract[type], payload, { correlationId: id, causationId: req.id ?? null });
        return order.state.status;
      });
      res.status(202).json({ orderId: id, status } satisfies z.output<typeof cancelledOrder>);
    });
  };
}
