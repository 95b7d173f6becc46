import { z } from '@orderflow/config';
import { serviceConfigSchema } from '@orderflow/service';

/** The service's environment: the common variables plus the simulated gateway's success rate. */
export const paymentConfigSchema = (defaultPort: number) =>
  serviceConfigSchema(defaultPort).extend({
    /** Probability in [0, 1] that a card other than the test cards is approved. */
    PAYMENT_SUCCESS_RATE: z.coerce.number().min(0).max(1).default(0.8),
  });

export type PaymentConfig = z.infer<ReturnType<typeof paymentConfigSchema>>;
