import { vars, z } from '@orderflow/config';
import { serviceConfigSchema } from '@orderflow/service';
import { processUrls } from './admin/system-processes';

/** The order service's environment: the common variables plus the saga deadline. */
export const orderConfigSchema = (defaultPort: number) =>
  serviceConfigSchema(defaultPort)
    .extend({
      /** Seconds an order may stay PENDING or STOCK_RESERVED before it is cancelled with reason "timeout". */
      ORDER_DEADLINE_S: vars.positiveInt(120),
      /** The same for imported orders, which queue behind the rest of their file. */
      IMPORT_ORDER_DEADLINE_S: vars.positiveInt(1800),
      SWEEP_INTERVAL_S: vars.positiveInt(5),
      /**
       * `1` adds `POST /api/dev/token`, which mints tokens for anyone who asks: the operator
       * console's sign-in button in local development. `npm start` sets it; compose and
       * Kubernetes never do, and NODE_ENV=production refuses it.
       */
      DEV_TOKENS: z.enum(['0', '1']).default('0').transform((v) => v === '1'),
      /**
       * The processes GET /api/admin/system asks for /ready (and each service's /metrics), on
       * their own ports: `name=url` pairs, comma-separated (npm start, compose and Kubernetes
       * set them; empty: the answer lists no process).
       */
      SYSTEM_PROCESS_URLS: processUrls(),
    })
    .superRefine((config, ctx) => {
      if (!config.DEV_TOKENS) return;
      if (config.NODE_ENV === 'production') {
        ctx.addIssue({ code: 'custom', path: ['DEV_TOKENS'], message: 'mints tokens for anyone: refused where NODE_ENV=production' });
      }
      if (config.JWT_SECRET === undefined) {
        ctx.addIssue({ code: 'custom', path: ['DEV_TOKENS'], message: 'signs with JWT_SECRET, which is not set' });
      }
    });

export type OrderConfig = z.infer<ReturnType<typeof orderConfigSchema>>;
