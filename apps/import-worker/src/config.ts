import { vars, z } from '@orderflow/config';
import { serviceConfigSchema } from '@orderflow/service';

/** The worker's environment: the common variables plus the import's limits (all defaulted). */
export const importWorkerConfigSchema = (defaultPort: number) =>
  serviceConfigSchema(defaultPort).extend({
    /**
     * Accepted rows per chunk (a chunk always ends at an order boundary, so it may hold a few
     * more). Every hop pays per chunk a message, a transaction and its statements' planning,
     * so larger chunks cost less per row, up to a point: past it they were not clearly faster,
     * and a bulk transaction holds its products' rows locked for longer, which checkout waits
     * on (see docs/performance.md for the runs behind the default).
     */
    IMPORT_CHUNK_ROWS: vars.positiveInt(5000),
    /** Chunks published but not yet confirmed by the broker; reading pauses when this many are in flight. */
    IMPORT_CONFIRM_WINDOW: vars.positiveInt(16),
    /**
     * Reading pauses while the import queue holds more chunks than this (the consumers fell
     * behind): the broker's disk is the buffer between upload and saga, and this bounds it
     * (to this many chunks of IMPORT_CHUNK_ROWS rows).
     */
    IMPORT_MAX_BACKLOG_CHUNKS: vars.positiveInt(1000),
    /** The queue whose depth is the backlog (the order service's chunk queue), without the topology prefix. */
    IMPORT_BACKLOG_QUEUE: z.string().min(1).default('order.import'),
    /** Longest line accepted, in bytes; a longer one is rejected without being held in memory. */
    IMPORT_MAX_LINE_BYTES: vars.positiveInt(4096),
    /** How often a receiving worker records its progress (and that it is alive). */
    IMPORT_HEARTBEAT_MS: vars.positiveInt(1000),
    /** A RECEIVING import whose worker has not been heard of for this long is failed (the upload died with it). */
    IMPORT_STALE_AFTER_S: vars.positiveInt(30),
  });

export type ImportWorkerConfig = z.infer<ReturnType<typeof importWorkerConfigSchema>>;
