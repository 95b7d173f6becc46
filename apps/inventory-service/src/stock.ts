/**
 * Inventory's decisions, pure so they are tested without I/O. The handlers lock what these
 * functions read (order state, product stock and price), call them, and write what they return.
 */

import { STOCK_FAILURE_REASONS } from '@orderflow/events';

/**
 * What inventory knows about an order (table `order_stock`). `NEW`: first heard of in the
 * current transaction (the handler's claim); it is always resolved before the commit.
 * `CANCELLED`: a cancellation or failed payment arrived before the order.created — the
 * tombstone that makes that order.created reserve nothing.
 */
export type OrderStatus = 'NEW' | 'RESERVED' | 'FAILED' | 'RELEASED' | 'CANCELLED';

export interface Line {
  productId: string;
  quantity: number;
  /** The price the client claimed for one unit, if it claimed one. */
  unitPrice?: number | undefined;
}

/** A line at the catalog price: what inventory.reserved carries and payment charges. */
export interface PricedLine {
  productId: string;
  quantity: number;
  unitPrice: number;
}

export interface StockLevel {
  available: number;
  reserved: number;
  /** The catalog price of one unit (the product's price when it is locked). */
  price: number;
}

/** Stock of the products a decision may touch, by product id. Missing id = unknown product. */
export type Stock = ReadonlyMap<string, StockLevel>;

/** Quantity of one product moved from available to reserved (or back, on release). */
export interface Move {
  productId: string;
  quantity: number;
}

export interface Shortage {
  productId: string;
  requested: number;
  available: number;
}

/** A line whose client price is not the catalog price; `line` counts from 1, in the order's line order. */
export interface PriceMismatch {
  line: number;
  productId: string;
  claimed: number;
  catalog: number;
}

/** The client's claimed total is not the catalog total of the order's lines. */
export interface TotalMismatch {
  claimed: number;
  catalog: number;
}

export type Reservation =
  | { ok: true; moves: Move[]; items: PricedLine[]; total: number }
  | { ok: false; unavailable: Shortage[]; unknown: string[]; mismatches: PriceMismatch[]; totalMismatch?: TotalMismatch };

/** The reason inventory.failed carries for a client price that is not the catalog's begins with this. */
export const PRICE_MISMATCH = STOCK_FAILURE_REASONS.priceMismatch;

// Money is compared and summed in whole cents: prices have at most 2 decimals, floats do not add exactly.
const cents = (amount: number): number => Math.round(amount * 100);

/** The reason inventory.failed carries when a cancellation overtook the order.created. */
export const ORDER_CANCELLED = 'order cancelled';

/** Lines of one product summed into one, in product id order (stable events and SQL). */
export function sumLines(lines: readonly Line[]): Move[] {
  const totals = new Map<string, number>();
  for (const l of lines) totals.set(l.productId, (totals.get(l.productId) ?? 0) + l.quantity);
  return [...totals].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)).map(([productId, quantity]) => ({ productId, quantity }));
}

/**
 * All or nothing: every (summed) line fits in the available stock and every price the client
 * claimed is the catalog's, or nothing is reserved. A reservation prices each line at the
 * catalog price; its total is what payment charges.
 *
 * `claimedTotal` is the total the client claimed (order.created's `total`). With every line
 * priced it is their sum, so a wrong line price already says it all; it matters for an order
 * whose lines carry no price but whose client stated what it expects to pay (a `totalAmount`):
 * charging something else than that would be as wrong as a wrong line price.
 */
export function reserve(stock: Stock, lines: readonly Line[], claimedTotal?: number): Reservation {
  const wanted = sumLines(lines);
  const unknown = wanted.filter((m) => !stock.has(m.productId)).map((m) => m.productId);
  const unavailable = wanted
    .map((m) => ({ productId: m.productId, requested: m.quantity, available: stock.get(m.productId)?.available ?? 0 }))
    .filter((s) => s.requested > s.available);
  const mismatches: PriceMismatch[] = [];
  const items: PricedLine[] = [];
  let total = 0;
  lines.forEach((l, i) => {
    const price = stock.get(l.productId)?.price;
    if (price === undefined) return; // unknown product: already a reason to refuse
    if (l.unitPrice !== undefined && cents(l.unitPrice) !== cents(price)) mismatches.push({ line: i + 1, productId: l.productId, claimed: l.unitPrice, catalog: price });
    items.push({ productId: l.productId, quantity: l.quantity, unitPrice: price });
    total += l.quantity * cents(price);
  });
  // Only a catalog total of known products, and only when no line price explains the difference.
  const totalMismatch =
    claimedTotal !== undefined && unknown.length === 0 && mismatches.length === 0 && cents(claimedTotal) !== total
      ? { claimed: claimedTotal, catalog: total / 100 }
      : undefined;
  return unavailable.length === 0 && mismatches.length === 0 && totalMismatch === undefined
    ? { ok: true, moves: wanted, items, total: total / 100 }
    : { ok: false, unavailable, unknown, mismatches, ...(totalMismatch ? { totalMismatch } : {}) };
}

/**
 * Human-readable why of a failed reservation: a price mismatch first (the reason then begins
 * with PRICE_MISMATCH and names each line, its client and catalog price, or the client and
 * catalog totals), then unknown products and each shortage.
 */
