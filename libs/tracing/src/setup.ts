import { context, diag, DiagLogLevel, type DiagLogFunction } from '@opentelemetry/api';
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks';
import { setGlobalErrorHandler } from '@opentelemetry/core';
import { OTLPTraceExporter as OtlpJsonExporter } from '@opentelemetry/exporter-trace-otlp-http';
import { OTLPTraceExporter as OtlpProtobufExporter } from '@opentelemetry/exporter-trace-otlp-proto';
import { defaultResource, detectResources, envDetector, resourceFromAttributes } from '@opentelemetry/resources';
import {
  BasicTracerProvider,
  BatchSpanProcessor,
  ConsoleSpanExporter,
  SimpleSpanProcessor,
  type Sampler,
  type SpanExporter,
  type SpanProcessor,
} from '@opentelemetry/sdk-trace-base';
import { ATTR_SERVICE_NAME } from '@opentelemetry/semantic-conventions';
import { ConfigError } from '@orderflow/config';
import { Tracing } from './tracing';

type Env = Record<string, string | undefined>;

/** Where the SDK's own troubles go (an exporter whose collector is away): at most one line a minute. */
export type Report = (message: string, meta: Record<string, unknown>) => void;

const EXPORTERS = ['otlp', 'console', 'none'] as const;
type ExporterName = (typeof EXPORTERS)[number];
const PROTOCOLS = ['http/protobuf', 'http/json'] as const;
type Protocol = (typeof PROTOCOLS)[number];

/** What the OTEL_* variables ask for; undefined when tracing is off. */
export interface TracingSettings {
  exporters: Array<Exclude<ExporterName, 'none'>>;
  protocol: Protocol;
}

/**
 * Reads the standard variables. Tracing is OFF unless asked for: `OTEL_TRACES_EXPORTER`
 * (`otlp`, `console`, both comma-separated; `none`), or an OTLP endpoint
 * (`OTEL_EXPORTER_OTLP_ENDPOINT` / `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`, exporter `otlp`).
 * `OTEL_SDK_DISABLED=true` wins over both. A value it cannot use throws a `ConfigError`
 * naming the variable. (The SDK reads the others itself: sampler, endpoint, headers, timeouts.)
 */
export function tracingSettings(env: Env = process.env): TracingSettings | undefined {
  if (env.OTEL_SDK_DISABLED?.trim().toLowerCase() === 'true') return undefined;
  const endpoint = env.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT?.trim() || env.OTEL_EXPORTER_OTLP_ENDPOINT?.trim();
  const listed = env.OTEL_TRACES_EXPORTER?.split(',').map((s) => s.trim().toLowerCase()).filter((s) => s !== '');
  const names = listed && listed.length > 0 ? listed : endpoint ? ['otlp'] : [];
  const unknown = names.filter((n) => !(EXPORTERS as readonly string[]).includes(n));
  if (unknown.length > 0) {
    throw new ConfigError([{ variable: 'OTEL_TRACES_EXPORTER', message: `unsupported exporter ${unknown.join(', ')}: use otlp, console or none` }]);
  }
  const exporters = [...new Set(names.filter((n): n is Exclude<ExporterName, 'none'> => n !== 'none'))];
  if (exporters.length === 0) return undefined;
  const variable = env.OTEL_EXPORTER_OTLP_TRACES_PROTOCOL ? 'OTEL_EXPORTER_OTLP_TRACES_PROTOCOL' : 'OTEL_EXPORTER_OTLP_PROTOCOL';
  const protocol = (env[variable]?.trim() || 'http/protobuf') as Protocol;
  if (exporters.includes('otlp') && !PROTOCOLS.includes(protocol)) {
    throw new ConfigError([{ variable, message: `unsupported protocol ${protocol}: use http/protobuf (the default) or http/json (OTLP over HTTP, port 4318)` }]);
  }
  return { exporters, protocol };
}

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

export interface TracingOptions {
  /** `service.name`, unless OTEL_SERVICE_NAME names another. */
  service: string;
  /**
   * Where ended spans go. `exporter`: each span exported as it ends (tests: an
   * `InMemorySpanExporter`); `processors`: as given (the OTLP exporter behind a batch processor).
   */
  exporter?: SpanExporter;
  processors?: SpanProcessor[];
  /** Default: from OTEL_TRACES_SAMPLER / OTEL_TRACES_SAMPLER_ARG (parent-based, always on). */
  sampler?: Sampler;
  /** Where the SDK's own errors go (the process's last given; default stderr). */
  report?: Report;
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

function processorsOf(settings: TracingSettings): SpanProcessor[] {
  return settings.exporters.map((name) => {
    if (name === 'console') return new SimpleSpanProcessor(new ConsoleSpanExporter());
    // Batches leave on a timer, off the request's path; a full queue drops spans, never waits.
    return new BatchSpanProcessor(settings.protocol === 'http/json' ? new OtlpJsonExporter() : new OtlpProtobufExporter());
  });
}

/** One per service name and process: the payment gateway's client and the service share it. */
const fromEnv = new Map<string, Tracing | undefined>();

/** As `loadConfig` does: a value the process cannot use stops it, naming the variable (exit 78). */
function settingsOrExit(): TracingSettings | undefined {
  try {
    return tracingSettings(process.env);
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err;
    process.stderr.write(`${err.message}\n`);
    process.exit(78);
  }
}

/**
 * A service's tracing from the standard OTEL_* variables (see `tracingSettings`), or
 * undefined when they leave it off — then nothing traces and nothing is carried: the callers
 * check for a `Tracing` once, when they are built. Made once per service name in a process.
 * For the composition of a process: a bad value stops it (exit 78, the variable named).
 */
export function tracingFromEnv(service: string, options: { report?: Report } = {}): Tracing | undefined {
  if (options.report) report = options.report;
  if (fromEnv.has(service)) return fromEnv.get(service);
  const settings = settingsOrExit();
  const tracing = settings ? createTracing({ service, processors: processorsOf(settings), report: options.report }) : undefined;
  fromEnv.set(service, tracing);
  return tracing;
}
