import { randomUUID } from 'node:crypto';
import pg from 'pg';
import { PrismaPg } from '@prisma/adapter-pg';
import {
  ColumnTypeEnum,
  DriverAdapterError,
  type SqlDriverAdapter,
  type SqlMigrationAwareDriverAdapterFactory,
  type SqlQueryable,
} from '@prisma/driver-adapter-utils';
import { createDatabase, dropDatabase, withDatabaseName } from './databases';

const CHAR_OID = 18;
const TEXT_OID = 25;

/** A single query result, or one per statement when a simple query held several. */
type AnyResult = pg.QueryResult | pg.QueryResult[] | undefined;

/** The `"char"` columns of a result, keyed by its rows array (the adapter passes it on as it is). */
const charColumns = new WeakMap<unknown[], number[]>();

/**
 * Defect 1: @prisma/adapter-pg rejects PostgreSQL's internal `"char"` type (OID 18) with
 * "Column type 'char' could not be deserialized", and the engine's schema describer selects
 * such columns (pg_class.relkind, pg_constraint.contype, ...). Its values arrive as plain
 * strings: the column is reported as text to the adapter, and {@link withCharColumns} then
 * types it as a character, as the native engine reads it (the describer reads CHECK
 * constraints' contype as a char and panics on text).
 */
function reportCharAsText(result: AnyResult): AnyResult {
  for (const one of Array.isArray(result) ? result : [result]) {
    const chars: number[] = [];
    (one?.fields ?? []).forEach((field, i) => {
      if (field.dataTypeID === CHAR_OID) {
        field.dataTypeID = TEXT_OID;
        chars.push(i);
      }
    });
    if (chars.length > 0 && Array.isArray(one?.rows)) charColumns.set(one.rows, chars);
  }
  return result;
}

/** Types the `"char"` columns of `queryable`'s results (see {@link reportCharAsText}) as characters. */
function withCharColumns<Q extends SqlQueryable>(queryable: Q): Q {
  const queryRaw = queryable.queryRaw.bind(queryable);
  queryable.queryRaw = async (query) => {
    const result = await queryRaw(query);
    for (const i of charColumns.get(result.rows) ?? []) result.columnTypes[i] = ColumnTypeEnum.Character;
    return result;
  };
  return queryable;
}

/**
 * pg client (plugged in through the pool's documented `Client` option) whose results pass
 * through {@link reportCharAsText}. pg-pool calls `query` with a callback, the adapter's
 * transactions call it promise-style: both forms are covered.
 */
class CharAsTextClient extends pg.Client {
  // `any`: pg's overloads cannot be forwarded generically.
  override query(...args: any[]): any {
    const callbackIndex = args.findIndex((arg) => typeof arg === 'function');
    if (callbackIndex >= 0) {
      const callback = args[callbackIndex] as (err: Error | null, result: AnyResult) => void;
      args[callbackIndex] = (err: Error | null, result: AnyResult) => callback(err, reportCharAsText(result));
      return (super.query as (...a: unknown[]) => unknown)(...args);
    }
    const returned = (super.query as (...a: unknown[]) => unknown)(...args);
    // Promise-style call; a Submittable query object is returned untouched (not thenable).
    return typeof (returned as Promise<AnyResult> | undefined)?.then === 'function'
      ? (returned as Promise<AnyResult>).then(reportCharAsText)
      : returned;
  }
}

/**
 * Reports a failed migration script as the adapter's generic `postgres` error (SQLSTATE,
 * message, detail, hint), which the engine turns into Prisma's usual "Database error code"
 * message. The adapter's own mapping is skipped on purpose: adapter-pg 7.10 emits kinds
 * (InvalidInputValue, RestrictViolation, ...) that this engine build cannot deserialize,
 * which would hide the real error behind "unknown variant".
 */
function asPostgresError(error: unknown): unknown {
  if (!(error instanceof pg.DatabaseError)) return error;
  return new DriverAdapterError({
    kind: 'postgres',
    code: error.code ?? 'N/A',
    severity: error.severity ?? 'N/A',
    // The engine shows only `message` (not code/detail/hint), so they go into it too.
    message: [error.message, error.detail && `DETAIL: ${error.detail}`, error.hint && `HINT: ${error.hint}`, `SQLSTATE ${error.code}`]
      .filter(Boolean)
      .join('\n'),
    detail: error.detail,
    column: error.column,
    hint: error.hint,
  });
}

const ADVISORY_LOCK = /^\s*SELECT pg_advisory_lock\((\d+)\)\s*;?\s*$/i;
const LOCK_POLL_MS = 100;

