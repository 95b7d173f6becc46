import { STATUS_CODES } from 'node:http';
import type { ErrorRequestHandler, Request, RequestHandler } from 'express';
import { z } from 'zod';
import { AppError, categorize, errorCode, errorMessage, type ErrorCategory } from '@orderflow/errors';
import type { Logger } from '@orderflow/logging';

/** An RFC 7807 problem document, as every error response of Orderflow carries it (the gateway's own too). */
export const problemSchema = z
  .object({
    type: z.string().meta({ description: 'A URI naming the kind of problem: https://orderflow.dev/problems/…' }),
    title: z.string().meta({ description: "The status code's reason phrase" }),
    status: z.number().int(),
    detail: z.string().meta({ description: 'What went wrong, for a person' }),
    code: z.string().meta({ description: 'Stable: what a client switches on (ORDER.NOT_FOUND, AUTH.FORBIDDEN…)' }),
    instance: z.string().optional().meta({ description: 'The path and query of the request (absent on the gateway\'s own answers)' }),
    requestId: z.string().meta({ description: 'X-Request-Id of the request: the key to its log lines' }),
    errors: z
      .array(z.object({ field: z.string(), message: z.string() }))
      .optional()
      .meta({ description: 'Each bad field of a validation failure (400 REQUEST.INVALID)' }),
  })
  .meta({ id: 'Problem' });
export type Problem = z.output<typeof problemSchema>;

/** A protocol-level rejection (413, 415...) that has no business category. */
export class HttpError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
  ) {
    super(message);
    this.name = 'HttpError';
  }
}

const STATUS_BY_CATEGORY: Record<ErrorCategory, number> = {
  validation: 400,
  unauthorized: 401,
  forbidden: 403,
  not_found: 404,
  conflict: 409,
  transient: 503,
  permanent: 500,
};

// body-parser and the router raise http-errors style errors (`status`, `type`).
const BODY_PARSER_CODES: Record<string, string> = {
  'entity.parse.failed': 'REQUEST.MALFORMED_JSON',
  'entity.too.large': 'REQUEST.TOO_LARGE',
  'charset.unsupported': 'REQUEST.UNSUPPORTED_MEDIA_TYPE',
  'encoding.unsupported': 'REQUEST.UNSUPPORTED_ENCODING',
};

/** Answers every request no route took with a 404 problem. */
export function notFound(): RequestHandler {
  return (req) => {
    throw new AppError('ROUTE.NOT_FOUND', `No route for ${req.method} ${req.path}`, { category: 'not_found' });
  };
}

/** The one error middleware: maps any error to a problem document and logs server errors once. */
export function problemHandler(logger: Logger): ErrorRequestHandler {
  return (err: unknown, req, res, next) => {
    const problem = toProblem(err, req);
    const context = { method: req.method, path: req.path, status: problem.status, code: errorCode(err) };
    if (problem.status >= 500) {
      logger.error(`request failed: ${errorMessage(err)}`, {
        ...context,
        stack: err instanceof Error ? err.stack : undefined,
      });
    } else {
      logger.debug(`request rejected: ${errorMessage(err)}`, context);
    }
    // Too late for a problem document; Express's final handler closes the connection.
    if (res.headersSent) return next(err);
    if (problem.status === 401) res.set('WWW-Authenticate', 'Bearer');
    res.status(problem.status).type('application/problem+json').json(problem);
  };
}

function toProblem(err: unknown, req: Request): Problem {
  const { status, code, detail, errors } = describe(err);
  return {
    type: `https://orderflow.dev/problems/${code.toLowerCase().replaceAll('.', '/').replaceAll('_', '-')}`,
    title: STATUS_CODES[status] ?? 'Error',
    status,
    detail,
    code,
    instance: req.originalUrl,
    requestId: req.id,
    // A validation AppError's details are its FieldErrors (validate.ts).
    ...(errors === undefined ? {} : { errors: errors as Problem['errors'] }),
  };
}

function describe(err: unknown): { status: number; code: string; detail: string; errors?: unknown } {
  if (err instanceof HttpError) return { status: err.status, code: err.code, detail: err.message };
  const clientStatus = clientErrorStatus(err);
  if (clientStatus !== undefined) {
    const type = (err as { type?: unknown }).type;
    const code = (typeof type === 'string' ? BODY_PARSER_CODES[type] : undefined) ?? 'REQUEST.INVALID';
    return { status: clientStatus, code, detail: errorMessage(err) };
  }
  // A PostgreSQL data exception (class 22: value too long, out of range, bad encoding) is the
  // client's input that validation let through: still a 400, and the statement stored nothing.
  if (!(err instanceof AppError) && sqlStateOf(err)?.startsWith('22')) {
    return { status: 400, code: 'REQUEST.INVALID_VALUE', detail: 'A value in the request cannot be stored.' };
  }
  const status = STATUS_BY_CATEGORY[categorize(err)];
  if (err instanceof AppError && status < 500) {
    return {
      status,
      code: err.code,
      detail: err.message,
      ...(err.category === 'validation' && err.details !== undefined ? { errors: err.details } : {}),
    };
  }
  // Server-side messages can name hosts, SQL or internals: the client gets a generic detail
  // and the request id; the log line has the rest.
  if (status === 503) {
    return {
      status,
      code: err instanceof AppError ? err.code : 'SERVICE.UNAVAILABLE',
      detail: 'The service is temporarily unavailable; retry shortly.',
    };
  }
  return { status: 500, code: 'INTERNAL', detail: 'An unexpected error occurred.' };
}

/** The SQLSTATE of a pg error, also when Prisma's driver adapter wraps it. */
function sqlStateOf(err: unknown): string | undefined {
  const e = err as { code?: unknown; meta?: { driverAdapterError?: { cause?: { originalCode?: unknown } } } } | null;
  const code = e?.meta?.driverAdapterError?.cause?.originalCode ?? e?.code;
  return typeof code === 'string' && /^[0-9A-Z]{5}$/.test(code) ? code : undefined;
}

function clientErrorStatus(err: unknown): number | undefined {
  if (err instanceof AppError || typeof err !== 'object' || err === null) return undefined;
  const { status, statusCode } = err as { status?: unknown; statusCode?: unknown };
  const value = typeof status === 'number' ? status : statusCode;
  return typeof value === 'number' && value >= 400 && value < 500 ? value : undefined;
}
