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
  // PostgreSQL cannot store U+0000 in text: refuse it here, with the field, for every schema.
  const nul = result.success ? findNul(result.data, []) : undefined;
  if (result.success && !nul) return result.data;
  const details = nul ? [{ field: fieldPath(nul), message: 'must not contain the NUL character (\\u0000)' }] : result.error!.issues.flatMap(toFieldErrors);
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

/** The path of the first string (value or key) that contains U+0000, if any. */
function findNul(value: unknown, path: PropertyKey[], depth = 0): PropertyKey[] | undefined {
  if (typeof value === 'string') return value.includes('\u0000') ? path : undefined;
  if (depth > 32 || value === null || typeof value !== 'object') return undefined;
  for (const [key, v] of Array.isArray(value) ? value.entries() : Object.entries(value)) {
    if (typeof key === 'string' && key.includes('\u0000')) return [...path, key];
    const found = findNul(v, [...path, key], depth + 1);
    if (found) return found;
  }
  return undefined;
}

function fieldPath(path: readonly PropertyKey[]): string {
  const text = path
    .map((key, i) => (typeof key === 'number' ? `[${key}]` : i === 0 ? String(key) : `.${String(key)}`))
    .join('');
  return text === '' ? '(root)' : text;
}
