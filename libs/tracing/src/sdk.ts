import { context, diag, DiagLogLevel, type DiagLogFunction } from '@opentelemetry/api';
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks';
import { setGlobalErrorHandler } from '@opentelemetry/core';
import { OTLPTraceExporter as OtlpJsonExporter } from '@opentelemetry/exporter-trace-otlp-http';
import { OTLPTraceExporter as OtlpProtobufExporter } from '@opentelemetry/exporter-trace-otlp-proto';
import { defaultResource, detectResources, envDetector, resourceFromAttributes } from '@opentelemetry/resources';
import { BasicTracerProvider, BatchSpanProcessor, ConsoleSpanExporter, InMemorySpanExporter, SimpleSpanProcessor, type SpanProcessor } from '@opentelemetry/sdk-trace-base';
import { ATTR_SERVICE_NAME } from '@opentelemetry/semantic-conventions';
import type { Report, TracingOptions, TracingSettings } from './options';
import { Tracing } from './tracing';

// The OpenTelemetry SDK and its exporters: setup.ts requires this file only once something
// traces, so a process with tracing off (the default) does not load them at start-up.

/**
 * Once per process, as the OpenTelemetry API's globals are: contexts follow async calls
 * (AsyncLocalStorage), and the SDK's own errors and warnings go to `report`.
 */
let globalsSet = false;
let report: Report = (message, meta) => process.stderr.write(`${message} ${JSON.stringify(meta)}\n`);

/** The SDK's troubles, one line a minute at most whatever their number (a collector away fails every export). */
function throttled(intervalMs = 60_000): (message: string, detail?: unknown) => void {
  let last = -Infinity;
  let suppressed = 0;
  return (message, detail) => {
    const now = Date.now();
    if (now - last < intervalMs) {
      suppressed++;
      return;
    }
    last = now;
    report(`tracing: ${message}`, { ...(detail === undefined ? {} : { err: detail instanceof Error ? detail.message : String(detail) }), suppressedSinceLast: suppressed });
    suppressed = 0;
  };
}

function setGlobals(): void {
  if (globalsSet) return;
  globalsSet = true;
  context.setGlobalContextManager(new AsyncLocalStorageContextManager().enable());
  const log = throttled();
  // An exporter that fails (no collector at the endpoint) reports here, never throws into a request.
  setGlobalErrorHandler((err) => log('span export failed; spans are dropped until the collector answers', err));
  const warn: DiagLogFunction = (message, ...args) => log(message, args[0]);
  const quiet: DiagLogFunction = () => undefined;
  diag.setLogger({ error: warn, warn, info: quiet, debug: quiet, verbose: quiet }, { logLevel: DiagLogLevel.WARN, suppressOverrideMessage: true });
}

/** Where the SDK's own troubles go from now on (the process's last given). */
export function setReport(r: Report): void {
  report = r;
}

/** Tracing with the given exporters: see `tracingFromEnv` for a service's. */
export function createTracing(o: TracingOptions): Tracing {
  if (o.report) report = o.report;
  setGlobals();
  const resource = defaultResource()
    .merge(resourceFromAttributes({ [ATTR_SERVICE_NAME]: o.service }))
    // OTEL_SERVICE_NAME and OTEL_RESOURCE_ATTRIBUTES win.
    .merge(detectResources({ detectors: [envDetector] }));
  const provider = new BasicTracerProvider({
    resource,
    ...(o.sampler ? { sampler: o.sampler } : {}),
    spanProcessors: [...(o.exporter ? [new SimpleSpanProcessor(o.exporter)] : []), ...(o.processors ?? [])],
  });
  return new Tracing(String(resource.attributes[ATTR_SERVICE_NAME] ?? o.service), provider.getTracer('@orderflow/tracing'), provider);
}

export function processorsOf(settings: TracingSettings): SpanProcessor[] {
  return settings.exporters.map((name) => {
    if (name === 'console') return new SimpleSpanProcessor(new ConsoleSpanExporter());
    // Batches leave on a timer, off the request's path; a full queue drops spans, never waits.
    return new BatchSpanProcessor(settings.protocol === 'http/json' ? new OtlpJsonExporter() : new OtlpProtobufExporter());
  });
}

/** For tests: spans kept in memory, as they end (`createTracing({ exporter })`). */
export const inMemorySpanExporter = (): InMemorySpanExporter => new InMemorySpanExporter();
