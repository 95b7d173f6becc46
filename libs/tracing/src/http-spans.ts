import { SpanKind, SpanStatusCode, type Attributes } from '@opentelemetry/api';
import {
  ATTR_ERROR_TYPE,
  ATTR_HTTP_REQUEST_METHOD,
  ATTR_HTTP_RESPONSE_STATUS_CODE,
  ATTR_HTTP_ROUTE,
  ATTR_SERVER_ADDRESS,
  ATTR_SERVER_PORT,
  ATTR_URL_FULL,
  ATTR_URL_PATH,
  ATTR_URL_SCHEME,
  ATTR_USER_AGENT_ORIGINAL,
} from '@opentelemetry/semantic-conventions';
import { started, type Carrier, type StartedSpan, type TraceHeaders, type Tracing } from './tracing';

/** A request as the server span needs it. */
export interface IncomingRequest {
  method: string;
  path: string;
  scheme: string;
  /** The request's headers: a caller's `traceparent` makes the span its child. */
  headers: Carrier;
}

/** A server span, ended with the route that matched (a pattern, never the raw path) and the status. */
export interface ServerSpan extends StartedSpan {
  finish(route: string | undefined, status: number): void;
}

/**
 * The span of an HTTP request (server), named `METHOD /route/:pattern` once the route is known,
 * the child of the caller's context when it sent one. A 5xx answer marks it failed; a 4xx is
 * the client's business (the conventions' rule for servers).
 */
export function startServer(t: Tracing, req: IncomingRequest): ServerSpan {
  const parent = t.extract(req.headers);
  const userAgent = req.headers['user-agent'];
  const attributes: Attributes = {
    [ATTR_HTTP_REQUEST_METHOD]: req.method,
    [ATTR_URL_PATH]: req.path,
    [ATTR_URL_SCHEME]: req.scheme,
    ...(typeof userAgent === 'string' ? { [ATTR_USER_AGENT_ORIGINAL]: userAgent } : {}),
  };
  const s = started(t.tracer.startSpan(req.method, { kind: SpanKind.SERVER, attributes }, parent), parent);
  return {
    ...s,
    finish(route, status) {
      if (route !== undefined) {
        s.span.updateName(`${req.method} ${route}`);
        s.span.setAttribute(ATTR_HTTP_ROUTE, route);
      }
      s.span.setAttribute(ATTR_HTTP_RESPONSE_STATUS_CODE, status);
      if (status >= 500) {
        s.span.setAttribute(ATTR_ERROR_TYPE, String(status));
        s.span.setStatus({ code: SpanStatusCode.ERROR });
      }
      s.span.end();
    },
  };
}

/** An outgoing request as the client span needs it. */
export interface OutgoingRequest {
  method: string;
  /** The full URL (no credentials in it). */
  url: string;
  /** The path as a template (`/v1/ledger/{key}`): the span's name, bounded. */
  template: string;
}

/** A client span and the headers that carry it to the server. */
export interface ClientSpan extends StartedSpan {
  readonly headers: TraceHeaders;
  /** Ends the span with the answer's status, or with what failed when there is none. */
  finish(answer: { status: number } | { error: unknown }): void;
}

/**
 * The span of an outgoing HTTP request (client), the child of the active context (the handler
 * that calls); send `headers` with the request so the server's span is its child.
 */
export function startClient(t: Tracing, req: OutgoingRequest): ClientSpan {
  const parent = t.active();
  const url = new URL(req.url);
  const attributes: Attributes = {
    [ATTR_HTTP_REQUEST_METHOD]: req.method,
    [ATTR_URL_FULL]: url.toString(),
    [ATTR_SERVER_ADDRESS]: url.hostname,
    [ATTR_SERVER_PORT]: Number(url.port || (url.protocol === 'https:' ? 443 : 80)),
  };
  const s = started(t.tracer.startSpan(`${req.method} ${req.template}`, { kind: SpanKind.CLIENT, attributes }, parent), parent);
  return {
    ...s,
    headers: t.headersOf(s.context),
    finish(answer) {
      if ('error' in answer) {
        const e = answer.error as { code?: unknown; name?: unknown };
        s.span.setAttribute(ATTR_ERROR_TYPE, String(e?.code ?? e?.name ?? 'error'));
        s.end(answer.error);
        return;
      }
      s.span.setAttribute(ATTR_HTTP_RESPONSE_STATUS_CODE, answer.status);
      // A client's 4xx is a failure too: its request was refused.
      if (answer.status >= 400) {
        s.span.setAttribute(ATTR_ERROR_TYPE, String(answer.status));
        s.span.setStatus({ code: SpanStatusCode.ERROR });
      }
      s.span.end();
    },
  };
}
