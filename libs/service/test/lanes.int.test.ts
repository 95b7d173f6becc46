import { parseConfig } from '@orderflow/config';
import { defineTopology } from '@orderflow/messaging';
import { pgTransactions, type SqlClient } from '@orderflow/db';
import { PG_ADMIN_URL, deleteTopologies, serviceEnv, uniquePrefix } from '@orderflow/testkit';
import { buildService, serviceConfigSchema } from '../src';

describe('a service process and its lanes (real RabbitMQ and PostgreSQL)', () => {
  it.each([
    ['all', 1],
    ['interactive', 1],
    ['bulk', 0],
  ] as const)('with LANES=%s its background work runs %i time(s): the bulk process leaves it to the other one', async (lanes, runs) => {
    const config = parseConfig(serviceConfigSchema(0), serviceEnv({ DATABASE_URL: PG_ADMIN_URL, TOPOLOGY_PREFIX: uniquePrefix(), LANES: lanes }));
    let started = 0;
    const service = buildService<null, SqlClient>({
      name: 'lanes-service',
      config,
      topology: (p) => defineTopology({ service: 'lanes', prefix: p, publishes: [], consumes: {}, retryDelaysMs: [100] }),
      database: (pools) => ({ client: null, transaction: pgTransactions(pools.messaging), disconnect: async () => undefined }),
      background: () => {
        started++;
        return { stop: async () => undefined };
      },
    });
    await service.start();
    try {
      expect(started).toBe(runs);
    } finally {
      await service.stop();
      await deleteTopologies(service.deps.messaging.topology);
    }
  });
});
