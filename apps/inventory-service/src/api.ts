import type { Request, Response, Router } from 'express';
import { z } from 'zod';
import { AppError } from '@orderflow/errors';
import { authenticate, HttpError, principalOf, requireRole, validate } from '@orderflow/http';
import type { Db } from './db';
import { adjustStock, createProduct, MAX_STOCK, notFound, replaceProduct } from './stock-admin';

const productId = z.string().regex(/^[A-Za-z0-9][A-Za-z0-9._:-]{0,99}$/, 'must be 1-100 letters, digits, ".", "_", ":" or "-"');

export const params = z.object({ productId });

export const listQuery = z.object({
  limit: z.coerce.number().int().min(1).max(1000).default(100),
  /** The last productId of the previous page. */
  cursor: productId.optional(),
});

// Unknown fields are ignored, so a product read with GET can be sent back as is; `reserved`
// belongs to the orders holding stock and is never set over HTTP.
export const productBody = z.object({
  name: z.string().trim().min(1).max(200),
  price: z.number().min(0).max(9_999_999_999.99).multipleOf(0.01, 'must have at most 2 decimals'),
  available: z.number().int().min(0).max(MAX_STOCK),
});

export const adjustmentBody = z.object({
  delta: z
    .number()
    .int()
    .min(-MAX_STOCK)
    .max(MAX_STOCK)
    .refine((d) => d !== 0, 'must not be 0'),
  reason: z.string().trim().min(1).max(500),
});

export const idempotencyKey = z.object({
  'Idempotency-Key': z.string().min(1).max(200).regex(/^[\x21-\x7e]+$/, 'must be printable ASCII without spaces').optional(),
});

/** A product as the API answers it; the OpenAPI document is written from it. */
export const productView = z
  .object({
    productId: z.string(),
    name: z.string(),
    price: z.number(),
    available: z.number().int().meta({ description: 'Units that can still be reserved' }),
    reserved: z.number().int().meta({ description: 'Units held by orders' }),
    version: z.number().int().meta({ description: "The ETag's value: changes with every change of the product (stock moves included)" }),
  })
  .meta({ id: 'Product' });
export type ProductView = z.output<typeof productView>;
export const productPage = z.object({ items: z.array(productView), nextCursor: z.string().nullable().meta({ description: 'The cursor of the next page; null on the last' }) });

const view = (p: { id: string; name: string; price: number | { toNumber(): number }; available: number; reserved: number; version: number }): ProductView => ({
  productId: p.id,
  name: p.name,
  price: typeof p.price === 'number' ? p.price : p.price.toNumber(),
  available: p.available,
  reserved: p.reserved,
  version: p.version,
});

/** Answers a product with its version as a strong ETag (`"7"`), what If-Match sends back. */
function sendProduct(res: Response, product: ProductView): void {
  res.set('ETag', `"${product.version}"`).json(product);
}

/**
 * The versions an `If-Match` header accepts: `'any'` for `*`, else the strong ETags it lists.
 * A weak (`W/"7"`) or malformed tag matches nothing: If-Match compares strongly (RFC 9110).
 */
function ifMatchVersions(header: string): number[] | 'any' {
  if (header.trim() === '*') return 'any';
  return header
    .split(',')
    .map((tag) => /^"(\d{1,10})"$/.exec(tag.trim())?.[1])
    .filter((v): v is string => v !== undefined)
    .map(Number)
    .filter((v) => v <= MAX_STOCK);
}

const versionMismatch = (id: string): HttpError =>
  new HttpError(412, 'INVENTORY.VERSION_MISMATCH', `Product ${id} does not exist or has changed since it was read (If-Match): read it again and retry`);

/**
 * `/api/inventory`: stock reads for any authenticated caller; create, conditional replace and
 * relative adjustments for admins.
 */
export function api(deps: { db: Db }) {
  const { db } = deps;

  /**
   * PUT: creates the product, or replaces the one whose ETag the client names in If-Match.
   * A replace without If-Match is refused (428): an absolute `available` from a read that a
   * reservation has overtaken would undo that reservation's move. `If-Match: *` replaces
   * whatever the current version (an explicit choice); `If-None-Match: *` only creates.
   */
  async function put(req: Request, res: Response): Promise<void> {
    const { productId: id } = validate(params, req.params);
    const body = validate(productBody, req.body);
    const ifMatch = req.get('If-Match');
    const ifNoneMatch = req.get('If-None-Match');
    if (ifNoneMatch !== undefined && ifNoneMatch.trim() !== '*') {
      throw new AppError('REQUEST.INVALID', 'Invalid request: If-None-Match', {
        category: 'validation',
        details: [{ field: 'If-None-Match', message: 'only * (create, never replace) is supported here' }],
      });
    }
    if (ifMatch !== undefined) {
      const versions = ifMatchVersions(ifMatch);
      // With If-None-Match: * too, no product can pass both.
      const replaced = ifNoneMatch === undefined && (versions === 'any' || versions.length > 0) ? await replaceProduct(db, id, body, versions) : null;
      if (!replaced) throw versionMismatch(id);
      sendProduct(res, view(replaced));
      return;
    }
    const created = await createProduct(db, id, body);
    if (!created) {
      if (ifNoneMatch !== undefined) throw new HttpError(412, 'INVENTORY.PRODUCT_EXISTS', `Product ${id} exists (If-None-Match: *)`);
      throw new HttpError(
        428,
        'INVENTORY.PRECONDITION_REQUIRED',
        `Product ${id} exists: replacing it needs If-Match with its ETag (from GET /api/inventory/${id}); to change stock by an amount, POST /api/inventory/${id}/adjustments`,
      );
    }
    res.status(201).location(`/api/inventory/${encodeURIComponent(id)}`);
    sendProduct(res, view(created));
  }

  return (router: Router): void => {
    router.get('/api/inventory', authenticate(), async (req, res) => {
      const q = validate(listQuery, req.query);
      const rows = await db.product.findMany({
        where: q.cursor ? { id: { gt: q.cursor } } : {},
        orderBy: { id: 'asc' },
        take: q.limit + 1,
      });
      const page = rows.slice(0, q.limit);
      res.json({ items: page.map(view), nextCursor: rows.length > q.limit ? (page[page.length - 1]?.id ?? null) : null } satisfies z.output<typeof productPage>);
    });

    router.get('/api/inventory/:productId', authenticate(), async (req, res) => {
      const { productId: id } = validate(params, req.params);
      const product = await db.product.findUnique({ where: { id } });
      if (!product) throw notFound(id);
      sendProduct(res, view(product));
    });

    router.put('/api/inventory/:productId', requireRole('admin'), put);

    /**
     * Adds `delta` (a restock, or a negative correction) to available without touching what
     * orders hold, whatever reservations run meanwhile; recorded in stock_adjustments. The same
     * Idempotency-Key again for the same product applies nothing and answers the product as it
     * is now (`Idempotent-Replayed: true`).
     */
    router.post('/api/inventory/:productId/adjustments', requireRole('admin'), async (req, res) => {
      const { productId: id } = validate(params, req.params);
      const body = validate(adjustmentBody, req.body);
      const key = validate(idempotencyKey, { 'Idempotency-Key': req.get('Idempotency-Key') })['Idempotency-Key'] ?? null;
      const outcome = await adjustStock(db, { productId: id, ...body, adjustedBy: principalOf(req).sub, idempotencyKey: key });
      if (outcome.kind === 'replayed') res.set('Idempotent-Replayed', 'true');
      sendProduct(res, view(outcome.product));
    });
  };
}
