import { PassThrough, Writable } from 'node:stream';
import { childStdio, prefixLines, prefixOf, readableLogsEnv } from '../src/output';

function sink(): { stream: Writable; text: () => string } {
  const chunks: string[] = [];
  return { stream: new Writable({ write: (c, _e, cb) => { chunks.push(String(c)); cb(); } }), text: () => chunks.join('') };
}

describe('npm start\'s output', () => {
  it('puts each whole line of a process behind its name, also when a line arrives in pieces', async () => {
    const from = new PassThrough();
    const to = sink();
    prefixLines(from, to.stream, prefixOf('order-service', false));
    from.write('10:00:00.000 INFO  listen');
    from.write('ing port=8081\n10:00:00.001 ERROR boom\n    Error: boom\n');
    from.end('    at last line without newline');
    await new Promise((r) => from.on('end', r));
    const lines = to.text().split('\n').filter(Boolean);
    expect(lines).toEqual([
      `${prefixOf('order-service', false)}10:00:00.000 INFO  listening port=8081`,
      `${prefixOf('order-service', false)}10:00:00.001 ERROR boom`,
      `${prefixOf('order-service', false)}    Error: boom`,
      `${prefixOf('order-service', false)}    at last line without newline`,
    ]);
  });

  it('aligns the names of every process, and colours them only for a terminal', () => {
    const plain = [prefixOf('order-service', false), prefixOf('notification-service-bulk', false), prefixOf('payment-gateway', false)];
    expect(new Set(plain.map((p) => p.length)).size).toBe(1);
    expect(plain[0]).toMatch(/^order-service +\| $/);
    expect(prefixOf('order-service', true)).toMatch(/^\x1b\[\d+morder-service +\|\x1b\[0m $/);
  });

  it('asks the processes for readable logs unless the user chose a format, with colour only for a terminal', () => {
    expect(readableLogsEnv({}, true)).toEqual({ LOG_FORMAT: 'pretty', FORCE_COLOR: '1' });
    expect(readableLogsEnv({}, false)).toEqual({ LOG_FORMAT: 'pretty' });
    expect(readableLogsEnv({ LOG_FORMAT: 'json' }, false)).toEqual({});
    expect(readableLogsEnv({ NO_COLOR: '1' }, true)).toEqual({ LOG_FORMAT: 'pretty' });
  });

  it('pipes the output it prefixes, and leaves the others as asked', () => {
    expect(childStdio('prefixed')).toEqual(['ignore', 'pipe', 'pipe']);
    expect(childStdio('ignore')).toEqual(['ignore', 'ignore', 'ignore']);
    expect(childStdio()).toEqual(['ignore', 'inherit', 'inherit']);
  });
});
