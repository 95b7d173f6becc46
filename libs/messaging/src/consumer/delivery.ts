import type { ConfirmChannel, ConsumeMessage } from 'amqplib';
import { parseEvent, parsePayload, type Envelope, type EventContract } from '@orderflow/events';
import type { SqlClient } from '@orderflow/db';
import type { HandlerSpec } from '../handlers';
import { attemptOf } from '../headers';

export interface Delivery {
  channel: ConfirmChannel;
  msg: ConsumeMessage;
}

export interface Decoded extends Delivery {
  event: Envelope;
  spec: HandlerSpec<SqlClient>;
  attempt: number;
  /** Redelivered after a delivery whose outcome is unknown: may be what killed its process. */
  suspect?: boolean;
  /**
   * A suspect this process counted and then gave back unhandled (database away, stop, channel
   * closed, a refused move): this delivery is not counted again.
   */
  givenBack?: boolean;
  /** Has a delivery counter row (delivery_attempts), deleted with the outcome. */
  counted?: boolean;
}

/** `type@version` → the handler and the contract its payload is validated against. */
export type HandlerTable<Tx extends SqlClient> = Map<string, { spec: HandlerSpec<Tx>; contract: EventContract }>;

export function handlerTable<Tx extends SqlClient>(handlers: ReadonlyArray<HandlerSpec<Tx>>): HandlerTable<Tx> {
  const table: HandlerTable<Tx> = new Map();
  for (const spec of handlers) {
    for (const contract of spec.contracts) table.set(`${contract.type}@${contract.version}`, { spec, contract });
  }
  return table;
}

/** A delivery as its validated event and the handler it goes to, or why it cannot be handled. */
export function decode<Tx extends SqlClient>(d: Delivery, table: HandlerTable<Tx>, queue: string): Decoded | { reason: string } {
  let raw: unknown;
  try {
    raw = JSON.parse(d.msg.content.toString('utf8'));
  } catch {
    return { reason: 'message body is not valid JSON' };
  }
  const envelope = parseEvent(raw);
  if (!envelope.ok) return { reason: envelope.reason };
  const found = table.get(`${envelope.event.eventType}@${envelope.event.version}`);
  if (!found) {
    return { reason: `no handler for ${envelope.event.eventType} v${envelope.event.version} on ${queue}` };
  }
  const parsed = parsePayload(envelope.event, found.contract);
  if (!parsed.ok) return { reason: parsed.reason };
  return { ...d, event: parsed.event, spec: found.spec as HandlerSpec<SqlClient>, attempt: attemptOf(d.msg.properties.headers) };
}

/**
 * What this process knows of the deliveries it let go unhandled: the channels that closed
 * (their unacked deliveries are back on the queue already) and the ids of messages it gave
 * back to the queue untouched (while the database was away, on stop, or not yet started when
 * their channel closed), each with whether it was a suspect. When one comes back redelivered
 * to this process, its earlier delivery's outcome is known, so it is not counted toward the
 * delivery limit (and keeps its batch unless it was a suspect already).
 */
export class DeliveryLedger {
  private readonly closedChannels = new WeakSet<ConfirmChannel>();
  private readonly givenBack = new Map<string, boolean>();

  /** `limit`: ids remembered at most (the prefetch window a few times over). */
  constructor(private readonly limit: number) {}

  /** The broker requeues what `channel` delivered; `pending` (started by no handler) have a known fate. */
  channelClosed(channel: ConfirmChannel, pending: Iterable<Delivery>): void {
    this.closedChannels.add(channel);
    for (const d of pending) if (d.channel === channel) this.remember(d);
  }

  isClosed(channel: ConfirmChannel): boolean {
    return this.closedChannels.has(channel);
  }

  /**
   * Returns deliveries to the queue untouched, each on its own (a later multiple-ack must never
   * settle one of them), and remembers their ids.
   */
  giveBack(deliveries: readonly Delivery[]): void {
    for (const d of deliveries) {
      // A closed channel's deliveries are back on the queue already: nothing to nack, but they
      // went back untouched all the same, so their next delivery must not count.
      if (!this.closedChannels.has(d.channel)) safely(() => d.channel.nack(d.msg, false, true));
      this.remember(d);
    }
  }

  /**
   * Deliveries left unhandled but kept by the consumer to handle again (a pause: see
   * `QueueConsumer.pause`): remembered as if given back — a suspect counted already is not
   * counted again when it is handled — but not returned to the queue.
   */
  keep(deliveries: readonly Delivery[]): void {
    // Every one, first deliveries too: if the channel closes during the pause the broker
    // redelivers them, and that redelivery must not be taken for a suspect.
    for (const d of deliveries) this.remember(d);
  }

  /**
   * What was known of a redelivered message when it was given back (true: a suspect counted
   * already; false: not a suspect; undefined: nothing), forgotten as it is looked up.
   */
  take(id: string): boolean | undefined {
    const known = this.givenBack.get(id);
    if (known !== undefined) this.givenBack.delete(id);
    return known;
  }

  /** Remembers a delivery that goes back to the queue unhandled. */
  private remember(d: Delivery | Decoded): void {
    const id = idOf(d);
    if (id === undefined) return;
    // true: a suspect whose delivery was counted already (it runs alone, not counted again);
    // false: not a suspect. A suspect given back before it was counted is forgotten, so its
    // next delivery is counted: the delivery that made it suspect ended without an outcome.
    // Of a message not yet decoded nothing was looked up: what was known of it stays.
    const known = 'event' in d
      ? d.suspect ? (d.counted ? true : undefined) : false
      : (this.givenBack.get(id) ?? (d.msg.fields.redelivered ? undefined : false));
    this.givenBack.delete(id);
    if (known !== undefined) this.givenBack.set(id, known);
    // Bounded: the id of a message another replica took is never looked up here again.
    if (this.givenBack.size > this.limit) this.givenBack.delete(this.givenBack.keys().next().value!);
  }
}

/** The lane of a message: by its correlation id, so the events of one order stay in order. */
export function laneOf(correlationId: unknown, lanes: number): number {
  if (lanes === 1 || typeof correlationId !== 'string') return 0;
  let h = 0;
  for (let i = 0; i < correlationId.length; i++) h = (h * 31 + correlationId.charCodeAt(i)) | 0;
  return Math.abs(h) % lanes;
}

/** The id a delivery is remembered by: its message id (the event id, as the relay publishes it). */
export function idOf(d: Delivery | Decoded): string | undefined {
  const id: unknown = d.msg.properties.messageId;
  if (typeof id === 'string') return id;
  return 'event' in d ? d.event.eventId : undefined;
}

export function safely(fn: () => void): void {
  try {
    fn();
  } catch {
    // The channel closed under us; the broker redelivers and the inbox drops the duplicate.
  }
}
