import type { ServiceApi } from '@orderflow/http';
import { paymentList, query } from './api';
import { topology } from './topology';

// The payment service's routes for the OpenAPI document (tools/contract writes docs/openapi.json).

export const openapi: ServiceApi = {
  app: 'payment-service',
  deadLetters: topology().service,
  routes: [
    {
      operationId: 'listPayments',
      method: 'get',
      path: '/api/payments',
      tag: 'Payments',
      summary: "An order's charge and refund records, oldest first",
      description: "Another customer's order answers an empty list, which does not even reveal that the order exists.",
      roles: 'any',
      query,
      answers: { 200: { description: 'The payments of the order', json: paymentList } },
    },
  ],
};
