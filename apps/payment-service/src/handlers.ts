import { transientError } from '@orderflow/errors';
import {
  inventoryReserved,
  newId,
  orderCancelled,
  paymentBatchProcessed,
  paymentCompleted,
  paymentFailed,
  paymentRefunded,
  type EventOf,
  type PayloadOf,
} from '@orderflow/events';
import { BULK_LANE, onBatch, type HandlerContext, type Subscriptions } from '@orderflow/messaging';
import type { Tx } from './db';
import { answerToRepeatedReservation, chargeCard, decideCancellation, REASON_CANCELLED, REASON_DECLINED, type ChargeStatus } from './decisions';
import { BULK_EVENTS, SAGA_EVENTS } from './queues';
import { chargesOf, insertPayments, paymentsOf, type NewPayment } from './store';

interface Deps {
  /** PAYMENT_SUCCESS_RATE: approval probability of cards other than the test cards. */
  successRate: number;
  now: () => Date;
}

type Ctx = HandlerContext<Tx>;
type Reservation = PayloadOf<typeof inventoryReserved>;

/** What charging answered for one reservation (null: nothing to say, the order was answered before). */
type ChargeAnswer =
  | { kind: 'completed'; payload: PayloadOf<typeof paymentCompleted> }
  | { kind: 'failed'; payload: PayloadOf<typeof paymentFailed> }
  | null;

/**
 * Charges each order once, for many reservations at a time: one read of existing charges, one
 * multi-row insert. The unique (orderId, CHARGE) row guards against a second reservation for
 * the same order, also one racing on another replica. A flaky card's transient failure
 * throws, and the messaging loop retries the message later (with its own attempt count).
 * Returns one answer per reservation, in order. Checkout and imports both charge through it.
 */
async function chargeOrders(deps: Deps, items: ReadonlyArray<{ reservation: Reservation; attempt: number }>, ctx: Ctx): Promise<ChargeAnswer[]> {
  const existing = await chargesOf(ctx.tx, items.map((i) => i.reservation.orderId));
  const answerExisting = (r: Reservation, status: ChargeStatus): ChargeAnswer => {
    const answer = answerToRepeatedReservation(status);
    ctx.logger.info('order already has a charge; nothing charged', { orderId: r.orderId, status });
    return answer ? { kind: 'failed', payload: { orderId: r.orderId, customerId: r.customerId, reason: answer.reason } } : null;
  };
  const answers: ChargeAnswer[] = items.map(() => null);
  const toInsert: Array<{ index: number; row: NewPayment; reason: string | null }> = [];
  const seen = new Set<string>();
  items.forEach(({ reservation, attempt }, index) => {
    const { orderId, customerId, total, paymentMethod } = reservation;
    const status = existing.get(orderId);
    if (status) {
      answers[index] = answerExisting(reservation, status);
      return;
    }
    if (seen.has(orderId)) return; // a second reservation for an order charged in this batch
    seen.add(orderId);
    const card = chargeCard({ orderId, paymentMethod, attempt }, deps.successRate);
    if (card.outcome === 'unavailable') throw transientError('PAYMENT.GATEWAY_UNAVAILABLE', `card gateway unavailable (attempt ${attempt})`);
    const reason = card.outcome === 'declined' ? card.reason : null;
    toInsert.push({
      index,
      reason,
      row: { id: newId(), orderId, customerId, type: 'CHARGE', status: card.outcome === 'approved' ? 'SUCCEEDED' : 'FAILED', amount: total, attempts: attempt, reason },
    });
  });
  const inserted = await insertPayments(ctx.tx, toInsert.map((x) => x.row), deps.now());
  const lost = toInsert.filter((x) => !inserted.has(x.row.orderId));
  const racing = lost.length > 0 ? await chargesOf(ctx.tx, lost.map((x) => x.row.orderId)) : new Map<string, ChargeStatus>();
  for (const { index, row, reason } of toInsert) {
    const { orderId, customerId } = row;
    if (!inserted.has(orderId)) {
      const status = racing.get(orderId);
      if (!status) throw transientError('PAYMENT.CHARGE_CONFLICT', `charge of order ${orderId} conflicted but is not visible yet`);
      answers[index] = answerExisting(items[index]!.reservation, status);
    } else if (row.status === 'SUCCEEDED') {
      answers[index] = { kind: 'completed', payload: { orderId, customerId, paymentId: row.id, amount: row.amount } };
    } else {
      answers[index] = { kind: 'failed', payload: { orderId, customerId, reason: reason ?? REASON_DECLINED } };
    }
  }
  return answers;
}

