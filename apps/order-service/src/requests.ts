import { z } from 'zod';
import { AppError } from '@orderflow/errors';
import type { Principal } from '@orderflow/http';
import { validate } from '@orderflow/http';
import { totalOf } from './decide';

/**
 * `POST /api/orders` as clients send it, Orderflow's own shape and those of the systems it
 * replaces (docs/contract.md, "POST /api/orders"), and its normalisation into
 * one placement. The schema only checks each field; `placementOf` applies the rules that need
 * the caller (whose customer) or several fields at once (items or productIds).
 */

/** The payment method of an order placed without one. */
export const UNSPECIFIED_PAYMENT_METHOD = 'unspecified';
// Their clients often send no payment method at all: the card is on file with them. The card
// gateway treats any method that is not one of its test cards as a card approved with
// probability PAYMENT_SUCCESS_RATE (decided from the order id), so such an order takes the same
// road as their "80 % of payments succeed" scenario — and the constant says so in the order.

/** Largest total a claim may state: what `orders.total` (numeric(14,2)) holds. */
const MAX_TOTAL = 999_999_999_999.99;

// A price within a rounding error of whole cents is accepted and stored as those cents, so the
// order.created event built from it always meets the contract's multipleOf(0.01).
const money = (max: number) =>
  z
    .number()
    .min(0)
    .max(max)
    .refine((n) => Math.abs(n * 100 - Math.round(n * 100)) < 1e-6, 'must have at most 2 decimals')
    .transform((n) => Math.round(n * 100) / 100);
const price = money(1_000_000);

/** Absent and null both mean "not given" (their clients send null for what they do not know). */
const optional = <S extends z.ZodType>(schema: S) => schema.nullish().transform((v) => v ?? undefined);

const productId = z.string().trim().min(1).max(100);

/** An email address; stored as given (trimmed). */
export const email = z.string().trim().max(254).pipe(z.email());

/**
 * A phone number as people write one, in any country: an optional leading `+`, digits, spaces,
 * `-`, `(` and `)`, 5–30 characters of which at least 5 are digits. Loose on purpose: the
 * number is only where the SMS goes, and refusing an order for its punctuation helps nobody.
 */
export const phone = z
  .string()
  .trim()
  .min(5)
  .max(30)
  .refine((s) => /^\+?[0-9 ()-]+$/.test(s) && (s.match(/[0-9]/g)?.length ?? 0) >= 5, 'must be a phone number: an optional +, then at least 5 digits, spaces, -, ( and )');

const ADDRESS_MAX = 500;
/**
 * A shipping address, one line of 1–500 characters. Also accepted as an object of text fields
 * (`{ street, city, postalCode, country }`, any names, numbers too), stored as its values joined
 * by ", " in the order sent: Orderflow never reads an address, it only keeps it for the
 * shipment and shows it back, so one line is all it needs and no address format is imposed.
 */
export const shippingAddress = z.union(
  [
    z.string().trim().min(1).max(ADDRESS_MAX),
    z
      .record(z.string(), z.union([z.string().trim().max(ADDRESS_MAX), z.number()]))
      .transform((fields) =>
        Object.values(fields)
          .map((v) => String(v))
          .filter((v) => v !== '')
          .join(', '),
      )
      .pipe(z.string().min(1).max(ADDRESS_MAX)),
  ],
  { error: `must be one line of 1–${ADDRESS_MAX} characters, or an object of text fields (street, city, …) that joined make one` },
);

/** How an order's customer is reached: where its notifications go, where it ships. */
export interface Contact {
  email?: string;
  phone?: string;
  shippingAddress?: string;
}

/** The contact fields of a request, as `POST /api/orders` (and an update of the contact) take them. */
export const contactFields = {
  customerEmail: optional(email),
  customerPhone: optional(phone),
  shippingAddress: optional(shippingAddress),
};

/**
 * One order line. `price` is an alias of `unitPrice` (their clients' name for it): the client's
 * claim, checked against the catalog like any. `productName` is read by nobody: the catalog's
 * name is authoritative, and a cosmetic difference ("iPhone 15 Pro" vs "Apple iPhone 15 Pro")
 * must not refuse an order — what matters is the price, and that one is checked.
 */
const line = z
  .object({
    productId,
    quantity: z.number().int().min(1).max(10_000),
    // Without a price (or null) the catalog's is charged; a different one rejects the order (PRICE_MISMATCH).
    unitPrice: optional(price),
    price: optional(price),
  })
  .superRefine((l, ctx) => {
    if (l.unitPrice !== undefined && l.price !== undefined && l.unitPrice !== l.price) {
      ctx.addIssue({ code: 'custom', path: ['price'], message: `is an alias of unitPrice and differs from it (${l.price} vs ${l.unitPrice})` });
    }
  })
  .transform(({ productId: id, quantity, unitPrice, price: alias }): Line => {
    const claimed = unitPrice ?? alias;
    return claimed === undefined ? { productId: id, quantity } : { productId: id, quantity, unitPrice: claimed };
  });

