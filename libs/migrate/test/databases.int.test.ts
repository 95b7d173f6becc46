import pg from 'pg';
import { cloneDatabase, databaseName, dropDatabase, ensureDatabase } from '../src';
import { ADMIN_URL, publicTables, query, uniqueDatabaseUrl } from './support/databases';

async function exists(url: string): Promise<boolean> {
  const rows = await query(ADMIN_URL, 'SELECT 1 FROM pg_database WHERE datname = $1', [databaseName(url)]);
  return rows.length === 1;
}

describe('database helpers', () => {
  const created: string[] = [];
  const fresh = (tag: string) => {
    const url = uniqueDatabaseUrl(tag);
    created.push(url);
    return url;
  };
  afterEach(async () => {
    await Promise.all(created.splice(0).map((url) => dropDatabase(url)));
  });

  test('ensureDatabase raced by four callers creates the database once and all of them succeed', async () => {
    const url = fresh('race');
    const results = await Promise.all([1, 2, 3, 4].map(() => ensureDatabase(url)));
    expect(results.filter(Boolean)).toHaveLength(1);
    expect(await exists(url)).toBe(true);
    await expect(ensureDatabase(url)).resolves.toBe(false);
  });

  test('cloneDatabase copies the template even while another session is connected to it', async () => {
    const template = fresh('tmpl');
    await ensureDatabase(template);
    await query(template, 'CREATE TABLE copied (id int)');
    const session = new pg.Client({ connectionString: template });
    session.on('error', () => undefined); // it gets terminated on purpose
    await session.connect();
    const cloneUrl = await cloneDatabase(template, databaseName(fresh('clone')));
    created.push(cloneUrl);
    expect(await publicTables(cloneUrl)).toEqual(['copied']);
    await session.end().catch(() => undefined);
  });

  test('dropDatabase removes the database despite open connections, and is a no-op when it is gone', async () => {
    const url = fresh('drop');
    await ensureDatabase(url);
    const session = new pg.Client({ connectionString: url });
    session.on('error', () => undefined);
    await session.connect();
    await dropDatabase(url);
    expect(await exists(url)).toBe(false);
    await expect(dropDatabase(url)).resolves.toBeUndefined();
    await session.end().catch(() => undefined);
  });

  test('ensureDatabase on an unreachable server fails with a message naming the server', async () => {
    await expect(ensureDatabase('postgresql://postgres@127.0.0.1:1/nowhere')).rejects.toThrow(
      'Cannot connect to PostgreSQL at postgresql://postgres@127.0.0.1:1/postgres',
    );
  });
});
