import { LIMITS, type Rejection, type Row, type RowResult } from './rows';

export interface ChunkOrder {
  orderRef: string;
  customerId: string;
  paymentMethod: string;
  /** `unitPrice` null: the row's price cell was empty. */
  items: Array<{ line: number; productId: string; quantity: number; unitPrice: number | null }>;
}

export interface RejectedRow {
  line: number;
  reason: string;
  raw: string;
}

export interface RowCounts {
  read: number;
  accepted: number;
  rejected: number;
}

/** What one chunk carries: whole orders, and the rows it decided (accepted in its orders, or rejected). */
export interface Chunk {
  orders: ChunkOrder[];
  rejected: RejectedRow[];
  /** Rows decided in this chunk: read = accepted + rejected. */
  rows: RowCounts;
}

interface OpenOrder {
  ref: string;
  rows: Row[];
  /** Set when a row of the order is bad: the whole order is rejected. */
  poison: { line: number; reason: string } | null;
  raws: RejectedRow[];
}

export interface ChunkOptions {
  /** Accepted rows after which the chunk closes (at the next order boundary). */
  chunkRows: number;
  /** Rejected rows after which a chunk closes anyway (bounds memory on a file of bad rows). */
  maxRejectedPerChunk?: number;
  /** orderRefs remembered to catch an order whose rows are not consecutive. */
  recentRefs?: number;
}

/**
 * Groups rows into orders and orders into chunks, in file order, holding one open order and
 * one open chunk at a time (memory is flat whatever the file's size).
 *
 * Rules, the same for every file: consecutive rows with the same orderRef form one order
 * (a chunk never splits an order); an order is imported whole or not at all — a bad row
 * that names the order (its orderRef is readable) rejects every row of it, with the reason;
 * the rows of an order must agree on customerId and paymentMethod and be at most 100; an
 * orderRef that comes back after other orders is rejected (within the last `recentRefs`
 * orders; further back, the order service sees it as already imported and creates nothing).
 */
export class ChunkBuilder {
  private order: OpenOrder | null = null;
  /** A bad row naming an orderRef other than the open order's: poisons that order if it comes next. */
  private poisonNext: { ref: string; line: number; reason: string } | null = null;
  private chunk: Chunk = emptyChunk();
  private acceptedInChunk = 0;
  private readonly recent: RecentRefs;
  readonly totals: RowCounts = { read: 0, accepted: 0, rejected: 0 };

  constructor(private readonly o: ChunkOptions) {
    this.recent = new RecentRefs(o.recentRefs ?? 50_000);
  }

  /** Takes the next row (in file order); returns a chunk when one is complete. */
  add(result: RowResult): Chunk | null {
    this.totals.read++;
    if (!result.ok) return this.addRejected(result);
    const { row } = result;
    const open = this.order;
    if (open && open.ref === row.orderRef) {
      const first = open.rows[0];
      if (open.poison) this.poisonRow(open, row);
      else if (first && first.customerId !== row.customerId) this.poisonOrder(open, row, `customerId "${row.customerId}" differs from "${first.customerId}" on line ${first.line} of the same order`);
      else if (first && first.paymentMethod !== row.paymentMethod) this.poisonOrder(open, row, `paymentMethod "${row.paymentMethod}" differs from "${first.paymentMethod}" on line ${first.line} of the same order`);
      else if (open.rows.length >= LIMITS.linesPerOrder) this.poisonOrder(open, row, `the order has more than ${LIMITS.linesPerOrder} rows`);
      else open.rows.push(row);
      return null;
    }
    const ready = this.closeOrder();
    this.openOrder(row);
    return ready;
  }

  /** Closes the open order and returns the last chunk (null when it would be empty). */
  finish(): Chunk | null {
    this.closeOrder(false);
    return this.takeChunk();
  }

