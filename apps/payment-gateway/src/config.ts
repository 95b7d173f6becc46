import { vars, z } from '@orderflow/config';

const rate = (fallback: number) => z.coerce.number().min(0).max(1).default(fallback);

/** The simulator's environment, parsed once at start (main.ts). */
export const gatewayConfigSchema = z.object({
  PORT: vars.port(8090),
  /** The ledger's own database; created at start when missing and allowed (a laptop's PostgreSQL). */
  DATABASE_URL: vars.postgresUrl().default('postgresql://postgres@127.0.0.1:5432/orderflow_payment_gateway'),
  DB_POOL_SIZE: vars.positiveInt(5),
  LOG_LEVEL: vars.logLevel(),
  /** Probability in [0, 1] that a card other than the test cards is approved. */
  PAYMENT_SUCCESS_RATE: rate(0.8),
  /** Milliseconds added to every API answer (after the work: a slow answer, not a slow charge). */
  GATEWAY_LATENCY_MS: vars.nonNegativeInt(0),
  /** Probability in [0, 1] that an API request is answered 503 without being processed. */
  GATEWAY_FAILURE_RATE: rate(0),
  /**
   * Start with the outage switch on (`unavailable` or `timeout`); `none` by default. The switch
   * is turned by PUT /admin/outage while the simulator runs.
   */
  GATEWAY_OUTAGE: z.enum(['none', 'unavailable', 'timeout']).default('none'),
  /** Most charges in one batch request: an import's chunk (IMPORT_CHUNK_ROWS, 5,000) fits. */
  GATEWAY_MAX_BATCH: vars.positiveInt(10_000),
});

export type GatewayConfig = z.infer<typeof gatewayConfigSchema>;
