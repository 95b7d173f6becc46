import type { Readable } from 'node:stream';
import { AppError, errorMessage } from '@orderflow/errors';
import { importChunkV2, importFailed, importReceived, importStarted, newId } from '@orderflow/events';
import type { Logger } from '@orderflow/logging';
import type { Messaging } from '@orderflow/messaging';
import { Histogram, type Registry } from 'prom-client';
import type { ImportWorkerConfig } from './config';
import { chunkMessage } from './chunk-message';
import type { Chunk, RowCounts } from './csv/orders';
import { NotCsvError, readCsv, type ReadProgress } from './csv/reader';
import type { Db, Tx } from './db';
import { heartbeat, insertJob, insertRejected, markFailed, markReceived, type Progress } from './jobs';
import { importRows } from './metrics';
import { ChunkPublisher } from './publisher';

export interface ImporterDeps {
  config: Pick<ImportWorkerConfig, 'IMPORT_CHUNK_ROWS' | 'IMPORT_CONFIRM_WINDOW' | 'IMPORT_MAX_BACKLOG_CHUNKS' | 'IMPORT_BACKLOG_QUEUE' | 'IMPORT_MAX_LINE_BYTES' | 'IMPORT_HEARTBEAT_MS' | 'TOPOLOGY_PREFIX' | 'INSTANCE_ID'>;
  sql: Db;
  messaging: Messaging<Tx>;
  logger: Logger;
  /** The worker's Prometheus registry (served on /metrics). */
  metrics: Registry;
  now: () => Date;
}

export interface Received {
  importId: string;
  rows: RowCounts;
  chunks: number;
  bytes: number;
  seconds: number;
}

const WAIT_METRIC = 'import_upload_wait_seconds';

/**
 * Where an upload's time went besides reading, per upload: waiting for the broker's confirms,
 * for the consumers to work off the backlog, and for the socket to the broker to drain (the
 * broker reading slower than the worker publishes, or its flow control).
 */
function uploadWaits(registry: Registry): Histogram<'cause'> {
  return (
    (registry.getSingleMetric(WAIT_METRIC) as Histogram<'cause'> | undefined) ??
    new Histogram({
      name: WAIT_METRIC,
      help: 'Time an upload waited, by cause: broker confirms, consumer backlog, broker socket',
      labelNames: ['cause'],
      buckets: [0.01, 0.1, 1, 10, 60, 300],
      registers: [registry],
    })
  );
}

/** The upload ended early: the client went away, or its connection broke. */
export class UploadInterrupted extends Error {
  constructor(cause?: unknown) {
    super('the upload was interrupted before the end of the file (the client disconnected)', { cause });
    this.name = 'UploadInterrupted';
  }
}

/**
 * Receives one upload: creates the job (RECEIVING, import.started in the same commit), reads
 * the body as a stream into chunks, publishes each chunk with confirms and stores the
 * rejected rows, and once the body is read and every chunk confirmed marks the job
 * PROCESSING with import.received (one commit): that is the moment the upload is accepted.
 * On any failure the job is FAILED with the reason (import.failed); chunks already published
 * stay imported, and an upload of the same file again skips their orders.
 */
