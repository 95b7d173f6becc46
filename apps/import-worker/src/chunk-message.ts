import { importChunkV2, newId, type Envelope, type PayloadOf } from '@orderflow/events';
import type { Chunk } from './csv/orders';

/**
 * A chunk with orders as its `import.chunk` message (version 2: each order a tuple), ready to
 * publish. The envelope is built here rather than by createEvent: every field was validated
 * row by row already, and parsing the chunk's orders again with the contract's schema would
 * cost more than reading them (the consumer validates against the contract anyway).
 */
export function chunkMessage(importId: string, chunkNo: number, chunk: Chunk, at: Date): { eventId: string; content: Buffer } {
  const payload: PayloadOf<typeof importChunkV2> = {
    importId,
    chunkNo,
    orders: chunk.orders.map((o) => [o.orderRef, o.customerId, o.paymentMethod, o.items.map((i) => [i.line, i.productId, i.quantity, i.unitPrice])]),
    rows: chunk.rows,
  };
  const envelope: Envelope<typeof payload> = {
    eventId: newId(),
    eventType: importChunkV2.type,
    version: importChunkV2.version,
    occurredAt: at.toISOString(),
    source: 'import-worker',
    correlationId: importId,
    causationId: importId,
    payload,
  };
  return { eventId: envelope.eventId, content: Buffer.from(JSON.stringify(envelope)) };
}
