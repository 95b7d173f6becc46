export { Tracing, type Carrier, type StartedSpan, type TraceHeaders } from './tracing';
export { createTracing, tracingFromEnv, tracingSettings, type Report, type TracingOptions, type TracingSettings } from './setup';
export { startServer, startClient, type ClientSpan, type IncomingRequest, type OutgoingRequest, type ServerSpan } from './http-spans';
export { startBatch, startHandler, startPublish, type HandledMessage, type PublishedEvent, type PublishSpan } from './messaging-spans';
/** For tests: spans kept in memory (`createTracing({ exporter })`), and their shape. */
export { InMemorySpanExporter, type ReadableSpan } from '@opentelemetry/sdk-trace-base';
export { SpanKind, SpanStatusCode } from '@opentelemetry/api';