/** `inventory.reserved`, consecutive ones together → charge each order once; one answer per order. */
async function charge(deps: Deps, events: ReadonlyArray<EventOf<typeof inventoryReserved>>, ctx: Ctx): Promise<void> {
  if (events.length === 0) return;
  const answers = await chargeOrders(deps, events.map((e) => ({ reservation: e.payload, attempt: ctx.attemptOf(e) })), ctx);
  answers.forEach((answer, i) => {
    const event = events[i]!;
    if (!answer) return;
    const meta = { correlationId: event.payload.orderId, causationId: event.eventId };
    if (answer.kind === 'completed') ctx.publish(paymentCompleted, answer.payload, meta);
    else {
      ctx.publish(paymentFailed, answer.payload, meta);
      ctx.logger.info('payment declined', { orderId: answer.payload.orderId, reason: answer.payload.reason });
    }
  });
}

/**
 * `order.cancelled` → refund a successful charge once; remember a cancellation that comes
 * before any charge (a VOIDED charge row) so the reservation that may still follow charges
 * nothing; a failed charge needs nothing.
 */
async function refundOrVoid(deps: Deps, event: EventOf<typeof orderCancelled>, ctx: Ctx): Promise<void> {
  const { orderId, customerId, total } = event.payload;
  const payments = await paymentsOf(ctx.tx, orderId);
  const decision = decideCancellation(payments.charge, payments.refunded);
  const base = { orderId, customerId, attempts: ctx.attemptOf(event), reason: REASON_CANCELLED };
  switch (decision.action) {
    case 'refund': {
      const id = newId();
      const inserted = await insertPayments(ctx.tx, [{ ...base, id, type: 'REFUND', status: 'SUCCEEDED', amount: decision.amount }], deps.now());
      // Not inserted: a concurrent cancellation refunded it first.
      if (inserted.size === 1) {
        ctx.publish(paymentRefunded, { orderId, customerId, paymentId: id, amount: decision.amount }, { correlationId: event.correlationId, causationId: event.eventId });
        ctx.logger.info('payment refunded', { orderId, paymentId: id, amount: decision.amount });
      }
      return;
    }
    case 'void': {
      // Nothing is charged: the amount only records the order's total, if it was priced (0 if not).
      const inserted = await insertPayments(ctx.tx, [{ ...base, id: newId(), type: 'CHARGE', status: 'VOIDED', amount: total ?? 0 }], deps.now());
      // A reservation charged the order concurrently (another replica): decide again on the retry, which sees that charge.
      if (inserted.size === 0) throw transientError('PAYMENT.CHARGE_CONFLICT', `order ${orderId} was charged while its cancellation was handled`);
      ctx.logger.info('order cancelled before payment; charge voided', { orderId });
      return;
    }
    case 'none':
      ctx.logger.info('cancellation needs no payment change', { orderId, why: decision.why });
  }
}

/**
 * `payment.saga`, a delivered batch at a time, in delivery order: consecutive reservations are
 * charged together; a cancellation is handled after the reservations delivered before it.
 */
function chargeOrRefund(deps: Deps) {
  return onBatch(SAGA_EVENTS, async (events, ctx: Ctx) => {
    let reserved: Array<EventOf<typeof inventoryReserved>> = [];
    for (const event of events) {
      switch (event.eventType) {
        case inventoryReserved.type:
          reserved.push(event);
          break;
        case orderCancelled.type:
          await charge(deps, reserved, ctx);
          reserved = [];
          await refundOrVoid(deps, event, ctx);
          break;
      }
    }
    await charge(deps, reserved, ctx);
  });
}

/**
 * `inventory.batch-reserved` (an import's chunk) → the same charge for each reserved order,
 * answered with ONE payment.batch-processed. A flaky card in the chunk retries the chunk (its
 * attempt count is the chunk's): nothing is charged twice, the insert is idempotent per order.
 */
function chargeInBulk(deps: Deps) {
  return onBatch(BULK_EVENTS, async (events, ctx: Ctx) => {
    for (const event of events) {
      const attempt = ctx.attemptOf(event);
      const answers = await chargeOrders(deps, event.payload.orders.map((reservation) => ({ reservation, attempt })), ctx);
      const result: PayloadOf<typeof paymentBatchProcessed> = {
        importId: event.payload.importId,
        completed: answers.flatMap((a) => (a?.kind === 'completed' ? [a.payload] : [])),
        failed: answers.flatMap((a) => (a?.kind === 'failed' ? [a.payload] : [])),
      };
      if (result.completed.length + result.failed.length > 0) {
        ctx.publish(paymentBatchProcessed, result, { correlationId: event.correlationId, causationId: event.eventId });
      }
      ctx.logger.debug('bulk charge', { importId: event.payload.importId, completed: result.completed.length, failed: result.failed.length });
    }
  });
}

export function subscriptions(deps: Deps): Subscriptions<Tx> {
  return {
    saga: [chargeOrRefund(deps)],
    // A chunk's orders per message: a few in flight, one per transaction (BULK_LANE).
    bulk: { handlers: [chargeInBulk(deps)], ...BULK_LANE },
  };
}
