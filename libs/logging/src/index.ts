import { AsyncLocalStorage } from 'node:async_hooks';
import winston from 'winston';

/** What every log line carries while a request or a message is being handled. */
export interface LogContext {
  correlationId?: string;
  requestId?: string;
  causationId?: string;
  eventId?: string;
}

const storage = new AsyncLocalStorage<LogContext>();

/** Runs `fn` with `ctx` (merged over the current context) attached to every log line it causes. */
export function withLogContext<T>(ctx: LogContext, fn: () => T): T {
  return storage.run({ ...storage.getStore(), ...ctx }, fn);
}

export function currentLogContext(): LogContext {
  return storage.getStore() ?? {};
}

const fromContext = winston.format((info) => Object.assign(info, storage.getStore()));

export type Logger = winston.Logger;

/** A JSON-lines logger for one service; the correlation id comes from async context. */
export function createLogger(options: { service: string; level?: string; silent?: boolean }): Logger {
  return winston.createLogger({
    level: options.level ?? 'info',
    silent: options.silent ?? false,
    defaultMeta: { service: options.service },
    format: winston.format.combine(
      fromContext(),
      winston.format.timestamp(),
      winston.format.errors({ stack: true }),
      winston.format.json(),
    ),
    transports: [new winston.transports.Console()],
  });
}
