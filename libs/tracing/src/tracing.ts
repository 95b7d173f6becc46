import { context, defaultTextMapSetter, ROOT_CONTEXT, SpanStatusCode, trace, type Context, type Span, type TextMapGetter, type TimeInput, type Tracer } from '@opentelemetry/api';
import { W3CTraceContextPropagator } from '@opentelemetry/core';

/** What carries a trace context: HTTP or AMQP headers, or an outbox row's text (`Tracing.capture`). */
export type Carrier = Readonly<Record<string, unknown>>;

/** The W3C headers (`traceparent`, `tracestate`) that carry a context to the next process. */
export type TraceHeaders = Record<string, string>;

const propagator = new W3CTraceContextPropagator();

/**
 * Reads header values as they come: strings (HTTP, amqplib's long strings), a repeated HTTP
 * header (the first), or bytes (an AMQP header some other client wrote as a byte array).
 */
const getter: TextMapGetter<Carrier> = {
  keys: (carrier) => Object.keys(carrier),
  get(carrier, key) {
    const value = carrier[key];
    if (typeof value === 'string') return value;
    if (Array.isArray(value)) return typeof value[0] === 'string' ? value[0] : undefined;
    if (Buffer.isBuffer(value)) return value.toString('utf8');
    return undefined;
  },
};

function parseStored(text: string): Carrier {
  try {
    const parsed: unknown = JSON.parse(text);
    return typeof parsed === 'object' && parsed !== null ? (parsed as Carrier) : {};
  } catch {
    // A row written by something else: the publish starts a trace of its own.
    return {};
  }
}

/**
 * A process's tracing, on: its tracer and the W3C Trace Context propagation between HTTP
 * headers, AMQP headers and outbox rows. When tracing is off there is no `Tracing` at all
 * (`tracingFromEnv` returns undefined) and the code that would use one does nothing.
 */
export class Tracing {
  constructor(
    /** `service.name` of the spans. */
    readonly service: string,
    readonly tracer: Tracer,
    private readonly provider: { forceFlush(): Promise<void>; shutdown(): Promise<void> },
  ) {}

  /**
   * The trace context of `ctx` (default: the active one) as the text an outbox row keeps, so
   * that the publish after the commit, and through it the consumer in the next service, are
   * its children. Undefined outside any span.
   */
  capture(ctx: Context = context.active()): string | undefined {
    const headers = this.headersOf(ctx);
    return headers.traceparent === undefined ? undefined : JSON.stringify(headers);
  }

  /** The context carried by headers, or by an outbox row's text; the root context when none is. */
  extract(carrier: Carrier | string | null | undefined): Context {
    if (carrier === null || carrier === undefined) return ROOT_CONTEXT;
    return propagator.extract(ROOT_CONTEXT, typeof carrier === 'string' ? parseStored(carrier) : carrier, getter);
  }

  /** The W3C headers of `ctx`, for a message or an outgoing request (empty outside any span). */
  headersOf(ctx: Context): TraceHeaders {
    const headers: TraceHeaders = {};
    propagator.inject(ctx, headers, defaultTextMapSetter);
    return headers;
  }

  /** Runs `fn` with `ctx` active: spans started and contexts captured inside it descend from it. */
  run<T>(ctx: Context, fn: () => T): T {
    return context.with(ctx, fn);
  }

  /** The active context. */
  active(): Context {
    return context.active();
  }

  /** Exports the spans ended so far (tests; the batch processor exports on its own schedule). */
  flush(): Promise<void> {
    return this.provider.forceFlush();
  }

  /**
   * Exports what is left and stops, within `timeoutMs` at most: an exporter whose collector
   * does not answer must not hold a graceful stop up.
   */
  async shutdown(timeoutMs = 5_000): Promise<void> {
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([
      this.provider.shutdown().catch(() => undefined),
      new Promise<void>((resolve) => {
        timer = setTimeout(resolve, timeoutMs);
        timer.unref();
      }),
    ]);
    clearTimeout(timer);
  }
}

/** A span started by the helpers: its context (for children), and its end. */
export interface StartedSpan {
  /** The context with this span active: run children in it, capture it for an outbox row. */
  readonly context: Context;
  readonly span: Span;
  /**
   * Ends the span (once); `error` (a message or an Error) marks it failed. `endTime` (e.g. a
   * `performance.now()` taken earlier): when the outcome is known only after the work ended.
   */
  end(error?: unknown, endTime?: TimeInput): void;
}

export function started(span: Span, parent: Context): StartedSpan {
  let ended = false;
  return {
    context: trace.setSpan(parent, span),
    span,
    // Once: a second end (a failure found after the outcome) keeps the first, unwarned.
    end(error?: unknown, endTime?: TimeInput) {
      if (ended) return;
      ended = true;
      if (error !== undefined) {
        if (error instanceof Error) span.recordException(error, endTime);
        span.setStatus({ code: SpanStatusCode.ERROR, message: error instanceof Error ? error.message : String(error) });
      }
      span.end(endTime);
    },
  };
}
