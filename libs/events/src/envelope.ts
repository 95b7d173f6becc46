import { z } from 'zod';
import { newId } from './ids';

/** The envelope every message on the bus carries (DESIGN.md, "Events"). */
export const envelopeSchema = z.object({
  eventId: z.uuid(),
  eventType: z.string().regex(/^[a-z-]+\.[a-z-]+(\.[a-z-]+)*$/, 'must look like "order.created"'),
  version: z.number().int().positive(),
  occurredAt: z.iso.datetime({ offset: true }),
  source: z.string().min(1),
  correlationId: z.string().min(1),
  causationId: z.string().min(1).nullable(),
  payload: z.unknown(),
});

export type Envelope<P = unknown> = Omit<z.infer<typeof envelopeSchema>, 'payload'> & { payload: P };

/** A versioned event contract: its type, version, exchange and payload schema. */
export interface EventContract<T extends string = string, P = unknown> {
  readonly type: T;
  readonly version: number;
  /** Topic exchange it is published on: `<first segment of the type>.events`. */
  readonly exchange: string;
  readonly payload: z.ZodType<P>;
}

export type PayloadOf<C> = C extends EventContract<string, infer P> ? P : never;
export type EventOf<C> = Envelope<PayloadOf<C>>;

export function defineEvent<T extends string, P>(
  type: T,
  version: number,
  payload: z.ZodType<P>,
): EventContract<T, P> {
  const domain = type.split('.')[0];
  return Object.freeze({ type, version, exchange: `${domain}.events`, payload });
}

export interface EnvelopeMeta {
  source: string;
  correlationId: string;
  causationId?: string | null;
  eventId?: string;
  occurredAt?: Date;
}

/** Builds a valid envelope; throws if the payload breaks the contract (a bug at the producer). */
export function createEvent<C extends EventContract>(
  contract: C,
  payload: PayloadOf<C>,
  meta: EnvelopeMeta,
): EventOf<C> {
  return {
    eventId: meta.eventId ?? newId(),
    eventType: contract.type,
    version: contract.version,
    occurredAt: (meta.occurredAt ?? new Date()).toISOString(),
    source: meta.source,
    correlationId: meta.correlationId,
    causationId: meta.causationId ?? null,
    payload: contract.payload.parse(payload) as PayloadOf<C>,
  };
}

export type ParseResult<P> = { ok: true; event: Envelope<P> } | { ok: false; reason: string };

function describe(error: z.ZodError, prefix: string): string {
  return error.issues
    .map((i) => `${[prefix, ...i.path.map(String)].filter(Boolean).join('.') || '(root)'}: ${i.message}`)
    .join('; ');
}

/** Validates an unknown value as an envelope and, when given, its payload against a contract. */
export function parseEvent<P>(raw: unknown, contract?: EventContract<string, P>): ParseResult<P> {
  const envelope = envelopeSchema.safeParse(raw);
  if (!envelope.success) return { ok: false, reason: `invalid envelope: ${describe(envelope.error, '')}` };
  if (!contract) return { ok: true, event: envelope.data as Envelope<P> };
  return parsePayload(envelope.data, contract);
}

/** Validates the payload of an already valid envelope against its contract. */
export function parsePayload<P>(envelope: Envelope, contract: EventContract<string, P>): ParseResult<P> {
  if (envelope.eventType !== contract.type || envelope.version !== contract.version) {
    return {
      ok: false,
      reason: `unexpected event ${envelope.eventType} v${envelope.version}, expected ${contract.type} v${contract.version}`,
    };
  }
  const payload = contract.payload.safeParse(envelope.payload);
  if (!payload.success) return { ok: false, reason: `invalid payload: ${describe(payload.error, 'payload')}` };
  return { ok: true, event: { ...envelope, payload: payload.data } };
}
