import pg from 'pg';

/** SQLSTATEs met when a database already exists: the normal one, and the unique-index
 * violation on pg_database that the loser of two concurrent CREATE DATABASE gets. */
const ALREADY_EXISTS = new Set(['42P04', '23505']);
/** "source database is being accessed by other users" (CREATE DATABASE ... TEMPLATE). */
const TEMPLATE_IN_USE = '55006';

/** Returns `url` pointing at database `name` on the same server (credentials and params kept). */
export function withDatabaseName(url: string, name: string): string {
  const parsed = new URL(url);
  parsed.pathname = `/${encodeURIComponent(name)}`;
  return parsed.toString();
}

/** The database name of a PostgreSQL URL. */
export function databaseName(url: string): string {
  const name = decodeURIComponent(new URL(url).pathname.slice(1));
  if (!name) throw new Error(`No database name in URL ${redactUrl(url)}`);
  return name;
}

/** `url` without its password, for messages. */
export function redactUrl(url: string): string {
  try {
    const parsed = new URL(url);
    if (parsed.password) parsed.password = '***';
    return parsed.toString();
  } catch {
    return '<invalid URL>';
  }
}

/** Runs `fn` on a connection to the server's `postgres` maintenance database. */
async function onServer<T>(url: string, fn: (client: pg.Client) => Promise<T>): Promise<T> {
  const adminUrl = withDatabaseName(url, 'postgres');
  const client = new pg.Client({ connectionString: adminUrl });
  await client.connect().catch((error: Error) => {
    throw new Error(`Cannot connect to PostgreSQL at ${redactUrl(adminUrl)}: ${error.message}`, { cause: error });
  });
  try {
    return await fn(client);
  } finally {
    await client.end();
  }
}

function sqlState(error: unknown): string | undefined {
  return (error as { code?: unknown } | null)?.code as string | undefined;
}

/** CREATE DATABASE for the database of `url`; throws if it exists. */
export async function createDatabase(url: string): Promise<void> {
  await onServer(url, (client) => client.query(`CREATE DATABASE ${pg.escapeIdentifier(databaseName(url))}`));
}

/**
 * Creates the database of `url` if it does not exist yet (connecting to the `postgres`
 * database of the same server). Safe when several processes race to create it.
 * @returns true if this call created it.
 */
export async function ensureDatabase(url: string): Promise<boolean> {
  const name = databaseName(url);
  return onServer(url, async (client) => {
    const found = await client.query('SELECT 1 FROM pg_database WHERE datname = $1', [name]);
    if (found.rowCount) return false;
    try {
      await client.query(`CREATE DATABASE ${pg.escapeIdentifier(name)}`);
      return true;
    } catch (error) {
      if (ALREADY_EXISTS.has(sqlState(error) ?? '')) return false;
      throw error;
    }
  });
}

/** Drops the database of `url` if it exists, terminating its connections (PostgreSQL 13+). */
export async function dropDatabase(url: string): Promise<void> {
  await onServer(url, (client) =>
    client.query(`DROP DATABASE IF EXISTS ${pg.escapeIdentifier(databaseName(url))} WITH (FORCE)`),
  );
}

/**
 * Test helper: creates database `newName` as a copy of the database of `templateUrl`
 * (`CREATE DATABASE ... TEMPLATE`), much faster than migrating a fresh one. PostgreSQL
 * refuses to copy a database anyone is connected to (after waiting 5 s), so other sessions
 * on the template are terminated first, and the copy retried if one sneaks in meanwhile.
 * @returns the URL of the new database.
 */
export async function cloneDatabase(templateUrl: string, newName: string, attempts = 3): Promise<string> {
  const template = databaseName(templateUrl);
  await onServer(templateUrl, async (client) => {
    for (let attempt = 1; ; attempt++) {
      await client.query(
        'SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()',
        [template],
      );
      try {
        await client.query(`CREATE DATABASE ${pg.escapeIdentifier(newName)} TEMPLATE ${pg.escapeIdentifier(template)}`);
        return;
      } catch (error) {
        if (sqlState(error) !== TEMPLATE_IN_USE || attempt >= attempts) throw error;
      }
    }
  });
  return withDatabaseName(templateUrl, newName);
}
