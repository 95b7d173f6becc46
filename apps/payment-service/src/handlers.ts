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
import { answerToRepeatedReservation, decideCancellation, REASON_CANCELLED, type ChargeStatus } from './decisions';
import type { PaymentGateway } from './gateway';
import { countPayment } from './metrics';
import { BULK_EVENTS, SAGA_EVENTS } from './queues';
import { chargesOf, insertPayments, markCharged, markNotCharged, paymentsOf, type NewPayment } from './store';

interface Deps {
  /** Decides the cards (the payment gateway, over HTTP). */
  gateway: PaymentGateway;
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
 * Charges each order once, for many reservations at a time: one insert of the charge rows, ONE
 * call to the payment gateway for all the orders it took, one update of the declined ones.
 * Checkout and imports both charge through it; returns one answer per reservation, in order.
 *
 * The rows come first, as provisional successes: the unique (orderId, CHARGE) row is the
 * order's lock for the rest of the transaction, so a second reservation or a cancellation
 * racing on another replica waits for this one (then finds its charge) instead of slipping a
 * VOIDED row in while the card is being charged. The transaction stays open for the call —
 * bounded by PAYMENT_GATEWAY_TIMEOUT_MS, under the lock timeout (config.ts) — which is what
 * makes an external charge and its row one decision.
 *
 * When the call fails nothing is written (the rollback takes the provisional rows): the gateway
 * unavailable throws DependencyUnavailableError, and the consumer keeps the messages and waits
 * for it; their retry asks again with the same idempotency keys, so an order charged before a
 * lost answer or a failed commit is answered, not charged again. A card whose network is
 * unavailable (the flaky test card) throws a transient error: the messaging loop retries the
 * message later, with its own attempt count.
 *
 * Until that retry the order has no row here although the gateway may have charged it: a
 * cancellation handled meanwhile (another replica, the other lane) voids the charge key at the
 * gateway, which refunds such a charge or makes any later charge under the key answer
 * `voided` (see `refundOrVoid`); the retry then finds the cancellation's rows, or is answered
 * `voided` by the gateway.
 */
async function chargeOrders(deps: Deps, items: ReadonlyArray<{ reservation: Reservation; attempt: number }>, ctx: Ctx): Promise<ChargeAnswer[]> {
  const answerExisting = (r: Reservation, { status, refunded }: { status: ChargeStatus; refunded: boolean }): ChargeAnswer => {
    const answer = answerToRepeatedReservation(status, refunded);
    ctx.logger.info('order already has a charge; nothing charged', { orderId: r.orderId, status, refunded });
    return answer ? { kind: 'failed', payload: { orderId: r.orderId, customerId: r.customerId, reason: answer.reason } } : null;
  };
  const answers: ChargeAnswer[] = items.map(() => null);
  const rows: Array<{ index: number; row: NewPayment; paymentMethod: string }> = [];
  const seen = new Set<string>();
  items.forEach(({ reservation, attempt }, index) => {
    const { orderId, customerId, total, paymentMethod } = reservation;
    if (seen.has(orderId)) return; // a second reservation for an order charged in this batch
    seen.add(orderId);
    rows.push({ index, paymentMethod, row: { id: newId(), orderId, customerId, type: 'CHARGE', status: 'SUCCEEDED', amount: total, attempts: attempt, reason: null } });
  });
  const inserted = await insertPayments(ctx.tx, rows.map((x) => x.row), deps.now());
  const charged = rows.filter((x) => inserted.has(x.row.orderId));
  const before = rows.filter((x) => !inserted.has(x.row.orderId));
  if (before.length > 0) {
    const existing = await chargesOf(ctx.tx, before.map((x) => x.row.orderId));
    for (const { index, row } of before) {
      const charge = existing.get(row.orderId);
      if (!charge) throw transientError('PAYMENT.CHARGE_CONFLICT', `charge of order ${row.orderId} conflicted but is not visible yet`);
      answers[index] = answerExisting(items[index]!.reservation, charge);
    }
  }
  const cards = await deps.gateway.charge(charged.map(({ row, paymentMethod }) => ({ orderId: row.orderId, amount: row.amount, paymentMethod })));
  const unavailable = charged.filter((_, i) => cards[i]!.outcome === 'unavailable');
  if (unavailable.length > 0) {
    throw transientError('PAYMENT.CARD_NETWORK_UNAVAILABLE', `card network unavailable for order ${unavailable.map((x) => x.row.orderId).join(', ')} (attempt ${unavailable[0]!.row.attempts})`);
  }
  const notCharged: Array<{ id: string; status: 'FAILED' | 'VOIDED'; reason: string }> = [];
  charged.forEach(({ index, row }, i) => {
    const card = cards[i]!;
    const { orderId, customerId } = row;
    countPayment(ctx.tx, 'charge', card.outcome === 'approved' ? 'succeeded' : 'failed', row.amount);
    if (card.outcome === 'declined') {
      notCharged.push({ id: row.id, status: 'FAILED', reason: card.reason });
      answers[index] = { kind: 'failed', payload: { orderId, customerId, reason: card.reason } };
    } else if (card.outcome === 'voided') {
      // A cancellation voided the key at the gateway, and its own transaction here did not commit (its retry will find this row).
      notCharged.push({ id: row.id, status: 'VOIDED', reason: REASON_CANCELLED });
      answers[index] = { kind: 'failed', payload: { orderId, customerId, reason: REASON_CANCELLED } };
      ctx.logger.info('the gateway answered the charge voided (the order was cancelled); nothing charged', { orderId });
    } else {
      answers[index] = { kind: 'completed', payload: { orderId, customerId, paymentId: row.id, amount: row.amount } };
    }
  });
  await markNotCharged(ctx.tx, notCharged, deps.now());
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
 * before any charge here (a VOIDED charge row) so the reservation that may still follow charges
 * nothing, and void the charge key at the gateway, which may have charged the order all the
 * same; a failed charge needs nothing.
 */
async function refundOrVoid(deps: Deps, event: EventOf<typeof orderCancelled>, ctx: Ctx): Promise<void> {
  const { orderId, customerId, total } = event.payload;
  const payments = await paymentsOf(ctx.tx, orderId);
  const decision = decideCancellation(payments.charge, payments.refunded);
  const base = { orderId, customerId, attempts: ctx.attemptOf(event), reason: REASON_CANCELLED };
  switch (decision.action) {
    case 'refund': {
      const id = newId();
      // The row first, as for a charge: it is the refund's lock while the gateway is called.
      const inserted = await insertPayments(ctx.tx, [{ ...base, id, type: 'REFUND', status: 'SUCCEEDED', amount: decision.amount }], deps.now());
      // Not inserted: a concurrent cancellation refunded it first.
      if (inserted.size === 0) return;
      // Throws like a charge when the gateway is unavailable: nothing is written, the message waits.
      const refund = await deps.gateway.refund({ orderId, amount: decision.amount });
      countPayment(ctx.tx, 'refund', 'succeeded', decision.amount);
      if (refund === 'charge-unknown') ctx.logger.warn('the gateway has no charge for this order (made before payments went through it): nothing to give back there', { orderId });
      ctx.publish(paymentRefunded, { orderId, customerId, paymentId: id, amount: decision.amount }, { correlationId: event.correlationId, causationId: event.eventId });
      ctx.logger.info('payment refunded', { orderId, paymentId: id, amount: decision.amount });
      return;
    }
    case 'void': {
      const id = newId();
      // The row first, as for a charge: it is the order's lock while the gateway is called. The
      // amount only records the order's total, if it was priced (0 if not).
      const inserted = await insertPayments(ctx.tx, [{ ...base, id, type: 'CHARGE', status: 'VOIDED', amount: total ?? 0 }], deps.now());
      // A reservation charged the order concurrently (another replica): decide again on the retry, which sees that charge.
      if (inserted.size === 0) throw transientError('PAYMENT.CHARGE_CONFLICT', `order ${orderId} was charged while its cancellation was handled`);
      // No charge here does not mean none at the gateway: a charge whose answer was lost, or whose
      // transaction rolled back (a timeout, a flaky card in its batch, a failed commit, a chunk
      // retried later), waits for its retry with no row here. Voiding the key settles it there:
      // such a charge is refunded, and any later one is answered `voided`. Throws like a refund
      // when the gateway is unavailable: nothing is written, the message waits.
      const voided = await deps.gateway.voidCharge({ orderId, amount: total ?? 0 });
      if (voided.outcome === 'refunded') {
        // The money moved and came back: the rows say so, as the gateway's ledger does.
        await markCharged(ctx.tx, id, voided.amount, deps.now());
        const refundId = newId();
        await insertPayments(ctx.tx, [{ ...base, id: refundId, type: 'REFUND', status: 'SUCCEEDED', amount: voided.amount }], deps.now());
        countPayment(ctx.tx, 'charge', 'succeeded', voided.amount);
        countPayment(ctx.tx, 'refund', 'succeeded', voided.amount);
        ctx.publish(paymentRefunded, { orderId, customerId, paymentId: refundId, amount: voided.amount }, { correlationId: event.correlationId, causationId: event.eventId });
        ctx.logger.warn('order cancelled before its charge was answered: the gateway had charged it, refunded', { orderId, paymentId: refundId, amount: voided.amount });
        return;
      }
      ctx.logger.info('order cancelled before payment; charge voided', { orderId, atGateway: voided.outcome });
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
 * `inventory.batch-reserved` (an import's chunk) → the same charge for each reserved order
 * (one gateway call per chunk), answered with ONE payment.batch-processed. A flaky card in the
 * chunk retries the chunk (its attempt count is the chunk's): nothing is charged twice, the
 * insert is idempotent per order and the gateway's answers per idempotency key.
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
