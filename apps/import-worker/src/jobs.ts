import type { SqlClient } from '@orderflow/db';
import type { RejectedRow, RowCounts } from './csv/orders';

// The import jobs and rejected rows of the worker's database, in plain SQL (see db.ts).

export interface Progress {
  rows: RowCounts;
  chunks: number;
  bytes: number;
  lastLine: number;
}

export interface JobSummary extends Progress {
  id: string;
}

export async function insertJob(tx: SqlClient, id: string, instanceId: string, at: Date): Promise<void> {
  await tx.$executeRawUnsafe(
    `INSERT INTO import_jobs (id, state, instance_id, heartbeat_at, created_at) VALUES ($1::uuid, 'RECEIVING', $2, now(), $3::timestamptz)`,
    id,
    instanceId,
    at.toISOString(),
  );
}

const progressParams = (p: Progress) => [p.rows.read, p.rows.accepted, p.rows.rejected, p.chunks, p.bytes, p.lastLine];
const SET_PROGRESS = 'rows_read = $2, rows_accepted = $3, rows_rejected = $4, chunks = $5, bytes = $6, last_line = $7';

/** Records progress and that the receiving worker is alive; a no-op once the job left RECEIVING. */
export async function heartbeat(sql: SqlClient, id: string, p: Progress): Promise<void> {
  await sql.$executeRawUnsafe(`UPDATE import_jobs SET ${SET_PROGRESS}, heartbeat_at = now() WHERE id = $1::uuid AND state = 'RECEIVING'`, id, ...progressParams(p));
}

/** RECEIVING → PROCESSING with the final counts; false when the job was no longer RECEIVING (failed meanwhile). */
export async function markReceived(tx: SqlClient, id: string, p: Progress, at: Date): Promise<boolean> {
  const n = await tx.$executeRawUnsafe(
    `UPDATE import_jobs SET ${SET_PROGRESS}, state = 'PROCESSING', received_at = $8::timestamptz, heartbeat_at = $8::timestamptz
      WHERE id = $1::uuid AND state = 'RECEIVING'`,
    id,
    ...progressParams(p),
    at.toISOString(),
  );
  return n === 1;
}

/** RECEIVING → FAILED with the reason; false when it had left RECEIVING already. */
export async function markFailed(tx: SqlClient, id: string, reason: string, p: Progress, at: Date): Promise<boolean> {
  const n = await tx.$executeRawUnsafe(
    `UPDATE import_jobs SET ${SET_PROGRESS}, state = 'FAILED', failure = $8, completed_at = $9::timestamptz
      WHERE id = $1::uuid AND state = 'RECEIVING'`,
    id,
    ...progressParams(p),
    reason,
    at.toISOString(),
  );
  return n === 1;
}

/**
 * Fails the RECEIVING jobs whose worker is gone: no heartbeat for `staleSeconds`, or (at
 * start) received by this very instance before it restarted — created before `restarted.since`
 * (this process's start), never an upload this process has begun meanwhile. Heartbeats are
 * stamped and judged with the database's clock, so replicas on different hosts agree. Returns
 * them with their last recorded progress, for the import.failed events.
 */
export async function failOrphans(
  tx: SqlClient,
  staleSeconds: number,
  restarted: { instanceId: string; since: Date } | null,
  at: Date,
): Promise<Array<JobSummary & { instanceId: string | null }>> {
  const rows = await tx.$queryRawUnsafe<Array<{ id: string; rows_read: number; rows_accepted: number; rows_rejected: number; chunks: number; bytes: string; last_line: number; instance_id: string | null }>>(
    `UPDATE import_jobs SET state = 'FAILED', completed_at = $3::timestamptz,
            failure = 'the upload was interrupted: the worker receiving it stopped after line ' || last_line
                      || ' (' || chunks || ' chunks were accepted and are imported); upload the file again: rows of orders already imported create nothing new'
      WHERE state = 'RECEIVING' AND (heartbeat_at < now() - make_interval(secs => $1) OR (instance_id = $2 AND created_at < $4::timestamptz))
      RETURNING id::text, rows_read, rows_accepted, rows_rejected, chunks, bytes::text, last_line, instance_id`,
    staleSeconds,
    restarted?.instanceId ?? null,
    at.toISOString(),
    (restarted?.since ?? at).toISOString(),
  );
  return rows.map((r) => ({
    id: r.id,
    rows: { read: r.rows_read, accepted: r.rows_accepted, rejected: r.rows_rejected },
    chunks: r.chunks,
    bytes: Number(r.bytes),
    lastLine: r.last_line,
    instanceId: r.instance_id,
  }));
}

export async function failureOf(sql: SqlClient, id: string): Promise<string | null> {
  const [row] = await sql.$queryRawUnsafe<Array<{ failure: string | null }>>('SELECT failure FROM import_jobs WHERE id = $1::uuid', id);
  return row?.failure ?? null;
}

/** One statement per batch of rejected rows; a row stored twice (a retried write) stays one. */
export async function insertRejected(sql: SqlClient, importId: string, rows: readonly RejectedRow[]): Promise<void> {
  if (rows.length === 0) return;
  await sql.$executeRawUnsafe(
    `INSERT INTO rejected_rows (import_id, line, reason, raw)
     SELECT $1::uuid, r.line, r.reason, r.raw FROM unnest($2::int[], $3::text[], $4::text[]) AS r(line, reason, raw)
     ON CONFLICT DO NOTHING`,
    importId,
    rows.map((r) => r.line),
    rows.map((r) => r.reason),
    rows.map((r) => r.raw),
  );
}

export async function jobExists(sql: SqlClient, id: string): Promise<boolean> {
  const rows = await sql.$queryRawUnsafe<unknown[]>('SELECT 1 FROM import_jobs WHERE id = $1::uuid', id);
  return rows.length === 1;
}

/** Rejected rows after `afterLine`, in line order (keyset paging: the errors report streams them). */
export function rejectedPage(sql: SqlClient, id: string, afterLine: number, limit: number): Promise<RejectedRow[]> {
  return sql.$queryRawUnsafe<RejectedRow[]>(
    'SELECT line, reason, raw FROM rejected_rows WHERE import_id = $1::uuid AND line > $2 ORDER BY line LIMIT $3',
    id,
    afterLine,
    limit,
  );
}
