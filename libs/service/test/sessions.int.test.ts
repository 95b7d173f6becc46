import { parseConfig } from '@orderflow/config';
import { defineTopology } from '@orderflow/messaging';
import { pgTransactions, type SqlClient } from '@orderflow/db';
import { PG_ADMIN_URL, serviceEnv, uniquePrefix } from '@orderflow/testkit';
import { buildService, serviceConfigSchema } from '../src';
import { sessionOptions } from '@orderflow/db';

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

  it('bound every statement, lock wait and idle transaction on both pools: 30 s, 10 s and 60 s by default', async () => {
    const timeouts = `SELECT current_setting('statement_timeout') AS statement, current_setting('lock_timeout') AS lock,
      current_setting('idle_in_transaction_session_timeout') AS idle`;
    const defaults = { statement: '30s', lock: '10s', idle: '1min' };
    const configured = { DB_STATEMENT_TIMEOUT_MS: '2500', DB_LOCK_TIMEOUT_MS: '700', DB_IDLE_IN_TRANSACTION_TIMEOUT_MS: '90000' };
    for (const [env, expected] of [
      [{}, defaults],
      [configured, { statement: '2500ms', lock: '700ms', idle: '90s' }],
    ] as const) {
      const config = parseConfig(serviceConfigSchema(0), serviceEnv({ DATABASE_URL: PG_ADMIN_URL, TOPOLOGY_PREFIX: uniquePrefix(), ...env }));
      let transaction!: ReturnType<typeof pgTransactions>;
      const service = buildService<null, SqlClient>({
        name: 'timeouts-service',
        config,
        topology: (p) => defineTopology({ service: 'timeouts', prefix: p, publishes: [], consumes: {}, retryDelaysMs: [100] }),
        database: (pools) => {
          transaction = pgTransactions(pools.messaging);
          return { client: null, transaction, disconnect: async () => undefined };
        },
      });
      try {
        expect(await service.deps.sql.$queryRawUnsafe(timeouts)).toEqual([expected]);
        expect(await transaction((tx) => tx.$queryRawUnsafe(timeouts))).toEqual([expected]);
      } finally {
        await service.stop();
      }
    }
  });

  it('a statement that outlasts DB_STATEMENT_TIMEOUT_MS is cancelled', async () => {
    const config = parseConfig(serviceConfigSchema(0), serviceEnv({ DATABASE_URL: PG_ADMIN_URL, TOPOLOGY_PREFIX: uniquePrefix(), DB_STATEMENT_TIMEOUT_MS: '100' }));
    const service = buildService<null, SqlClient>({
      name: 'timeouts-service',
      config,
      topology: (p) => defineTopology({ service: 'timeouts', prefix: p, publishes: [], consumes: {}, retryDelaysMs: [100] }),
      database: (pools) => ({ client: null, transaction: pgTransactions(pools.messaging), disconnect: async () => undefined }),
    });
    try {
      await expect(service.deps.sql.$queryRawUnsafe('SELECT pg_sleep(2)')).rejects.toMatchObject({ code: '57014' });
    } finally {
      await service.stop();
    }
  });

  it('a timeout that is not a whole number of milliseconds >= 0 stops the start, naming the variable', () => {
    expect(() =>
      parseConfig(serviceConfigSchema(0), serviceEnv({ DATABASE_URL: PG_ADMIN_URL, DB_LOCK_TIMEOUT_MS: '-1', DB_STATEMENT_TIMEOUT_MS: '1.5s' })),
    ).toThrow(expect.objectContaining({ problems: [expect.objectContaining({ variable: 'DB_STATEMENT_TIMEOUT_MS' }), expect.objectContaining({ variable: 'DB_LOCK_TIMEOUT_MS' })] }));
  });

  it('PGOPTIONS, when set, comes after them (it may add to them or override them)', () => {
    const timeouts = { statementTimeoutMs: 30_000, lockTimeoutMs: 10_000, idleInTransactionTimeoutMs: 60_000 };
    const base = '-c random_page_cost=1.1 -c jit=off -c statement_timeout=30000 -c lock_timeout=10000 -c idle_in_transaction_session_timeout=60000';
    expect(sessionOptions(timeouts, {})).toBe(base);
    expect(sessionOptions(timeouts, { PGOPTIONS: '-c jit=on' })).toBe(`${base} -c jit=on`);
  });
});