  private addRejected(r: Rejection): Chunk | null {
    const open = this.order;
    if (r.ref !== null && open && open.ref === r.ref) {
      if (!open.poison) open.poison = { line: r.line, reason: r.reason };
      open.raws.push({ line: r.line, reason: r.reason, raw: r.raw });
      return null;
    }
    if (r.ref !== null) this.poisonNext = { ref: r.ref, line: r.line, reason: r.reason };
    this.reject({ line: r.line, reason: r.reason, raw: r.raw });
    const max = this.o.maxRejectedPerChunk ?? 1000;
    return this.chunk.rejected.length >= max ? this.takeChunk() : null;
  }

  private openOrder(row: Row): void {
    const order: OpenOrder = { ref: row.orderRef, rows: [row], poison: null, raws: [] };
    const earlier = this.recent.see(row.orderRef, row.line);
    if (earlier !== undefined) {
      order.poison = { line: row.line, reason: `orderRef "${row.orderRef}" was already used by the order on line ${earlier}; the rows of an order must be consecutive` };
    } else if (this.poisonNext?.ref === row.orderRef) {
      order.poison = { line: this.poisonNext.line, reason: this.poisonNext.reason };
    }
    this.poisonNext = null;
    this.order = order;
  }


  private poisonOrder(open: OpenOrder, row: Row, reason: string): void {
    open.poison = { line: row.line, reason };
    this.poisonRow(open, row);
  }

  private poisonRow(open: OpenOrder, row: Row): void {
    open.raws.push({ line: row.line, reason: open.poison!.line === row.line ? open.poison!.reason : '', raw: rowRaw(row) });
    open.rows.push(row);
  }

  /** Moves the open order into the chunk (or its rows into the rejected ones); may complete the chunk. */
  private closeOrder(mayEmit = true): Chunk | null {
    const open = this.order;
    this.order = null;
    if (!open) return null;
    if (open.poison) {
      const { line, reason } = open.poison;
      const why = `order "${open.ref}" is rejected: line ${line}: ${reason}`;
      const own = new Map(open.raws.map((r) => [r.line, r]));
      const lines = new Map<number, RejectedRow>();
      for (const row of open.rows) lines.set(row.line, { line: row.line, reason: row.line === line ? reason : why, raw: own.get(row.line)?.raw ?? rowRaw(row) });
      for (const r of open.raws) if (!lines.has(r.line)) lines.set(r.line, { line: r.line, reason: r.line === line ? reason : why, raw: r.raw });
      for (const r of lines.values()) this.reject(r);
    } else {
      const first = open.rows[0]!;
      this.chunk.orders.push({
        orderRef: open.ref,
        customerId: first.customerId,
        paymentMethod: first.paymentMethod,
        items: open.rows.map((r) => ({ line: r.line, productId: r.productId, quantity: r.quantity, unitPrice: r.unitPrice })),
      });
      this.chunk.rows.accepted += open.rows.length;
      this.chunk.rows.read += open.rows.length;
      this.totals.accepted += open.rows.length;
      this.acceptedInChunk += open.rows.length;
    }
    const max = this.o.maxRejectedPerChunk ?? 1000;
    return mayEmit && (this.acceptedInChunk >= this.o.chunkRows || this.chunk.rejected.length >= max) ? this.takeChunk() : null;
  }

  private reject(r: RejectedRow): void {
    this.chunk.rejected.push(r);
    this.chunk.rows.rejected++;
    this.chunk.rows.read++;
    this.totals.rejected++;
  }

  private takeChunk(): Chunk | null {
    const chunk = this.chunk;
    this.chunk = emptyChunk();
    this.acceptedInChunk = 0;
    return chunk.rows.read > 0 ? chunk : null;
  }
}

