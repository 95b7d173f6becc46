import { AppError, transientOnDuplicateKey } from '@orderflow/errors';
import type { Db } from './db';

// The SQL of admins' writes to products: create, replace guarded by the row's version, and
// relative adjustments. Each write is one statement that decides and writes at once (no
// read-then-write), so a reservation committed meanwhile is never overwritten. The row's
// version is bumped by a trigger on every UPDATE (migration product_version_and_stock_adjustments).

/** A product as these statements return it. */
export interface ProductRow {
  id: string;
  name: string;
  price: number;
  available: number;
  reserved: number;
  version: number;
}

export interface ProductFields {
  name: string;
  price: number;
  available: number;
}

/** `available` is an int4 column: an adjustment never takes it above this. */
export const MAX_STOCK = 2_147_483_647;

const RETURNING = 'id, name, price::float8 AS price, available, reserved, version';

/** Inserts the product unless its id exists; null when it existed (nothing changed). */
export async function createProduct(db: Db, id: string, fields: ProductFields): Promise<ProductRow | null> {
  const [row] = await db.$queryRawUnsafe<ProductRow[]>(
    `INSERT INTO products (id, name, price, available, updated_at) VALUES ($1, $2, $3::numeric, $4::int, now())
     ON CONFLICT (id) DO NOTHING RETURNING ${RETURNING}`,
    id,
    fields.name,
    fields.price,
    fields.available,
  );
  return row ?? null;
}

/**
 * Replaces name, price and available of the product if its version is one of `versions`
 * (`'any'`: whatever it is); `reserved` stays, held by orders. Null when no row matched: the
 * product is absent or has changed since the version was read.
 */
export async function replaceProduct(db: Db, id: string, fields: ProductFields, versions: readonly number[] | 'any'): Promise<ProductRow | null> {
  const [row] = await db.$queryRawUnsafe<ProductRow[]>(
    `UPDATE products SET name = $2, price = $3::numeric, available = $4::int, updated_at = now()
      WHERE id = $1 AND ($5::int[] IS NULL OR version = ANY($5::int[]))
      RETURNING ${RETURNING}`,
    id,
    fields.name,
    fields.price,
    fields.available,
    versions === 'any' ? null : [...versions],
  );
  return row ?? null;
}

export interface Adjustment {
  productId: string;
  /** Non-zero; added to available. */
  delta: number;
  reason: string;
  /** The admin's token subject. */
  adjustedBy: string;
  idempotencyKey: string | null;
}

export type AdjustmentOutcome =
  | { kind: 'applied'; product: ProductRow }
  /** The Idempotency-Key was used for this same adjustment before: nothing changed now. */
  | { kind: 'replayed'; product: ProductRow };

/**
 * Adds `delta` to the product's available in one conditional UPDATE (it waits for a
 * reservation holding the row and then applies to the stock that reservation left) and
 * records the adjustment with the available it left, in the same statement. A key already
 * used for the product replays (the same adjustment) or is refused (another one).
 * @throws AppError INVENTORY.PRODUCT_NOT_FOUND, INVENTORY.INSUFFICIENT_STOCK (available would go
 * below 0), INVENTORY.STOCK_LIMIT (above {@link MAX_STOCK}), INVENTORY.IDEMPOTENCY_KEY_REUSED.
 */
export async function adjustStock(db: Db, a: Adjustment): Promise<AdjustmentOutcome> {
  if (a.idempotencyKey !== null) {
    const earlier = await replay(db, a);
    if (earlier) return earlier;
  }
  let rows: ProductRow[];
  try {
    // A concurrent request with the same key waits for this row's lock, then fails on the
    // key's unique index: its whole statement (the UPDATE too) is undone, and it replays.
    rows = await transientOnDuplicateKey('INVENTORY.ADJUSTMENT_RACE', 'the same Idempotency-Key was used concurrently', () =>
      db.$queryRawUnsafe<ProductRow[]>(
        `WITH adjusted AS (
           UPDATE products SET available = available + $2::int, updated_at = now()
            WHERE id = $1 AND available::bigint + $2::int BETWEEN 0 AND ${MAX_STOCK}
            RETURNING ${RETURNING}
         ), recorded AS (
           INSERT INTO stock_adjustments (product_id, delta, reason, adjusted_by, idempotency_key, available_after)
           SELECT id, $2::int, $3, $4, $5, available FROM adjusted
         )
         SELECT * FROM adjusted`,
        a.productId,
        a.delta,
        a.reason,
        a.adjustedBy,
        a.idempotencyKey,
      ),
    );
  } catch (err) {
    const earlier = err instanceof AppError && err.code === 'INVENTORY.ADJUSTMENT_RACE' ? await replay(db, a) : undefined;
    if (earlier) return earlier;
    throw err;
  }
  const [product] = rows;
  if (product) return { kind: 'applied', product };
  throw refusal(await readProduct(db, a.productId), a);
}

/** The outcome of an adjustment whose key was used before, if it was. */
async function replay(db: Db, a: Adjustment): Promise<AdjustmentOutcome | undefined> {
  const [earlier] = await db.$queryRawUnsafe<Array<{ delta: number; reason: string }>>(
    'SELECT delta, reason FROM stock_adjustments WHERE product_id = $1 AND idempotency_key = $2',
    a.productId,
    a.idempotencyKey,
  );
  if (!earlier) return undefined;
  if (earlier.delta !== a.delta || earlier.reason !== a.reason) {
    throw new AppError(
      'INVENTORY.IDEMPOTENCY_KEY_REUSED',
      `Idempotency-Key ${a.idempotencyKey} was used for another adjustment of ${a.productId} (delta ${earlier.delta}, "${earlier.reason}")`,
      { category: 'conflict' },
    );
  }
  const product = await readProduct(db, a.productId);
  if (!product) throw notFound(a.productId);
  return { kind: 'replayed', product };
}

/**
 * Why the conditional UPDATE matched no row: no such product, or the delta's sign says which
 * bound it crossed (`product` is read after the UPDATE, for the message only).
 */
function refusal(product: ProductRow | null, a: Adjustment): AppError {
  if (!product) return notFound(a.productId);
  return a.delta < 0
    ? new AppError('INVENTORY.INSUFFICIENT_STOCK', `${a.productId} has ${product.available} available, fewer than the ${-a.delta} to remove`, {
        category: 'conflict',
      })
    : new AppError('INVENTORY.STOCK_LIMIT', `${a.productId} has ${product.available} available: ${a.delta} more would exceed ${MAX_STOCK}`, {
        category: 'conflict',
      });
}

export const notFound = (id: string): AppError => new AppError('INVENTORY.PRODUCT_NOT_FOUND', `No product ${id}`, { category: 'not_found' });

export async function readProduct(db: Db, id: string): Promise<ProductRow | null> {
  const [row] = await db.$queryRawUnsafe<ProductRow[]>(`SELECT ${RETURNING} FROM products WHERE id = $1`, id);
  return row ?? null;
}
