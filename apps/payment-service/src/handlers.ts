import { transientError } from '@orderflow/errors';
import {
  inventoryBatchReserved,
  inventoryReserved,
  newId,
  orderCancelled,
  paymentBatchProcessed,
  paymentCompleted,
  paymentFailed,
  paymentRefunded,
  type PayloadOf,
} from '@orderflow/events';
import { BULK_LANE, on, onBatch, type HandlerContext, type MessageContext, type Subscriptions } from '@orderflow/messaging';
import type { Tx } from './db';
import { answerToRepeatedReservation, chargeCard, decideCancellation, REASON_CANCELLED, REASON_DECLINED, type ChargeStatus } from './decisions';

interface Deps {
  /** PAYMENT_SUCCESS_RATE: approval probability of cards other than the test cards. */
  successRate: number;
  now: () => Date;
}

type ChargeRow = { order_id: string; status: ChargeStatus };

/** The CHARGE rows of these orders (committed ones: ON CONFLICT waited for any racing insert). */
async function chargesOf(tx: Tx, orderIds: readonly string[]): Promise<Map<string, ChargeStatus>> {
  const rows = await tx.$queryRawUnsafe<ChargeRow[]>(
    `SELECT order_id::text, status::text FROM payments WHERE order_id = ANY($1::uuid[]) AND type = 'CHARGE'`,
    [...orderIds],
  );
  return new Map(rows.map((r) => [r.order_id, r.status]));
}

interface NewPayment {
  id: string;
  orderId: string;
  customerId: string;
  type: 'CHARGE' | 'REFUND';
  status: ChargeStatus;
  amount: number;
  attempts: number;
  reason: string | null;
}

/** One multi-row insert; returns the order ids whose row was inserted (the others existed). */
async function insertPayments(tx: Tx, rows: readonly NewPayment[], at: Date): Promise<Set<string>> {
  if (rows.length === 0) return new Set();
  const inserted = await tx.$queryRawUnsafe<Array<{ order_id: string }>>(
    `INSERT INTO payments (id, order_id, customer_id, type, status, amount, attempts, reason, created_at, updated_at)
     SELECT v.id, v.order_id, v.customer_id, v.type::"PaymentType", v.status::"PaymentStatus", v.amount, v.attempts, v.reason, $9::timestamptz, $9::timestamptz
       FROM unnest($1::uuid[], $2::uuid[], $3::text[], $4::text[], $5::text[], $6::numeric[], $7::int[], $8::text[])
         AS v(id, order_id, customer_id, type, status, amount, attempts, reason)
     ON CONFLICT (order_id, type) DO NOTHING
     RETURNING order_id::text`,
    rows.map((r) => r.id),
    rows.map((r) => r.orderId),
    rows.map((r) => r.customerId),
    rows.map((r) => r.type),
    rows.map((r) => r.status),
    rows.map((r) => r.amount),
    rows.map((r) => r.attempts),
    rows.map((r) => r.reason),
    at.toISOString(),
  );
  return new Set(inserted.map((r) => r.order_id));
}

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
 * Returns one answer per reservation, in order.
 */
