import { randomUUID } from 'node:crypto';
import fc from 'fast-check';
import { Readable } from 'node:stream';
import { importChunkV2 } from '@orderflow/events';
import { chunkMessage } from '../src/chunk-message';
import { ChunkBuilder, RecentRefs, type Chunk } from '../src/csv/orders';
import { NotCsvError, readCsv } from '../src/csv/reader';
import { validateRow, type RowResult } from '../src/csv/rows';

const HEADER = 'orderRef,customerId,productId,quantity,unitPrice,paymentMethod';

/** Reads `parts` (sent as separate buffers) and collects the chunks. */
async function read(parts: Array<string | Buffer>, options: { chunkRows?: number; maxLineBytes?: number } = {}) {
  const chunks: Chunk[] = [];
  const reading = readCsv(Readable.from(parts.map((p) => (typeof p === 'string' ? Buffer.from(p) : p))), { maxLineBytes: options.maxLineBytes ?? 4096, chunkRows: options.chunkRows ?? 1000 }, async (c) => {
    chunks.push(c);
  });
  const totals = await reading.done;
  const orders = chunks.flatMap((c) => c.orders);
  const rejected = chunks.flatMap((c) => c.rejected).sort((a, b) => a.line - b.line);
  return { totals, chunks, orders, rejected };
}
const file = (...rows: string[]): string => `${[HEADER, ...rows].join('\n')}\n`;
const ok = (ref: string, customer = 'alice', product = 'P1', qty = '1', price = '9.99', card = 'pm_card_ok'): string => [ref, customer, product, qty, price, card].join(',');

describe('row validation', () => {
  const row = (...fields: string[]): RowResult => validateRow(fields, 7);

  it('a valid row is typed, trimmed and keeps its line number', () => {
    expect(row(' R1 ', 'alice', 'P1', '3', '12.50', 'pm_card_ok')).toEqual({ ok: true, row: { line: 7, orderRef: 'R1', customerId: 'alice', productId: 'P1', quantity: 3, unitPrice: 12.5, paymentMethod: 'pm_card_ok' } });
  });

  it('an empty unitPrice cell is accepted: the line has no price of its own and the catalog prices it', () => {
    expect(row('R1', 'alice', 'P1', '3', '', 'pm_card_ok')).toEqual({ ok: true, row: { line: 7, orderRef: 'R1', customerId: 'alice', productId: 'P1', quantity: 3, unitPrice: null, paymentMethod: 'pm_card_ok' } });
    expect(row('R1', 'alice', 'P1', '3', '  ', 'pm_card_ok')).toMatchObject({ ok: true, row: { unitPrice: null } });
  });

  it.each([
    [['R1', 'alice', 'P1', '1', '1'], 'expected 6 fields, found 5'],
    [['R1', 'alice', 'P1', '1', '1', 'pm', 'extra'], 'expected 6 fields, found 7'],
    [['', 'alice', 'P1', '1', '1', 'pm'], 'orderRef is empty'],
    [['R1', ' ', 'P1', '1', '1', 'pm'], 'customerId is empty'],
    [['R1', 'alice', '', '1', '1', 'pm'], 'productId is empty'],
    [['R1', 'alice', 'P1', '1', '1', ''], 'paymentMethod is empty'],
    [['R1', 'alice', 'P1', '0', '1', 'pm'], 'quantity must be at least 1 (got 0)'],
    [['R1', 'alice', 'P1', '-2', '1', 'pm'], 'quantity must be at least 1 (got -2)'],
    [['R1', 'alice', 'P1', '1.5', '1', 'pm'], 'quantity "1.5" is not a whole number'],
    [['R1', 'alice', 'P1', 'ten', '1', 'pm'], 'quantity "ten" is not a whole number'],
    [['R1', 'alice', 'P1', '10001', '1', 'pm'], 'quantity must be at most 10000 (got 10001)'],
    [['R1', 'alice', 'P1', '1', '-1', 'pm'], 'unitPrice "-1" is not an amount like 12.50 (at most 2 decimals, not negative)'],
    [['R1', 'alice', 'P1', '1', '1.999', 'pm'], 'unitPrice "1.999" is not an amount like 12.50 (at most 2 decimals, not negative)'],
    [['R1', 'alice', 'P1', '1', 'abc', 'pm'], 'unitPrice "abc" is not an amount like 12.50 (at most 2 decimals, not negative)'],
    [['R1', 'alice', 'P1', '1', '1000000.01', 'pm'], 'unitPrice must be at most 1000000 (got 1000000.01)'],
    [['R'.repeat(101), 'alice', 'P1', '1', '1', 'pm'], 'orderRef is longer than 100 characters'],
  ])('%j is rejected: %s', (fields, reason) => {
    expect(row(...fields)).toMatchObject({ ok: false, line: 7, reason });
  });

  it('a rejected row keeps its text and the orderRef it names', () => {
    expect(row('R9', 'bob', 'P,1', 'x', '1', 'pm')).toMatchObject({ ok: false, ref: 'R9', raw: 'R9,bob,"P,1",x,1,pm' });
  });
});

