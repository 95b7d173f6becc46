/**
 * The JSON Schemas of the AsyncAPI document: the envelope and each payload generated from the
 * zod schemas the services validate with, and the AMQP headers the messaging library writes.
 */
import { z } from 'zod';
import { envelopeSchema, type EventContract } from '@orderflow/events';
import { MessageHeaders } from '@orderflow/messaging';
import { byText } from './asyncapi-services';

export type JsonSchema = Record<string, unknown>;

/**
 * Draft 7, the dialect AsyncAPI's default schema format extends. `input`: what a consumer's
 * parse accepts, i.e. what may be on the wire (zod objects drop unknown fields rather than
 * refuse them, so no `additionalProperties: false`: the tolerant reader of the versioning rules).
 */
export function jsonSchemaOf(schema: z.ZodType): JsonSchema {
  const { $schema: _dialect, ...rest } = z.toJSONSchema(schema, { target: 'draft-7', io: 'input' }) as JsonSchema;
  return rest;
}

/** The envelope every message body is; `payload` is each message's own. */
export function envelopeJsonSchema(): JsonSchema {
  return {
    ...jsonSchemaOf(envelopeSchema),
    description:
      'The JSON body of every message (libs/events/src/envelope.ts). `eventId` is also the AMQP message_id and what consumers deduplicate on; ' +
      '`eventType` the routing key and the AMQP type; `correlationId` (the order id; the import id for import and bulk events) also the AMQP correlation_id; ' +
      '`causationId` the event or request that caused this one; `source` the publishing service.',
  };
}

/** A message's body: the envelope with this contract's type, version and payload. */
export function messagePayload(contract: EventContract, payloadRef: string): JsonSchema {
  return {
    allOf: [
      { $ref: '#/components/schemas/Envelope' },
      {
        type: 'object',
        properties: {
          eventType: { const: contract.type },
          version: { const: contract.version },
          payload: { $ref: payloadRef },
        },
      },
    ],
  };
}

const text = (description: string): JsonSchema => ({ type: 'string', description });

/**
 * The application headers (libs/messaging/src/headers.ts), each described: a header added there
 * does not compile here until it says what it means. A first publish carries none of them.
 */
const HEADERS: { [K in keyof typeof MessageHeaders]: JsonSchema } = {
  attempt: { type: 'integer', minimum: 2, description: 'Set when a transient failure sent the message round the retry ladder: which attempt this delivery is (absent: the first).' },
  originalExchange: text('Set on a retry or park: the exchange the message was first published on.'),
  originalRoutingKey: text('Set on a retry or park: its first routing key (the event type).'),
  originalQueue: text('Parked: the queue the message failed in, where a replay sends it back.'),
  lastError: text('Retry: `<error code>: <message>` of the failure that sent it round the ladder.'),
  parkedId: { type: 'string', format: 'uuid', description: 'Parked: the id the dead-letter API names the message by.' },
  parkedAt: { type: 'string', format: 'date-time', description: 'Parked: when.' },
  parkReason: text('Parked: why, e.g. `retries-exhausted`, `permanent-failure`, `invalid-message`, `delivery-limit` (docs/contract.md, "Delivery rules").'),
  error: text('Parked: the error message.'),
  errorCode: text('Parked: the stable error code, e.g. `MESSAGE.INVALID`, `MESSAGE.DELIVERY_LIMIT`.'),
  attempts: { type: 'integer', minimum: 1, description: 'Parked: the attempts made.' },
  replayedAt: { type: 'string', format: 'date-time', description: 'Replayed from the dead-letter queue: when (the park and retry headers are removed; it is a first attempt again).' },
};

/** The AMQP application headers, keyed by their names on the wire. */
export function headersJsonSchema(): JsonSchema {
  const ours = (Object.keys(HEADERS) as Array<keyof typeof MessageHeaders>).map((key): [string, JsonSchema] => [MessageHeaders[key], HEADERS[key]]);
  const others: Array<[string, JsonSchema]> = [
    ['x-death', { type: 'array', items: { type: 'object' }, description: 'Written by RabbitMQ when it dead-letters a message (TTL of a retry queue, a delivery limit).' }],
    ['traceparent', text('W3C Trace Context of the publish, only while tracing is on (`OTEL_*`): the consumer\'s spans continue its trace.')],
    ['tracestate', text('W3C Trace Context vendor state, with `traceparent` when there is any.')],
  ];
  return {
    type: 'object',
    description:
      'AMQP application headers. A first publish has none but the trace context (tracing on); the retry ladder, parking and replay add theirs. ' +
      'A message the broker dead-lettered itself (a queue\'s x-delivery-limit) carries the broker\'s `x-death` instead of the park headers.',
    properties: Object.fromEntries([...ours, ...others].sort(([a], [b]) => byText(a, b))),
  };
}
