import { ROOT_CONTEXT, SpanKind, trace, type Attributes, type Link } from '@opentelemetry/api';
import { started, type Carrier, type StartedSpan, type TraceHeaders, type Tracing } from './tracing';

/*
 * Messaging attribute names of the OpenTelemetry semantic conventions. They are still
 * "incubating" (not in the package's stable entry), and the conventions ask users of those to
 * copy the names rather than import them.
 */
const SYSTEM = 'messaging.system';
const DESTINATION = 'messaging.destination.name';
const SUBSCRIPTION = 'messaging.destination.subscription.name';
const ROUTING_KEY = 'messaging.rabbitmq.destination.routing_key';
const MESSAGE_ID = 'messaging.message.id';
const CONVERSATION_ID = 'messaging.message.conversation_id';
const OPERATION_TYPE = 'messaging.operation.type';
const OPERATION_NAME = 'messaging.operation.name';
const BATCH_COUNT = 'messaging.batch.message_count';
/** Ours: the event type and the delivery attempt of a handled event. */
const EVENT_TYPE = 'orderflow.event.type';
const ATTEMPT = 'orderflow.delivery.attempt';

/** An outbox event as the relay publishes it. */
export interface PublishedEvent {
  exchange: string;
  routingKey: string;
  eventId: string;
  correlationId?: string | null;
  /** The context its writer stored with the row (`Tracing.capture`), if any. */
  traceContext?: string | null;
}

/** A producer span and the headers that carry it on the message. */
export interface PublishSpan extends StartedSpan {
  readonly headers: TraceHeaders;
}

/**
 * The span of one outbox publish (producer): the child of the transaction that wrote the row,
 * from the row's stored context, so the consumer in the next service descends from that
 * transaction. End it with the broker's answer (the confirm, or why not).
 */
export function startPublish(t: Tracing, e: PublishedEvent): PublishSpan {
  const parent = t.extract(e.traceContext);
  const attributes: Attributes = {
    [SYSTEM]: 'rabbitmq',
    [OPERATION_TYPE]: 'send',
    [OPERATION_NAME]: 'publish',
    [DESTINATION]: e.exchange,
    [ROUTING_KEY]: e.routingKey,
    [MESSAGE_ID]: e.eventId,
    ...(e.correlationId ? { [CONVERSATION_ID]: e.correlationId } : {}),
  };
  const span = t.tracer.startSpan(`publish ${e.routingKey}`, { kind: SpanKind.PRODUCER, attributes }, parent);
  const s = started(span, parent);
  return { ...s, headers: t.headersOf(s.context) };
}

/**
 * The span of a consumer batch: what one lane took from the prefetch window, handled in one
 * transaction or, after a failure, one by one. Its messages may belong to as many traces: the
 * span links each message's context; it is the child of their trace only when they share one
 * (a lone message, usually, at low load), and a root otherwise. Each message's handler span is
 * the child of its own message (`startHandler`).
 */
export function startBatch(t: Tracing, queue: string, messages: ReadonlyArray<Carrier | undefined>): StartedSpan {
  const links: Link[] = [];
  for (const headers of messages) {
    const sc = headers ? trace.getSpanContext(t.extract(headers)) : undefined;
    if (sc && trace.isSpanContextValid(sc)) links.push({ context: sc });
  }
  const oneTrace = links.length > 0 && links.every((l) => l.context.traceId === links[0]!.context.traceId);
  const parent = oneTrace ? trace.setSpanContext(ROOT_CONTEXT, links[0]!.context) : ROOT_CONTEXT;
  const attributes: Attributes = {
    [SYSTEM]: 'rabbitmq',
    [OPERATION_TYPE]: 'process',
    [OPERATION_NAME]: 'process',
    [SUBSCRIPTION]: queue,
    [BATCH_COUNT]: messages.length,
  };
  const span = t.tracer.startSpan(`process ${queue}`, { kind: SpanKind.CONSUMER, attributes, links, root: !oneTrace }, parent);
  return started(span, parent);
}

/** A delivered event on its way to its handler. */
export interface HandledMessage {
  queue: string;
  eventType: string;
  eventId: string;
  correlationId?: string;
  attempt: number;
  /** The message's AMQP headers, with the publish's context. */
  headers: Carrier | undefined;
}

/**
 * The span of one event's handler (consumer): the child of the publish that sent the event,
 * from the message's headers, linked to the batch it was handled in (the active span). What
 * the handler publishes is captured from this span.
 */
export function startHandler(t: Tracing, m: HandledMessage): StartedSpan {
  const parent = t.extract(m.headers);
  const batch = trace.getSpanContext(t.active());
  const attributes: Attributes = {
    [SYSTEM]: 'rabbitmq',
    [OPERATION_TYPE]: 'process',
    [OPERATION_NAME]: 'handle',
    [SUBSCRIPTION]: m.queue,
    [MESSAGE_ID]: m.eventId,
    [EVENT_TYPE]: m.eventType,
    [ATTEMPT]: m.attempt,
    ...(m.correlationId ? { [CONVERSATION_ID]: m.correlationId } : {}),
  };
  const links = batch && trace.isSpanContextValid(batch) ? [{ context: batch }] : [];
  const span = t.tracer.startSpan(`handle ${m.eventType}`, { kind: SpanKind.CONSUMER, attributes, links }, parent);
  return started(span, parent);
}
