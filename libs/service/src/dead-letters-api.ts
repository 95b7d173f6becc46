import type { Router } from 'express';
import { z } from 'zod';
import { AppError } from '@orderflow/errors';
import { requireRole, validate } from '@orderflow/http';
import type { Messaging, ParkedFilter, ParkedMessage } from '@orderflow/messaging';
import type { SqlClient } from '@orderflow/db';

/** Most ids one request may name (a selection is one walk of the queue whatever its size). */
const MAX_SELECTED = 100;
export const filter = z
  .object({
    parkedId: z.uuid().optional(),
    /** A selection (the console's checkboxes). */
    parkedIds: z.array(z.uuid()).min(1).max(MAX_SELECTED).optional(),
    errorCode: z.string().min(1).max(200).optional(),
    all: z.literal(true).optional(),
  })
  .refine((f) => f.parkedId || f.parkedIds || f.errorCode || f.all, { message: 'give parkedId, parkedIds, errorCode or all: true', path: ['parkedId'] })
  .refine((f) => !f.parkedIds || !(f.parkedId || f.errorCode || f.all), { message: 'parkedIds goes alone', path: ['parkedIds'] });
type Filter = z.infer<typeof filter>;

/** What a validated body selects, as the messaging library filters. */
const selected = (f: Filter): ParkedFilter => (f.parkedIds ? { parkedIds: f.parkedIds } : f.all ? {} : { parkedId: f.parkedId, errorCode: f.errorCode });
export const listQuery = z.object({ limit: z.coerce.number().int().min(1).max(5000).default(1000) });

/** Groups parked messages by error: what an operator triages first. */
export function groupByError(messages: readonly ParkedMessage[]) {
  const groups = new Map<string, { errorCode: string; reason: string; count: number; firstParkedAt: string | null; lastParkedAt: string | null; sample: string }>();
  for (const m of messages) {
    const key = `${m.errorCode}|${m.reason}`;
    const g = groups.get(key);
    if (!g) groups.set(key, { errorCode: m.errorCode, reason: m.reason, count: 1, firstParkedAt: m.parkedAt, lastParkedAt: m.parkedAt, sample: m.error });
    else {
      g.count++;
      g.lastParkedAt = m.parkedAt ?? g.lastParkedAt;
    }
  }
  return [...groups.values()].sort((a, b) => b.count - a.count);
}

const summary = (m: ParkedMessage) => {
  const { body: _body, ...rest } = m;
  return rest;
};

/**
 * Dead-letter operations of one service, admin only, under `/api/dead-letters/<service>`
 * (the gateway routes each service's prefix to it): list grouped by error, inspect one,
 * replay or discard one, a selection, a group (error code) or all.
 */
export function deadLettersApi(service: string, messaging: Messaging<SqlClient>) {
  const base = `/api/dead-letters/${service}`;
  return (router: Router): void => {
    router.get(base, requireRole('admin'), async (req, res) => {
      const { limit } = validate(listQuery, req.query);
      // The depth from the same walk as the messages: a count taken beside it would miss those it holds.
      const { depth, items } = await messaging.deadLetters.snapshot({}, limit);
      res.json({ service, depth, groups: groupByError(items), items: items.map(summary) });
    });
    router.get(`${base}/:parkedId`, requireRole('admin'), async (req, res) => {
      const { parkedId } = validate(z.object({ parkedId: z.uuid() }), req.params);
      const [found] = await messaging.deadLetters.list({ parkedId });
      if (!found) throw new AppError('DEAD_LETTER.NOT_FOUND', `no parked message ${parkedId}`, { category: 'not_found' });
      res.json(found);
    });
    router.post(`${base}/replay`, requireRole('admin'), async (req, res) => {
      const f = validate(filter, req.body ?? {});
      res.json({ replayed: await messaging.deadLetters.replay(selected(f)) });
    });
    router.post(`${base}/discard`, requireRole('admin'), async (req, res) => {
      const f = validate(filter, req.body ?? {});
      res.json({ discarded: await messaging.deadLetters.discard(selected(f)) });
    });
  };
}
