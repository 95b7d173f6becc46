import { stringify } from 'csv-stringify/sync';

/** docs/contract.md: the header of an import file, in this order. */
export const HEADER = ['orderRef', 'customerId', 'productId', 'quantity', 'unitPrice', 'paymentMethod'] as const;

/** One valid line of the file: one line of an order. */
export interface Row {
  line: number;
  orderRef: string;
  customerId: string;
  productId: string;
  quantity: number;
  /** The row's price; null when its cell is empty (the catalog prices the line). */
  unitPrice: number | null;
  paymentMethod: string;
}

export interface Rejection {
  line: number;
  reason: string;
  raw: string;
  /** The orderRef the row names when it is readable: a bad row rejects its whole order. */
  ref: string | null;
}

export type RowResult = { ok: true; row: Row } | ({ ok: false } & Rejection);

// The same limits as POST /api/orders, so an imported order is one the API would accept.
export const LIMITS = { orderRef: 100, customerId: 200, productId: 100, paymentMethod: 100, quantity: 10_000, unitPrice: 1_000_000, linesPerOrder: 100 } as const;

const INTEGER = /^-?\d+$/;
const AMOUNT = /^\d{1,7}(\.\d{1,2})?$/;

/** Why the first record is not the header, or null when it is (case and spaces aside). */
export function headerProblem(record: readonly string[]): string | null {
  const got = record.map((f) => f.trim().toLowerCase());
  const ok = got.length === HEADER.length && HEADER.every((name, i) => got[i] === name.toLowerCase());
  return ok ? null : `the first line must be the header ${HEADER.join(',')} (got: ${record.join(',').slice(0, 200)})`;
}

function field(value: string): string {
  const n = value.length;
  return n > 0 && (value.charCodeAt(0) <= 32 || value.charCodeAt(n - 1) <= 32) ? value.trim() : value;
}

/**
 * Validates one parsed record. Hand-written rather than a schema library: it runs once per row of
 * every import, so it must cost next to nothing; a unit test holds it to the limits of the
 * order API and to the import.chunk (v2) contract.
 */
export function validateRow(record: readonly string[], line: number): RowResult {
  const problem = rowProblem(record);
  if (typeof problem === 'string') return { ok: false, line, reason: problem, raw: rawOf(record), ref: refOf(record) };
  problem.line = line;
  return { ok: true, row: problem };
}

/** The row, or why it is bad. Straight-line code: no closures or allocations on the good path. */
function rowProblem(record: readonly string[]): Row | string {
  if (record.length !== HEADER.length) return `expected ${HEADER.length} fields, found ${record.length}`;
  const orderRef = field(record[0]!);
  const customerId = field(record[1]!);
  const productId = field(record[2]!);
  const quantityText = field(record[3]!);
  const priceText = field(record[4]!);
  const paymentMethod = field(record[5]!);
  const bad = textProblem('orderRef', orderRef) ?? textProblem('customerId', customerId) ?? textProblem('productId', productId) ?? textProblem('paymentMethod', paymentMethod);
  if (bad !== null) return bad;
  if (!INTEGER.test(quantityText)) return `quantity "${quantityText.slice(0, 40)}" is not a whole number`;
  const quantity = Number(quantityText);
  if (quantity < 1) return `quantity must be at least 1 (got ${quantityText})`;
  if (quantity > LIMITS.quantity) return `quantity must be at most ${LIMITS.quantity} (got ${quantityText})`;
  // An empty price is no price: the catalog sets it (a price given is a claim inventory checks).
  if (priceText.length === 0) return { line: 0, orderRef, customerId, productId, quantity, unitPrice: null, paymentMethod };
  if (!AMOUNT.test(priceText)) return `unitPrice "${priceText.slice(0, 40)}" is not an amount like 12.50 (at most 2 decimals, not negative)`;
  const unitPrice = Number(priceText);
  if (unitPrice > LIMITS.unitPrice) return `unitPrice must be at most ${LIMITS.unitPrice} (got ${priceText})`;
  return { line: 0, orderRef, customerId, productId, quantity, unitPrice, paymentMethod };
}

function textProblem(name: 'orderRef' | 'customerId' | 'productId' | 'paymentMethod', value: string): string | null {
  if (value.length === 0) return `${name} is empty`;
  if (value.length > LIMITS[name]) return `${name} is longer than ${LIMITS[name]} characters`;
  // csv-parse decodes invalid UTF-8 as U+FFFD; the guard refuses such lines, this is the backstop.
  if (value.indexOf('\uFFFD') !== -1) return `${name} is not UTF-8 text`;
  return null;
}

/** The record as a CSV line again, for the errors report (bounded). */
export function rawOf(record: readonly string[]): string {
  return stringify([record.map((f) => f.slice(0, 1000))], { eof: false }).slice(0, 2000);
}

function refOf(record: readonly string[]): string | null {
  const ref = record[0]?.trim() ?? '';
  return ref.length > 0 && ref.length <= LIMITS.orderRef ? ref : null;
}
