import type { Router } from 'express';
import { z } from 'zod';
import { authenticate, principalOf, timestamp, validate } from '@orderflow/http';
import type { Db } from './db';

export const query = z.object({ orderId: z.uuid() });

/** The answer: the order's charge and refund records; the OpenAPI document is written from it. */
export const paymentList = z.object({
  items: z.array(
    z.object({
      id: z.uuid(),
      orderId: z.uuid(),
      type: z.enum(['CHARGE', 'REFUND']),
      status: z.enum(['SUCCEEDED', 'FAILED', 'VOIDED']),
      amount: z.number(),
      attempts: z.number().int(),
      reason: z.string().nullable(),
      createdAt: timestamp,
      updatedAt: timestamp,
    }),
  ),
});

/**
 * `GET /api/payments?orderId=`: the order's charge and refund records, oldest first. A
 * customer sees only payments of their own orders; another customer's order answers an
 * empty list, which does not even reveal that the order exists.
 */
export function api(deps: { db: Db }) {
  return (router: Router): void => {
    router.get('/api/payments', authenticate(), async (req, res) => {
      const q = validate(query, req.query);
      const me = principalOf(req);
      const rows = await deps.db.payment.findMany({
        where: { orderId: q.orderId, ...(me.role === 'customer' ? { customerId: me.sub } : {}) },
        // A charge and its refund may share a millisecond; the CHARGE comes first (enum order).
        orderBy: [{ createdAt: 'asc' }, { type: 'asc' }],
      });
      res.json({
        items: rows.map((r) => ({
          id: r.id,
          orderId: r.orderId,
          type: r.type,
          status: r.status,
          amount: r.amount.toNumber(),
          attempts: r.attempts,
          reason: r.reason,
          createdAt: r.createdAt.toISOString(),
          updatedAt: r.updatedAt.toISOString(),
        })),
      } satisfies z.output<typeof paymentList>);
    });
  };
}
