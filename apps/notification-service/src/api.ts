import type { Router } from 'express';
import { z } from 'zod';
import { AppError } from '@orderflow/errors';
import { authenticate, principalOf, timestamp, validate } from '@orderflow/http';
import type { Db } from './db';

export const query = z
  .object({
    orderId: z.uuid().optional(),
    customerId: z.string().min(1).max(200).optional(),
    limit: z.coerce.number().int().min(1).max(500).default(100),
  })
  .refine((q) => q.orderId || q.customerId, { message: 'orderId or customerId is required', path: ['orderId'] });

/** The answer: what was sent; the OpenAPI document is written from it. */
export const notificationList = z.object({
  items: z.array(
    z.object({
      id: z.uuid(),
      orderId: z.uuid().nullable(),
      customerId: z.string(),
      channel: z.enum(['EMAIL', 'SMS']),
      recipient: z.string(),
      template: z.string(),
      subject: z.string().nullable().meta({ description: "An email's subject line; null for an SMS" }),
      body: z.string(),
      sentAt: timestamp,
    }),
  ),
});

/** `GET /api/notifications?orderId=|customerId=`: what was sent, newest first. */
export function api(deps: { db: Db }) {
  return (router: Router): void => {
    router.get('/api/notifications', authenticate(), async (req, res) => {
      const q = validate(query, req.query);
      const me = principalOf(req);
      if (me.role === 'customer' && q.customerId && q.customerId !== me.sub) {
        throw new AppError('AUTH.FORBIDDEN', 'customers see only their own notifications', { category: 'forbidden' });
      }
      const rows = await deps.db.notification.findMany({
        where: {
          ...(q.orderId ? { orderId: q.orderId } : {}),
          ...(q.customerId ? { customerId: q.customerId } : {}),
          ...(me.role === 'customer' ? { customerId: me.sub } : {}),
        },
        orderBy: [{ sentAt: 'desc' }, { id: 'asc' }],
        take: q.limit,
      });
      res.json({ items: rows.map((r) => ({ ...r, sentAt: r.sentAt.toISOString() })) } satisfies z.output<typeof notificationList>);
    });
  };
}
