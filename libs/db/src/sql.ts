import { finished } from 'node:stream/promises';
import type { Pool, PoolClient } from 'pg';
import { from as copyFrom } from 'pg-copy-streams';
/**
 * The slice of a Prisma client (or transaction client) that messaging needs. Structural, so
 * every service's generated client fits without this lib knowing its models.
 */
export interface SqlClient {
  $executeRawUnsafe(query: string, ...values: unknown[]): Promise<number>;
  $queryRawUnsafe<T = unknown>(query: string, ...values: unknown[]): Promise<T>;
}

/** A value COPY writes into a column: null (or undefined) is SQL NULL, a Date its ISO time. */
export type CopyValue = string | number | boolean | Date | null | undefined;

/** A transaction on a plain pg connection: SQL, and COPY for many rows at once. */
export interface SqlTx extends SqlClient {
  /**
   * Appends `rows` to `table` with COPY ... FROM STDIN: the cheapest way PostgreSQL takes many
   * rows (no executor per row, one WAL record per page; less database CPU than
   * INSERT ... SELECT FROM unnest, docs/performance.md). A few rows (`INSERT_UP_TO_ROWS`) go as one INSERT, a round
   * trip less. All or nothing, like an INSERT: a duplicate key fails it with 23505. Columns
   * left out get their defaults. Returns the number of rows written.
   */
  $copyFrom(table: string, columns: readonly string[], rows: ReadonlyArray<ReadonlyArray<CopyValue>>): Promise<number>;
}

const COPY_SPECIAL = /[\\\t\n\r]/;
const COPY_ESCAPES: Record<string, string> = { '\\': '\\\\', '\t': '\\t', '\n': '\\n', '\r': '\\r' };

const escapeCopy = (v: string): string => (COPY_SPECIAL.test(v) ? v.replace(/[\\\t\n\r]/g, (c) => COPY_ESCAPES[c]!) : v);

/**
 * The rows as one COPY text-format payload: tab-separated, one line per row, backslash escapes,
 * \N for NULL. A Date is written as its ISO time, converted once per Date object (a batch's
 * rows usually share one: toISOString was half the cost of building the text).
 */
export function copyText(rows: ReadonlyArray<ReadonlyArray<CopyValue>>): string {
  let lastDate: Date | undefined;
  let lastIso = '';
  const field = (v: CopyValue): string => {
    switch (typeof v) {
      case 'string':
        return escapeCopy(v);
      case 'number':
        return String(v);
      case 'boolean':
        return v ? 'true' : 'false';
      case 'object':
        if (v === null) return '\\N';
        if (v !== lastDate) {
          lastDate = v;
          lastIso = v.toISOString();
        }
        return lastIso;
      default:
        return '\\N';
    }
  };
  if (rows.length === 0) return '';
  const lines = new Array<string>(rows.length);
  for (let r = 0; r < rows.length; r++) {
    const row = rows[r]!;
    let line = field(row[0]);
    for (let i = 1; i < row.length; i++) line += `\t${field(row[i])}`;
    lines[r] = line;
  }
  return `${lines.join('\n')}\n`;
}

const quoteIdent = (name: string): string => `"${name.replace(/"/g, '""')}"`;

/**
 * Up to this many rows, `$copyFrom` writes one multi-row INSERT instead. COPY takes a round
 * trip more (the server answers the COPY before it takes the data), which at checkout's
 * one-order transactions cost more than COPY's cheaper rows save.
 */
export const INSERT_UP_TO_ROWS = 16;

/** A value as a query parameter, written as COPY would write it (a Date as its ISO time). */
const asParameter = (v: CopyValue): string | number | boolean | null => (v === undefined ? null : v instanceof Date ? v.toISOString() : v);

async function insertRows(client: PoolClient, table: string, columns: readonly string[], rows: ReadonlyArray<ReadonlyArray<CopyValue>>): Promise<number> {
  const values: Array<string | number | boolean | null> = [];
  const tuples = rows.map((row) => {
    // As strict as COPY, which refuses a row with missing or extra fields (22P04).
    if (row.length !== columns.length) throw new Error(`a row for ${table} has ${row.length} values for ${columns.length} columns`);
    // push returns the new length: the parameter's number.
    return `(${row.map((v) => `$${values.push(asParameter(v))}`).join(', ')})`;
  });
  const result = await client.query(`INSERT INTO ${quoteIdent(table)} (${columns.map(quoteIdent).join(', ')}) VALUES ${tuples.join(', ')}`, values);
  return result.rowCount ?? 0;
}

async function copyRows(client: PoolClient, table: string, columns: readonly string[], rows: ReadonlyArray<ReadonlyArray<CopyValue>>): Promise<number> {
  if (rows.length === 0) return 0;
  if (rows.length <= INSERT_UP_TO_ROWS) return insertRows(client, table, columns, rows);
  const stream = client.query(copyFrom(`COPY ${quoteIdent(table)} (${columns.map(quoteIdent).join(', ')}) FROM STDIN`));
  stream.end(copyText(rows));
  await finished(stream);
  return stream.rowCount;
}

