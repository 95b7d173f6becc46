import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { withDatabaseName } from '../../src';

/** Server the tests create their databases on (its `postgres` database). */
export const ADMIN_URL = process.env.PG_ADMIN_URL ?? 'postgresql://postgres@127.0.0.1:5432/postgres';

/** URL of a not-yet-existing database with a unique name (`migrate_<tag>_<time>_<random>`). */
export function uniqueDatabaseUrl(tag: string): string {
  return withDatabaseName(ADMIN_URL, `migrate_${tag}_${Date.now().toString(36)}_${randomBytes(3).toString('hex')}`);
}

/** Runs one query on a short-lived connection and returns its rows. */
export async function query<R extends pg.QueryResultRow>(url: string, sql: string, params: unknown[] = []): Promise<R[]> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    return (await client.query<R>(sql, params)).rows;
  } finally {
    await client.end();
  }
}

/** Names of the tables in the public schema, sorted. */
export async function publicTables(url: string): Promise<string[]> {
  const rows = await query<{ tablename: string }>(url, "SELECT tablename FROM pg_tables WHERE schemaname = 'public' ORDER BY 1");
  return rows.map((row) => row.tablename);
}