export function importer(deps: ImporterDeps) {
  const { config, sql, messaging, logger, now } = deps;
  const waits = uploadWaits(deps.metrics);
  const countRows = importRows(deps.metrics);
  const exchange = messaging.topology.exchangeFor(importChunkV2);
  const backlogQueue = `${config.TOPOLOGY_PREFIX}${config.IMPORT_BACKLOG_QUEUE}`;

  const backlog = async (): Promise<number | null> => {
    try {
      return (await messaging.broker.withChannel(false, (ch) => ch.checkQueue(backlogQueue))).messageCount;
    } catch (err) {
      logger.warn('cannot read the import queue depth', { queue: backlogQueue, err: errorMessage(err) });
      return null;
    }
  };

  async function start(importId: string): Promise<void> {
    await messaging.transaction(async (tx, publish) => {
      await insertJob(tx, importId, config.INSTANCE_ID, now());
      publish(importStarted, { importId }, { correlationId: importId });
    });
  }

  async function fail(importId: string, reason: string, progress: Progress): Promise<void> {
    const failed = await messaging.transaction(async (tx, publish) => {
      if (!(await markFailed(tx, importId, reason, progress, now()))) return false;
      publish(importFailed, { importId, reason, rows: progress.rows, chunks: progress.chunks }, { correlationId: importId });
      return true;
    });
    if (failed) countRows(progress.rows);
  }

  /** Reads `source` to the end; resolves once the upload is accepted, rejects once it has failed. */
  async function receive(source: Readable, importId: string = newId()): Promise<Received> {
    const started = Date.now();
    await start(importId);
    let reading: ReturnType<typeof readCsv> | undefined;
    let chunkNo = 0;
    let publisher: ChunkPublisher | undefined;
    const progress = (): Progress => {
      const p: ReadProgress = reading?.progress() ?? { bytes: 0, lines: 0, totals: { read: 0, accepted: 0, rejected: 0 } };
      return { rows: { ...p.totals }, chunks: publisher?.confirmed ?? 0, bytes: p.bytes, lastLine: p.lines };
    };
    const beat = setInterval(() => {
      heartbeat(sql, importId, progress()).catch((err) => logger.warn('import heartbeat failed', { importId, err: errorMessage(err) }));
    }, config.IMPORT_HEARTBEAT_MS);
    beat.unref();
    try {
      await messaging.broker.withChannel(true, async (channel) => {
        const chunks = new ChunkPublisher(channel, {
          exchange,
          routingKey: importChunkV2.type,
          window: config.IMPORT_CONFIRM_WINDOW,
          backlog,
          maxBacklog: config.IMPORT_MAX_BACKLOG_CHUNKS,
        });
        publisher = chunks;
        const onChunk = async (chunk: Chunk): Promise<void> => {
          await insertRejected(sql, importId, chunk.rejected);
          if (chunk.orders.length === 0) return;
          const body = chunkMessage(importId, chunkNo++, chunk, now());
          await chunks.publish(body.content, { messageId: body.eventId, correlationId: importId, type: importChunkV2.type });
        };
        reading = readCsv(source, { maxLineBytes: config.IMPORT_MAX_LINE_BYTES, chunkRows: config.IMPORT_CHUNK_ROWS }, onChunk);
        await reading.done;
        await chunks.flush();
      });
      const final = progress();
      const accepted = await messaging.transaction(async (tx, publish) => {
        if (!(await markReceived(tx, importId, final, now()))) return false;
        publish(importReceived, { importId, rows: final.rows, chunks: final.chunks, bytes: final.bytes }, { correlationId: importId });
        return true;
      });
      if (!accepted) throw new AppError('IMPORT.FAILED', `import ${importId} was failed while it was being received`, { category: 'conflict' });
      countRows(final.rows);
      const seconds = (Date.now() - started) / 1000;
      logger.info('import received', { importId, ...final.rows, chunks: final.chunks, bytes: final.bytes, seconds });
      return { importId, rows: final.rows, chunks: final.chunks, bytes: final.bytes, seconds };
    } catch (err) {
      const failure = classify(err);
      const at = progress();
      logger.warn('import failed', { importId, reason: failure.message, line: at.lastLine, chunks: at.chunks });
      await fail(importId, failure.message, at).catch((e) => logger.error('could not record the failed import', { importId, err: errorMessage(e) }));
      throw Object.assign(failure, { importId });
    } finally {
      clearInterval(beat);
      if (publisher) {
        const { confirmsMs, backlogMs, socketMs } = publisher.waited;
        waits.observe({ cause: 'confirms' }, confirmsMs / 1000);
        waits.observe({ cause: 'backlog' }, backlogMs / 1000);
        waits.observe({ cause: 'broker_socket' }, socketMs / 1000);
        logger.debug('import upload waited', { importId, confirmsMs, backlogMs, socketMs });
      }
    }
  }

  return { receive };
}

/** The failure as the client and the job will see it. */
function classify(err: unknown): Error {
  if (err instanceof NotCsvError || err instanceof UploadInterrupted || err instanceof AppError) return err;
  const code = (err as { code?: string }).code;
  if (code === 'ECONNRESET' || code === 'ERR_STREAM_PREMATURE_CLOSE' || /aborted/i.test(errorMessage(err))) return new UploadInterrupted(err);
  if (code === 'ECONNREFUSED' && /broker/i.test(errorMessage(err))) {
    return new AppError('IMPORT.BROKER_UNAVAILABLE', `the message broker is not reachable: ${errorMessage(err)}`, { category: 'transient', cause: err });
  }
  return new AppError('IMPORT.FAILED', `the import failed: ${errorMessage(err)}`, { category: 'permanent', cause: err });
}