/** The body of `POST /api/orders`. Unknown fields are ignored (docs/contract.md, "Conventions"). */
export const orderRequest = z
  .object({
    customerId: optional(z.string().trim().min(1).max(200)),
    items: optional(z.array(line).min(1).max(100)),
    /** One of each product (a repeated id counts once more): their edge service's shape. */
    productIds: optional(z.array(productId).min(1).max(100)),
    totalAmount: optional(money(MAX_TOTAL)),
    paymentMethod: optional(z.string().trim().min(1).max(100)),
    ...contactFields,
  })
  .superRefine((body, ctx) => {
    if (body.items !== undefined && body.productIds !== undefined) {
      ctx.addIssue({ code: 'custom', path: ['productIds'], message: 'give items or productIds, not both' });
    } else if (body.items === undefined && body.productIds === undefined) {
      ctx.addIssue({ code: 'custom', path: ['items'], message: 'is required (or productIds)' });
    }
    // A total that contradicts the client's own line prices is a malformed request, not a
    // matter for the catalog: refuse it now, with the field.
    const linesTotal = body.items === undefined ? null : totalOf(body.items);
    if (body.totalAmount !== undefined && linesTotal !== null && Math.round(linesTotal * 100) !== Math.round(body.totalAmount * 100)) {
      ctx.addIssue({ code: 'custom', path: ['totalAmount'], message: `is ${body.totalAmount.toFixed(2)} but the items' prices add up to ${linesTotal.toFixed(2)}` });
    }
  });

export type OrderRequest = z.output<typeof orderRequest>;

export interface Line {
  productId: string;
  quantity: number;
  /** The client's claimed price of one unit, if it claimed one. */
  unitPrice?: number;
}

/** An order to place, whatever shape it was asked in. */
export interface PlacementRequest {
  customerId: string;
  items: Line[];
  paymentMethod: string;
  /**
   * The total the client claims, if any: its `totalAmount`, else the sum of its line prices when
   * every line has one. order.created carries it as `total` and inventory compares it with the
   * catalog total (a difference rejects the order with PRICE_MISMATCH, like a wrong line price).
   */
  totalClaim?: number;
  contact: Contact;
}

/** Repeated ids count as one line each more: `['a', 'b', 'a']` is 2 × a and 1 × b, in first-seen order. */
function oneOfEach(productIds: readonly string[]): Line[] {
  const quantities = new Map<string, number>();
  for (const id of productIds) quantities.set(id, (quantities.get(id) ?? 0) + 1);
  return [...quantities].map(([id, quantity]) => ({ productId: id, quantity }));
}

const invalid = (field: string, message: string): AppError =>
  new AppError('REQUEST.INVALID', `Invalid request: ${field}`, { category: 'validation', details: [{ field, message }] });

/**
 * The placement a validated request asks for, on behalf of `caller`. A customer orders for
 * itself: `customerId` may be left out (the token's subject), and another one is 403
 * AUTH.FORBIDDEN. An administrator orders for someone, so it must name them (400).
 */
export function placementOf(body: OrderRequest, caller: Principal): PlacementRequest {
  let customerId: string;
  if (caller.role === 'admin') {
    if (body.customerId === undefined) throw invalid('customerId', 'is required when an administrator places an order');
    customerId = body.customerId;
  } else {
    if (body.customerId !== undefined && body.customerId !== caller.sub) {
      throw new AppError('AUTH.FORBIDDEN', 'customers can place orders only for themselves', { category: 'forbidden' });
    }
    customerId = caller.sub;
  }
  // The schema guarantees exactly one of items and productIds.
  const items = body.items ?? oneOfEach(body.productIds ?? []);
  const totalClaim = body.totalAmount ?? totalOf(items) ?? undefined;
  const contact: Contact = {
    ...(body.customerEmail !== undefined ? { email: body.customerEmail } : {}),
    ...(body.customerPhone !== undefined ? { phone: body.customerPhone } : {}),
    ...(body.shippingAddress !== undefined ? { shippingAddress: body.shippingAddress } : {}),
  };
  return {
    customerId,
    items,
    paymentMethod: body.paymentMethod ?? UNSPECIFIED_PAYMENT_METHOD,
    ...(totalClaim !== undefined ? { totalClaim } : {}),
    contact,
  };
}

/** Validates a `POST /api/orders` body (400 REQUEST.INVALID naming each bad field) and normalises it for `caller`. */
export function parseOrderRequest(body: unknown, caller: Principal): PlacementRequest {
  return placementOf(validate(orderRequest, body), caller);
}
