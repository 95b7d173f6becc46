import { Writable } from 'node:stream';
import winston from 'winston';
import { createLogger, type Logger } from '@orderflow/logging';

/** A debug-level logger whose JSON lines the test can read back. */
export function captureLogs(): { logger: Logger; lines: () => Array<Record<string, unknown>> } {
  const chunks: string[] = [];
  const logger = createLogger({ service: 'test', level: 'debug' });
  logger.clear().add(
    new winston.transports.Stream({
      stream: new Writable({
        write: (chunk, _encoding, callback) => {
          chunks.push(String(chunk));
          callback();
        },
      }),
    }),
  );
  const lines = () =>
    chunks
      .join('')
      .split('\n')
      .filter((line) => line.trim() !== '')
      .map((line) => JSON.parse(line) as Record<string, unknown>);
  return { logger, lines };
}
