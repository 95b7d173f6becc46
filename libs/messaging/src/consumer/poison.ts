import { errorMessage } from '@orderflow/errors';
import type { Logger } from '@orderflow/logging';
import type { SqlClient } from '@orderflow/db';
import { idOf, type Decoded, type DeliveryLedger } from './delivery';
import type { Observe } from './options';
import type { Settlement } from './settlement';

/**
 * Header a quorum queue puts on a redelivery: every earlier delivery that was returned, lost
 * ones and those this service gave back on purpose alike. Logged, not counted (see
 * `parkedAtDeliveryLimit`).
 */
const DELIVERY_COUNT = 'x-delivery-count';

/** Deletes a message's delivery counter (`$1` the queue, `$2` the event id) once it has an outcome. */
export const FORGET_DELIVERIES = 'DELETE FROM delivery_attempts WHERE consumer = $1 AND event_id = $2::uuid';

export interface PoisonOptions {
  queue: string;
  sql: SqlClient;
  logger: Logger;
  maxDeliveries: number;
  ledger: DeliveryLedger;
  settlement: Settlement;
  observe?: Observe;
}

/**
 * A message that kills its process (or its connection) while handled must not loop forever:
 * a redelivery whose earlier delivery ended without an outcome runs alone and counted, and is
 * parked once such deliveries reach `maxDeliveries`.
 */
export class PoisonGuard {
  constructor(private readonly o: PoisonOptions) {}

  /**
   * The batch as the groups it is handled in, in queue order. A redelivery whose earlier
   * delivery ended without an outcome may be the message that killed its process: it runs
   * alone (and counted), so it cannot take healthy neighbours down with it again and again.
   */
  groupsOf(decoded: Decoded[]): Decoded[][] {
    if (!decoded.some((d) => d.msg.fields.redelivered)) return [decoded];
    const groups: Decoded[][] = [];
    let run: Decoded[] = [];
    for (const d of decoded) {
      const id = d.msg.fields.redelivered ? idOf(d) : undefined;
      const wasSuspect = id === undefined ? undefined : this.o.ledger.take(id);
      if (d.msg.fields.redelivered && wasSuspect !== false) {
        if (run.length > 0) groups.push(run);
        run = [];
        d.suspect = true;
        d.givenBack = wasSuspect;
        groups.push([d]);
      } else {
        run.push(d);
      }
    }
    if (run.length > 0) groups.push(run);
    return groups;
  }

  /**
   * Counts a suspect delivery and, when the deliveries before it that ended without an outcome
   * reached `maxDeliveries`, parks it unhandled. The count lives in the service database,
   * committed in a statement of its own before the handler runs: it survives the process dying
   * in the handler. A quorum queue's `x-delivery-count` is not used: it also counts what this
   * service gave back on purpose (database away, a refused move, a graceful stop), which must
   * never park a healthy message; the queue's own `x-delivery-limit` is only a far backstop.
   */
  async parkedAtDeliveryLimit(d: Decoded): Promise<boolean> {
    if (d.givenBack) {
      // Its last delivery ended here, returned untouched: nothing to count. (It was below the
      // limit then; its counter, if any, goes with the outcome.)
      d.counted = true;
      return false;
    }
    const rows = await this.o.sql.$queryRawUnsafe<Array<{ deliveries: number }>>(
      `INSERT INTO delivery_attempts AS a (consumer, event_id) VALUES ($1, $2::uuid)
       ON CONFLICT (consumer, event_id) DO UPDATE SET deliveries = a.deliveries + 1, last_delivered_at = now()
       RETURNING deliveries`,
      this.o.queue,
      d.event.eventId,
    );
    const previous = Number(rows[0]?.deliveries ?? 1);
    d.counted = true;
    if (previous < this.o.maxDeliveries) return false;
    const error = `delivered ${previous} times without an outcome (each time its process died or lost its connection while handling it)`;
    this.o.logger.error('message parked after too many deliveries without an outcome', {
      queue: this.o.queue, eventType: d.event.eventType, eventId: d.event.eventId, correlationId: d.event.correlationId, deliveries: previous, maxDeliveries: this.o.maxDeliveries,
      brokerDeliveryCount: d.msg.properties.headers?.[DELIVERY_COUNT],
    });
    // Not moved: it was requeued, comes back and is counted again.
    if (!(await this.o.settlement.park(d, 'delivery-limit', error, 'MESSAGE.DELIVERY_LIMIT', previous))) return true;
    this.o.observe?.('park', 0, d.event.eventType);
    if (d.counted) await this.forgetDeliveries(d);
    return true;
  }

  /** Deletes a message's delivery counter once it has an outcome outside a handler's transaction. */
  async forgetDeliveries(d: Decoded): Promise<void> {
    await this.o.sql
      .$executeRawUnsafe(FORGET_DELIVERIES, this.o.queue, d.event.eventId)
      .catch((err: unknown) => this.o.logger.warn('could not delete a delivery counter; the inbox retention will', { queue: this.o.queue, err: errorMessage(err) }));
  }
}
