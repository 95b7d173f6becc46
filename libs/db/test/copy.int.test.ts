import { copyText, INSERT_UP_TO_ROWS, pgTransactions, type SqlTx } from '../src';
import { pooledDatabase } from '@orderflow/testkit';
import type { Pool } from 'pg';

describe('COPY in a pg transaction ($copyFrom, real PostgreSQL)', () => {
  let db: { pool: Pool; close: () => Promise<void> };
  let transaction: <T>(fn: (tx: SqlTx) => Promise<T>) => Promise<T>;
  const rows = async () =>
    (await db.pool.query<{ id: number; label: string | null; n: number | null; flag: boolean | null; at: Date | null; note: string }>('SELECT * FROM copy_target ORDER BY id')).rows;

  beforeAll(async () => {
    // Any database will do: the test makes a table of its own.
    db = await pooledDatabase('order');
    transaction = pgTransactions(db.pool);
    await db.pool.query(`CREATE TABLE copy_target (
      id int PRIMARY KEY, label text, n numeric, flag boolean, at timestamptz, note text NOT NULL DEFAULT 'default')`);
  });
  afterAll(() => db.close());
  beforeEach(() => db.pool.query('TRUNCATE copy_target'));

  it('text format: tabs, newlines, backslashes and "\\N" are escaped; null and undefined are NULL', () => {
    expect(copyText([['a\tb', 'c\nd\re', 'back\\slash', '\\N', null, undefined, 1.5, true, new Date('2026-01-02T03:04:05.678Z')]])).toBe(
      'a\\tb\tc\\nd\\re\tback\\\\slash\t\\\\N\t\\N\t\\N\t1.5\ttrue\t2026-01-02T03:04:05.678Z\n',
    );
    expect(copyText([])).toBe('');
    // Each Date object is converted once; different Dates stay different.
    const [d1, d2] = [new Date('2026-01-01T00:00:00.000Z'), new Date('2026-01-02T00:00:00.000Z')];
    expect(copyText([[d1], [d2], [d1], [false]])).toBe('2026-01-01T00:00:00.000Z\n2026-01-02T00:00:00.000Z\n2026-01-01T00:00:00.000Z\nfalse\n');
  });

  // A few rows go as one INSERT (a round trip less), more as COPY: both must store the same.
  describe.each([
    ['a few rows (one INSERT)', 0],
    ['many rows (COPY)', INSERT_UP_TO_ROWS],
  ])('%s', (_, padding) => {
    const pad = Array.from({ length: padding }, (_, i) => [1000 + i]);

    it('writes every value back exactly as given, leaves omitted columns to their defaults, and counts the rows', async () => {
      const hostile = ['tab\there', 'line\nbreak', 'cr\rhere', 'back\\slash', '\\N', '"quoted", {braces}', 'ünïcødé ✓', ''];
      const at = new Date('2026-11-21T10:00:00.123Z');
      const given = [...hostile.map((label, i) => [i, label, i * 1.25, i % 2 === 0, at]), [99, null, null, undefined, null], ...pad.map(([id]) => [id, null, null, null, null])];
      const written = await transaction((tx) => tx.$copyFrom('copy_target', ['id', 'label', 'n', 'flag', 'at'], given));
      expect(written).toBe(given.length);
      const stored = (await rows()).filter((r) => r.id < 1000);
      expect(stored.slice(0, -1).map((r) => r.label)).toEqual(hostile);
      expect(stored[1]).toMatchObject({ n: '1.25', flag: false, note: 'default' });
      expect(stored[0]!.at?.toISOString()).toBe(at.toISOString());
      expect(stored.at(-1)).toEqual({ id: 99, label: null, n: null, flag: null, at: null, note: 'default' });
    });

    it('is part of the transaction: a duplicate key fails it with 23505 and nothing of the transaction is stored', async () => {
      await transaction((tx) => tx.$copyFrom('copy_target', ['id', 'label'], [[1, 'first']]));
      const failed = transaction(async (tx) => {
        await tx.$executeRawUnsafe(`INSERT INTO copy_target (id, label) VALUES (2, 'before the copy')`);
        await tx.$copyFrom('copy_target', ['id', 'label'], [[3, 'new'], ...pad.map(([id]) => [id, 'padding']), [1, 'duplicate']]);
      });
      await expect(failed).rejects.toMatchObject({ code: '23505' });
      expect((await rows()).map((r) => r.id)).toEqual([1]);
      // The connection went back to the pool usable.
      await transaction((tx) => tx.$copyFrom('copy_target', ['id'], [[4], ...pad]));
      expect((await rows()).map((r) => r.id).slice(0, 2)).toEqual([1, 4]);
    });
  });

  it('a row with missing or extra values fails the write either way, as COPY does', async () => {
    const many = Array.from({ length: INSERT_UP_TO_ROWS }, (_, i) => [1000 + i, 'ok']);
    for (const rows of [[[1, 'ok'], [2]], [[1, 'ok', 'extra']], [...many, [2]]]) {
      await expect(transaction((tx) => tx.$copyFrom('copy_target', ['id', 'label'], rows))).rejects.toThrow();
    }
    expect(await rows()).toEqual([]);
  });

  it('nothing to write is no statement at all', async () => {
    await expect(transaction((tx) => tx.$copyFrom('copy_target', ['id'], []))).resolves.toBe(0);
  });
});
