import { z } from 'zod';
import { defineEvent } from './envelope';

// The saga's events (docs/contract.md, "Events"). A breaking payload change is a new version,
// defined next to the old one until every consumer has moved.

const money = z.number().nonnegative().multipleOf(0.01);
const orderId = z.uuid();

// The catalog sets the price (docs/contract.md, "HTTP API"): inventory prices each line when it
// reserves. Before that, a line carries at most the price the client claimed, and inventory
// refuses an order whose claim differs from the catalog (inventory.failed, PRICE_MISMATCH).
// Making `unitPrice`/`total` optional (and an outcome's `total` nullable) kept the versions: a
// tolerant reader's change, so the consumers (inventory, notification, payment, and order for
// import.chunk) must be deployed before the producers that leave them out.

/** A line as ordered: `unitPrice` is the client's claimed price, if it claimed one. */
const line = z.object({
  productId: z.string().min(1),
  quantity: z.number().int().positive(),
  unitPrice: money.optional(),
});
/** A line as priced by inventory: the catalog's unit price at reservation. */
const pricedLine = line.extend({ unitPrice: money });

/** An order as placed: `total` is the client's claimed total, present when every line claims a price. */
const placedOrder = z.object({
  orderId,
  customerId: z.string().min(1),
  items: z.array(line).min(1),
  total: money.optional(),
  paymentMethod: z.string().min(1),
});
/**
 * An order inventory reserved: every line at the catalog price, `total` = the catalog total,
 * which is what payment charges. The lines are the order's, in its order (line n = items[n-1]).
 */
const reservedOrder = placedOrder.extend({ items: z.array(pricedLine).min(1), total: money });
const stockFailure = z.object({
  orderId,
  customerId: z.string().min(1),
  reason: z.string().min(1),
  unavailable: z.array(z.object({ productId: z.string(), requested: z.number().int(), available: z.number().int() })),
});
/**
 * How inventory.failed's `reason` begins for each cause. The reason names them in this order — a
 * price mismatch, then unknown products, then each shortage — so its beginning is the first
 * cause: the words after it are for people, these beginnings for code (inventory writes them, the
 * order service turns them into its reason codes).
 */
export const STOCK_FAILURE_REASONS = {
  priceMismatch: 'PRICE_MISMATCH',
  unknownProduct: 'unknown product',
  insufficientStock: 'insufficient stock',
} as const;
const stockRelease = z.object({ orderId, reason: z.string().min(1) });
const charge = z.object({ orderId, customerId: z.string().min(1), paymentId: z.uuid(), amount: money });
const chargeFailure = z.object({ orderId, customerId: z.string().min(1), reason: z.string().min(1) });

/**
 * How the order's customer is reached, as the client gave it: where notifications go (an
 * email, a phone for SMS) and where the order ships. Every field is optional, and so is the
 * whole `contact` of order.created — a tolerant reader's change that kept the version, as
 * `unitPrice`/`total` did: the consumers (inventory ignores it, notification reads it) must be
 * deployed before the order service that sends it.
 */
const contact = z.object({
  email: z.string().min(1).optional(),
  phone: z.string().min(1).optional(),
  shippingAddress: z.string().min(1).optional(),
});

export const orderCreated = defineEvent('order.created', 1, placedOrder.extend({ contact: contact.optional() }));

/**
 * An order's contact changed (PATCH /api/orders/:id): `contact` is the whole contact after
 * the change (what is absent is no longer known), `changed` the fields the update named
 * (`email`, `phone`, `shippingAddress`), so a consumer that cares about one field only can
 * tell whether it moved.
 */
export const orderUpdated = defineEvent(
  'order.updated',
  1,
  z.object({
    orderId,
    customerId: z.string().min(1),
    contact,
    changed: z.array(z.enum(['email', 'phone', 'shippingAddress'])).min(1),
  }),
);
export const inventoryReserved = defineEvent(
  'inventory.reserved',
  1,
  reservedOrder.extend({
    /**
     * A line had no client price: these prices are news to the order service. False: every
     * line claimed the catalog's price already, so there is nothing to record. Absent: unknown.
     */
    catalogPriced: z.boolean().optional(),
  }),
);
export const inventoryFailed = defineEvent('inventory.failed', 1, stockFailure);
export const inventoryReleased = defineEvent('inventory.released', 1, stockRelease);
export const paymentCompleted = defineEvent('payment.completed', 1, charge);
export const paymentFailed = defineEvent('payment.failed', 1, chargeFailure);

export const paymentRefunded = defineEvent(
  'payment.refunded',
  1,
  z.object({ orderId, customerId: z.string().min(1), paymentId: z.uuid(), amount: money }),
);

/** `total` is null for an order that ended before inventory priced it (rejected, cancelled early). */
const orderOutcome = z.object({
  orderId,
  customerId: z.string().min(1),
  total: money.nullable(),
  reason: z.string().nullable(),
});