describe('reading a CSV upload', () => {
  it('rows sharing an orderRef form one order; the chunks\' messages satisfy the import.chunk v2 contract, each order a tuple', async () => {
    const { totals, orders, chunks } = await read([file(ok('R1', 'alice', 'P1', '2', '10.50'), ok('R1', 'alice', 'P2', '1', '5'), ok('R2', 'bob'))]);
    expect(totals).toEqual({ read: 3, accepted: 3, rejected: 0 });
    expect(orders).toEqual([
      { orderRef: 'R1', customerId: 'alice', paymentMethod: 'pm_card_ok', items: [{ line: 2, productId: 'P1', quantity: 2, unitPrice: 10.5 }, { line: 3, productId: 'P2', quantity: 1, unitPrice: 5 }] },
      { orderRef: 'R2', customerId: 'bob', paymentMethod: 'pm_card_ok', items: [{ line: 4, productId: 'P1', quantity: 1, unitPrice: 9.99 }] },
    ]);
    const importId = randomUUID();
    const messages = chunks.map((c, chunkNo) => JSON.parse(chunkMessage(importId, chunkNo, c, new Date()).content.toString()) as { version: number; payload: unknown });
    for (const m of messages) {
      expect(m.version).toBe(2);
      expect(importChunkV2.payload.safeParse(m.payload).success).toBe(true);
    }
    expect(messages.flatMap((m) => (m.payload as { orders: unknown[] }).orders)).toEqual([
      ['R1', 'alice', 'pm_card_ok', [[2, 'P1', 2, 10.5], [3, 'P2', 1, 5]]],
      ['R2', 'bob', 'pm_card_ok', [[4, 'P1', 1, 9.99]]],
    ]);
  });

  it('rows with an empty unitPrice cell go into the chunk without a price (null in the v2 tuple), and the message meets the contract', async () => {
    const { orders, chunks, rejected } = await read([file(ok('R1', 'alice', 'P1', '2', ''), ok('R1', 'alice', 'P2', '1', '5'))]);
    expect(rejected).toEqual([]);
    expect(orders).toEqual([
      { orderRef: 'R1', customerId: 'alice', paymentMethod: 'pm_card_ok', items: [{ line: 2, productId: 'P1', quantity: 2, unitPrice: null }, { line: 3, productId: 'P2', quantity: 1, unitPrice: 5 }] },
    ]);
    const message = JSON.parse(chunkMessage(randomUUID(), 0, chunks[0]!, new Date()).content.toString()) as { payload: { orders: unknown[] } };
    expect(importChunkV2.payload.safeParse(message.payload).success).toBe(true);
    expect(message.payload.orders).toEqual([['R1', 'alice', 'pm_card_ok', [[2, 'P1', 2, null], [3, 'P2', 1, 5]]]]);
  });

  it('a chunk closes after chunkRows accepted rows, never inside an order, and its row counts add up', async () => {
    const rows = ['A', 'A', 'A', 'B', 'C', 'C', 'D'].map((r) => ok(r));
    const { chunks, totals } = await read([file(...rows)], { chunkRows: 2 });
    expect(chunks.map((c) => c.orders.map((o) => `${o.orderRef}${o.items.length}`))).toEqual([['A3'], ['B1', 'C2'], ['D1']]);
    expect(chunks.map((c) => c.rows.read).reduce((a, b) => a + b)).toBe(totals.read);
  });

  it('line numbers survive CRLF line endings, a BOM, blank lines and quoted fields', async () => {
    const body = `\uFEFF${HEADER}\r\n\r\n${ok('R1')}\r\n"R2","bo""b","P,2",1,2.5,pm_card_ok\r\n\r\n${ok('R3', 'carol', 'P1', 'x')}\r\n`;
    const { orders, rejected } = await read([body]);
    expect(orders.map((o) => [o.orderRef, o.customerId, o.items[0]])).toEqual([
      ['R1', 'alice', { line: 3, productId: 'P1', quantity: 1, unitPrice: 9.99 }],
      ['R2', 'bo"b', { line: 4, productId: 'P,2', quantity: 1, unitPrice: 2.5 }],
    ]);
    expect(rejected).toEqual([{ line: 6, reason: 'quantity "x" is not a whole number', raw: 'R3,carol,P1,x,9.99,pm_card_ok' }]);
  });

  it('a hostile file: each bad line is rejected with its line number and reason, and the import goes on', async () => {
    const tenMegabytes = `R7,gus,P1,1,1,${'x'.repeat(10 * 1024 * 1024)}`;
    const parts = [
      `${HEADER}\n${ok('R1')}\n`,
      'R2,bob,"P1,1,5,pm_card_ok\n', // unterminated quote
      'R3,carol,P"1,1,5,pm_card_ok\n', // stray quote
      'R4,dan,"P1"x,1,5,pm_card_ok\n', // text after a closing quote
      'R5,erin,P1,1\n', // too few columns
      Buffer.concat([Buffer.from('R6,fay,P1,1,5,'), Buffer.from([0xff, 0x00, 0xfe, 0x01]), Buffer.from('\n')]), // binary garbage
      // A 10 MB line, arriving in 64 KB pieces: never held whole.
      ...Array.from({ length: Math.ceil(tenMegabytes.length / 65536) }, (_, i) => tenMegabytes.slice(i * 65536, (i + 1) * 65536)),
      '\n',
      Buffer.from([0xc3, 0x28, 0x2c, 0x61, 0x0a]), // invalid UTF-8
      `${ok('R8')}\n`,
    ];
    const { orders, rejected, totals } = await read(parts);
    expect(orders.map((o) => o.orderRef)).toEqual(['R1', 'R8']);
    expect(totals).toEqual({ read: 9, accepted: 2, rejected: 7 });
    expect(rejected.map((r) => [r.line, r.reason])).toEqual([
      [3, expect.stringMatching(/^unterminated quoted field/)],
      [4, expect.stringMatching(/^misplaced quote/)],
      [5, expect.stringMatching(/^misplaced quote/)],
      [6, 'expected 6 fields, found 4'],
      [7, 'binary data (a NUL byte) in the line'],
      [8, `the line is ${tenMegabytes.length} bytes long; the limit is 4096`],
      [9, 'the line is not UTF-8 text'],
    ]);
    expect(rejected.find((r) => r.line === 8)?.raw.length).toBeLessThanOrEqual(200);
    expect(rejected.find((r) => r.line === 7)?.raw).not.toContain('\u0000');
  });

  it('an order is imported whole or not at all: a bad row rejects every row of its order', async () => {
    const { orders, rejected } = await read([file(ok('R1'), ok('R1', 'alice', 'P2', '0'), ok('R1', 'alice', 'P3'), ok('R2'), ok('R3', 'carol'), ok('R3', 'dave'), ok('R4'))]);
    expect(orders.map((o) => o.orderRef)).toEqual(['R2', 'R4']);
    expect(rejected.map((r) => [r.line, r.reason])).toEqual([
      [2, 'order "R1" is rejected: line 3: quantity must be at least 1 (got 0)'],
      [3, 'quantity must be at least 1 (got 0)'],
      [4, 'order "R1" is rejected: line 3: quantity must be at least 1 (got 0)'],
      [6, 'order "R3" is rejected: line 7: customerId "dave" differs from "carol" on line 6 of the same order'],
      [7, 'customerId "dave" differs from "carol" on line 6 of the same order'],
    ]);
  });

  it('a broken line naming the next order rejects that order too', async () => {
    const { orders, rejected } = await read([file(ok('R1'), 'R2,bob,"P1,1,5,pm', ok('R2', 'bob'), ok('R3'))]);
    expect(orders.map((o) => o.orderRef)).toEqual(['R1', 'R3']);
    expect(rejected.map((r) => r.line)).toEqual([3, 4]);
  });

  it('an orderRef coming back after other orders is rejected: the rows of an order must be consecutive', async () => {
    const { orders, rejected } = await read([file(ok('R1'), ok('R2'), ok('R1'))]);
    expect(orders.map((o) => o.orderRef)).toEqual(['R1', 'R2']);
    expect(rejected).toEqual([expect.objectContaining({ line: 4, reason: expect.stringContaining('already used by the order on line 2') })]);
  });

  it('an order of more than 100 rows is rejected', async () => {
    const { orders, totals } = await read([file(...Array.from({ length: 101 }, () => ok('BIG')), ok('R2'))]);
    expect(orders.map((o) => o.orderRef)).toEqual(['R2']);
    expect(totals).toMatchObject({ accepted: 1, rejected: 101 });
  });

  it.each([
    ['binary garbage', [Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0x00, 0x00, 0x00, 0x0d, 0x49, 0x48])], /line 1: the line is not UTF-8 text/],
    ['NUL bytes', [Buffer.from([0x41, 0x00, 0x42, 0x0a])], /line 1: binary data/],
    ['JSON', ['{"orders": [1, 2]}\n'], /line 1: misplaced quote/],
    ['a CSV with other columns', ['id,name\n1,x\n'], /the first line must be the header orderRef,customerId/],
    ['an empty body', [''], /it is empty/],
    ['one endless line', ['x'.repeat(100_000)], /line 1: the line is 100000 bytes long/],
  ])('a body that is not CSV (%s) fails with the reason', async (_what, parts, reason) => {
    const failure = await read(parts as Array<string | Buffer>).catch((err: unknown) => err);
    expect(failure).toBeInstanceOf(NotCsvError);
    expect((failure as Error).message).toMatch(reason);
  });
});

