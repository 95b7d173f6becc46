import { inventoryFailed, paymentCompleted, type PayloadOf } from '@orderflow/events';
import type { SqlClient } from '@orderflow/db';
import { on, onBatch, type HandlerContext } from '../src';

// The handlers below must compile without casts (`npm run typecheck`): an event's `eventType`
// narrows its payload, and `ctx.publish` takes only the payload of the contract it is given.

describe('handler typing', () => {
  it('a batch handler over several contracts reads each payload after a switch on eventType', async () => {
    const seen: string[] = [];
    const spec = onBatch<typeof inventoryFailed | typeof paymentCompleted, SqlClient>([inventoryFailed, paymentCompleted], async (events) => {
      for (const e of events) {
        switch (e.eventType) {
          case inventoryFailed.type:
            seen.push(`failed: ${e.payload.reason}`);
            break;
          case paymentCompleted.type:
            seen.push(`paid: ${e.payload.amount}`);
            break;
        }
      }
    });
    expect(spec.contracts).toEqual([inventoryFailed, paymentCompleted]);
    expect(spec.kind).toBe('batch');
    expect(seen).toEqual([]);
  });

  it('a single handler gets its contract literal and publishes typed payloads', () => {
    const spec = on(inventoryFailed, async (e, ctx: HandlerContext<SqlClient>) => {
      const type: 'inventory.failed' = e.eventType;
      const charge: PayloadOf<typeof paymentCompleted> = { orderId: e.payload.orderId, customerId: e.payload.customerId, paymentId: e.eventId, amount: 0 };
      ctx.publish(paymentCompleted, charge);
      // @ts-expect-error a payload of another contract is refused
      ctx.publish(paymentCompleted, { orderId: e.payload.orderId, reason: type });
    });
    expect(spec.contracts).toEqual([inventoryFailed]);
  });
});
