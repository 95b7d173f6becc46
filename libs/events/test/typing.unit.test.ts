import {
  createEvent,
  defineEvent,
  inventoryFailed,
  inventoryReserved,
  orderCreated,
  paymentCompleted,
  type EventContract,
  type EventOf,
  type PayloadOf,
} from '../src';
import { z } from 'zod';

// These assertions are checked by the compiler (`npm run typecheck`): a type that stops
// narrowing makes an assignment below fail to compile. The jest cases only keep the file a test.

/** Compiles only when `A` and `B` are the same type. */
type Equals<A, B> = (<X>() => X extends A ? 1 : 2) extends <X>() => X extends B ? 1 : 2 ? true : false;
const assertType = <T extends true>(): T => true as T;

const SAGA = [inventoryReserved, inventoryFailed, paymentCompleted] as const;
type SagaEvent = EventOf<(typeof SAGA)[number]>;

/** What a handler does with a saga event: reads payload fields of one type only, without casts. */
function describeEvent(e: SagaEvent): string {
  switch (e.eventType) {
    case inventoryReserved.type:
      return `reserved ${e.payload.total}`;
    case inventoryFailed.type:
      return `failed ${e.payload.reason} ${e.payload.unavailable.length}`;
    case paymentCompleted.type:
      return `paid ${e.payload.amount}`;
    default: {
      const none: never = e;
      return none;
    }
  }
}

describe('event types', () => {
  it('defineEvent keeps the type and version as literals', () => {
    const contract = defineEvent('thing.happened', 3, z.object({ n: z.number() }));
    assertType<Equals<typeof contract.type, 'thing.happened'>>();
    assertType<Equals<typeof contract.version, 3>>();
    assertType<Equals<typeof orderCreated, EventContract<'order.created', PayloadOf<typeof orderCreated>, 1>>>();
    assertType<Equals<typeof orderCreated.type, 'order.created'>>();
    expect(contract).toMatchObject({ type: 'thing.happened', version: 3, exchange: 'thing.events' });
  });

  it('an event of a contract carries its literal type, and a union of contracts narrows by eventType', () => {
    assertType<Equals<EventOf<typeof orderCreated>['eventType'], 'order.created'>>();
    assertType<Equals<SagaEvent['eventType'], 'inventory.reserved' | 'inventory.failed' | 'payment.completed'>>();
    const failed = createEvent(
      inventoryFailed,
      { orderId: '6f1c1a34-6d44-4a0e-9b7e-9d3c2e1f0a11', customerId: 'c', reason: 'OUT_OF_STOCK', unavailable: [] },
      { source: 'test', correlationId: 'c' },
    );
    assertType<Equals<typeof failed, EventOf<typeof inventoryFailed>>>();
    expect(describeEvent(failed)).toBe('failed OUT_OF_STOCK 0');
  });

  it('two versions of one type narrow by version', () => {
    const v1 = defineEvent('thing.moved', 1, z.object({ to: z.string() }));
    const v2 = defineEvent('thing.moved', 2, z.object({ to: z.tuple([z.number(), z.number()]) }));
    const where = (e: EventOf<typeof v1 | typeof v2>): string => (e.version === 2 ? e.payload.to.join(',') : e.payload.to);
    expect(where(createEvent(v2, { to: [1, 2] }, { source: 'test', correlationId: 'c' }))).toBe('1,2');
    expect(where(createEvent(v1, { to: 'here' }, { source: 'test', correlationId: 'c' }))).toBe('here');
  });
});
