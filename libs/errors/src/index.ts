/**
 * How the edges treat a failure: HTTP maps the category to a status, messaging decides
 * between retrying (transient) and parking the message (everything else).
 */
export type ErrorCategory =
  | 'validation'
  | 'unauthorized'
  | 'forbidden'
  | 'not_found'
  | 'conflict'
  | 'transient'
  | 'permanent';

export interface AppErrorOptions {
  category: ErrorCategory;
  cause?: unknown;
  /** Structured detail for the client, e.g. the fields that failed validation. */
  details?: unknown;
}

/** The one error base of Orderflow: a stable `code` (`PAYMENT.CARD_DECLINED`) plus a category. */
export class AppError extends Error {
  readonly code: string;
  readonly category: ErrorCategory;
  readonly details: unknown;

  constructor(code: string, message: string, options: AppErrorOptions) {
    super(message, { cause: options.cause });
    this.name = 'AppError';
    this.code = code;
    this.category = options.category;
    this.details = options.details;
  }
}

/**
 * A dependency that does not answer — a database, a payment gateway — so the work cannot be
 * done now, through no fault of the message or request that asked for it. It is `transient`
 * (an edge that knows no better retries it, and HTTP answers 503), and it says more: which
 * dependency, and `answers`, a probe that tells when it is worth trying again. The messaging
 * consumer then gives the batch back untouched and pauses until the probe answers, instead of
 * spending the messages' retries on an outage (libs/messaging, consumer/outage.ts).
 */
export class DependencyUnavailableError extends AppError {
  readonly dependency: string;
  readonly answers: () => Promise<boolean>;
  /**
   * Whether the dependency was really asked (false: refused before trying, by an open circuit
   * breaker). Only a request that was made is evidence against the message that asked for it: a
   * message whose request keeps failing right after the probe answered is then retried as a
   * message, not waited for without end (libs/messaging, consumer/batches.ts).
   */
  readonly tried: boolean;

  constructor(code: string, message: string, options: { dependency: string; answers: () => Promise<boolean>; tried?: boolean; cause?: unknown }) {
    super(code, message, { category: 'transient', cause: options.cause });
    this.name = 'DependencyUnavailableError';
    this.dependency = options.dependency;
    this.answers = options.answers;
    this.tried = options.tried ?? true;
  }
}

/** The `DependencyUnavailableError` `err` is or wraps (through `cause`), if any. */
export function unavailableDependencyOf(err: unknown): DependencyUnavailableError | undefined {
  let current = err;
  for (let depth = 0; depth < 5 && current instanceof Error; depth++) {
    if (current instanceof DependencyUnavailableError) return current;
    current = current.cause;
  }
  return undefined;
}

export const transientError = (code: string, message: string, cause?: unknown): AppError =>
  new AppError(code, message, { category: 'transient', cause });

export const permanentError = (code: string, message: string, cause?: unknown): AppError =>
  new AppError(code, message, { category: 'permanent', cause });

// Infrastructure failures that go away by themselves: connection loss, server restart,
// lock conflicts, pool exhaustion. Node socket codes, PostgreSQL SQLSTATEs and Prisma codes.
const TRANSIENT_CODES = new Set([
  'ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EPIPE', 'EAI_AGAIN', 'ENOTFOUND',
  '40001', '40P01', '55P03', '53300', '57P01', '57P02', '57P03',
  'P1001', 'P1002', 'P1008', 'P1017', 'P2024', 'P2028', 'P2034',
]);
const TRANSIENT_MESSAGES =
  /connection (terminated|closed|refused|ended|error)|Connection terminated|server closed the connection|not queryable|the database system is (starting up|shutting down)|timeout exceeded when trying to connect|Channel closed|Connection closed/i;

/**
 * Runs `write`; if it fails on a unique key (SQLSTATE 23505) — another transaction wrote the
 * same row first, after this one looked and found nothing — the failure becomes the transient
 * error `code`: the message is retried and then finds that row.
 */
export async function transientOnDuplicateKey<T>(code: string, message: string, write: () => Promise<T>): Promise<T> {
  try {
    return await write();
  } catch (err) {
    if (codesOf(err).includes('23505')) throw transientError(code, message, err);
    throw err;
  }
}

/** Every code an error carries, its causes' included (pg SQLSTATE, Node errno names, Prisma codes). */
function codesOf(err: unknown): string[] {
  // Codes hide at different depths: Node puts them on the error, pg on its error, Prisma's
  // driver adapters under meta.driverAdapterError.cause.originalCode (e.g. 40P01 in a P2010).
  const codes: string[] = [];
  const queue: unknown[] = [err];
  for (let seen = 0; queue.length > 0 && seen < 20; seen++) {
    const current = queue.shift();
    if (!current || typeof current !== 'object') continue;
    const e = current as Record<string, unknown>;
    for (const key of ['code', 'originalCode']) if (typeof e[key] === 'string') codes.push(e[key] as string);
    queue.push(e.cause, e.meta, e.driverAdapterError);
  }
  return codes;
}

/**
 * The category of any thrown value. An AppError says it itself; infrastructure errors that
 * heal on their own (lost connections, deadlocks, serialization failures) are transient;
 * anything else (a bug, a broken invariant) is permanent.
 */
export function categorize(err: unknown): ErrorCategory {
  if (err instanceof AppError) return err.category;
  if (codesOf(err).some((c) => TRANSIENT_CODES.has(c) || c.startsWith('08'))) return 'transient';
  if (err instanceof Error && TRANSIENT_MESSAGES.test(err.message)) return 'transient';
  return 'permanent';
}

/** A stable code for logs and dead letters, whatever was thrown. */
export function errorCode(err: unknown): string {
  if (err instanceof AppError) return err.code;
  const [first] = codesOf(err);
  if (first) return first;
  return err instanceof Error ? err.name : 'UNKNOWN';
}

export function errorMessage(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
