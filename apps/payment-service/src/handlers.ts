import { randomUUID } from 'node:crypto';
import { transientError } from '@orderflow/errors';
import { inventoryReserved, orderCancelled, paymentCompleted, paymentFailed, paymentRefunded, type EventOf } from '@orderflow/events';
import { on, onBatch, type HandlerContext, type MessageContext, type Subscriptions } from '@orderflow/messaging';
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

/**
 * `inventory.reserved` → charge each order once, a delivered batch at a time: one read of
 * existing charges, one multi-row insert. The unique (orderId, CHARGE) row guards against a
 * second reservation event for the same order, also one racing on another replica. A flaky
 * card's transient failure fails the batch; the loop then re-runs each event alone, so only
 * that one is retried later (with its own attempt count).
 */
function charge(deps: Deps) {
  return onBatch<typeof inventoryReserved, Tx>(inventoryReserved, async (events, ctx: HandlerContext<Tx>) => {
    const existing = await chargesOf(ctx.tx, events.map((e) => e.payload.orderId));
    const answerExisting = (e: EventOf<typeof inventoryReserved>, status: ChargeStatus): void => {
      const answer = answerToRepeatedReservation(status);
      if (answer) ctx.publish(paymentFailed, { orderId: e.payload.orderId, customerId: e.payload.customerId, reason: answer.reason });
      ctx.logger.info('order already has a charge; nothing charged', { orderId: e.payload.orderId, status });
    };
    const toInsert: Array<{ event: EventOf<typeof inventoryReserved>; row: NewPayment; reason: string | null }> = [];
    const seen = new Set<string>();
    for (const event of events) {
      const { orderId, customerId, total, paymentMethod } = event.payload;
      const status = existing.get(orderId);
      if (status) {
        answerExisting(event, status);
        continue;
      }
      if (seen.has(orderId)) continue; // a second reservation event for an order charged in this batch
      seen.add(orderId);
      const attempt = ctx.attemptOf(event);
      const card = chargeCard({ orderId, paymentMethod, attempt }, deps.successRate);
      if (card.outcome === 'unavailable') throw transientError('PAYMENT.GATEWAY_UNAVAILABLE', `card gateway unavailable (attempt ${attempt})`);
      const reason = card.outcome === 'declined' ? card.reason : null;
      toInsert.push({
        event,
        reason,
        row: { id: randomUUID(), orderId, customerId, type: 'CHARGE', status: card.outcome === 'approved' ? 'SUCCEEDED' : 'FAILED', amount: total, attempts: attempt, reason },
      });
    }
    const inserted = await insertPayments(ctx.tx, toInsert.map((x) => x.row), deps.now());
    const lost = toInsert.filter((x) => !inserted.has(x.row.orderId));
    const racing = lost.length > 0 ? await chargesOf(ctx.tx, lost.map((x) => x.row.orderId)) : new Map<string, ChargeStatus>();
    for (const { event, row, reason } of toInsert) {
      const { orderId, customerId } = row;
      if (!inserted.has(orderId)) {
        const status = racing.get(orderId);
        if (!status) throw transientError('PAYMENT.CHARGE_CONFLICT', `charge of order ${orderId} conflicted but is not visible yet`);
        answerExisting(event, status);
      } else if (row.status === 'SUCCEEDED') {
        ctx.publish(paymentCompleted, { orderId, customerId, paymentId: row.id, amount: row.amount }, { correlationId: orderId, causationId: event.eventId });
      } else {
        ctx.publish(paymentFailed, { orderId, customerId, reason: reason ?? REASON_DECLINED }, { correlationId: orderId, causationId: event.eventId });
        ctx.logger.info('payment declined', { orderId, paymentId: row.id, reason });
      }
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
        const id = randomUUID();
        const inserted = await insertPayments(ctx.tx, [{ id, orderId, customerId, type: 'REFUND', status: 'SUCCEEDED', amount: decision.amount, attempts: ctx.attempt, reason: REASON_CANCELLED }], at);
        // Not inserted: a concurrent cancellation refunded it first.
        if (inserted.size === 1) {
          ctx.publish(paymentRefunded, { orderId, customerId, paymentId: id, amount: decision.amount });
          ctx.logger.info('payment refunded', { orderId, paymentId: id, amount: decision.amount });
        }
        return;
      }
      case 'void': {
        const inserted = await insertPayments(ctx.tx, [{ id: randomUUID(), orderId, customerId, type: 'CHARGE', status: 'VOIDED', amount: total, attempts: ctx.attempt, reason: REASON_CANCELLED }], at);
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
  return { saga: [charge(deps), refundOrVoid(deps)] };
}