describe('chunk builder memory', () => {
  it('remembers a bounded number of orderRefs, so memory is flat whatever the file size', () => {
    const builder = new ChunkBuilder({ chunkRows: 1000, recentRefs: 3 });
    const row = (ref: string, line: number): RowResult => ({ ok: true, row: { line, orderRef: ref, customerId: 'c', productId: 'p', quantity: 1, unitPrice: 1, paymentMethod: 'pm' } });
    ['A', 'B', 'C', 'D', 'A'].forEach((ref, i) => builder.add(row(ref, i + 2)));
    // A left the window of 3: seen again, it is a new order (the order service will see it as already imported).
    expect(builder.finish()?.orders.map((o) => o.orderRef)).toEqual(['A', 'B', 'C', 'D', 'A']);
  });
});

describe('recent orderRefs (the table behind "rows of an order must be consecutive")', () => {
  it('answers like a plain list of the last N refs: the line of the latest one within the window', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 40 }), fc.array(fc.integer({ min: 0, max: 60 }), { maxLength: 400 }), (size, picks) => {
        const recent = new RecentRefs(size);
        const window: Array<{ ref: string; line: number }> = [];
        picks.forEach((pick, i) => {
          const ref = `R-${pick}`;
          const line = i + 2;
          const expected = [...window].reverse().find((w) => w.ref === ref)?.line;
          expect(recent.see(ref, line)).toBe(expected);
          window.push({ ref, line });
          if (window.length > size) window.shift();
        });
      }),
      { numRuns: 300 },
    );
  });

  it('stays exact over a million orders with a window of 50,000: repeats within it caught, older ones not', () => {
    const recent = new RecentRefs(50_000);
    const refs: string[] = [];
    const lastAt = new Map<string, number>();
    let caught = 0;
    let missedOnPurpose = 0;
    for (let i = 0; i < 1_000_000; i++) {
      // Every 1,000th order repeats the ref of the order 40,000 back (inside the window), and
      // another every 1,000th the ref of the order 60,000 back (outside it).
      const ref = i % 1000 === 999 && i >= 40_000 ? refs[i - 40_000]! : i % 1000 === 499 && i >= 60_000 ? refs[i - 60_000]! : `ORD-${i}`;
      refs.push(ref);
      const before = lastAt.get(ref);
      const expected = before !== undefined && i - before <= 50_000 ? before + 2 : undefined;
      const seen = recent.see(ref, i + 2);
      if (seen !== expected) throw new Error(`order ${i} (${ref}): expected ${expected}, got ${seen}`);
      if (expected !== undefined) caught++;
      else if (before !== undefined) missedOnPurpose++;
      lastAt.set(ref, i);
    }
    expect(caught).toBeGreaterThan(900);
    expect(missedOnPurpose).toBeGreaterThan(900);
  });
});

