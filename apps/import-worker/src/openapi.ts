import { z } from 'zod';
import type { ServiceApi } from '@orderflow/http';
import { idParam, uploadAccepted } from './api';
import { topology } from './topology';

// The import worker's routes for the OpenAPI document (tools/contract writes docs/openapi.json).
// An import's progress (GET /api/imports/{id}) is the order service's.

export const openapi: ServiceApi = {
  app: 'import-worker',
  deadLetters: topology().service,
  routes: [
    {
      operationId: 'uploadImport',
      method: 'post',
      path: '/api/imports',
      tag: 'Imports',
      summary: 'Upload a CSV of orders',
      description:
        'Streamed: the worker reads the file as it arrives and may pause reading while the broker or the saga falls behind. The answer comes once the whole file is read and its chunks are published; the orders then go through the saga (follow them with GET /api/imports/{id}). An `orderRef` is imported once: the same file again creates nothing new. The gateway answers 401 on the headers alone when no bearer token is sent.',
      roles: ['admin'],
      body: {
        media: 'text/csv',
        description:
          'The header row `orderRef,customerId,productId,quantity,unitPrice,paymentMethod`, then one order line per row; consecutive rows with the same orderRef form one order. An empty unitPrice is no claim (the catalog prices the line). A bad row is rejected with its line number and reason (and so are the other rows of its order); the import goes on.',
      },
      answers: {
        202: {
          description: 'Received: every chunk is on the broker and the orders are on their way through the saga',
          json: uploadAccepted,
          headers: z.object({ Location: z.string().meta({ description: 'Where its progress is read: /api/imports/{importId}' }) }),
        },
      },
      problems: { 400: ['REQUEST.INVALID', 'IMPORT.NOT_CSV'], 409: ['IMPORT.FAILED'], 503: ['IMPORT.BROKER_UNAVAILABLE', 'IMPORT.BROKER_LOST', 'IMPORT.BROKER_ERROR', 'IMPORT.NACKED', 'IMPORT.UNROUTABLE'] },
    },
    {
      operationId: 'getImportErrors',
      method: 'get',
      path: '/api/imports/:id/errors',
      tag: 'Imports',
      summary: 'The rejected rows of an import, as CSV',
      roles: ['admin'],
      params: idParam,
      answers: { 200: { description: 'CSV with the header `line,reason,raw`: the line number, why it was rejected, the row as sent', media: 'text/csv' } },
      problems: { 404: ['IMPORT.NOT_FOUND'] },
    },
  ],
};
