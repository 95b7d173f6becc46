export { Tracing, type Carrier, type StartedSpan, type TraceHeaders } from './tracing';
export { createTracing, inMemorySpanExporter, tracingFromEnv, tracingSettings, type Report, type TracingOptions, type TracingSettings } from './setup';
export { startServer, startClient, type ClientSpan, type IncomingRequest, type OutgoingRequest, type ServerSpan } from './http-spans';
export { startBatch, startHandler, startPublish, type HandledMessage, type PublishedEvent, type PublishSpan } from './messaging-spans';
/** For tests: the shapes of `inMemorySpanExporter()` and its spans (types only: the SDK loads when something traces). */
export type { InMemorySpanExporter, ReadableSpan } from '@opentelemetry/sdk-trace-base';
export { SpanKind, SpanStatusCode } from '@opentelemetry/api';
