import { errorCode, errorMessage, unavailableDependencyOf } from '@orderflow/errors';
import { isConnectionError, type SqlClient } from '@orderflow/db';

/**
 * A dependency of the handlers that does not answer: the consumer's own database, or one a
 * handler names by throwing a `DependencyUnavailableError` (a payment gateway). No message's
 * fault: none is retried or parked for it; the consumer gives back what it holds and pauses
 * until `answers` says yes.
 */
export interface Outage {
  /** `database`, or the name the handler gave (`payment-gateway`). */
  dependency: string;
  /** Whether the dependency answers again (a probe; throwing or hanging counts as no). */
  answers: () => Promise<boolean>;
  /**
   * Whether the failing request really reached for the dependency (false: a circuit breaker
   * refused it untried). Only a tried request counts as a strike against its message (below).
   */
  tried: boolean;
  /** The failure that revealed it, for the log. */
  code: string;
  reason: string;
}

/**
 * How many times in a row a message may meet an outage — each time after the dependency's probe
 * said it answers again, and its own request was tried — before the failure is taken for the
 * message's own: a transient failure like any other, retried on the ladder and, when that is
 * spent, parked in the service's dead-letter queue with the error (inspectable, replayable).
 * Without it a request the dependency fails every time (a payload it cannot take, a call that
 * always outlasts its timeout while the probe answers at once) would pause, resume and fail
 * for ever, its messages never tried for real. Small: a real outage fails the probe, not this.
 */
export const OUTAGE_STRIKES = 3;

/** Waits between probes while a dependency is away: growing from the first to the last. */
const PROBE_DELAY_MS = { first: 100, max: 2_000 };
/**
 * Longest a probe may take: a dependency that takes longer to answer cannot take batches
 * either (and a probe stuck on a dead socket must not stall the resume for minutes).
 */
const PROBE_TIMEOUT_MS = 5_000;

/** Whether `probe` says yes within `PROBE_TIMEOUT_MS`. */
export async function answersWithin(probe: () => Promise<boolean>): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  try {
    const answered = await Promise.race([
      probe(),
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error('probe timed out')), PROBE_TIMEOUT_MS);
      }),
    ]);
    return answered === true;
  } catch {
    return false;
  } finally {
    clearTimeout(timer);
  }
}

/** Whether the database answers `SELECT 1`. */
export function databaseAnswers(sql: SqlClient): Promise<boolean> {
  return answersWithin(async () => {
    await sql.$queryRawUnsafe('SELECT 1');
    return true;
  });
}

/**
 * The outage `err` reveals, if any: a dependency the handler declared unavailable, or a lost
 * database connection while the database does not answer either (a connection lost while the
 * database answers is a blip: that message is retried as usual).
 */
export async function outageOf(err: unknown, sql: SqlClient): Promise<Outage | undefined> {
  const reported = { code: errorCode(err), reason: errorMessage(err) };
  const dependency = unavailableDependencyOf(err);
  if (dependency) return { dependency: dependency.dependency, answers: dependency.answers, tried: dependency.tried, ...reported };
  // tried: false — the database did not answer at that moment, so this is an outage, not a
  // request of this message's failing (no strike: see `BatchProcessor.outageFor`).
  if (isConnectionError(err) && !(await databaseAnswers(sql))) return { dependency: 'database', answers: () => databaseAnswers(sql), tried: false, ...reported };
  return undefined;
}

/**
 * Probes the dependency with growing delays until it answers (true) or `stopping()` (false).
 * `onWait` receives, for each wait, the function that ends it early (a stop).
 */
export async function untilAnswers(
  outage: Outage,
  stopping: () => boolean,
  onWait: (wake: (() => void) | undefined) => void,
  onProbeFailed: () => void = () => undefined,
): Promise<boolean> {
  for (let delay = PROBE_DELAY_MS.first; ; delay = Math.min(2 * delay, PROBE_DELAY_MS.max)) {
    await new Promise<void>((resolve) => {
      const timer = setTimeout(resolve, delay);
      onWait(() => {
        clearTimeout(timer);
        resolve();
      });
    });
    onWait(undefined);
    if (stopping()) return false;
    if (await answersWithin(outage.answers)) return !stopping();
    onProbeFailed();
  }
}
