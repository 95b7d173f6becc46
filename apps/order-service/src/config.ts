import { vars } from '@orderflow/config';
import { serviceConfigSchema } from '@orderflow/service';

/** The order service's environment: the common variables plus the saga deadline. */
export const orderConfigSchema = (defaultPort: number) =>
  serviceConfigSchema(defaultPort).extend({
    /** Seconds an order may stay PENDING or STOCK_RESERVED before it is cancelled with reason "timeout". */
    ORDER_DEADLINE_S: vars.positiveInt(120),
    /** The same for imported orders, which queue behind the rest of their file. */
    IMPORT_ORDER_DEADLINE_S: vars.positiveInt(1800),
    SWEEP_INTERVAL_S: vars.positiveInt(5),
  });
