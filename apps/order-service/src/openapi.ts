import { z } from 'zod';
import type { ServiceApi } from '@orderflow/http';
import { adminMetricsResponse } from './admin/metrics-summary';
import { adminSystemResponse } from './admin/system';
import { cancelledOrder, idempotencyKey, listQuery, orderIdParam, orderPage, orderView, placedOrder } from './api';
import { customerParam, customerStatus, customerView, orderHistory, orderPatch, updatedOrder } from './history-api';
import { idParam, importProgress, listQuery as importListQuery } from './imports-api';
import { orderRequest } from './requests';
import { topology } from './topology';

// The order service's routes for the OpenAPI document (tools/contract writes docs/openapi.json),
// with the schemas its handlers validate with and answer by.

const location = z.object({ Location: z.string().meta({ description: 'Where the order is read: /api/orders/{id}' }) });
const update = {
  tag: 'Orders',
  params: orderIdParam,
  body: orderPatch,
  roles: 'any',
  description: 'Changes the contact fields given (at least one); allowed until the order is cancelled or rejected. A customer changes only its own orders.',
  answers: { 200: { description: 'The order with its contact as it is now', json: updatedOrder } },
  problems: { 404: ['ORDER.NOT_FOUND'], 409: ['ORDER.NOT_UPDATABLE'] },
} as const;

export const openapi: ServiceApi = {
  app: 'order-service',
  deadLetters: topology().service,
  routes: [
    {
      operationId: 'placeOrder',
      method: 'post',
      path: '/api/orders',
      tag: 'Orders',
      summary: 'Place an order',
      description:
        'Answers at once (202, PENDING); the saga runs behind it. `items` or `productIds` (one of each product); prices are optional, the catalog sets them and a different claim rejects the order (PRICE_MISMATCH). A customer orders for itself (`customerId` may be left out); an administrator names the customer. The same Idempotency-Key again answers the first order (`Idempotent-Replayed: true`).',
      roles: 'any',
      headers: z.object({ 'Idempotency-Key': idempotencyKey.optional() }),
      body: orderRequest,
      answers: {
        202: {
          description: 'Accepted: PENDING (or the order placed before under the same Idempotency-Key; REJECTED at once when the customer is blocked)',
          json: placedOrder,
          headers: location.extend({ 'Idempotent-Replayed': z.literal('true').optional() }),
        },
      },
      problems: { 403: ['AUTH.FORBIDDEN'] },
    },
    {
      operationId: 'listOrders',
      method: 'get',
      path: '/api/orders',
      tag: 'Orders',
      summary: 'List orders, newest first',
      description: "Keyset paging: pass `nextCursor` as `cursor` for the next page. A customer lists only its own orders.",
      roles: 'any',
      query: listQuery,
      answers: { 200: { description: 'A page of orders', json: orderPage } },
      problems: { 403: ['AUTH.FORBIDDEN'] },
    },
    {
      operationId: 'getOrder',
      method: 'get',
      path: '/api/orders/:id',
      tag: 'Orders',
      summary: 'One order, with its lines and timeline',
      description: "Another customer's order answers 404.",
      roles: 'any',
      params: orderIdParam,
      answers: { 200: { description: 'The order', json: orderView } },
      problems: { 404: ['ORDER.NOT_FOUND'] },
    },
    { ...update, operationId: 'updateOrder', method: 'patch', path: '/api/orders/:id', summary: 'Change the contact or shipping address of an order' },
    { ...update, operationId: 'putOrder', method: 'put', path: '/api/orders/:id', summary: 'Change the contact or shipping address of an order (as PATCH)' },
    {
      operationId: 'cancelOrder',
      method: 'post',
      path: '/api/orders/:id/cancel',
      tag: 'Orders',
      summary: 'Cancel an order',
      description: 'A confirmed order can still be cancelled: the charge is refunded and the stock released.',
      roles: 'any',
      params: orderIdParam,
      answers: { 202: { description: 'The cancellation is under way', json: cancelledOrder } },
      problems: { 404: ['ORDER.NOT_FOUND'], 409: ['ORDER.NOT_CANCELLABLE'] },
    },
    {
      operationId: 'getOrderEvents',
      method: 'get',
      path: '/api/orders/:id/events',
      tag: 'Orders',
      summary: "The order's history: every change as an event with a sequence number",
      roles: 'any',
      params: orderIdParam,
      answers: { 200: { description: 'The events, oldest first', json: orderHistory } },
      problems: { 404: ['ORDER.NOT_FOUND'] },
    },
    {
      operationId: 'getCustomer',
      method: 'get',
      path: '/api/customers/:id',
      tag: 'Customers',
      summary: "A customer's status",
      roles: ['admin'],
      params: customerParam,
      answers: { 200: { description: 'ACTIVE unless blocked', json: customerView } },
    },
    {
      operationId: 'setCustomerStatus',
      method: 'put',
      path: '/api/customers/:id',
      tag: 'Customers',
      summary: 'Block or unblock a customer',
      description: "A blocked customer's new orders end REJECTED (CUSTOMER_BLOCKED); no stock or money moves.",
      roles: ['admin'],
      params: customerParam,
      body: customerStatus,
      answers: { 200: { description: 'The status as set', json: customerView } },
    },
    {
      operationId: 'listImports',
      method: 'get',
      path: '/api/imports',
      tag: 'Imports',
      summary: 'The most recent imports, newest first',
      roles: ['admin'],
      query: importListQuery,
      answers: { 200: { description: 'Their progress', json: z.object({ items: z.array(importProgress) }) } },
    },
    {
      operationId: 'getImport',
      method: 'get',
      path: '/api/imports/:id',
      tag: 'Imports',
      summary: "An import's progress: rows, orders by outcome, rate and ETA",
      roles: ['admin'],
      params: idParam,
      answers: { 200: { description: 'The progress', json: importProgress } },
      problems: { 404: ['IMPORT.NOT_FOUND'] },
    },
    {
      operationId: 'getAdminMetrics',
      method: 'get',
      path: '/api/admin/metrics',
      tag: 'Operations',
      summary: 'The business summary: orders by status, throughput, saga latency, dead letters',
      description: 'Counts over the last 1, 5 and 15 minutes; saga percentiles in seconds from placement to the first outcome; dead-letter depth per service (null: not readable now).',
      roles: ['admin'],
      answers: { 200: { description: 'The summary', json: adminMetricsResponse } },
    },
    {
      operationId: 'getAdminSystem',
      method: 'get',
      path: '/api/admin/system',
      tag: 'Operations',
      summary: "The system at a glance: every process, the queues and their backlogs, the business summary",
      description: "What the operator console's System view shows; the answer's `at` says when it was read (at most a few seconds ago).",
      roles: ['admin'],
      answers: { 200: { description: 'The reading', json: adminSystemResponse } },
    },
  ],
};
