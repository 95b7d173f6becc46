import type { SqlClient, TransactionRunner, SqlTx } from '@orderflow/db';
import { AppError } from '@orderflow/errors';
import type { CardAnswer } from './cards';

/**
 * The gateway's ledger: every charge and refund it was asked for, keyed by the caller's
 * idempotency key, in its own PostgreSQL database so that it outlives a restart of the
 * simulator. A request repeated with the same key gets the first final answer and never
 * charges twice; the unique key is what guarantees it, also for requests racing each other.
 *
 * One table, created at start (`ensureLedger`, ledger-schema.ts), not by our migrations: the simulator
 * stands in for a third party, whose storage is not one of our services' schemas.
 */

export type EntryStatus =
  /** Charges. */
  | 'approved'
  | 'declined'
  /** Asked for, the card network was unavailable: no answer yet, the same key may be tried again. */
  | 'pending'
  /**
   * A charge key voided by its caller (an order cancelled) before any charge was made under it:
   * a tombstone. A charge asked later under the key is answered `voided` and charges nothing.
   */
  | 'voided'
  /** Refunds. */
  | 'refunded';

export interface LedgerEntry {
  idempotencyKey: string;
  kind: 'charge' | 'refund';
  orderId: string;
  amount: number;
  paymentMethod: string | null;
  /** A refund's charge (its idempotency key). */
  chargeKey: string | null;
  status: EntryStatus;
  reason: string | null;
  /** Requests made with this key, the first included. */
  requests: number;
  createdAt: string;
  updatedAt: string;
}

export interface ChargeRequest {
  idempotencyKey: string;
  orderId: string;
  amount: number;
  paymentMethod: string;
}

/** One charge's answer. `replayed`: the key was answered before, this is that answer again. */
export type ChargeResult =
  | { idempotencyKey: string; status: 'approved' | 'declined' | 'unavailable' | 'voided'; reason: string | null; replayed: boolean; entry: LedgerEntry }
  /** The key was used before for another operation or other parameters: nothing was charged. */
  | { idempotencyKey: string; status: 'rejected'; code: 'GATEWAY.IDEMPOTENCY_KEY_REUSED'; reason: string };

/** The columns of an entry, as `Row` reads them; `t`: the table's alias in the statement. */
const columns = (t = ''): string =>
  `${t}idempotency_key, ${t}kind, ${t}order_id, ${t}amount::float8 AS amount, ${t}payment_method, ${t}charge_key, ${t}status, ${t}reason, ${t}requests,
   to_char(${t}created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"') AS created_at,
   to_char(${t}updated_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"') AS updated_at`;

interface Row {
  idempotency_key: string;
  kind: 'charge' | 'refund';
  order_id: string;
  amount: number;
  payment_method: string | null;
  charge_key: string | null;
  status: EntryStatus;
  reason: string | null;
  requests: number;
  created_at: string;
  updated_at: string;
}

const entryOf = (r: Row): LedgerEntry => ({
  idempotencyKey: r.idempotency_key,
  kind: r.kind,
  orderId: r.order_id,
  amount: Number(r.amount),
  paymentMethod: r.payment_method,
  chargeKey: r.charge_key,
  status: r.status,
  reason: r.reason,
  requests: r.requests,
  createdAt: r.created_at,
  updatedAt: r.updated_at,
});

/** What the card network answers a charge on its `request`-th request (cards.ts with the configured rate). */
export type CardRules = (charge: ChargeRequest, request: number) => CardAnswer;

const statusOf = (answer: CardAnswer): { status: EntryStatus; reason: string | null } =>
  answer.outcome === 'approved' ? { status: 'approved', reason: null } : answer.outcome === 'declined' ? { status: 'declined', reason: answer.reason } : { status: 'pending', reason: null };

const sameCharge = (row: Row, c: ChargeRequest): boolean =>
  row.kind === 'charge' && row.order_id === c.orderId && row.payment_method === c.paymentMethod && Math.abs(Number(row.amount) - c.amount) < 0.005;

