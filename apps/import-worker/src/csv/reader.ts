import type { Readable } from 'node:stream';
import { parse } from 'csv-parse';
import { LineGuard, NotCsvError } from './line-guard';
import { ChunkBuilder, type Chunk, type RowCounts } from './orders';
import { headerProblem, validateRow } from './rows';

export { NotCsvError } from './line-guard';

export interface ReadOptions {
  maxLineBytes: number;
  chunkRows: number;
  recentRefs?: number;
}

/** What a reader exposes while it runs (heartbeats, progress). */
export interface ReadProgress {
  bytes: number;
  lines: number;
  totals: RowCounts;
}

/**
 * Reads a CSV upload as a stream: bytes → line guard → csv-parse → row validation → chunk
 * builder. `onChunk` is awaited before the next record is taken: while it waits (publisher
 * confirms, a deep queue), the parser's buffer fills, the guard stops and `source` is paused —
 * the back-pressure reaches the client's socket. Rejects with NotCsvError when the body is not
 * CSV. Records are pulled with `read()` rather than an async iterator or csv-parse's
 * `on_record` hook: both cost more per row than parsing it (a promise, an info object).
 */
export function readCsv(source: Readable, options: ReadOptions, onChunk: (chunk: Chunk) => Promise<void>): { done: Promise<RowCounts>; progress: () => ReadProgress; abort: (err: Error) => void } {
  const guard = new LineGuard(options.maxLineBytes);
  const builder = new ChunkBuilder({ chunkRows: options.chunkRows, recentRefs: options.recentRefs });
  // The guard makes every line exactly one record (no field spans lines; empty lines come as
  // one empty field), so a record's line number is its position in the stream.
  const parser = parse({ bom: true, relax_column_count: true, record_delimiter: ['\r\n', '\n'] });
  let line = 0;
  let header = false;

  /** One record; returns a chunk when the record completed one. */
  const take = (record: string[]): Chunk | null => {
    line++;
    if (record.length === 1 && record[0]!.trim() === '') return null;
    if (!header) {
      header = true;
      const problem = headerProblem(record);
      if (problem) throw new NotCsvError(problem);
      return null;
    }
    const refused = guard.claim(record);
    return builder.add(refused ? { ok: false, ...refused } : validateRow(record, line));
  };

  const done = new Promise<RowCounts>((resolve, reject) => {
    let busy = false;
    let settled = false;
    const fail = (err: unknown): void => {
      if (settled) return;
      settled = true;
      guard.destroy();
      parser.destroy();
      reject(err);
    };
    const finish = (): void => {
      if (settled) return;
      const last = builder.finish();
      busy = true;
      (last ? onChunk(last) : Promise.resolve()).then(() => {
        settled = true;
        resolve(builder.totals);
      }, fail);
    };
    const pull = (): void => {
      if (busy || settled) return;
      try {
        for (let record = parser.read() as string[] | null; record !== null; record = parser.read() as string[] | null) {
          const chunk = take(record);
          if (chunk) {
            busy = true;
            onChunk(chunk).then(() => {
              busy = false;
              pull();
            }, fail);
            return;
          }
        }
      } catch (err) {
        fail(err);
      }
    };
    parser.on('readable', pull);
    parser.on('end', finish);
    parser.on('error', fail);
    guard.on('error', fail);
    source.on('error', fail);
  });
  source.pipe(guard).pipe(parser);
  done.then(
    () => undefined,
    () => source.unpipe(guard),
  );
  return {
    done,
    progress: () => ({ bytes: guard.bytes, lines: guard.lines, totals: builder.totals }),
    abort: (err) => guard.destroy(err),
  };
}
