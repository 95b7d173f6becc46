import { parseConfig } from '@orderflow/config';
import { defineTopology, pgTransactions, type SqlClient } from '@orderflow/messaging';
import { PG_ADMIN_URL, serviceEnv, uniquePrefix } from '@orderflow/testkit';
import { buildService, serviceConfigSchema, sessionOptions } from '../src';

describe('the database sessions of a service', () => {
  it('plan for data in memory on both pools: random_page_cost 1.1 and no JIT', async () => {
    const config = parseConfig(serviceConfigSchema(0), serviceEnv({ DATABASE_URL: PG_ADMIN_URL, TOPOLOGY_PREFIX: uniquePrefix() }));
    let transaction!: ReturnType<typeof pgTransactions>;
    const service = buildService<null, SqlClient>({
      name: 'settings-service',
      config,
      topology: (p) => defineTopology({ service: 'settings', prefix: p, publishes: [], consumes: {}, retryDelaysMs: [100] }),
      database: (pools) => {
        transaction = pgTransactions(pools.messaging);
        return { client: null, transaction, disconnect: async () => undefined };
      },
    });
    try {
      const settings = `SELECT current_setting('random_page_cost') AS random_page_cost, current_setting('jit') AS jit`;
      expect(await service.deps.sql.$queryRawUnsafe(settings)).toEqual([{ random_page_cost: '1.1', jit: 'off' }]);
      expect(await transaction((tx) => tx.$queryRawUnsafe(settings))).toEqual([{ random_page_cost: '1.1', jit: 'off' }]);
    } finally {
      await service.stop();
    }
  });

  it('PGOPTIONS, when set, comes after them (it may add to them or override them)', () => {
    expect(sessionOptions({})).toBe('-c random_page_cost=1.1 -c jit=off');
    expect(sessionOptions({ PGOPTIONS: '-c jit=on' })).toBe('-c random_page_cost=1.1 -c jit=off -c jit=on');
  });
});
