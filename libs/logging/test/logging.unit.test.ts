import { Writable } from 'node:stream';
import winston from 'winston';
import { createLogger, withLogContext } from '../src';

function capture(): { logger: winston.Logger; lines: () => Array<Record<string, unknown>> } {
  const chunks: string[] = [];
  const logger = createLogger({ service: 'test' });
  logger.clear().add(
    new winston.transports.Stream({
      stream: new Writable({ write: (c, _e, cb) => { chunks.push(String(c)); cb(); } }),
    }),
  );
  return { logger, lines: () => chunks.join('').trim().split('\n').map((l) => JSON.parse(l)) };
}

describe('logging', () => {
  it('every line written inside a context carries its correlation id, across awaits', async () => {
    const { logger, lines } = capture();
    await withLogContext({ correlationId: 'order-1' }, async () => {
      logger.info('before');
      await new Promise((r) => setImmediate(r));
      logger.info('after', { extra: 1 });
    });
    logger.info('outside');
    const [before, after, outside] = lines();
    expect(before).toMatchObject({ message: 'before', correlationId: 'order-1', service: 'test' });
    expect(after).toMatchObject({ message: 'after', correlationId: 'order-1', extra: 1 });
    expect(outside?.correlationId).toBeUndefined();
    expect(typeof before?.timestamp).toBe('string');
  });
});
