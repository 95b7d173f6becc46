import { vars, z } from '@orderflow/config';
import { serviceConfigSchema } from '@orderflow/service';

/** The service's environment: the common variables plus how it reaches its payment gateway. */
export const paymentConfigSchema = (defaultPort: number) =>
  serviceConfigSchema(defaultPort)
    .extend({
      /** The payment gateway (the simulator, apps/payment-gateway, in every deployment of ours). */
      PAYMENT_GATEWAY_URL: vars.url(/^https?:$/).default('http://127.0.0.1:8090'),
      /**
       * Longest a call to the gateway may take (ms). The handler's transaction (and the charge
       * rows it locks) stays open for the call, so it must stay under DB_LOCK_TIMEOUT_MS: a
       * cancellation waiting for those rows would otherwise time out first.
       */
      PAYMENT_GATEWAY_TIMEOUT_MS: vars.positiveInt(5_000),
      /** How long the circuit breaker stays open (failing fast, payments waiting) before one trial call (ms). */
      PAYMENT_GATEWAY_BREAKER_RESET_MS: vars.positiveInt(5_000),
    })
    .superRefine((config, ctx) => {
      if (config.DB_LOCK_TIMEOUT_MS > 0 && config.PAYMENT_GATEWAY_TIMEOUT_MS >= config.DB_LOCK_TIMEOUT_MS) {
        ctx.addIssue({ code: 'custom', path: ['PAYMENT_GATEWAY_TIMEOUT_MS'], message: `must be below DB_LOCK_TIMEOUT_MS (${config.DB_LOCK_TIMEOUT_MS}): a transaction holds its charge rows for the call` });
      }
      if (config.DB_IDLE_IN_TRANSACTION_TIMEOUT_MS > 0 && config.PAYMENT_GATEWAY_TIMEOUT_MS >= config.DB_IDLE_IN_TRANSACTION_TIMEOUT_MS) {
        ctx.addIssue({ code: 'custom', path: ['PAYMENT_GATEWAY_TIMEOUT_MS'], message: `must be below DB_IDLE_IN_TRANSACTION_TIMEOUT_MS (${config.DB_IDLE_IN_TRANSACTION_TIMEOUT_MS}): the transaction idles during the call` });
      }
    });

export type PaymentConfig = z.infer<ReturnType<typeof paymentConfigSchema>>;
