import type { Router } from 'express';
import { z } from 'zod';
import { AppError } from '@orderflow/errors';
import { authenticate, requireRole, validate } from '@orderflow/http';
import type { Db } from './db';
import type { Product } from './generated/prisma/client';

const productId = z.string().regex(/^[A-Za-z0-9][A-Za-z0-9._:-]{0,99}$/, 'must be 1-100 letters, digits, ".", "_", ":" or "-"');

const params = z.object({ productId });

const listQuery = z.object({
  limit: z.coerce.number().int().min(1).max(1000).default(100),
  /** The last productId of the previous page. */
  cursor: productId.optional(),
});

// Unknown fields are ignored, so a product read with GET can be sent back as is; `reserved`
// belongs to the orders holding stock and is never set over HTTP.
const productBody = z.object({
  name: z.string().trim().min(1).max(200),
  price: z.number().min(0).max(9_999_999_999.99).multipleOf(0.01, 'must have at most 2 decimals'),
  available: z.number().int().min(0).max(2_147_483_647),
});

export interface ProductView {
  productId: string;
  name: string;
  price: number;
  available: number;
  reserved: number;
}

const view = (p: Product): ProductView => ({
  productId: p.id,
  name: p.name,
  price: p.price.toNumber(),
  available: p.available,
  reserved: p.reserved,
});

/** `/api/inventory`: stock reads for any authenticated caller; create or replace for admins. */
export function api(deps: { db: Db }) {
  const { db } = deps;
  return (router: Router): void => {
    router.get('/api/inventory', authenticate(), async (req, res) => {
      const q = validate(listQuery, req.query);
      const rows = await db.product.findMany({
        where: q.cursor ? { id: { gt: q.cursor } } : {},
        orderBy: { id: 'asc' },
        take: q.limit + 1,
      });
      const page = rows.slice(0, q.limit);
      res.json({ items: page.map(view), nextCursor: rows.length > q.limit ? (page[page.length - 1]?.id ?? null) : null });
    });

    router.get('/api/inventory/:productId', authenticate(), async (req, res) => {
      const { productId: id } = validate(params, req.params);
      const product = await db.product.findUnique({ where: { id } });
      if (!product) throw new AppError('INVENTORY.PRODUCT_NOT_FOUND', `No product ${id}`, { category: 'not_found' });
      res.json(view(product));
    });

    /**
     * Creates or replaces a product. Replacing sets name, price and `available` as given and
     * keeps `reserved`: stock held by orders stays held and is released or kept by the saga.
     */
    router.put('/api/inventory/:productId', requireRole('admin'), async (req, res) => {
      const { productId: id } = validate(params, req.params);
      const body = validate(productBody, req.body);
      // Insert-if-absent first: tells created from replaced without a race between replicas.
      const [created] = await db.product.createManyAndReturn({ data: [{ id, ...body }], skipDuplicates: true });
      const product = created ?? (await db.product.update({ where: { id }, data: body }));
      if (created) res.status(201).location(`/api/inventory/${encodeURIComponent(id)}`);
      res.json(view(product));
    });
  };
}
