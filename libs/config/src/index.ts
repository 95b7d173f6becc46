import { z } from 'zod';

/** Raised when configuration is missing or invalid; names every offending variable. */
export class ConfigError extends Error {
  constructor(readonly problems: Array<{ variable: string; message: string }>) {
    super(
      `Invalid configuration:\n${problems.map((p) => `  ${p.variable}: ${p.message}`).join('\n')}`,
    );
    this.name = 'ConfigError';
  }
}

/**
 * Parses the environment once, at start-up, into a typed object. Every problem is reported
 * at once, each with the name of its variable.
 */
export function parseConfig<S extends z.ZodObject>(
  schema: S,
  env: Record<string, string | undefined> = process.env,
): z.infer<S> {
  const result = schema.safeParse(env);
  if (result.success) return result.data;
  throw new ConfigError(
    result.error.issues.map((issue) => ({
      variable: issue.path.map(String).join('.') || '(environment)',
      // zod leaves `issue.input` out unless asked to: look at the variable itself.
      message: issue.code === 'invalid_type' && env[String(issue.path[0])] === undefined ? 'is required but not set' : issue.message,
    })),
  );
}

/**
 * For `main.ts`: like parseConfig, but a bad or missing value stops the process with a
 * message naming the variable (exit code 78, EX_CONFIG).
 */
export function loadConfig<S extends z.ZodObject>(
  schema: S,
  env: Record<string, string | undefined> = process.env,
): z.infer<S> {
  try {
    return parseConfig(schema, env);
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err;
    process.stderr.write(`${err.message}\n`);
    process.exit(78);
  }
}

/** Reusable variable definitions: every service reads these the same way. */
export const vars = {
  port: (fallback: number) => z.coerce.number().int().min(1).max(65535).default(fallback),
  url: (protocols: RegExp) =>
    z.string().refine((v) => {
      try {
        return protocols.test(new URL(v).protocol);
      } catch {
        return false;
      }
    }, 'must be a URL with a supported protocol'),
  postgresUrl: () => vars.url(/^postgres(ql)?:$/),
  amqpUrl: (fallback = 'amqp://guest:guest@127.0.0.1:5672') => vars.url(/^amqps?:$/).default(fallback),
  /**
   * A comma-separated list of AMQP URLs, e.g. the nodes of a cluster. A bad entry is named by
   * its position, not echoed: URLs carry passwords.
   */
  amqpUrls: () =>
    z.string().transform((v, ctx) => {
      const urls = v.split(',').map((s) => s.trim()).filter((s) => s !== '');
      if (urls.length === 0) ctx.addIssue({ code: 'custom', message: 'must list at least one amqp:// or amqps:// URL' });
      urls.forEach((url, i) => {
        if (!vars.url(/^amqps?:$/).safeParse(url).success) ctx.addIssue({ code: 'custom', message: `entry ${i + 1} of ${urls.length} is not an amqp:// or amqps:// URL` });
      });
      return urls;
    }),
  logLevel: () => z.enum(['error', 'warn', 'info', 'http', 'verbose', 'debug', 'silly']).default('info'),
  positiveInt: (fallback: number) => z.coerce.number().int().positive().default(fallback),
  nonNegativeInt: (fallback: number) => z.coerce.number().int().min(0).default(fallback),
  secret: () => z.string().min(16, 'must be at least 16 characters'),
  /** A comma-separated list of milliseconds, e.g. `1000,5000,30000`. */
  delays: (fallback: string) =>
    z
      .string()
      .default(fallback)
      .transform((v) => v.split(',').map((s) => Number(s.trim())))
      .refine((a) => a.length > 0 && a.every((n) => Number.isInteger(n) && n > 0), 'must be comma-separated positive integers (milliseconds)'),
};

export { z };
