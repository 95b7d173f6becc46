import type { Router } from 'express';
import { stringify } from 'csv-stringify/sync';
import { z } from 'zod';
import { AppError } from '@orderflow/errors';
import { requireRole, validate } from '@orderflow/http';
import { NotCsvError } from './csv/reader';
import type { Db } from './db';
import { type importer, UploadInterrupted } from './importer';
import { jobExists, rejectedPage } from './jobs';

export const idParam = z.object({ id: z.uuid() });

/** The answer to an accepted upload (202); the OpenAPI document is written from it. */
export const uploadAccepted = z.object({
  importId: z.uuid(),
  state: z.literal('PROCESSING'),
  rows: z.object({ read: z.number().int(), accepted: z.number().int(), rejected: z.number().int() }),
  chunks: z.number().int().meta({ description: 'Chunks of orders published to the order service' }),
  bytes: z.number().int(),
  uploadSeconds: z.number(),
});
const PAGE = 5_000;

export interface ImportsApiDeps {
  sql: Db;
  imports: ReturnType<typeof importer>;
}

/**
 * `/api/imports` of the worker: the upload and the rejected rows (docs/contract.md). The import's
 * progress (`GET /api/imports/:id`) is the order service's read side; the gateway routes it there.
 */
export function importsApi(deps: ImportsApiDeps) {
  const { sql, imports } = deps;
  return (router: Router): void => {
    router.post('/api/imports', requireRole('admin'), async (req, res) => {
      if (!req.is('text/csv')) {
        throw new AppError('REQUEST.INVALID', 'the body of an import is a CSV file: send it with Content-Type: text/csv', {
          category: 'validation',
          details: [{ field: 'Content-Type', message: 'must be text/csv' }],
        });
      }
      // Node reports a client that went away as an error of the request stream; name it.
      const interrupted = (): void => {
        if (!req.complete) req.emit('error', new UploadInterrupted());
      };
      req.once('close', interrupted);
      try {
        const received = await imports.receive(req);
        res
          .status(202)
          .location(`/api/imports/${received.importId}`)
          .json({ importId: received.importId, state: 'PROCESSING', rows: received.rows, chunks: received.chunks, bytes: received.bytes, uploadSeconds: received.seconds } satisfies z.output<typeof uploadAccepted>);
      } catch (err) {
        const importId = (err as { importId?: string }).importId;
        if (err instanceof UploadInterrupted) return; // nobody is left to answer
        // The rest of the body is not read: close the connection rather than drain it.
        res.set('Connection', 'close');
        if (importId) res.location(`/api/imports/${importId}`);
        if (err instanceof NotCsvError) {
          throw new AppError('IMPORT.NOT_CSV', `import ${importId} failed: ${err.message}`, { category: 'validation', details: [{ field: 'body', message: err.message }] });
        }
        throw err;
      } finally {
        req.off('close', interrupted);
      }
    });

    router.get('/api/imports/:id/errors', requireRole('admin'), async (req, res) => {
      const { id } = validate(idParam, req.params);
      if (!(await jobExists(sql, id))) throw new AppError('IMPORT.NOT_FOUND', `import ${id} not found`, { category: 'not_found' });
      res.status(200).type('text/csv').set('Content-Disposition', `attachment; filename="import-${id}-errors.csv"`);
      res.write('line,reason,raw\n');
      for (let after = 0; ; ) {
        const page = await rejectedPage(sql, id, after, PAGE);
        if (page.length === 0) break;
        const text = stringify(page.map((r) => [r.line, r.reason, r.raw]));
        if (!res.write(text)) await new Promise((resolve) => res.once('drain', resolve));
        after = page[page.length - 1]!.line;
        if (page.length < PAGE) break;
      }
      res.end();
    });
  };
}