// What a lost or refused database connection looks like: Node socket errors, SQLSTATEs of a
// server shutting down or not accepting connections (57P0x, class 08), Prisma's codes for them
// and its driver adapter's kinds, and pg's messages, which carry no code.
const CONNECTION_CODES = new Set([
  'ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EPIPE', 'EHOSTUNREACH', 'ENETUNREACH', 'EAI_AGAIN', 'ENOTFOUND',
  '57P01', '57P02', '57P03', 'P1001', 'P1002', 'P1017', 'P2024',
]);
const CONNECTION_KINDS = new Set(['DatabaseNotReachable', 'ConnectionClosed', 'SocketTimeout']);
const CONNECTION_MESSAGES =
  /Connection terminated|connection (refused|ended|closed|error)|not queryable|timeout exceeded when trying to connect|server closed the connection|the database system is (starting up|shutting down|in recovery mode)|Can't reach database server/i;

/**
 * True when `err` (or one of its causes) says the database could not be reached or the
 * connection to it was lost — not that a statement failed. Such an error may still be one
 * connection's fate while the server is fine: callers ask the database before they conclude
 * it is away.
 */
export function isConnectionError(err: unknown): boolean {
  const queue: unknown[] = [err];
  // Codes hide at different depths: pg puts them on the error, Prisma under meta and
  // driverAdapterError.cause; a handler may have wrapped the error in one of its own.
  for (let seen = 0; queue.length > 0 && seen < 20; seen++) {
    const current = queue.shift();
    if (!current || typeof current !== 'object') continue;
    const e = current as Record<string, unknown>;
    for (const key of ['code', 'originalCode']) {
      const code = e[key];
      if (typeof code === 'string' && (CONNECTION_CODES.has(code) || /^08[0-9A-Z]{3}$/.test(code))) return true;
    }
    if (typeof e.kind === 'string' && CONNECTION_KINDS.has(e.kind)) return true;
    if (typeof e.message === 'string' && CONNECTION_MESSAGES.test(e.message)) return true;
    queue.push(e.cause, e.meta, e.driverAdapterError);
  }
  return false;
}

/** Runs `fn` in one database transaction (for Prisma: `prisma.$transaction(fn, options)`). */
export type TransactionRunner<Tx extends SqlClient> = <T>(fn: (tx: Tx) => Promise<T>) => Promise<T>;

/**
 * Runs `fn` with a client checked out of the pool, and gives it back — destroyed if its
 * connection broke. While checked out, a client has no error listener of the pool's: a
 * connection lost between two queries (a database restart while the relay waits for
 * confirms) would be an unhandled 'error' event and end the process. Here it only fails `fn`.
 */
export async function withClient<T>(pool: Pool, fn: (client: PoolClient) => Promise<T>): Promise<T> {
  const client = await pool.connect();
  let broken: Error | undefined;
  const onError = (err: Error): void => {
    broken = err;
  };
  client.on('error', onError);
  let failure: Error | undefined;
  try {
    return await fn(client);
  } catch (err) {
    failure = err as Error;
    throw err;
  } finally {
    client.off('error', onError);
    const lost = broken ?? (failure && /connection|terminat|ECONN/i.test(failure.message) ? failure : undefined);
    // A client whose connection broke must not go back to the pool.
    client.release(lost);
  }
}

/**
 * Transactions straight on a pg pool, for hot paths whose handlers speak SQL: a Prisma
 * interactive transaction costs an order of magnitude more CPU (docs/performance.md). Queries use
 * pg's types (numeric and bigint come back as strings; cast in SQL where a number is needed).
 */
export function pgTransactions(pool: Pool): TransactionRunner<SqlTx> {
  return <T>(fn: (tx: SqlTx) => Promise<T>): Promise<T> =>
    withClient(pool, async (client) => {
      try {
        await client.query('BEGIN');
        const tx: SqlTx = {
          $queryRawUnsafe: async <R = unknown>(query: string, ...values: unknown[]) => (await client.query(query, values)).rows as R,
          $executeRawUnsafe: async (query: string, ...values: unknown[]) => (await client.query(query, values)).rowCount ?? 0,
          $copyFrom: (table, columns, rows) => copyRows(client, table, columns, rows),
        };
        const result = await fn(tx);
        await client.query('COMMIT');
        return result;
      } catch (err) {
        await client.query('ROLLBACK').catch(() => undefined);
        throw err;
      }
    });
}

/** Single statements on a pg pool, each in its own (implicit) transaction. */
export function pgStatements(pool: Pool): SqlClient {
  return {
    $queryRawUnsafe: async <R = unknown>(query: string, ...values: unknown[]) => (await pool.query(query, values)).rows as R,
    $executeRawUnsafe: async (query: string, ...values: unknown[]) => (await pool.query(query, values)).rowCount ?? 0,
  };
}