export const orderConfirmed = defineEvent('order.confirmed', 1, orderOutcome);
export const orderRejected = defineEvent('order.rejected', 1, orderOutcome);
/**
 * Inventory releases whatever it holds for the order and payment refunds whatever it charged;
 * each remembers the cancellation, so a reservation or charge racing it is undone too.
 */
export const orderCancelled = defineEvent('order.cancelled', 1, orderOutcome);

// ---- Bulk import (docs/contract.md, "Import and bulk events"). The worker turns an upload
// into chunks of whole orders; the import lane of the saga then carries ONE event per chunk on
// every hop, each with the chunk's orders, on queues of their own (`<service>.bulk`), so a
// chunk costs a handful of messages and transactions per hop and checkout traffic is not
// queued behind it. correlationId = importId throughout.

const importId = z.uuid();
const count = z.number().int().nonnegative();
/** Rows of the file: read (data lines), accepted (in an order of a chunk), rejected. */
const rowCounts = z.object({ read: count, accepted: count, rejected: count });

/** An upload began: the import exists (state RECEIVING). */
export const importStarted = defineEvent('import.started', 1, z.object({ importId }));

/**
 * Whole orders from consecutive rows of the file, each order a tuple `[orderRef, customerId,
 * paymentMethod, [[line, productId, quantity, unitPrice], …]]` (tuples, not objects: the field
 * names would be most of the bytes of a chunk). `unitPrice` is null (or absent) for a row whose
 * price cell was empty: the catalog prices it. `chunkNo` counts from 0; a chunk may be published
 * twice (a retried publish), so consumers apply (importId, chunkNo) once. `rows` counts the
 * file's rows since the previous chunk (including rejected ones). Version 2: version 1 (each
 * order an object) is no longer produced nor consumed.
 */
export const importChunkV2 = defineEvent(
  'import.chunk',
  2,
  z.object({
    importId,
    chunkNo: count,
    orders: z.array(
      z.tuple([
        z.string().min(1),
        z.string().min(1),
        z.string().min(1),
        z.array(z.tuple([z.number().int().positive(), z.string().min(1), z.number().int().positive(), money.nullish()])).min(1),
      ]),
    ),
    rows: rowCounts,
  }),
);

/** The whole upload was read and every chunk is on the broker: the upload is accepted (state PROCESSING). */
export const importReceived = defineEvent('import.received', 1, z.object({ importId, rows: rowCounts, chunks: count, bytes: count }));

/** The upload could not be accepted (not CSV, connection lost, worker stopped): chunks already published still count. */
export const importFailed = defineEvent('import.failed', 1, z.object({ importId, reason: z.string().min(1), rows: rowCounts, chunks: count }));

/** The orders one chunk created (orderRefs already imported are left out): the bulk order.created. */
export const orderBatchCreated = defineEvent('order.batch-created', 1, z.object({ importId, orders: z.array(placedOrder).min(1) }));

/** The orders of one order.batch-created that inventory reserved stock for: the bulk inventory.reserved. */
export const inventoryBatchReserved = defineEvent(
  'inventory.batch-reserved',
  1,
  z.object({
    importId,
    orders: z.array(reservedOrder).min(1),
    /**
     * The orders with a line the client did not price: only their prices are news to the order
     * service (a claimed price is the catalog's, or the order was refused). Absent: all of them.
     */
    catalogPriced: z.array(orderId).optional(),
  }),
);

/** The orders of one order.batch-created that inventory could not reserve for: the bulk inventory.failed. */
export const inventoryBatchFailed = defineEvent('inventory.batch-failed', 1, z.object({ importId, orders: z.array(stockFailure).min(1) }));

/** Stock given back for the failed payments of one payment.batch-processed: the bulk inventory.released. */
export const inventoryBatchReleased = defineEvent('inventory.batch-released', 1, z.object({ importId, released: z.array(stockRelease).min(1) }));

/** Payment's answers to one inventory.batch-reserved: the bulk payment.completed / payment.failed. */
export const paymentBatchProcessed = defineEvent(
  'payment.batch-processed',
  1,
  z.object({ importId, completed: z.array(charge), failed: z.array(chargeFailure) }),
);

/** The orders a bulk batch made terminal: the bulk order.confirmed / order.rejected / order.cancelled. */
export const orderBatchConcluded = defineEvent(
  'order.batch-concluded',
  1,
  z.object({ importId, confirmed: z.array(orderOutcome), rejected: z.array(orderOutcome), cancelled: z.array(orderOutcome) }),
);

export const contracts = [
  orderCreated,
  orderUpdated,
  inventoryReserved,
  inventoryFailed,
  inventoryReleased,
  paymentCompleted,
  paymentFailed,
  paymentRefunded,
  orderConfirmed,
  orderRejected,
  orderCancelled,
  importStarted,
  importChunkV2,
  importReceived,
  importFailed,
  orderBatchCreated,
  inventoryBatchReserved,
  inventoryBatchFailed,
  inventoryBatchReleased,
  paymentBatchProcessed,
  orderBatchConcluded,
] as const;

export const exchanges = [...new Set(contracts.map((c) => c.exchange))];
