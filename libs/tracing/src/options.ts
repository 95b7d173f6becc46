import type { Sampler, SpanExporter, SpanProcessor } from '@opentelemetry/sdk-trace-base';

// The shapes setup.ts (the settings, no SDK) and sdk.ts (the SDK) share.

/** Where the SDK's own troubles go (an exporter whose collector is away): at most one line a minute. */
export type Report = (message: string, meta: Record<string, unknown>) => void;

export const EXPORTERS = ['otlp', 'console', 'none'] as const;
export type ExporterName = (typeof EXPORTERS)[number];
export const PROTOCOLS = ['http/protobuf', 'http/json'] as const;
export type Protocol = (typeof PROTOCOLS)[number];

/** What the OTEL_* variables ask for; undefined when tracing is off. */
export interface TracingSettings {
  exporters: Array<Exclude<ExporterName, 'none'>>;
  protocol: Protocol;
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
