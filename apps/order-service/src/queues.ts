import {
  importChunkV2,
  importFailed,
  importReceived,
  importStarted,
  inventoryBatchFailed,
  inventoryBatchReleased,
  inventoryBatchReserved,
  inventoryFailed,
  inventoryReleased,
  inventoryReserved,
  paymentBatchProcessed,
  paymentCompleted,
  paymentFailed,
  paymentRefunded,
} from '@orderflow/events';

// The events each queue of the order service carries, declared once: the topology binds these
// and the handlers subscribe to them.

/** `saga`: the saga's answers about orders placed through the API, handled in delivery order. */
export const SAGA = [inventoryReserved, inventoryFailed, inventoryReleased, paymentCompleted, paymentFailed, paymentRefunded] as const;

/** `import`: the worker's chunks of an upload. */
export const IMPORT = [importChunkV2] as const;

/** `import-status`: an import's lifecycle, small, so the read side follows the upload at once. */
export const IMPORT_STATUS = [importStarted, importReceived, importFailed] as const;

/** `bulk`, statuses: inventory's and payment's batch answers about imported orders. */
export const BULK_ANSWERS = [inventoryBatchFailed, paymentBatchProcessed, inventoryBatchReleased] as const;
/** `bulk`, prices: the catalog prices of inventory's batch reservations (their statuses follow payment's answer). */
export const BULK_PRICES = [inventoryBatchReserved] as const;

/** Queue purpose → the contracts routed into it. */
export const CONSUMES = {
  saga: SAGA,
  import: IMPORT,
  'import-status': IMPORT_STATUS,
  bulk: [...BULK_PRICES, ...BULK_ANSWERS],
} as const;
