import type { Router } from 'express';
import { z } from 'zod';
import { AppError } from '@orderflow/errors';
import { requireRole, timestamp, validate } from '@orderflow/http';
import type { Db } from './db';

export const idParam = z.object({ id: z.uuid() });

const count = z.number().int();
/** An import's progress as `GET /api/imports/:id` answers it (`presentImport`). */
export const importProgress = z.object({
  importId: z.uuid(),
  state: z.enum(['RECEIVING', 'PROCESSING', 'COMPLETED', 'FAILED']),
  failure: z.string().nullable(),
  rows: z.object({ read: count, accepted: count, rejected: count }),
  orders: z.object({ created: count, alreadyImported: count, pending: count, confirmed: count, rejected: count, cancelled: count }),
  chunks: z.object({ published: count.nullable(), applied: count }),
  bytes: count.nullable(),
  timings: z.object({
    startedAt: timestamp,
    receivedAt: timestamp.nullable(),
    completedAt: timestamp.nullable(),
    failedAt: timestamp.nullable(),
    uploadSeconds: z.number().nullable(),
    elapsedSeconds: z.number(),
  }),
  rate: z.object({ rowsPerSecond: count, ordersPerSecond: count }),
  etaSeconds: count.nullable().meta({ description: 'Seconds until every order is terminal, estimated from the rate; null while unknown' }),
});
export const listQuery = z.object({
  state: z.enum(['RECEIVING', 'PROCESSING', 'COMPLETED', 'FAILED']).optional(),
  limit: z.coerce.number().int().min(1).max(100).default(20),
});

type ImportRow = NonNullable<Awaited<ReturnType<Db['import']['findUnique']>>>;

const seconds = (from: Date, to: Date): number => Math.max(0, (to.getTime() - from.getTime()) / 1000);
const round = (n: number): number => Math.round(n * 10) / 10;

/**
 * An import's progress as the operator reads it: rows (final once the upload is accepted,
 * until then what the applied chunks carried), orders by outcome, chunks, timings, rate and
 * an ETA from the rate orders reach a terminal status.
 */
export function presentImport(i: ImportRow, now: Date): z.output<typeof importProgress> {
  const terminal = i.ordersConfirmed + i.ordersRejected + i.ordersCancelled;
  const end = i.completedAt ?? now;
  const elapsed = seconds(i.startedAt, end);
  const ordersPerChunk = i.chunksApplied > 0 ? (i.ordersCreated + i.ordersAlreadyImported) / i.chunksApplied : 0;
  const createdShare = i.ordersCreated + i.ordersAlreadyImported > 0 ? i.ordersCreated / (i.ordersCreated + i.ordersAlreadyImported) : 1;
  // Orders still to come from chunks not applied yet, estimated from the chunks applied so far.
  const expected = i.chunksTotal === null ? null : i.ordersCreated + Math.max(0, i.chunksTotal - i.chunksApplied) * ordersPerChunk * createdShare;
  const ordersPerSecond = elapsed > 0 ? terminal / elapsed : 0;
  const remaining = expected === null ? null : Math.max(0, expected - terminal);
  const eta = i.state === 'COMPLETED' ? 0 : i.state === 'PROCESSING' && remaining !== null && ordersPerSecond > 0 ? Math.ceil(remaining / ordersPerSecond) : null;
  return {
    importId: i.id,
    state: i.state,
    failure: i.failure,
    rows: {
      read: i.rowsRead ?? i.chunkRowsRead,
      accepted: i.rowsAccepted ?? i.chunkRowsAccepted,
      rejected: i.rowsRejected ?? i.chunkRowsRejected,
    },
    orders: {
      created: i.ordersCreated,
      alreadyImported: i.ordersAlreadyImported,
      pending: i.ordersCreated - terminal,
      confirmed: i.ordersConfirmed,
      rejected: i.ordersRejected,
      cancelled: i.ordersCancelled,
    },
    chunks: { published: i.chunksTotal, applied: i.chunksApplied },
    bytes: i.bytes === null ? null : Number(i.bytes),
    timings: {
      startedAt: i.startedAt.toISOString(),
      receivedAt: i.receivedAt?.toISOString() ?? null,
      completedAt: i.completedAt?.toISOString() ?? null,
      failedAt: i.failedAt?.toISOString() ?? null,
      uploadSeconds: i.receivedAt ? round(seconds(i.startedAt, i.receivedAt)) : null,
      elapsedSeconds: round(elapsed),
    },
    rate: {
      rowsPerSecond: Math.round(elapsed > 0 ? i.chunkRowsRead / elapsed : 0),
      ordersPerSecond: Math.round(ordersPerSecond),
    },
    etaSeconds: eta,
  };
}

/**
 * `GET /api/imports` and `GET /api/imports/:id` (admin): the read side of imports, which the
 * order service owns (docs/contract.md, "Imports"). The upload is the import worker's.
 */
export function importsApi(deps: { db: Db; now: () => Date }) {
  return (router: Router): void => {
    // The most recent imports, newest first: what an operator looks for (an upload is rare, so no paging).
    router.get('/api/imports', requireRole('admin'), async (req, res) => {
      const { state, limit } = validate(listQuery, req.query);
      const rows = await deps.db.import.findMany({ where: state ? { state } : {}, orderBy: [{ startedAt: 'desc' }, { id: 'desc' }], take: limit });
      const now = deps.now();
      res.json({ items: rows.map((row) => presentImport(row, now)) });
    });
    router.get('/api/imports/:id', requireRole('admin'), async (req, res) => {
      const { id } = validate(idParam, req.params);
      const row = await deps.db.import.findUnique({ where: { id } });
      if (!row) throw new AppError('IMPORT.NOT_FOUND', `import ${id} not found`, { category: 'not_found' });
      res.json(presentImport(row, deps.now()));
    });
  };
}
