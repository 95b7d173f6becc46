import { Writable } from 'node:stream';
import winston from 'winston';
import { createLogger, logFormatFromEnv, wantsColor, withLogContext } from '../src';

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

describe('LOG_FORMAT=pretty', () => {
  function pretty(color: boolean): { logger: winston.Logger; output: () => string } {
    const chunks: string[] = [];
    const logger = createLogger({ service: 'order-service', format: 'pretty', color });
    logger.clear().add(
      new winston.transports.Stream({
        stream: new Writable({ write: (c, _e, cb) => { chunks.push(String(c)); cb(); } }),
      }),
    );
    return { logger, output: () => chunks.join('') };
  }

  it('writes time, level, message, the correlation id first, then the fields as key=value', () => {
    const { logger, output } = pretty(false);
    withLogContext({ correlationId: 'order-7' }, () => logger.info('order placed', { orderId: 'o-1', total: 12.5, note: 'two words' }));
    expect(output()).toMatch(/^\d{2}:\d{2}:\d{2}\.\d{3} INFO  order placed correlationId=order-7 orderId=o-1 total=12.5 note="two words"\n$/);
  });

  it('puts an error\'s stack on indented lines below it, and highlights the error in red on a terminal', () => {
    const { logger, output } = pretty(true);
    const err = new Error('card declined');
    logger.error('handler failed; message parked in the dead-letter queue', { queue: 'payment.saga', stack: err.stack });
    const [head, ...stack] = output().trimEnd().split('\n');
    expect(head).toContain('\x1b[31m\x1b[1mhandler failed; message parked in the dead-letter queue\x1b[0m');
    expect(head).toContain('queue=payment.saga');
    expect(head).not.toContain('stack=');
    const plain = stack.map((line) => line.replace(/\x1b\[[0-9;]*m/g, ''));
    expect(plain[0]).toBe('    Error: card declined');
    expect(plain.length).toBeGreaterThan(1);
    for (const line of plain.slice(1)) expect(line).toMatch(/^ {8}at /);
  });

  it('an Error logged as such keeps its stack too', () => {
    const { logger, output } = pretty(false);
    logger.error(new Error('database away'));
    const lines = output().trimEnd().split('\n');
    expect(lines[0]).toMatch(/ ERROR database away$/);
    expect(lines[1]).toBe('    Error: database away');
  });

  it('colours only for a terminal or FORCE_COLOR, never with NO_COLOR', () => {
    expect(wantsColor({}, true)).toBe(true);
    expect(wantsColor({}, false)).toBe(false);
    expect(wantsColor({ FORCE_COLOR: '1' }, false)).toBe(true);
    expect(wantsColor({ FORCE_COLOR: '0' }, true)).toBe(false);
    expect(wantsColor({ NO_COLOR: '1', FORCE_COLOR: '1' }, true)).toBe(false);
  });

  it('LOG_FORMAT defaults to json and accepts json or pretty', () => {
    expect(logFormatFromEnv({})).toBe('json');
    expect(logFormatFromEnv({ LOG_FORMAT: 'pretty' })).toBe('pretty');
  });

  it('another LOG_FORMAT stops the process with exit code 78, naming the variable', () => {
    const exit = jest.spyOn(process, 'exit').mockImplementation((code) => {
      throw new Error(`exit ${String(code)}`);
    });
    const stderr = jest.spyOn(process.stderr, 'write').mockImplementation(() => true);
    try {
      expect(() => logFormatFromEnv({ LOG_FORMAT: 'text' })).toThrow('exit 78');
      expect(String(stderr.mock.calls[0]?.[0])).toContain('LOG_FORMAT');
    } finally {
      exit.mockRestore();
      stderr.mockRestore();
    }
  });
});