/**
 * The orderRefs of the last `size` orders, kept as two 32-bit hashes each in typed arrays
 * rather than as strings: orderRef strings that each live for thousands of orders would all
 * die in V8's old generation and grow the heap. A hit needs both hashes to match (a false
 * alarm is a 2^-64 chance); two live refs sharing the first hash keep only the newer one
 * (the older one's repeat then goes unnoticed here, and the order service counts it as
 * already imported). A ring buffer says which ref to forget next; an open-addressing table
 * (linear probing, at most half full) finds a ref's slot by its first hash — a `Map` doing the
 * same cost a noticeable share of the worker's CPU in an upload (see docs/performance.md).
 */
export class RecentRefs {
  private readonly second: Int32Array;
  private readonly first: Int32Array;
  private readonly lines: Int32Array;
  private readonly used: Uint8Array;
  /** Slot + 1 of the ref whose first hash probes here; 0 = empty. */
  private readonly table: Int32Array;
  private readonly shift: number;
  private readonly mask: number;
  private at = 0;

  constructor(private readonly size: number) {
    this.first = new Int32Array(size);
    this.second = new Int32Array(size);
    this.lines = new Int32Array(size);
    this.used = new Uint8Array(size);
    const bits = Math.max(1, Math.ceil(Math.log2(Math.max(2, size * 2))));
    this.table = new Int32Array(1 << bits);
    this.shift = 32 - bits;
    this.mask = (1 << bits) - 1;
  }

  /**
   * The line of the last order with this ref among the remembered ones (undefined if none),
   * and remembers this one in place of the oldest: one hash of the ref per order.
   */
  see(ref: string, line: number): number | undefined {
    hash(ref);
    const h1 = hashed.first;
    const h2 = hashed.second;
    let p = this.find(h1);
    const slot = this.table[p]! - 1;
    const earlier = slot >= 0 && this.second[slot] === h2 ? this.lines[slot] : undefined;
    if (this.size === 0) return earlier;
    const at = this.at;
    if (this.used[at] === 1) {
      const q = this.find(this.first[at]!);
      if (this.table[q] === at + 1) {
        this.remove(q);
        p = this.find(h1);
      }
    }
    this.first[at] = h1;
    this.second[at] = h2;
    this.lines[at] = line;
    this.used[at] = 1;
    this.table[p] = at + 1;
    this.at = (at + 1) % this.size;
    return earlier;
  }

  /** Where `h1` is in the table, or the empty place where it would go. */
  private find(h1: number): number {
    let p = this.home(h1);
    for (let e = this.table[p]!; e !== 0 && this.first[e - 1] !== h1; e = this.table[p]!) p = (p + 1) & this.mask;
    return p;
  }

  private home(h1: number): number {
    return Math.imul(h1, 0x9e3779b1) >>> this.shift;
  }

  /** Empties place `i`, moving back the entries after it that would no longer be found. */
  private remove(i: number): void {
    const { table, mask } = this;
    for (let j = (i + 1) & mask; table[j] !== 0; j = (j + 1) & mask) {
      const k = this.home(this.first[table[j]! - 1]!);
      // Entry j may move to i when its home is not in the cyclic range (i, j].
      if (i <= j ? k <= i || k > j : k <= i && k > j) {
        table[i] = table[j]!;
        i = j;
      }
    }
    table[i] = 0;
  }
}

/** The last result of `hash` (no tuple allocated per order). */
const hashed = { first: 0, second: 0 };

/** FNV-1a and a multiplicative variant of it, 32 bits each, over the UTF-16 code units. */
function hash(s: string): void {
  let a = 0x811c9dc5;
  let b = 0x9747b28c;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    a = Math.imul(a ^ c, 0x01000193);
    b = Math.imul(b ^ c, 0x5bd1e995);
    b ^= b >>> 15;
  }
  hashed.first = a | 0;
  hashed.second = b | 0;
}

function emptyChunk(): Chunk {
  return { orders: [], rejected: [], rows: { read: 0, accepted: 0, rejected: 0 } };
}

function rowRaw(r: Row): string {
  return [r.orderRef, r.customerId, r.productId, r.quantity, r.unitPrice ?? '', r.paymentMethod].join(',');
}
