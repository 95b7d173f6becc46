import { STATUS_CODES } from 'node:http';
import { z } from 'zod';
import type { ZodOpenApiOperationObject, ZodOpenApiPathsObject, ZodOpenApiResponseObject, ZodOpenApiResponsesObject } from 'zod-openapi';
import { ROLES, type Role } from './auth';
import { problemSchema } from './problem';

// How a service describes its routes for the OpenAPI document (tools/contract writes it): with
// the zod schemas its handlers validate with and answer by, never a second copy of them. This
// module only turns the descriptions into zod-openapi objects; it adds what every route shares
// (the bearer token, the problem documents of authentication, limits and outages).

/** The security scheme every route requires: `Authorization: Bearer <JWT>` (auth.ts). */
export const BEARER_SCHEME = 'bearer';

/** An instant as the API writes it: ISO 8601 in UTC (`Date#toISOString`). */
export const timestamp = z.string().meta({ format: 'date-time', examples: ['2026-01-31T09:30:00.000Z'] });

/** One answer of a route: a JSON body, another media type described in words, or none. */
export interface Answer {
  description: string;
  /** The JSON body's schema (`application/json`). */
  json?: z.ZodType;
  /** A body of another type (e.g. `text/csv`), described by `description`. */
  media?: string;
  /** Headers the answer carries (`Location`, `ETag`…). */
  headers?: z.ZodObject;
}

/** A route as a service's router serves it and as the public contract describes it. */
export interface RouteDoc {
  /** Unique across the API, e.g. `placeOrder`. */
  operationId: string;
  method: 'get' | 'post' | 'put' | 'patch' | 'delete';
  /** Express syntax, exactly as the router mounts it: `/api/orders/:id`. */
  path: string;
  /** One group per resource, the viewer's sections: `Orders`, `Stock`… */
  tag: string;
  summary: string;
  description?: string;
  /** Who may call it: any valid token, or only these roles (403 `AUTH.FORBIDDEN` otherwise). */
  roles: 'any' | readonly Role[];
  params?: z.ZodObject;
  query?: z.ZodObject;
  headers?: z.ZodObject;
  /** The JSON body's schema, or a body of another media type described in words. */
  body?: z.ZodType | { media: string; description: string };
  answers: Readonly<Record<number, Answer>>;
  /**
   * The codes of problem documents this route answers itself, by status: not-found, conflicts,
   * a customer acting for another. Authentication, validation, body, limits and outages are
   * added for every route.
   */
  problems?: Readonly<Record<number, readonly string[]>>;
}

/** What a service adds to the OpenAPI document (its `src/openapi.ts` exports one). */
export interface ServiceApi {
  /** The app's folder under apps/: `order-service`. */
  app: string;
  /** The name its dead letters are served under: `/api/dead-letters/<name>` (its topology's service). */
  deadLetters: string;
  routes: readonly RouteDoc[];
}

const rawBody = (body: RouteDoc['body']): body is { media: string; description: string } => body !== undefined && !(body instanceof z.ZodType);

/** A problem answer whose `code` is one of `codes`. */
function problemAnswer(status: number, codes: readonly string[], extra: Partial<ZodOpenApiResponseObject> = {}): ZodOpenApiResponseObject {
  const sorted = [...new Set(codes)].sort();
  return {
    description: `${STATUS_CODES[status] ?? 'Error'}: ${sorted.join(', ')}`,
    content: { 'application/problem+json': { schema: z.intersection(problemSchema, z.looseObject({ code: z.enum(sorted as [string, ...string[]]) })) } },
    ...extra,
  };
}

const retryAfter = z.object({ 'Retry-After': z.string().meta({ description: 'Seconds to wait before sending the same request again' }) });

// Answers every route may give, the same each time: components, referenced from each operation.
const SHARED: Record<number, { id: string; codes: string[]; headers?: z.ZodObject }> = {
  401: { id: 'Unauthenticated', codes: ['AUTH.MISSING_TOKEN', 'AUTH.INVALID_TOKEN'], headers: z.object({ 'WWW-Authenticate': z.literal('Bearer') }) },
  429: { id: 'RateLimited', codes: ['GATEWAY.RATE_LIMITED'], headers: retryAfter },
  500: { id: 'InternalError', codes: ['INTERNAL'] },
  502: { id: 'UpstreamUnavailable', codes: ['GATEWAY.UPSTREAM_UNAVAILABLE'] },
  503: { id: 'Unavailable', codes: ['SERVICE.UNAVAILABLE', 'AUTH.KEYS_UNAVAILABLE', 'GATEWAY.UNAVAILABLE'] },
  504: { id: 'UpstreamTimeout', codes: ['GATEWAY.UPSTREAM_TIMEOUT'] },
};
const sharedAnswers = new Map(
  Object.entries(SHARED).map(([status, s]) => [Number(status), problemAnswer(Number(status), s.codes, { id: s.id, ...(s.headers ? { headers: s.headers } : {}) })]),
);

