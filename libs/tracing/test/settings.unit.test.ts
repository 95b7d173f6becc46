import { ConfigError } from '@orderflow/config';
import { tracingSettings } from '../src';

describe('tracing settings from the OTEL_* variables', () => {
  it('is off when nothing asks for it', () => {
    expect(tracingSettings({})).toBeUndefined();
    expect(tracingSettings({ OTEL_TRACES_EXPORTER: 'none' })).toBeUndefined();
    expect(tracingSettings({ OTEL_TRACES_EXPORTER: ' ' })).toBeUndefined();
  });

  it('is on with an exporter named, or an OTLP endpoint given (exporter otlp, protobuf over HTTP)', () => {
    expect(tracingSettings({ OTEL_TRACES_EXPORTER: 'otlp' })).toEqual({ exporters: ['otlp'], protocol: 'http/protobuf' });
    expect(tracingSettings({ OTEL_EXPORTER_OTLP_ENDPOINT: 'http://127.0.0.1:4318' })).toEqual({ exporters: ['otlp'], protocol: 'http/protobuf' });
    expect(tracingSettings({ OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: 'http://127.0.0.1:4318/v1/traces', OTEL_EXPORTER_OTLP_PROTOCOL: 'http/json' })).toEqual({ exporters: ['otlp'], protocol: 'http/json' });
    expect(tracingSettings({ OTEL_TRACES_EXPORTER: 'Console, otlp,console' })).toEqual({ exporters: ['console', 'otlp'], protocol: 'http/protobuf' });
  });

  it('OTEL_SDK_DISABLED=true wins over everything', () => {
    expect(tracingSettings({ OTEL_SDK_DISABLED: 'TRUE', OTEL_TRACES_EXPORTER: 'otlp', OTEL_EXPORTER_OTLP_ENDPOINT: 'http://collector:4318' })).toBeUndefined();
    expect(tracingSettings({ OTEL_SDK_DISABLED: 'false', OTEL_TRACES_EXPORTER: 'console' })).toEqual({ exporters: ['console'], protocol: 'http/protobuf' });
  });

  it('a value it cannot use stops the start with the variable named', () => {
    const problem = (env: Record<string, string>) => {
      try {
        tracingSettings(env);
      } catch (err) {
        return err instanceof ConfigError ? err.problems : err;
      }
      return undefined;
    };
    expect(problem({ OTEL_TRACES_EXPORTER: 'jaeger' })).toEqual([{ variable: 'OTEL_TRACES_EXPORTER', message: 'unsupported exporter jaeger: use otlp, console or none' }]);
    expect(problem({ OTEL_TRACES_EXPORTER: 'otlp', OTEL_EXPORTER_OTLP_PROTOCOL: 'grpc' })).toEqual([
      { variable: 'OTEL_EXPORTER_OTLP_PROTOCOL', message: expect.stringContaining('unsupported protocol grpc') },
    ]);
    expect(problem({ OTEL_TRACES_EXPORTER: 'otlp', OTEL_EXPORTER_OTLP_PROTOCOL: 'http/json', OTEL_EXPORTER_OTLP_TRACES_PROTOCOL: 'grpc' })).toEqual([
      { variable: 'OTEL_EXPORTER_OTLP_TRACES_PROTOCOL', message: expect.stringContaining('unsupported protocol grpc') },
    ]);
    // The protocol is the OTLP exporter's business only.
    expect(tracingSettings({ OTEL_TRACES_EXPORTER: 'console', OTEL_EXPORTER_OTLP_PROTOCOL: 'grpc' })).toEqual({ exporters: ['console'], protocol: 'grpc' });
  });
});