/** A charge key voided for this order: whatever the charge asked under it, the answer is `voided`. */
const voidedFor = (row: Row, c: ChargeRequest): boolean => row.kind === 'charge' && row.status === 'voided' && row.order_id === c.orderId;

/** What voiding a charge key found and did. */
export interface VoidResult {
  /**
   * `voided`: no charge was made under the key (none asked, or its card network never
   * answered): the key is a tombstone now. `declined`: the charge was declined, nothing taken.
   * `refunded`: the charge was approved; it is refunded in full (`refund`).
   */
  outcome: 'voided' | 'declined' | 'refunded';
  charge: LedgerEntry;
  refund: LedgerEntry | null;
  /** Voided before: this is that answer again. */
  replayed: boolean;
}

/** Records a full refund of `charge` under `key`; undefined when the charge has a refund already (under any key). */
async function insertRefund(tx: SqlTx, key: string, charge: Row, amount: number): Promise<Row | undefined> {
  const [inserted] = await tx.$queryRawUnsafe<Row[]>(
    `INSERT INTO gateway_ledger (idempotency_key, kind, order_id, amount, charge_key, status)
     VALUES ($1, 'refund', $2, $3, $4, 'refunded')
     ON CONFLICT DO NOTHING
     RETURNING ${columns()}`,
    key,
    charge.order_id,
    amount,
    charge.idempotency_key,
  );
  return inserted;
}

