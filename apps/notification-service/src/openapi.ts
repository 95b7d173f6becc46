import type { ServiceApi } from '@orderflow/http';
import { notificationList, query } from './api';
import { topology } from './topology';

// The notification service's routes for the OpenAPI document (tools/contract writes docs/openapi.json).

export const openapi: ServiceApi = {
  app: 'notification-service',
  deadLetters: topology().service,
  routes: [
    {
      operationId: 'listNotifications',
      method: 'get',
      path: '/api/notifications',
      tag: 'Notifications',
      summary: 'What was sent about an order or to a customer, newest first',
      description: 'Give orderId or customerId. A customer sees only its own notifications.',
      roles: 'any',
      query,
      answers: { 200: { description: 'The notifications', json: notificationList } },
      problems: { 403: ['AUTH.FORBIDDEN'] },
    },
  ],
};
