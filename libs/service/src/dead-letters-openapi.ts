import { z } from 'zod';
import type { RouteDoc } from '@orderflow/http';
import type { ParkedMessage } from '@orderflow/messaging';
import { filter, groupByError, listQuery } from './dead-letters-api';

// The answers of the dead-letter routes (dead-letters-api.ts), typed against what produces
// them below, so the OpenAPI document cannot drift from the code.
const parkedAt = z.string().nullable().meta({ format: 'date-time' });

/** A parked message (libs/messaging's ParkedMessage) as `GET …/:parkedId` answers it. */
export const parkedMessage = z
  .object({
    parkedId: z.uuid(),
    parkedAt,
    reason: z.string(),
    error: z.string(),
    errorCode: z.string(),
    attempts: z.number().int(),
    originalQueue: z.string(),
    originalExchange: z.string(),
    originalRoutingKey: z.string(),
    eventId: z.string().nullable(),
    eventType: z.string().nullable(),
    body: z.unknown().meta({ description: 'The message body as received (parsed when it is JSON)' }),
  })
  .meta({ id: 'ParkedMessage' });

const deadLetterGroup = z.object({ errorCode: z.string(), reason: z.string(), count: z.number().int(), firstParkedAt: parkedAt, lastParkedAt: parkedAt, sample: z.string() });
export const deadLetterList = z.object({
  service: z.string(),
  depth: z.number().int().meta({ description: 'Messages in the dead-letter queue' }),
  groups: z.array(deadLetterGroup).meta({ description: 'By error code and reason, the largest first' }),
  items: z.array(parkedMessage.omit({ body: true })),
});

// Compile-time checks that the schemas accept what the handlers send.
type Accepts<S extends z.ZodType, T extends z.output<S>> = T;
type CheckedAnswers = [Accepts<typeof parkedMessage, ParkedMessage>, Accepts<z.ZodArray<typeof deadLetterGroup>, ReturnType<typeof groupByError>>];

/**
 * The dead-letter routes of every service, documented once: `services` are the names the
 * gateway routes under `/api/dead-letters/<service>` (each service's topology name).
 */
export function deadLetterRoutes(services: readonly [string, ...string[]]): RouteDoc[] {
  const service = z.enum(services).meta({ description: "The service whose dead-letter queue it is (its topology's name)" });
  const common = { tag: 'Dead letters', roles: ['admin'] as const };
  // Every route walks the queue, one walk at a time across the service's processes: 503 when another held it too long.
  const busy = ['DEAD_LETTER.BUSY'];
  return [
    {
      ...common,
      operationId: 'listDeadLetters',
      method: 'get',
      path: '/api/dead-letters/:service',
      summary: "A service's parked messages, grouped by error",
      description: 'Listing takes every message off the queue and puts it back.',
      params: z.object({ service }),
      query: listQuery,
      answers: { 200: { description: 'The depth, the groups and the messages without their bodies', json: deadLetterList } },
      problems: { 503: busy },
    },
    {
      ...common,
      operationId: 'getDeadLetter',
      method: 'get',
      path: '/api/dead-letters/:service/:parkedId',
      summary: 'One parked message, with its body',
      params: z.object({ service, parkedId: z.uuid() }),
      answers: { 200: { description: 'The parked message', json: parkedMessage } },
      problems: { 404: ['DEAD_LETTER.NOT_FOUND'], 503: busy },
    },
    {
      ...common,
      operationId: 'replayDeadLetters',
      method: 'post',
      path: '/api/dead-letters/:service/replay',
      summary: 'Replay parked messages into the queue they failed in, as first attempts',
      description: 'A message leaves the dead-letter queue only once the broker confirmed that its queue took it; one that cannot be replayed stays parked (409).',
      params: z.object({ service }),
      body: filter,
      answers: { 200: { description: 'How many were replayed', json: z.object({ replayed: z.number().int() }) } },
      problems: { 409: ['DEAD_LETTER.NOT_REPLAYED'], 503: busy },
    },
    {
      ...common,
      operationId: 'discardDeadLetters',
      method: 'post',
      path: '/api/dead-letters/:service/discard',
      summary: 'Discard parked messages for good',
      params: z.object({ service }),
      body: filter,
      answers: { 200: { description: 'How many were discarded', json: z.object({ discarded: z.number().int() }) } },
      problems: { 503: busy },
    },
  ];
}