export function ledger(deps: { transaction: TransactionRunner<SqlTx>; sql: SqlClient }) {
  return {
    /**
     * Charges each request once, in one transaction whatever their number: one upsert counts
     * the request on keys seen before (their first answer stands) and records the new ones with
     * the card's answer; a second statement settles the pending ones (the flaky card) whose
     * turn has come. Results in request order. Keys must be distinct (the API checks).
     */
    async charge(charges: readonly ChargeRequest[], rules: CardRules): Promise<ChargeResult[]> {
      if (charges.length === 0) return [];
      // Rows locked in key order: two batches sharing keys take turns instead of deadlocking.
      const sorted = [...charges].sort((a, b) => (a.idempotencyKey < b.idempotencyKey ? -1 : a.idempotencyKey > b.idempotencyKey ? 1 : 0));
      const first = sorted.map((c) => statusOf(rules(c, 1)));
      return deps.transaction(async (tx) => {
        const rows = await tx.$queryRawUnsafe<Array<Row & { inserted: boolean }>>(
          `INSERT INTO gateway_ledger (idempotency_key, kind, order_id, amount, payment_method, status, reason)
           SELECT v.key, 'charge', v.order_id, v.amount, v.payment_method, v.status, v.reason
             FROM unnest($1::text[], $2::text[], $3::numeric[], $4::text[], $5::text[], $6::text[])
               AS v(key, order_id, amount, payment_method, status, reason)
           ON CONFLICT (idempotency_key) DO UPDATE SET requests = gateway_ledger.requests + 1, updated_at = now()
           RETURNING ${columns()}, (xmax = 0) AS inserted`,
          sorted.map((c) => c.idempotencyKey),
          sorted.map((c) => c.orderId),
          sorted.map((c) => c.amount),
          sorted.map((c) => c.paymentMethod),
          first.map((f) => f.status),
          first.map((f) => f.reason),
        );
        const byKey = new Map(rows.map((r) => [r.idempotency_key, r]));
        // Pending charges asked again: the card network decides on this request.
        const settled: Array<{ key: string; status: EntryStatus; reason: string | null }> = [];
        for (const c of charges) {
          const row = byKey.get(c.idempotencyKey)!;
          // (A voided key stays voided: not pending.)
          if (row.inserted || row.status !== 'pending' || !sameCharge(row, c)) continue;
          const next = statusOf(rules(c, row.requests));
          if (next.status !== 'pending') settled.push({ key: c.idempotencyKey, ...next });
        }
        if (settled.length > 0) {
          const updated = await tx.$queryRawUnsafe<Row[]>(
            `UPDATE gateway_ledger g SET status = v.status, reason = v.reason, updated_at = now()
               FROM unnest($1::text[], $2::text[], $3::text[]) AS v(key, status, reason)
              WHERE g.idempotency_key = v.key
             RETURNING ${columns('g.')}`,
            settled.map((s) => s.key),
            settled.map((s) => s.status),
            settled.map((s) => s.reason),
          );
          for (const r of updated) byKey.set(r.idempotency_key, { ...r, inserted: false });
        }
        return charges.map((c): ChargeResult => {
          const row = byKey.get(c.idempotencyKey)!;
          // Voided by its caller before any charge: answered so (the void is the first, final answer), nothing charged.
          if (voidedFor(row, c)) return { idempotencyKey: c.idempotencyKey, status: 'voided', reason: row.reason, replayed: true, entry: entryOf(row) };
          if (!sameCharge(row, c)) {
            return { idempotencyKey: c.idempotencyKey, status: 'rejected', code: 'GATEWAY.IDEMPOTENCY_KEY_REUSED', reason: `idempotency key ${c.idempotencyKey} was used for another operation` };
          }
          const entry = entryOf(row);
          const status = row.status === 'pending' ? 'unavailable' : (row.status as 'approved' | 'declined');
          // Replayed: answered (finally) by an earlier request, not by this one.
          const replayed = !row.inserted && !settled.some((s) => s.key === c.idempotencyKey) && status !== 'unavailable';
          return { idempotencyKey: c.idempotencyKey, status, reason: row.reason, replayed, entry };
        });
      });
    },

    /**
     * Refunds a charge in full, once: the same key answers the first refund again; a charge
     * refunded under another key, unknown or not approved, or an amount above the charge, is
     * refused with a problem. The charge row is locked so refunds of one charge take turns.
     */
    async refund(r: { idempotencyKey: string; chargeKey: string; amount: number }): Promise<{ entry: LedgerEntry; replayed: boolean }> {
      return deps.transaction(async (tx) => {
        const [charge] = await tx.$queryRawUnsafe<Row[]>(`SELECT ${columns()} FROM gateway_ledger WHERE idempotency_key = $1 FOR UPDATE`, r.chargeKey);
        const [existing] = await tx.$queryRawUnsafe<Row[]>(
          `UPDATE gateway_ledger SET requests = requests + 1, updated_at = now() WHERE idempotency_key = $1 RETURNING ${columns()}`,
          r.idempotencyKey,
        );
        if (existing) {
          if (existing.kind !== 'refund' || existing.charge_key !== r.chargeKey || Math.abs(Number(existing.amount) - r.amount) >= 0.005) {
            throw new AppError('GATEWAY.IDEMPOTENCY_KEY_REUSED', `idempotency key ${r.idempotencyKey} was used for another operation`, { category: 'conflict' });
          }
          return { entry: entryOf(existing), replayed: true };
        }
        if (!charge || charge.kind !== 'charge') throw new AppError('GATEWAY.CHARGE_NOT_FOUND', `no charge ${r.chargeKey}`, { category: 'not_found' });
        if (charge.status !== 'approved') throw new AppError('GATEWAY.CHARGE_NOT_REFUNDABLE', `charge ${r.chargeKey} is ${charge.status}, not approved`, { category: 'conflict' });
        if (r.amount - Number(charge.amount) >= 0.005) {
          throw new AppError('GATEWAY.REFUND_EXCEEDS_CHARGE', `refund of ${r.amount} exceeds charge ${r.chargeKey} of ${charge.amount}`, { category: 'validation' });
        }
        const inserted = await insertRefund(tx, r.idempotencyKey, charge, r.amount);
        // Not inserted: the charge has a refund under another key (the key itself was looked up above, under the charge's lock).
        if (!inserted) throw new AppError('GATEWAY.CHARGE_ALREADY_REFUNDED', `charge ${r.chargeKey} is refunded already`, { category: 'conflict' });
        return { entry: entryOf(inserted), replayed: false };
      });
    },

    /**
     * Voids a charge key for its order, once and for all, whatever was asked under it so far:
     * nothing → a tombstone (any later charge under the key is answered `voided`); pending (the
     * card network never answered) → voided; declined → nothing to do; approved → refunded in
     * full under `refundKey` (or found refunded already, under any key). Asked again, the same
     * answer. The key's row is created or locked first, so a charge racing the void either
     * comes first (and is refunded) or finds the tombstone.
     */
    async void(v: { chargeKey: string; orderId: string; amount: number; refundKey: string }): Promise<VoidResult> {
      return deps.transaction(async (tx) => {
        const [tombstone] = await tx.$queryRawUnsafe<Row[]>(
          `INSERT INTO gateway_ledger (idempotency_key, kind, order_id, amount, status, reason)
           VALUES ($1, 'charge', $2, $3, 'voided', 'voided before any charge')
           ON CONFLICT (idempotency_key) DO NOTHING
           RETURNING ${columns()}`,
          v.chargeKey,
          v.orderId,
          v.amount,
        );
        if (tombstone) return { outcome: 'voided', charge: entryOf(tombstone), refund: null, replayed: false };
        // The key exists (ON CONFLICT waited for a racing charge to commit): lock it; refunds and voids of it take turns.
        const [charge] = await tx.$queryRawUnsafe<Row[]>(`SELECT ${columns()} FROM gateway_ledger WHERE idempotency_key = $1 FOR UPDATE`, v.chargeKey);
        if (!charge || charge.kind !== 'charge' || charge.order_id !== v.orderId) {
          throw new AppError('GATEWAY.IDEMPOTENCY_KEY_REUSED', `idempotency key ${v.chargeKey} was used for another operation`, { category: 'conflict' });
        }
        switch (charge.status) {
          case 'voided':
            return { outcome: 'voided', charge: entryOf(charge), refund: null, replayed: true };
          case 'declined':
            return { outcome: 'declined', charge: entryOf(charge), refund: null, replayed: false };
          case 'pending': {
            const [updated] = await tx.$queryRawUnsafe<Row[]>(
              `UPDATE gateway_ledger SET status = 'voided', reason = 'voided before the card network answered', updated_at = now() WHERE idempotency_key = $1 RETURNING ${columns()}`,
              v.chargeKey,
            );
            return { outcome: 'voided', charge: entryOf(updated!), refund: null, replayed: false };
          }
          default: {
            // Approved: give the money back, once.
            const [existing] = await tx.$queryRawUnsafe<Row[]>(`SELECT ${columns()} FROM gateway_ledger WHERE kind = 'refund' AND charge_key = $1`, v.chargeKey);
            if (existing) return { outcome: 'refunded', charge: entryOf(charge), refund: entryOf(existing), replayed: true };
            const refund = await insertRefund(tx, v.refundKey, charge, Number(charge.amount));
            // Not inserted: the refund key names another operation (the charge's own refund was looked up above, under its lock).
            if (!refund) throw new AppError('GATEWAY.IDEMPOTENCY_KEY_REUSED', `idempotency key ${v.refundKey} was used for another operation`, { category: 'conflict' });
            return { outcome: 'refunded', charge: entryOf(charge), refund: entryOf(refund), replayed: false };
          }
        }
      });
    },

    /** The entry of an idempotency key, if any. */
    async lookup(idempotencyKey: string): Promise<LedgerEntry | undefined> {
      const [row] = await deps.sql.$queryRawUnsafe<Row[]>(`SELECT ${columns()} FROM gateway_ledger WHERE idempotency_key = $1`, idempotencyKey);
      return row ? entryOf(row) : undefined;
    },
  };
}

export type Ledger = ReturnType<typeof ledger>;