async function chargeOrders(tx: Tx, deps: Deps, items: ReadonlyArray<{ reservation: Reservation; attempt: number }>, logger: HandlerContext<Tx>['logger']): Promise<ChargeAnswer[]> {
  const existing = await chargesOf(tx, items.map((i) => i.reservation.orderId));
  const answerExisting = (r: Reservation, status: ChargeStatus): ChargeAnswer => {
    const answer = answerToRepeatedReservation(status);
    logger.info('order already has a charge; nothing charged', { orderId: r.orderId, status });
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
  const inserted = await insertPayments(tx, toInsert.map((x) => x.row), deps.now());
  const lost = toInsert.filter((x) => !inserted.has(x.row.orderId));
  const racing = lost.length > 0 ? await chargesOf(tx, lost.map((x) => x.row.orderId)) : new Map<string, ChargeStatus>();
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

/** `inventory.reserved` → charge each order once, a delivered batch at a time; one answer per order. */
function charge(deps: Deps) {
  return onBatch<typeof inventoryReserved, Tx>(inventoryReserved, async (events, ctx: HandlerContext<Tx>) => {
    const answers = await chargeOrders(ctx.tx, deps, events.map((e) => ({ reservation: e.payload, attempt: ctx.attemptOf(e) })), ctx.logger);
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
  });
}

/**
 * `inventory.batch-reserved` (an import's chunk) → the same charge for each reserved order,
 * answered with ONE payment.batch-processed. A flaky card in the chunk retries the chunk (its
 * attempt count is the chunk's): nothing is charged twice, the insert is idempotent per order.
 */
function chargeInBulk(deps: Deps) {
  return onBatch<typeof inventoryBatchReserved, Tx>(inventoryBatchReserved, async (events, ctx: HandlerContext<Tx>) => {
    for (const event of events) {
      const attempt = ctx.attemptOf(event);
      const answers = await chargeOrders(ctx.tx, deps, event.payload.orders.map((reservation) => ({ reservation, attempt })), ctx.logger);
      const result: PayloadOf<typeof paymentBatchProcessed> = { importId: event.payload.importId, completed: [], failed: [] };
      for (const answer of answers) {
        if (answer?.kind === 'completed') result.completed.push(answer.payload);
        else if (answer?.kind === 'failed') result.failed.push(answer.payload);
      }
      if (result.completed.length + result.failed.length > 0) {
        ctx.publish(paymentBatchProcessed, result, { correlationId: event.correlationId, causationId: event.eventId });
      }
      ctx.logger.debug('bulk charge', { importId: event.payload.importId, completed: result.completed.length, failed: result.failed.length });
    }
  });
}

/**
 * `order.cancelled` → refund a successful charge once; remember a cancellation that comes
 * before any charge (a VOIDED charge row) so the reservation that may still follow charges
 * nothing; a failed charge needs nothing.
 */
function refundOrVoid(deps: Deps) {
  return on<typeof orderCancelled, Tx>(orderCancelled, async (event, ctx: MessageContext<Tx>) => {
    const { orderId, customerId, total } = event.payload;
    const rows = await ctx.tx.$queryRawUnsafe<Array<{ type: string; status: ChargeStatus; amount: number }>>(
      'SELECT type::text, status::text, amount::float8 AS amount FROM payments WHERE order_id = $1::uuid',
      orderId,
    );
    const chargeRow = rows.find((r) => r.type === 'CHARGE');
    const decision = decideCancellation(chargeRow ? { status: chargeRow.status, amount: Number(chargeRow.amount) } : null, rows.some((r) => r.type === 'REFUND'));
    const at = deps.now();
    switch (decision.action) {
      case 'refund': {
        const id = newId();
        const inserted = await insertPayments(ctx.tx, [{ id, orderId, customerId, type: 'REFUND', status: 'SUCCEEDED', amount: decision.amount, attempts: ctx.attempt, reason: REASON_CANCELLED }], at);
        // Not inserted: a concurrent cancellation refunded it first.
        if (inserted.size === 1) {
          ctx.publish(paymentRefunded, { orderId, customerId, paymentId: id, amount: decision.amount });
          ctx.logger.info('payment refunded', { orderId, paymentId: id, amount: decision.amount });
        }
        return;
      }
      case 'void': {
        // Nothing is charged: the amount only records the order's total, if it was priced (0 if not).
        const inserted = await insertPayments(ctx.tx, [{ id: newId(), orderId, customerId, type: 'CHARGE', status: 'VOIDED', amount: total ?? 0, attempts: ctx.attempt, reason: REASON_CANCELLED }], at);
        // A reservation charged the order concurrently (another replica): decide again on the retry, which sees that charge.
        if (inserted.size === 0) throw transientError('PAYMENT.CHARGE_CONFLICT', `order ${orderId} was charged while its cancellation was handled`);
        ctx.logger.info('order cancelled before payment; charge voided', { orderId });
        return;
      }
      case 'none':
        ctx.logger.info('cancellation needs no payment change', { orderId, why: decision.why });
    }
  });
}

export function subscriptions(deps: Deps): Subscriptions<Tx> {
  return {
    saga: [charge(deps), refundOrVoid(deps)],
    // A chunk's orders per message: a few in flight, one or two per transaction.
    bulk: { handlers: [chargeInBulk(deps)], ...BULK_LANE },
  };
}
