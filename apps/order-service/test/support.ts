import { parseConfig } from '@orderflow/config';
import { buildService, type Service } from '@orderflow/service';
import { serviceUnderTest, type ServiceUnderTest } from '@orderflow/testkit';
import { orderConfigSchema } from '../src/config';
import type { Db, Tx } from '../src/db';
import { orderService } from '../src/service';

/**
 * The order service wired as main.ts wires it (every router, the saga's subscriptions), on a
 * database of its own and the topology `prefix`, started; `env`: variables of the test's
 * (DEV_TOKENS, SYSTEM_PROCESS_URLS, …), `now`: the service's clock. Without the deadline
 * sweeper: deadlines.int.test.ts sweeps with deadlines of its own, and a sweep at a clock a
 * test moves by hand would cancel the orders it counts.
 */
export function orderServiceUnderTest(o: { prefix: string; env?: Record<string, string>; now?: () => Date }): Promise<ServiceUnderTest<Service<Db, Tx>>> {
  return serviceUnderTest({
    database: 'order',
    prefix: o.prefix,
    env: o.env,
    build: (env) => buildService(orderService(parseConfig(orderConfigSchema(0), env), { now: o.now, sweeper: false })),
  });
}