/** The problem codes a route may answer by status: its own and those its shape implies. */
function problemCodes(route: RouteDoc): Map<number, string[]> {
  const codes = new Map<number, string[]>();
  const add = (status: number, ...more: string[]): void => void codes.set(status, [...(codes.get(status) ?? []), ...more]);
  const validated = route.params ?? route.query ?? route.headers ?? (route.body instanceof z.ZodType ? route.body : undefined);
  if (validated) add(400, 'REQUEST.INVALID', 'REQUEST.INVALID_VALUE');
  if (route.body instanceof z.ZodType) add(400, 'REQUEST.MALFORMED_JSON');
  if (route.body) {
    add(413, 'REQUEST.TOO_LARGE', 'GATEWAY.PAYLOAD_TOO_LARGE');
    add(415, 'REQUEST.UNSUPPORTED_MEDIA_TYPE');
  }
  if (route.roles !== 'any') add(403, 'AUTH.FORBIDDEN');
  for (const [status, own] of Object.entries(route.problems ?? {})) add(Number(status), ...own);
  return codes;
}

function responses(route: RouteDoc): ZodOpenApiResponsesObject {
  const out: ZodOpenApiResponsesObject = {};
  for (const [status, a] of Object.entries(route.answers)) {
    const content = a.json ? { 'application/json': { schema: a.json } } : a.media ? { [a.media]: { schema: { type: 'string' as const } } } : undefined;
    out[status as `2${string}`] = { description: a.description, ...(content ? { content } : {}), ...(a.headers ? { headers: a.headers } : {}) };
  }
  const own = problemCodes(route);
  for (const status of [...new Set([...own.keys(), ...sharedAnswers.keys()])].sort((a, b) => a - b)) {
    const codes = own.get(status);
    const shared = SHARED[status];
    // A route with codes of its own for a shared status answers them beside the shared ones.
    out[String(status) as `4${string}`] = codes
      ? problemAnswer(status, [...codes, ...(shared?.codes ?? [])], shared?.headers ? { headers: shared.headers } : {})
      : sharedAnswers.get(status)!;
  }
  return out;
}

/** The OpenAPI operation of one route. */
export function operationOf(route: RouteDoc): ZodOpenApiOperationObject {
  const roles = route.roles === 'any' ? [...ROLES] : [...route.roles];
  const who = route.roles === 'any' ? 'Any authenticated caller (role customer or admin).' : `Role ${roles.join(' or ')} only.`;
  const params = { ...(route.params ? { path: route.params } : {}), ...(route.query ? { query: route.query } : {}), ...(route.headers ? { header: route.headers } : {}) };
  const body = route.body;
  return {
    operationId: route.operationId,
    tags: [route.tag],
    summary: route.summary,
    description: [route.description, who].filter(Boolean).join('\n\n'),
    // OpenAPI 3.1: for a scheme other than OAuth2/OpenID Connect the list names the roles required.
    security: [{ [BEARER_SCHEME]: roles }],
    ...(Object.keys(params).length > 0 ? { requestParams: params } : {}),
    ...(body === undefined
      ? {}
      : rawBody(body)
        ? { requestBody: { required: true, description: body.description, content: { [body.media]: { schema: { type: 'string' } } } } }
        : { requestBody: { required: true, content: { 'application/json': { schema: body } } } }),
    responses: responses(route),
  };
}

/** Express's `/api/orders/:id` as an OpenAPI path: `/api/orders/{id}`. */
const openApiPath = (expressPath: string): string => expressPath.replace(/:([A-Za-z_][A-Za-z0-9_]*)/g, '{$1}');

/** The path items of routes, keyed by OpenAPI path (sorted: the document's order is stable). */
export function pathItems(routes: readonly RouteDoc[]): ZodOpenApiPathsObject {
  const paths: ZodOpenApiPathsObject = {};
  // By code point, not locale: the written document must not depend on the machine.
  const text = (a: string, b: string): number => (a < b ? -1 : a > b ? 1 : 0);
  const sorted = [...routes].sort((a, b) => text(openApiPath(a.path), openApiPath(b.path)) || text(a.method, b.method));
  for (const route of sorted) {
    const key = openApiPath(route.path);
    const item = (paths[key] ??= {});
    if (item[route.method]) throw new Error(`${route.method.toUpperCase()} ${route.path} is described twice`);
    item[route.method] = operationOf(route);
  }
  return paths;
}
