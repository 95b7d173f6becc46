import type { z } from 'zod';
import { AppError } from '@orderflow/errors';

/** One bad field of a request, named the way a client writes it: `items[0].quantity`. */
export interface FieldError {
  field: string;
  message: string;
}

/**
 * Parses `value` with `schema` and returns the typed result, or throws a validation
 * AppError (`REQUEST.INVALID`, HTTP 400) whose details name every bad field.
 */
export function validate<S extends z.ZodType>(schema: S, value: unknown): z.output<S> {
  const result = schema.safeParse(value);
  if (result.success) return result.data;
  const details = result.error.issues.flatMap(toFieldErrors);
  throw new AppError('REQUEST.INVALID', `Invalid request: ${details.map((d) => d.field).join(', ')}`, {
    category: 'validation',
    details,
  });
}

function toFieldErrors(issue: z.core.$ZodIssue): FieldError[] {
  // An unknown key is reported once on its parent; the client wants the key itself named.
  if (issue.code === 'unrecognized_keys') {
    return issue.keys.map((key) => ({ field: fieldPath([...issue.path, key]), message: 'Unknown field' }));
  }
  return [{ field: fieldPath(issue.path), message: issue.message }];
}

function fieldPath(path: readonly PropertyKey[]): string {
  const text = path
    .map((key, i) => (typeof key === 'number' ? `[${key}]` : i === 0 ? String(key) : `.${String(key)}`))
    .join('');
  return text === '' ? '(root)' : text;
}
