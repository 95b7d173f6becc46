import type { Tx } from './db';
import type { ChargeStatus } from './decisions';

// The SQL of the saga's payments: a fixed handful of statements per delivered batch, whatever
// its size. The unique (order_id, type) row is what makes a charge or a refund happen once.

/**
 * The CHARGE rows of these orders, and whether each was refunded (committed rows: ON CONFLICT
 * waited for any racing insert).
 */
export async function chargesOf(tx: Tx, orderIds: readonly string[]): Promise<Map<string, { status: ChargeStatus; refunded: boolean }>> {
  const rows = await tx.$queryRawUnsafe<Array<{ order_id: string; status: ChargeStatus; refunded: boolean }>>(
    `SELECT c.order_id::text, c.status::text,
            EXISTS (SELECT 1 FROM payments r WHERE r.order_id = c.order_id AND r.type = 'REFUND') AS refunded
       FROM payments c WHERE c.order_id = ANY($1::uuid[]) AND c.type = 'CHARGE'`,
    [...orderIds],
  );
  return new Map(rows.map((r) => [r.order_id, { status: r.status, refunded: r.refunded }]));
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
 * The charges the gateway did not approve: their rows, written as provisional successes before
 * the call (the row is the order's lock meanwhile), become FAILED (declined) or VOIDED (the key
 * was voided by a cancellation) with the reason. One statement.
 */
export async function markNotCharged(tx: Tx, rows: ReadonlyArray<{ id: string; status: 'FAILED' | 'VOIDED'; reason: string }>, at: Date): Promise<void> {
  if (rows.length === 0) return;
  await tx.$executeRawUnsafe(
    `UPDATE payments p SET status = v.status::"PaymentStatus", reason = v.reason, updated_at = $4::timestamptz
       FROM unnest($1::uuid[], $2::text[], $3::text[]) AS v(id, status, reason)
      WHERE p.id = v.id`,
    rows.map((d) => d.id),
    rows.map((d) => d.status),
    rows.map((d) => d.reason),
    at.toISOString(),
  );
}

/**
 * A cancellation's VOIDED row when voiding found the order charged at the gateway after all (an
 * answer that never reached us): the row becomes that successful charge, of the gateway's amount.
 */
export async function markCharged(tx: Tx, id: string, amount: number, at: Date): Promise<void> {
  await tx.$executeRawUnsafe(
    `UPDATE payments SET status = 'SUCCEEDED', amount = $2::numeric, reason = NULL, updated_at = $3::timestamptz WHERE id = $1::uuid`,
    id,
    amount,
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
