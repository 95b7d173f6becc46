import { dropDatabase, ensureDatabase, readMigrationsList } from '../src';
import { callInChild } from './support/child';
import { query, uniqueDatabaseUrl } from './support/databases';
import { addMigration, copyService, removeTempDirs, writeMigrations } from './support/files';

describe('concurrent applyMigrations', () => {
  let url: string;
  beforeEach(async () => {
    url = uniqueDatabaseUrl('concurrent');
    await ensureDatabase(url);
  });
  afterEach(() => dropDatabase(url));

  test('two processes migrating the same fresh database both succeed and each migration is applied exactly once', async () => {
    // The order migrations plus two more, so the loser of the lock has several to skip.
    const paths = await copyService('order');
    await addMigration(paths.migrationsDir, '29990101000000_notes', 'ALTER TABLE "orders" ADD COLUMN "notes" TEXT;');
    await addMigration(paths.migrationsDir, '29990101000001_notes_index', 'CREATE INDEX "orders_notes_idx" ON "orders"("notes");');
    const names = (await readMigrationsList(paths.migrationsDir)).migrationDirectories.map((m) => m.path);

    const results = await Promise.all([
      callInChild('applyMigrations', { url, ...paths }),
      callInChild('applyMigrations', { url, ...paths }),
    ]);

    expect(results.flat().sort()).toEqual(names);
    const rows = await query<{ migration_name: string; finished_at: Date | null }>(
      url,
      'SELECT migration_name, finished_at FROM _prisma_migrations ORDER BY migration_name',
    );
    expect(rows).toEqual(names.map((name) => ({ migration_name: name, finished_at: expect.any(Date) })));
  });

  test('while one process builds an index CONCURRENTLY, the other waiting for its turn does not deadlock it', async () => {
    const paths = await writeMigrations('concurrently', {
      // Slow enough for the second process to be waiting for the lock when the index is built.
      '20200101000000_table': 'CREATE TABLE events (at timestamptz NOT NULL);\nSELECT pg_sleep(1);',
      '20200101000001_index': 'CREATE INDEX CONCURRENTLY IF NOT EXISTS "events_at_idx" ON "events" USING BRIN ("at");',
    });
    const results = await Promise.all([callInChild('applyMigrations', { url, ...paths }), callInChild('applyMigrations', { url, ...paths })]);
    expect(results.flat().sort()).toEqual(['20200101000000_table', '20200101000001_index']);
    expect(await query(url, "SELECT i.indisvalid FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid WHERE c.relname = 'events_at_idx'")).toEqual([{ indisvalid: true }]);
  });
});

afterAll(removeTempDirs);
