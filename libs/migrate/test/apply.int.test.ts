import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { dropDatabase, ensureDatabase, listDatabases, readMigrationsList, type DatabaseInfo } from '../src';
import { callInChild } from './support/child';
import { publicTables, query, uniqueDatabaseUrl } from './support/databases';
import { repoRoot } from './support/files';

interface MigrationRow {
  migration_name: string;
  checksum: string;
  finished_at: Date | null;
  rolled_back_at: Date | null;
  applied_steps_count: number;
  logs: string | null;
}

const services = listDatabases(repoRoot).filter((db) => !db.name.endsWith('-test'));

/** Tables the migration files create: what the database must have afterwards. */
function tablesCreatedBy(migrationsDir: string, names: string[]): string[] {
  const sql = names.map((name) => readFileSync(path.join(migrationsDir, name, 'migration.sql'), 'utf8')).join('\n');
  const dropped = new Set([...sql.matchAll(/DROP TABLE "([^"]+)"/g)].map((m) => m[1] as string));
  return [...sql.matchAll(/CREATE TABLE "([^"]+)"/g)].map((m) => m[1] as string).filter((t) => !dropped.has(t));
}

describe.each(services)('applyMigrations with the $name migrations', (db: DatabaseInfo) => {
  let url: string;
  beforeEach(async () => {
    url = uniqueDatabaseUrl(db.name.replace(/-/g, '_'));
    await ensureDatabase(url);
  });
  afterEach(() => dropDatabase(url));

  test('on a fresh database creates its tables and one finished _prisma_migrations row per migration, as the Prisma CLI writes it', async () => {
    const names = (await readMigrationsList(db.migrationsDir)).migrationDirectories.map((m) => m.path);
    expect(names.length).toBeGreaterThan(0);

    const applied = await callInChild('applyMigrations', { url, migrationsDir: db.migrationsDir, schemaPath: db.schemaPath });

    expect(applied).toEqual(names);
    const expectedTables = ['_prisma_migrations', ...tablesCreatedBy(db.migrationsDir, names)].sort();
    expect(expectedTables).toEqual(expect.arrayContaining(['outbox_events', 'processed_events']));
    expect(await publicTables(url)).toEqual(expectedTables);
    const rows = await query<MigrationRow>(url, 'SELECT * FROM _prisma_migrations ORDER BY migration_name');
    expect(rows).toEqual(
      names.map((name) => ({
        id: expect.any(String),
        migration_name: name,
        checksum: createHash('sha256').update(readFileSync(path.join(db.migrationsDir, name, 'migration.sql'))).digest('hex'),
        started_at: expect.any(Date),
        finished_at: expect.any(Date),
        rolled_back_at: null,
        applied_steps_count: 1,
        logs: null,
      })),
    );
  });

  test('run again on the migrated database applies nothing and adds no row', async () => {
    const input = { url, migrationsDir: db.migrationsDir, schemaPath: db.schemaPath };
    const first = await callInChild('applyMigrations', input);
    await expect(callInChild('applyMigrations', input)).resolves.toEqual([]);
    expect(await query(url, 'SELECT 1 FROM _prisma_migrations')).toHaveLength(first.length);
  });
});
