import { AppError, DependencyUnavailableError, categorize, errorCode, transientOnDuplicateKey, unavailableDependencyOf } from '../src';

describe('error categories', () => {
  it('an AppError keeps the category it was given', () => {
    const err = new AppError('PAYMENT.GATEWAY_TIMEOUT', 'gateway timed out', { category: 'transient' });
    expect(categorize(err)).toBe('transient');
    expect(errorCode(err)).toBe('PAYMENT.GATEWAY_TIMEOUT');
  });

  it('lost connections, deadlocks and serialization failures are transient, wherever the code sits', () => {
    expect(categorize(Object.assign(new Error('x'), { code: 'ECONNREFUSED' }))).toBe('transient');
    expect(categorize(Object.assign(new Error('x'), { code: '40P01' }))).toBe('transient');
    expect(categorize(new Error('wrapped', { cause: Object.assign(new Error('y'), { code: '57P01' }) }))).toBe('transient');
    expect(categorize(new Error('Connection terminated unexpectedly'))).toBe('transient');
    expect(categorize(new Error('Client has encountered a connection error and is not queryable'))).toBe('transient');
    // What Prisma throws for a deadlock in a raw query through the pg driver adapter.
    const prismaDeadlock = Object.assign(new Error('Raw query failed'), {
      code: 'P2010',
      meta: { driverAdapterError: { cause: { originalCode: '40P01', kind: 'postgres' } } },
    });
    expect(categorize(prismaDeadlock)).toBe('transient');
  });

  it('a programming error is permanent', () => {
    expect(categorize(new TypeError('x is undefined'))).toBe('permanent');
    expect(categorize('a string')).toBe('permanent');
  });

  it('a duplicate key (23505) in a write becomes the given transient error; other failures pass unchanged', async () => {
    const duplicate = Object.assign(new Error('duplicate key value violates unique constraint'), { code: '23505' });
    const failure = await transientOnDuplicateKey('X.RACE', 'someone was first', () => Promise.reject(duplicate)).catch((e: unknown) => e);
    expect(failure).toMatchObject({ code: 'X.RACE', category: 'transient', cause: duplicate });
    const other = new Error('syntax error');
    await expect(transientOnDuplicateKey('X.RACE', 'someone was first', () => Promise.reject(other))).rejects.toBe(other);
    await expect(transientOnDuplicateKey('X.RACE', 'someone was first', async () => 7)).resolves.toBe(7);
  });
});

describe('an unavailable dependency', () => {
  const answers = async (): Promise<boolean> => true;

  it('is transient (an edge that knows no better retries it) and names its dependency and probe', () => {
    const err = new DependencyUnavailableError('PAYMENT.GATEWAY_UNAVAILABLE', 'gateway down', { dependency: 'payment-gateway', answers });
    expect(categorize(err)).toBe('transient');
    expect(errorCode(err)).toBe('PAYMENT.GATEWAY_UNAVAILABLE');
    expect(unavailableDependencyOf(err)).toBe(err);
    expect(unavailableDependencyOf(err)?.answers).toBe(answers);
  });

  it('is found when wrapped as a cause; other errors have none', () => {
    const err = new DependencyUnavailableError('X.DOWN', 'down', { dependency: 'x', answers });
    expect(unavailableDependencyOf(new Error('transaction failed', { cause: err }))).toBe(err);
    expect(unavailableDependencyOf(new AppError('X.Y', 'y', { category: 'transient' }))).toBeUndefined();
    expect(unavailableDependencyOf(Object.assign(new Error('x'), { code: 'ECONNREFUSED' }))).toBeUndefined();
    expect(unavailableDependencyOf('a string')).toBeUndefined();
  });
});
