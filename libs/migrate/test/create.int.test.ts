import { readdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { createMigration, dropDatabase, ensureDatabase } from '../src';
import { callInChild } from './support/child';
import { query, uniqueDatabaseUrl } from './support/databases';
import { copyService, LOCKFILE, removeTempDirs, tempDir } from './support/files';

describe('createMigration', () => {
  let url: string;
  beforeEach(async () => {
    url = uniqueDatabaseUrl('create');
    await ensureDatabase(url);
  });
  afterEach(() => dropDatabase(url));

  test('returns null and writes nothing when the schema matches the history, after applying the pending migrations as migrate dev does', async () => {
    const service = await copyService('order');
    const before = await readdir(service.migrationsDir);
    await expect(callInChild('createMigration', { ...service, url, name: 'noop' })).resolves.toBeNull();
    expect(await readdir(service.migrationsDir)).toEqual(before);
    const applied = await query<{ migration_name: string }>(url, 'SELECT migration_name FROM _prisma_migrations ORDER BY migration_name');
    expect(applied.map((row) => row.migration_name)).toEqual(before.filter((entry) => entry !== 'migration_lock.toml').sort());
  });

  test('refuses, writing nothing, when the database has drifted from the migrations history', async () => {
    const service = await copyService('order');
    await callInChild('applyMigrations', { url, migrationsDir: service.migrationsDir, schemaPath: service.schemaPath });
    await query(url, 'CREATE TABLE stray (id int)');
    const before = await readdir(service.migrationsDir);
    await expect(callInChild('createMigration', { ...service, url, name: 'drifted' })).rejects.toThrow(
      /does not match the migrations history: [\s\S]*stray/,
    );
    expect(await readdir(service.migrationsDir)).toEqual(before);
  });

  test('after a schema change writes <timestamp>_<name>/migration.sql with exactly that change, then has nothing more to create', async () => {
    const service = await copyService('order');
    const schema = await readFile(service.schemaPath, 'utf8');
    await writeFile(service.schemaPath, schema.replace(/(model Order \{\n)/, '$1  notes String?\n'));

    const dir = await callInChild('createMigration', { ...service, url, name: 'add_order_notes' });

    expect(dir).toMatch(new RegExp(`^${service.migrationsDir}/\\d{14}_add_order_notes$`));
    const sql = await readFile(path.join(dir as string, 'migration.sql'), 'utf8');
    expect(sql).toBe('-- AlterTable\nALTER TABLE "orders" ADD COLUMN     "notes" TEXT;\n');
    expect(await readFile(path.join(service.migrationsDir, 'migration_lock.toml'), 'utf8')).toBe(LOCKFILE);
    await expect(callInChild('createMigration', { ...service, url, name: 'again' })).resolves.toBeNull();
  });

  test('for a schema without migrations creates the migrations folder, the initial migration and the lock file', async () => {
    const dir = await tempDir('create-init');
    const schemaPath = path.join(dir, 'schema.prisma');
    await writeFile(schemaPath, 'datasource db {\n  provider = "postgresql"\n}\n\nmodel Thing {\n  id Int @id\n  @@map("things")\n}\n');
    const migrationsDir = path.join(dir, 'migrations');

    const created = await callInChild('createMigration', { schemaPath, migrationsDir, url, name: 'init' });

    expect(await readFile(path.join(created as string, 'migration.sql'), 'utf8')).toContain('CREATE TABLE "things"');
    expect(await readFile(path.join(migrationsDir, 'migration_lock.toml'), 'utf8')).toBe(LOCKFILE);
  });

  test('rejects a migration name that is not snake_case before touching anything', async () => {
    const service = await copyService('order');
    await expect(createMigration({ ...service, url, name: 'Add Notes' })).rejects.toThrow('must be snake_case');
  });
});

afterAll(removeTempDirs);
