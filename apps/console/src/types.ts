/**
 * The answers of the public API that the console reads, named for its views. The console is a
 * client of the public API like any other and imports nothing of the services (apps share only
 * event contracts), so its types come from the contract: openapi.generated.d.ts is what
 * openapi-typescript makes of docs/openapi.json (`npm run contract` writes both, a test checks
 * both are fresh). An answer that changes in the API breaks the console's typecheck, not a view.
 */
import type { operations } from './openapi.generated';

/**
 * The JSON body of operation `Op`'s answer `Status` (its operationId in docs/openapi.json);
 * `never` for an answer without one (an operation with no 200 must name its status).
 */
export type Answer<Op extends keyof operations, Status extends keyof Answers<Op> = Extract<200, keyof Answers<Op>>> = [Status] extends [never]
  ? never
  : Answers<Op>[Status] extends { content: { 'application/json': infer Body } }
    ? Body
    : never;
type Answers<Op extends keyof operations> = operations[Op]['responses'];

export type Order = Answer<'getOrder'>;
export type Payment = Answer<'listPayments'>['items'][number];
export type Notification = Answer<'listNotifications'>['items'][number];
export type ImportProgress = Answer<'getImport'>;
export type DeadLetterList = Answer<'listDeadLetters'>;
export type ParkedSummary = DeadLetterList['items'][number];
export type Parked = Answer<'getDeadLetter'>;
export type Product = Answer<'getProduct'>;
export type SystemStatus = Answer<'getAdminSystem'>;

/** Compiles only for `never`: a list below that misses a value of the contract's union names it in the error. */
type NoneMissing<T extends never> = T;

export const ORDER_STATUSES = ['PENDING', 'STOCK_RESERVED', 'CONFIRMED', 'REJECTED', 'CANCELLED'] as const satisfies readonly Order['status'][];
type OrderStatusesListed = NoneMissing<Exclude<Order['status'], (typeof ORDER_STATUSES)[number]>>;

/** The services that answer for a dead-letter queue under `/api/dead-letters/<service>`, in the tabs' order. */
export const DEAD_LETTER_SERVICES = ['order', 'inventory', 'payment', 'notification', 'import-worker'] as const satisfies readonly DeadLetterService[];
type DeadLetterService = operations['listDeadLetters']['parameters']['path']['service'];
type DeadLetterServicesListed = NoneMissing<Exclude<DeadLetterService, (typeof DEAD_LETTER_SERVICES)[number]>>;
