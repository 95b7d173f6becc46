import { createHash } from 'node:crypto';
import type { GetMessage } from 'amqplib';
import { H } from './headers';

// How a message in a dead-letter queue reads to an operator: parked by a consumer (our headers)
// or dead-lettered by the broker itself (its x-death headers).

/** A message parked in a service's dead-letter queue, as an operator sees it. */
export interface ParkedMessage {
  parkedId: string;
  parkedAt: string | null;
  reason: string;
  error: string;
  errorCode: string;
  attempts: number;
  originalQueue: string;
  originalExchange: string;
  originalRoutingKey: string;
  eventId: string | null;
  eventType: string | null;
  /** The message body as received (parsed when it is JSON). */
  body: unknown;
}

/** One entry of the broker's `x-death` header: why and where it dead-lettered a message. */
type Death = Partial<Record<'queue' | 'reason' | 'count' | 'time' | 'exchange' | 'routing-keys', unknown>>;

/** Headers the broker adds when it dead-letters a message itself. */
export const DEATH_HEADERS = ['x-death', 'x-first-death-queue', 'x-first-death-reason', 'x-first-death-exchange', 'x-last-death-queue', 'x-last-death-reason', 'x-last-death-exchange'];

/** The broker's dead-letter reasons, as our park reasons and error codes. */
const BROKER_REASONS: Record<string, { reason: string; code: string; why: string }> = {
  delivery_limit: { reason: 'delivery-limit', code: 'MESSAGE.DELIVERY_LIMIT', why: "delivered more often than the queue's x-delivery-limit allows" },
  rejected: { reason: 'rejected', code: 'BROKER.REJECTED', why: 'rejected by a consumer without requeue' },
  expired: { reason: 'expired', code: 'BROKER.EXPIRED', why: 'its TTL expired' },
  maxlen: { reason: 'maxlen', code: 'BROKER.MAXLEN', why: 'the queue was over its length limit' },
};

/** A stable UUID for a message parked by the broker (it has no x-parked-id): the same on every listing. */
function derivedParkedId(msg: GetMessage, death: Death): string {
  const h = createHash('sha1')
    .update(JSON.stringify([msg.properties.messageId ?? null, String(death.queue), String(death.reason), Number(death.count ?? 0), Number(death.time ?? 0)]))
    .update(msg.content)
    .digest('hex');
  const variant = ((parseInt(h[16]!, 16) & 0x3) | 0x8).toString(16);
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-5${h.slice(13, 16)}-${variant}${h.slice(17, 20)}-${h.slice(20, 32)}`;
}

/** AMQP timestamps (x-death `time`) come as seconds since the epoch. */
function isoFromSeconds(v: unknown): string | null {
  const seconds = Number(typeof v === 'object' && v !== null && 'value' in v ? (v as { value: unknown }).value : v);
  return Number.isFinite(seconds) && seconds > 0 ? new Date(seconds * 1000).toISOString() : null;
}

/** The parked message `msg` as an operator sees it (`ParkedMessage`). */
export function describeParked(msg: GetMessage): ParkedMessage {
  const h = msg.properties.headers ?? {};
  const text = msg.content.toString('utf8');
  let body: unknown = text;
  try {
    body = JSON.parse(text);
  } catch {
    // Kept as text: it was parked for not being JSON.
  }
  const str = (v: unknown): string => (v === undefined || v === null ? '' : String(v));
  const eventId = msg.properties.messageId ? str(msg.properties.messageId) : null;
  const eventType = msg.properties.type ? str(msg.properties.type) : null;
  const deaths = Array.isArray(h['x-death']) ? (h['x-death'] as Death[]) : [];
  if (h[H.parkedId] === undefined && deaths.length > 0) {
    // Dead-lettered by the broker itself (a work queue's delivery limit): the latest death says why.
    const death = deaths[0]!;
    const known = BROKER_REASONS[str(death.reason)];
    const routingKeys = Array.isArray(death['routing-keys']) ? (death['routing-keys'] as unknown[]) : [];
    return {
      parkedId: derivedParkedId(msg, death),
      parkedAt: isoFromSeconds(death.time),
      reason: known?.reason ?? str(death.reason),
      error: `dead-lettered by the broker from ${str(death.queue)}: ${known?.why ?? str(death.reason)} (x-death reason ${str(death.reason)}, count ${str(death.count)})`,
      errorCode: known?.code ?? `BROKER.${str(death.reason).toUpperCase()}`,
      attempts: Number(h[H.attempt] ?? 1),
      originalQueue: str(death.queue),
      originalExchange: str(h[H.originalExchange] ?? death.exchange),
      originalRoutingKey: str(h[H.originalRoutingKey] ?? routingKeys[0]),
      eventId,
      eventType,
      body,
    };
  }
  return {
    parkedId: str(h[H.parkedId]),
    parkedAt: h[H.parkedAt] ? str(h[H.parkedAt]) : null,
    reason: str(h[H.parkReason]),
    error: str(h[H.error]),
    errorCode: str(h[H.errorCode]),
    attempts: Number(h[H.attempts] ?? 0),
    originalQueue: str(h[H.originalQueue]),
    originalExchange: str(h[H.originalExchange]),
    originalRoutingKey: str(h[H.originalRoutingKey]),
    eventId,
    eventType,
    body,
  };
}
