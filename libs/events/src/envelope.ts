import { z } from 'zod';
import { newId } from './ids';

/** The envelope every message on the bus carries (docs/contract.md, "Events"). */
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

/**
 * An envelope with payload `P`. `T` and `V` are the event's type and version as literals when
 * the envelope is known to follow a contract (see `EventOf`), so a `switch (e.eventType)` over a
 * union of events narrows the payload; they default to `string`/`number` for any envelope.
 */
export type Envelope<P = unknown, T extends string = string, V extends number = number> = Omit<
  z.infer<typeof envelopeSchema>,
  'eventType' | 'version' | 'payload'
> & { eventType: T; version: V; payload: P };

/** A versioned event contract: its type, version, exchange and payload schema. */
export interface EventContract<T extends string = string, P = unknown, V extends number = number> {
  readonly type: T;
  readonly version: V;
  /** Topic exchange it is published on: `<first segment of the type>.events`. */
  readonly exchange: string;
  readonly payload: z.ZodType<P>;
}

export type PayloadOf<C> = C extends EventContract<string, infer P> ? P : never;

/**
 * The envelope of an event following contract `C`: `eventType` and `version` are the
 * contract's literals. Distributes over a union of contracts, so the envelopes of a list of
 * contracts form a union discriminated by `eventType` (and by `version` where two versions of
 * one type are both in the list).
 */
export type EventOf<C> = C extends EventContract<infer T, infer P, infer V> ? Envelope<P, T, V> : never;

/** Keeps `type` and `version` as literals: `defineEvent('order.created', 1, s)` is an `EventContract<'order.created', P, 1>`. */
export function defineEvent<const T extends string, P, const V extends number>(
  type: T,
  version: V,
  payload: z.ZodType<P>,
): EventContract<T, P, V> {
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
  // TypeScript cannot resolve `EventOf<C>` for a generic `C`; the type and version below are
  // the contract's own, which is what `EventOf<C>` states.
  return {
    eventId: meta.eventId ?? newId(),
    eventType: contract.type,
    version: contract.version,
    occurredAt: (meta.occurredAt ?? new Date()).toISOString(),
    source: meta.source,
    correlationId: meta.correlationId,
    causationId: meta.causationId ?? null,
    payload: contract.payload.parse(payload),
  } as EventOf<C>;
}

export type ParseResult<P, T extends string = string, V extends number = number> =
  | { ok: true; event: Envelope<P, T, V> }
  | { ok: false; reason: string };

function describe(error: z.ZodError, prefix: string): string {
  return error.issues
    .map((i) => `${[prefix, ...i.path.map(String)].filter(Boolean).join('.') || '(root)'}: ${i.message}`)
    .join('; ');
}

/** Validates an unknown value as an envelope and, when given, its payload against a contract. */
export function parseEvent(raw: unknown): ParseResult<unknown>;
export function parseEvent<T extends string, P, V extends number>(raw: unknown, contract: EventContract<T, P, V>): ParseResult<P, T, V>;
export function parseEvent<T extends string, P, V extends number>(raw: unknown, contract?: EventContract<T, P, V>): ParseResult<unknown> | ParseResult<P, T, V> {
  const envelope = envelopeSchema.safeParse(raw);
  if (!envelope.success) return { ok: false, reason: `invalid envelope: ${describe(envelope.error, '')}` };
  if (!contract) return { ok: true, event: envelope.data };
  return parsePayload(envelope.data, contract);
}

/** Validates the payload of an already valid envelope against its contract. */
export function parsePayload<T extends string, P, V extends number>(envelope: Envelope, contract: EventContract<T, P, V>): ParseResult<P, T, V> {
  if (envelope.eventType !== contract.type || envelope.version !== contract.version) {
    return {
      ok: false,
      reason: `unexpected event ${envelope.eventType} v${envelope.version}, expected ${contract.type} v${contract.version}`,
    };
  }
  const payload = contract.payload.safeParse(envelope.payload);
  if (!payload.success) return { ok: false, reason: `invalid payload: ${describe(payload.error, 'payload')}` };
  // The checks above made the type and version the contract's.
  return { ok: true, event: { ...envelope, eventType: contract.type, version: contract.version, payload: payload.data } };
}
