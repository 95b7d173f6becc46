import { z } from 'zod';
import { AppError } from '@orderflow/errors';
import { validate } from '../src';

const order = z.strictObject({
  customerId: z.string().min(1),
  items: z.array(z.object({ productId: z.string(), quantity: z.number().int().positive() })).min(1),
});

function failureOf(value: unknown): AppError {
  try {
    validate(order, value);
  } catch (err) {
    if (err instanceof AppError) return err;
    throw err;
  }
  throw new Error('expected validate to throw');
}

describe('validate', () => {
  it('returns the parsed, typed value when it is valid', () => {
    const value = { customerId: 'alice', items: [{ productId: 'PROD-001', quantity: 2 }] };
    expect(validate(order, value)).toEqual(value);
  });

  it('when a nested field is bad, the validation error names it as items[0].quantity', () => {
    const err = failureOf({ customerId: 'alice', items: [{ productId: 'PROD-001', quantity: 0 }] });
    expect(err).toMatchObject({ code: 'REQUEST.INVALID', category: 'validation' });
    expect(err.details).toEqual([{ field: 'items[0].quantity', message: expect.any(String) }]);
  });

  it('names every bad field at once, unknown keys included', () => {
    const err = failureOf({ items: [{ productId: 1, quantity: 1 }], extra: true });
    expect((err.details as Array<{ field: string }>).map((d) => d.field).sort()).toEqual([
      'customerId',
      'extra',
      'items[0].productId',
    ]);
  });

  it('names the root when the value is not an object at all', () => {
    expect(failureOf(undefined).details).toEqual([{ field: '(root)', message: expect.any(String) }]);
  });

  it('a NUL character anywhere in what the schema keeps is refused with its field named (PostgreSQL cannot store it)', () => {
    const schema = z.object({ items: z.array(z.object({ productId: z.string() })) });
    let error: unknown;
    try {
      validate(schema, { items: [{ productId: 'ok' }, { productId: 'bad\u0000id' }] });
    } catch (err) {
      error = err;
    }
    expect((error as { details: unknown }).details).toEqual([{ field: 'items[1].productId', message: expect.stringContaining('NUL') }]);
  });
});
