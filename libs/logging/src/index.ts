import { AsyncLocalStorage } from 'node:async_hooks';
import { loadConfig } from '@orderflow/config';
import winston from 'winston';
import { z } from 'zod';
import { formatPretty, wantsColor } from './pretty';

export { formatPretty, wantsColor, type PrettyOptions } from './pretty';

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

/** `json`: one JSON object per line (containers, log shippers). `pretty`: for a person at a terminal. */
export type LogFormat = 'json' | 'pretty';

const logFormatSchema = z.object({ LOG_FORMAT: z.enum(['json', 'pretty']).default('json') });

/**
 * `LOG_FORMAT` from the environment (default `json`). Read here rather than in each service's
 * config: every process logs, including those without one (the simulator, the tools). A bad
 * value stops the process at start-up with exit code 78, naming the variable.
 */
export function logFormatFromEnv(env: Record<string, string | undefined> = process.env): LogFormat {
  return loadConfig(logFormatSchema, env).LOG_FORMAT;
}

/**
 * A logger for one service; the correlation id comes from async context. JSON lines unless
 * `format` (default: `LOG_FORMAT`) says `pretty`.
 */
export function createLogger(options: { service: string; level?: string; silent?: boolean; format?: LogFormat; color?: boolean }): Logger {
  const format = options.format ?? logFormatFromEnv();
  const color = options.color ?? wantsColor();
  return winston.createLogger({
    level: options.level ?? 'info',
    silent: options.silent ?? false,
    defaultMeta: { service: options.service },
    format: winston.format.combine(
      fromContext(),
      winston.format.timestamp(),
      winston.format.errors({ stack: true }),
      format === 'pretty' ? winston.format.printf((info) => formatPretty(info, { color })) : winston.format.json(),
    ),
    transports: [new winston.transports.Console()],
  });
}
