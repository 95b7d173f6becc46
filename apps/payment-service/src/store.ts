import type { Tx } from './db';
import type { ChargeStatus } from './decisions';

// The SQL of the saga's payments: a fixed handful of statements per delivered batch, whatever
// its size. The unique (order_id, type) row is what makes a charge or a refund happen once.

/** The CHARGE rows of these orders (committed ones: ON CONFLICT waited for any racing insert). */
export async function chargesOf(tx: Tx, orderIds: readonly string[]): Promise<Map<string, ChargeStatus>> {
  const rows = await tx.$queryRawUnsafe<Array<{ order_id: string; status: ChargeStatus }>>(
    `SELECT order_id::text, status::text FROM payments WHERE order_id = ANY($1::uuid[]) AND type = 'CHARGE'`,
    [...orderIds],
  );
  return new Map(rows.map((r) => [r.order_id, r.status]));
}

export interface NewPayment {
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
export async function insertPayments(tx: Tx, rows: readonly NewPayment[], at: Date): Promise<Set<string>> {
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
 * The charges the gateway declined: their rows, written as provisional successes before the
 * call (the row is the order's lock meanwhile), become FAILED with the reason. One statement.
 */
export async function markDeclined(tx: Tx, declined: ReadonlyArray<{ id: string; reason: string }>, at: Date): Promise<void> {
  if (declined.length === 0) return;
  await tx.$executeRawUnsafe(
    `UPDATE payments p SET status = 'FAILED', reason = v.reason, updated_at = $3::timestamptz
       FROM unnest($1::uuid[], $2::text[]) AS v(id, reason)
      WHERE p.id = v.id`,
    declined.map((d) => d.id),
    declined.map((d) => d.reason),
    at.toISOString(),
  );
}

/** What a cancellation needs to know of an order's payments: its CHARGE (if any) and whether it was refunded. */
export async function paymentsOf(tx: Tx, orderId: string): Promise<{ charge: { status: ChargeStatus; amount: number } | null; refunded: boolean }> {
  const rows = await tx.$queryRawUnsafe<Array<{ type: string; status: ChargeStatus; amount: number }>>(
    'SELECT type::text, status::text, amount::float8 AS amount FROM payments WHERE order_id = $1::uuid',
    orderId,
  );
  const charge = rows.find((r) => r.type === 'CHARGE');
  return { charge: charge ? { status: charge.status, amount: Number(charge.amount) } : null, refunded: rows.some((r) => r.type === 'REFUND') };
}
