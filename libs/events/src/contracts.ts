import { z } from 'zod';
import { defineEvent } from './envelope';

// The saga's events (DESIGN.md, "Events"). A breaking payload change is a new version,
// defined next to the old one until every consumer has moved.

const money = z.number().nonnegative().multipleOf(0.01);
const orderId = z.uuid();
const line = z.object({
  productId: z.string().min(1),
  quantity: z.number().int().positive(),
  unitPrice: money,
});

export const orderCreated = defineEvent(
  'order.created',
  1,
  z.object({
    orderId,
    customerId: z.string().min(1),
    items: z.array(line).min(1),
    total: money,
    paymentMethod: z.string().min(1),
  }),
);

export const inventoryReserved = defineEvent(
  'inventory.reserved',
  1,
  z.object({
    orderId,
    customerId: z.string().min(1),
    items: z.array(line).min(1),
    total: money,
    paymentMethod: z.string().min(1),
  }),
);

export const inventoryFailed = defineEvent(
  'inventory.failed',
  1,
  z.object({
    orderId,
    customerId: z.string().min(1),
    reason: z.string().min(1),
    unavailable: z.array(z.object({ productId: z.string(), requested: z.number().int(), available: z.number().int() })),
  }),
);

export const inventoryReleased = defineEvent(
  'inventory.released',
  1,
  z.object({ orderId, reason: z.string().min(1) }),
);

export const paymentCompleted = defineEvent(
  'payment.completed',
  1,
  z.object({ orderId, customerId: z.string().min(1), paymentId: z.uuid(), amount: money }),
);

export const paymentFailed = defineEvent(
  'payment.failed',
  1,
  z.object({ orderId, customerId: z.string().min(1), reason: z.string().min(1) }),
);

export const paymentRefunded = defineEvent(
  'payment.refunded',
  1,
  z.object({ orderId, customerId: z.string().min(1), paymentId: z.uuid(), amount: money }),
);

const orderOutcome = z.object({
  orderId,
  customerId: z.string().min(1),
  total: money,
  reason: z.string().nullable(),
});

export const orderConfirmed = defineEvent('order.confirmed', 1, orderOutcome);
export const orderRejected = defineEvent('order.rejected', 1, orderOutcome);
/**
 * Inventory releases whatever it holds for the order and payment refunds whatever it charged;
 * each remembers the cancellation, so a reservation or charge racing it is undone too.
 */
export const orderCancelled = defineEvent('order.cancelled', 1, orderOutcome);

export const importChunk = defineEvent(
  'import.chunk',
  1,
  z.object({
    importId: z.uuid(),
    chunkNo: z.number().int().nonnegative(),
    orders: z.array(
      z.object({
        orderRef: z.string().min(1),
        customerId: z.string().min(1),
        paymentMethod: z.string().min(1),
        items: z.array(line.extend({ line: z.number().int().positive() })).min(1),
      }),
    ),
  }),
);

export const contracts = [
  orderCreated,
  inventoryReserved,
  inventoryFailed,
  inventoryReleased,
  paymentCompleted,
  paymentFailed,
  paymentRefunded,
  orderConfirmed,
  orderRejected,
  orderCancelled,
  importChunk,
] as const;

export const exchanges = [...new Set(contracts.map((c) => c.exchange))];