export function failureReason(r: Extract<Reservation, { ok: false }>): string {
  const unknown = new Set(r.unknown);
  const money = (n: number): string => (cents(n) / 100).toFixed(2);
  const parts = [
    ...(r.mismatches.length > 0
      ? [`${PRICE_MISMATCH}: ${r.mismatches.map((m) => `line ${m.line} (${m.productId}): client price ${money(m.claimed)}, catalog price ${money(m.catalog)}`).join('; ')}`]
      : []),
    ...(r.totalMismatch ? [`${PRICE_MISMATCH}: total: client total ${money(r.totalMismatch.claimed)}, catalog total ${money(r.totalMismatch.catalog)}`] : []),
    ...(r.unknown.length > 0 ? [`${STOCK_FAILURE_REASONS.unknownProduct} ${r.unknown.join(', ')}`] : []),
    ...r.unavailable
      .filter((s) => !unknown.has(s.productId))
      .map((s) => `${STOCK_FAILURE_REASONS.insufficientStock} for ${s.productId} (requested ${s.requested}, available ${s.available})`),
  ];
  return parts.join('; ');
}

export type CreatedDecision =
  /** Reserve `moves`; `items` are the order's lines at the catalog price, `total` their sum. */
  | { kind: 'reserve'; next: 'RESERVED'; moves: Move[]; items: PricedLine[]; total: number }
  | { kind: 'reject'; next: 'FAILED'; reason: string; unavailable: Shortage[] }
  /** order.created was answered already (same order, another event id): nothing changes. */
  | { kind: 'ignore' };

/** What to do with an order.created, given what is known about its order (`claimedTotal`: its `total`). */
export function decideCreated(status: OrderStatus, stock: Stock, lines: readonly Line[], claimedTotal?: number): CreatedDecision {
  switch (status) {
    case 'NEW': {
      const r = reserve(stock, lines, claimedTotal);
      return r.ok
        ? { kind: 'reserve', next: 'RESERVED', moves: r.moves, items: r.items, total: r.total }
        : { kind: 'reject', next: 'FAILED', reason: failureReason(r), unavailable: r.unavailable };
    }
    case 'CANCELLED':
      // Answer anyway, so every order.created gets exactly one reply and no saga waits forever.
      return { kind: 'reject', next: 'FAILED', reason: ORDER_CANCELLED, unavailable: [] };
    case 'RESERVED':
    case 'FAILED':
    case 'RELEASED':
      return { kind: 'ignore' };
  }
}

/** Applies moves to a copy of the stock: `+1` reserves (available → reserved), `-1` releases. */
export function applyMoves(stock: Stock, moves: readonly Move[], direction: 1 | -1): Map<string, StockLevel> {
  return moveInPlace(new Map(stock), moves, direction);
}

/** Applies moves to `working`, a copy the caller owns (never stock it was given). */
function moveInPlace(working: Map<string, StockLevel>, moves: readonly Move[], direction: 1 | -1): Map<string, StockLevel> {
  for (const m of moves) {
    const level = working.get(m.productId);
    if (!level) throw new Error(`applyMoves: unknown product ${m.productId}`);
    working.set(m.productId, { ...level, available: level.available - direction * m.quantity, reserved: level.reserved + direction * m.quantity });
  }
  return working;
}

export interface CreatedOrder {
  orderId: string;
  status: OrderStatus;
  lines: readonly Line[];
  /** The total the client claimed, if it claimed one. */
  total?: number | undefined;
}

/**
 * Decides a batch of order.created in delivery order over one snapshot of (locked) stock:
 * each reservation lowers what the next order can get. Returns the decisions and the stock
 * after them.
 */
export function decideCreatedBatch(stock: Stock, orders: readonly CreatedOrder[]): { decisions: CreatedDecision[]; stock: Stock } {
  // One working copy for the whole batch (an import's chunk holds many orders: a copy of
  // the stock per reservation would cost orders × products).
  const current = new Map(stock);
  const decisions = orders.map((o) => {
    const d = decideCreated(o.status, current, o.lines, o.total);
    if (d.kind === 'reserve') moveInPlace(current, d.moves, 1);
    return d;
  });
  return { decisions, stock: current };
}

export type ReleaseDecision =
  | { kind: 'release'; next: 'RELEASED'; moves: Move[] }
  /** Nothing reserved yet: remember the cancellation so the order.created reserves nothing. */
  | { kind: 'remember'; next: 'CANCELLED' }
  /** Nothing held (failed, released or cancelled before): nothing changes, nothing is published. */
  | { kind: 'ignore' };

/**
 * What to do when an order's stock must go back (payment.failed, order.cancelled), given
 * what is known about the order and the quantities it still holds.
 */
export function decideRelease(status: OrderStatus, held: readonly Move[]): ReleaseDecision {
  switch (status) {
    case 'NEW':
      return { kind: 'remember', next: 'CANCELLED' };
    case 'RESERVED':
      return held.length > 0 ? { kind: 'release', next: 'RELEASED', moves: [...held] } : { kind: 'ignore' };
    case 'FAILED':
    case 'RELEASED':
    case 'CANCELLED':
      return { kind: 'ignore' };
  }
}
