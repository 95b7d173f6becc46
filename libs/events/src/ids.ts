import { v7 } from 'uuid';

/**
 * A new id for what the services store and send: orders, events, payments, notifications,
 * imports. UUIDv7 (RFC 9562) starts with the time in milliseconds, so each B-tree keyed by
 * these ids — and in every database most of them are (primary keys, `order_id` columns, the
 * inbox's `event_id`) — grows at its right edge. A random v4 id lands on a random leaf page:
 * under a bulk import that is a page read, a dirty page and, after each checkpoint, a full page
 * image in the WAL per row and index.
 */
export const newId = (): string => v7();
