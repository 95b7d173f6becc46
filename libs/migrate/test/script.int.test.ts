import { dropDatabase, ensureDatabase } from '../src';
import { callInChild } from './support/child';
import { publicTables, query, uniqueDatabaseUrl } from './support/databases';
import { removeTempDirs, writeMigrations } from './support/files';

/** A migration the stock adapter would split wrongly: ';' in a literal and in a $$ body. */
const TRICKY = [
  'CREATE TABLE notes (id int PRIMARY KEY, body text NOT NULL);',
  "INSERT INTO notes VALUES (1, 'semi;colon -- not a comment');",
  'CREATE FUNCTION note_count() RETURNS bigint LANGUAGE plpgsql AS $$',
  'BEGIN',
  '  RETURN (SELECT count(*) FROM notes);',
  'END;',
  '$$;',
].join('\n');

describe('applyMigrations with a script that cannot be split on semicolons', () => {
  let url: string;
  beforeEach(async () => {
    url = uniqueDatabaseUrl('script');
    await ensureDatabase(url);
  });
  afterEach(() => dropDatabase(url));

  test("runs ';' inside a string literal and a $$ function body exactly as written", async () => {
    const paths = await writeMigrations('tricky', { '20200101000000_tricky': TRICKY });
    await expect(callInChild('applyMigrations', { url, ...paths })).resolves.toEqual(['20200101000000_tricky']);
    expect(await query(url, 'SELECT body, note_count() AS n FROM notes')).toEqual([
      { body: 'semi;colon -- not a comment', n: '1' },
    ]);
  });

  test('a failing statement at the end of the script leaves none of its earlier statements behind and records the failure', async () => {
    const paths = await writeMigrations('failing', {
      '20200101000000_ok': 'CREATE TABLE kept (id int);',
      '20200101000001_tricky_then_fails': `${TRICKY}\nSELECT 1/0;`,
    });

    await expect(callInChild('applyMigrations', { url, ...paths })).rejects.toThrow(/division by zero[\s\S]*SQLSTATE 22012/);

    expect(await publicTables(url)).toEqual(['_prisma_migrations', 'kept']);
    expect(await query(url, "SELECT 1 FROM pg_proc WHERE proname = 'note_count'")).toEqual([]);
    const rows = await query<{ migration_name: string; finished_at: Date | null; logs: string | null }>(
      url,
      'SELECT migration_name, finished_at, logs FROM _prisma_migrations ORDER BY migration_name',
    );
    expect(rows).toEqual([
      { migration_name: '20200101000000_ok', finished_at: expect.any(Date), logs: null },
      { migration_name: '20200101000001_tricky_then_fails', finished_at: null, logs: expect.stringContaining('division by zero') },
    ]);
  });

  test('a CREATE INDEX CONCURRENTLY alone in its migration (comments aside) is built outside a transaction block; beside another statement PostgreSQL refuses it', async () => {
    const paths = await writeMigrations('concurrently', {
      '20200101000000_table': 'CREATE TABLE events (at timestamptz NOT NULL);',
      '20200101000001_index': '-- CreateIndex\n-- Without blocking writes\nCREATE INDEX CONCURRENTLY IF NOT EXISTS "events_at_idx" ON "events" USING BRIN ("at");\n',
    });
    await expect(callInChild('applyMigrations', { url, ...paths })).resolves.toEqual(['20200101000000_table', '20200101000001_index']);
    expect(await query(url, "SELECT indexdef FROM pg_indexes WHERE indexname = 'events_at_idx'")).toEqual([
      { indexdef: 'CREATE INDEX events_at_idx ON public.events USING brin (at)' },
    ]);
    expect(await query(url, "SELECT i.indisvalid FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid WHERE c.relname = 'events_at_idx'")).toEqual([{ indisvalid: true }]);

    const mixed = await writeMigrations('concurrently-mixed', {
      '20200101000002_mixed': 'CREATE TABLE more (at timestamptz);\nCREATE INDEX CONCURRENTLY "more_at_idx" ON "more" ("at");',
    });
    await expect(callInChild('applyMigrations', { url, ...mixed })).rejects.toThrow(/cannot run inside a transaction block/);
  });
});

afterAll(removeTempDirs);
