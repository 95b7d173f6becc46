import { z } from 'zod';
import type { ServiceApi } from '@orderflow/http';
import { adjustmentBody, idempotencyKey, listQuery, params, productBody, productPage, productView } from './api';
import { topology } from './topology';

// The inventory service's routes for the OpenAPI document (tools/contract writes docs/openapi.json),
// with the schemas its handlers validate with and answer by.

const etag = z.object({ ETag: z.string().meta({ description: 'The product\'s version as a strong ETag ("7"): what If-Match sends back' }) });
// Read by the handler itself (api.ts, ifMatchVersions), not by a schema.
const preconditions = z.object({
  'If-Match': z.string().optional().meta({ description: 'Replace only the version(s) named ("7", or * for any); without it an existing product is not replaced (428)' }),
  'If-None-Match': z.literal('*').optional().meta({ description: 'Create only, never replace' }),
});

export const openapi: ServiceApi = {
  app: 'inventory-service',
  deadLetters: topology().service,
  routes: [
    {
      operationId: 'listProducts',
      method: 'get',
      path: '/api/inventory',
      tag: 'Stock',
      summary: 'The catalog with its stock, by product id',
      description: 'Paged by product id: pass `nextCursor` as `cursor` for the next page.',
      roles: 'any',
      query: listQuery,
      answers: { 200: { description: 'A page of products', json: productPage } },
    },
    {
      operationId: 'getProduct',
      method: 'get',
      path: '/api/inventory/:productId',
      tag: 'Stock',
      summary: 'One product with its stock',
      roles: 'any',
      params,
      answers: { 200: { description: 'The product', json: productView, headers: etag } },
      problems: { 404: ['INVENTORY.PRODUCT_NOT_FOUND'] },
    },
    {
      operationId: 'putProduct',
      method: 'put',
      path: '/api/inventory/:productId',
      tag: 'Stock',
      summary: 'Create a product, or replace it (If-Match)',
      description:
        "A replace needs If-Match with the product's ETag: an absolute `available` from a read that a reservation has overtaken would undo that reservation. `reserved` belongs to the orders holding stock and is never set here; unknown fields are ignored, so a product read with GET can be sent back as it is.",
      roles: ['admin'],
      params,
      headers: preconditions,
      body: productBody,
      answers: {
        200: { description: 'Replaced', json: productView, headers: etag },
        201: { description: 'Created', json: productView, headers: etag.extend({ Location: z.string() }) },
      },
      problems: { 412: ['INVENTORY.VERSION_MISMATCH', 'INVENTORY.PRODUCT_EXISTS'], 428: ['INVENTORY.PRECONDITION_REQUIRED'] },
    },
    {
      operationId: 'adjustStock',
      method: 'post',
      path: '/api/inventory/:productId/adjustments',
      tag: 'Stock',
      summary: 'Restock or correct: add delta to available',
      description:
        'Relative, so no reservation running meanwhile is lost; recorded with its reason. The same Idempotency-Key again for the same product applies nothing and answers the product as it is now (`Idempotent-Replayed: true`).',
      roles: ['admin'],
      params,
      headers: idempotencyKey,
      body: adjustmentBody,
      answers: { 200: { description: 'The product after the adjustment', json: productView, headers: etag.extend({ 'Idempotent-Replayed': z.literal('true').optional() }) } },
      problems: {
        404: ['INVENTORY.PRODUCT_NOT_FOUND'],
        409: ['INVENTORY.INSUFFICIENT_STOCK', 'INVENTORY.STOCK_LIMIT', 'INVENTORY.IDEMPOTENCY_KEY_REUSED'],
      },
    },
  ],
};
