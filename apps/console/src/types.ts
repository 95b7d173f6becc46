/**
 * The shapes of the API answers the console reads (docs/contract.md). Written here, not
 * imported: the console is a client of the public API like any other, and apps share nothing
 * but event contracts.
 */
export const ORDER_STATUSES = ['PENDING', 'STOCK_RESERVED', 'CONFIRMED', 'REJECTED', 'CANCELLED'] as const;

export interface Order {
  orderId: string;
  customerId: string;
  status: string;
  total: number | null;
  paymentMethod: string;
  customerEmail: string | null;
  customerPhone: string | null;
  shippingAddress: string | null;
  items: Array<{ productId: string; quantity: number; unitPrice: number | null }>;
  timeline: Array<{ status: string; at: string; reason: string }>;
  version: number;
  createdAt: string;
  updatedAt: string;
}

export interface Payment {
  id: string;
  type: 'CHARGE' | 'REFUND';
  status: string;
  amount: number;
  attempts: number;
  reason: string | null;
  createdAt: string;
}

export interface Notification {
  id: string;
  channel: 'EMAIL' | 'SMS';
  recipient: string;
  template: string;
  subject: string | null;
  body: string;
  sentAt: string;
}

export interface ImportProgress {
  importId: string;
  state: 'RECEIVING' | 'PROCESSING' | 'COMPLETED' | 'FAILED';
  failure: string | null;
  rows: { read: number; accepted: number; rejected: number };
  orders: { created: number; alreadyImported: number; pending: number; confirmed: number; rejected: number; cancelled: number };
  chunks: { published: number | null; applied: number };
  bytes: number | null;
  timings: { startedAt: string; receivedAt: string | null; completedAt: string | null; failedAt: string | null; uploadSeconds: number | null; elapsedSeconds: number };
  rate: { rowsPerSecond: number; ordersPerSecond: number };
  etaSeconds: number | null;
}

export interface ParkedSummary {
  parkedId: string;
  parkedAt: string | null;
  reason: string;
  error: string;
  errorCode: string;
  attempts: number;
  originalQueue: string;
  originalExchange: string;
  originalRoutingKey: string;
  eventId: string | null;
  eventType: string | null;
}

export type Parked = ParkedSummary & { body: unknown };

export interface DeadLetterList {
  service: string;
  depth: number;
  groups: Array<{ errorCode: string; reason: string; count: number; firstParkedAt: string | null; lastParkedAt: string | null; sample: string }>;
  items: ParkedSummary[];
}

export interface Product {
  productId: string;
  name: string;
  price: number;
  available: number;
  reserved: number;
  version: number;
}

/** The services that answer for a dead-letter queue under `/api/dead-letters/<service>`. */
export const DEAD_LETTER_SERVICES = ['order', 'inventory', 'payment', 'notification', 'import-worker'] as const;