/**
 * Defect 4: the engine serializes migrators with `SELECT pg_advisory_lock(…)`, a statement that
 * holds its snapshot while it waits. A `CREATE INDEX CONCURRENTLY` of the migrator that holds
 * the lock waits for every older snapshot to end — that one's too: a deadlock (PostgreSQL aborts
 * the index build, and the migration is recorded as failed). So the lock is taken by asking
 * `pg_try_advisory_lock` until it is granted: between two tries the waiting migrator holds no
 * snapshot. The engine gets the answer its own statement would have given.
 */
function withPollingAdvisoryLock(adapter: SqlDriverAdapter): SqlDriverAdapter {
  const queryRaw = adapter.queryRaw.bind(adapter);
  const executeRaw = adapter.executeRaw.bind(adapter);
  const lock = async (key: string) => {
    for (;;) {
      const granted = await queryRaw({ sql: `SELECT pg_try_advisory_lock(${key}) AS granted`, args: [], argTypes: [] });
      if (granted.rows[0]?.[0] === true) return granted;
      await new Promise((resolve) => setTimeout(resolve, LOCK_POLL_MS));
    }
  };
  adapter.queryRaw = async (query) => {
    const key = ADVISORY_LOCK.exec(query.sql)?.[1];
    return key === undefined ? queryRaw(query) : lock(key);
  };
  adapter.executeRaw = async (query) => {
    const key = ADVISORY_LOCK.exec(query.sql)?.[1];
    return key === undefined ? executeRaw(query) : (await lock(key)).rows.length;
  };
  return adapter;
}

/** Opens a `@prisma/adapter-pg` adapter on `url` with the fixes the schema engine needs. */
async function connectAdapter(url: string): Promise<SqlDriverAdapter> {
  // allowExitOnIdle: an idle pooled connection must not keep a CLI process alive.
  const pool = new pg.Pool({ connectionString: url, Client: CharAsTextClient, allowExitOnIdle: true });
  const adapter = withPollingAdvisoryLock(withCharColumns(await new PrismaPg(pool, { disposeExternalPool: true }).connect()));
  const startTransaction = adapter.startTransaction.bind(adapter);
  adapter.startTransaction = async (...args) => withCharColumns(await startTransaction(...args));
  // Defect 2: the stock executeScript splits the script on ';' (breaking string literals,
  // comments and $$ bodies) and runs the pieces one by one (not atomic). A query without
  // parameters goes out as ONE simple-protocol query, which PostgreSQL runs as one
  // implicit transaction (unless the script itself says BEGIN/COMMIT).
  adapter.executeScript = async (script: string) => {
    await pool.query(script).catch((error: unknown) => {
      throw asPostgresError(error);
    });
  };
  return adapter;
}

/**
 * Adapter factory handed to the wasm schema engine (through
 * `bindMigrationAwareSqlAdapterFactory`). Tracks every adapter it opens so {@link close}
 * can release them: the engine does not always dispose what it connected.
 */
export class MigrationAdapterFactory implements SqlMigrationAwareDriverAdapterFactory {
  readonly provider = 'postgres' as const;
  readonly adapterName = '@prisma/adapter-pg';
  private readonly open = new Set<SqlDriverAdapter>();

  constructor(private readonly url: string) {}

  async connect(): Promise<SqlDriverAdapter> {
    return this.track(await connectAdapter(this.url));
  }

  /**
   * Defect 3: PrismaPg.connectToShadowDb() with a connection string replays the history on
   * the MAIN database (the URL wins over the database name it sets). So the shadow
   * database is created here, and dropped when the engine disposes the adapter.
   */
  async connectToShadowDb(): Promise<SqlDriverAdapter> {
    const shadowUrl = withDatabaseName(this.url, `prisma_migrate_shadow_db_${randomUUID().replace(/-/g, '')}`);
    await createDatabase(shadowUrl);
    const adapter = await connectAdapter(shadowUrl).catch(async (error: unknown) => {
      await dropDatabase(shadowUrl);
      throw error;
    });
    const dispose = adapter.dispose.bind(adapter);
    let dropped: Promise<void> | undefined;
    adapter.dispose = () => (dropped ??= dispose().then(() => dropDatabase(shadowUrl)));
    return this.track(adapter);
  }

  /** Disposes every adapter still open (idempotent per adapter). */
  async close(): Promise<void> {
    const adapters = [...this.open];
    this.open.clear();
    await Promise.all(adapters.map((adapter) => adapter.dispose()));
  }

  private track(adapter: SqlDriverAdapter): SqlDriverAdapter {
    const dispose = adapter.dispose.bind(adapter);
    let disposed: Promise<void> | undefined;
    adapter.dispose = () => {
      this.open.delete(adapter);
      return (disposed ??= dispose());
    };
    this.open.add(adapter);
    return adapter;
  }
}
