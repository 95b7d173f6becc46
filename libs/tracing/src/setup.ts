import type { InMemorySpanExporter } from '@opentelemetry/sdk-trace-base';
import { ConfigError } from '@orderflow/config';
import { EXPORTERS, PROTOCOLS, type ExporterName, type Protocol, type Report, type TracingOptions, type TracingSettings } from './options';
import type { Tracing } from './tracing';

export type { Report, TracingOptions, TracingSettings } from './options';

type Env = Record<string, string | undefined>;

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
 * The SDK (sdk.ts), required when first needed: its modules and exporters are a noticeable part
 * of a process's start-up, which a process with tracing off should not pay.
 */
const sdk = (): typeof import('./sdk') => require('./sdk') as typeof import('./sdk');

/** Tracing with the given exporters: see `tracingFromEnv` for a service's. */
export function createTracing(o: TracingOptions): Tracing {
  return sdk().createTracing(o);
}

/** For tests: an exporter that keeps the spans in memory, as they end. */
export function inMemorySpanExporter(): InMemorySpanExporter {
  return sdk().inMemorySpanExporter();
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
  if (fromEnv.has(service)) {
    const made = fromEnv.get(service);
    if (made && options.report) sdk().setReport(options.report);
    return made;
  }
  const settings = settingsOrExit();
  const tracing = settings ? sdk().createTracing({ service, processors: sdk().processorsOf(settings), report: options.report }) : undefined;
  fromEnv.set(service, tracing);
  return tracing;
}
