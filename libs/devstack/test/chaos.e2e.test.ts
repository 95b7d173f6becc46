import { deleteByPrefix, dropDatabasesByPrefix, freePorts, uniqueName } from '@orderflow/testkit';
import { runChaos, type ChaosResult } from '../src/chaos';
import { SYSTEM_PORTS } from '../src/services';

/**
 * The short chaos run of `npm test`: one service killed with SIGKILL mid-load and restarted,
 * another stopped with SIGTERM (it must drain and exit 0) and restarted, and this system's
 * broker connections dropped, and the bindings that route order.created deleted for a few
 * seconds (this system's own prefix). (`npm run chaos` adds every service, a
 * RabbitMQ restart, a PostgreSQL restart and a 60 s PostgreSQL outage; those would disturb
 * the other suites here.)
 */
describe('chaos, short: a kill -9, a graceful stop, a dropped broker connection and a deleted binding under load', () => {
  const databasePrefix = uniqueName('chaos');
  let result: ChaosResult;

  beforeAll(async () => {
    const [gatewayPort, basePort] = await freePorts(1 + SYSTEM_PORTS);
    result = await runChaos({
      seconds: 15,
      rate: 15,
      gatewayPort: gatewayPort!,
      basePort: basePort!,
      databasePrefix,
      topologyPrefix: `${databasePrefix}.`,
      // The unbinding after the restarts (a restarted process's counters start again from 0),
      // and not last: a fault that runs late could fall after the load.
      faults: [{ kind: 'kill', app: 'order-service' }, { kind: 'stop', app: 'payment-service' }, { kind: 'unbind', seconds: 3 }, { kind: 'drop-broker-connections' }],
      quietTimeoutS: 90,
      say: process.env.TEST_LOG_LEVEL ? (l) => process.stdout.write(`[chaos] ${l}\n`) : undefined,
    });
  }, 240_000);

  afterAll(async () => {
    await result?.system.stop();
    await deleteByPrefix(`${databasePrefix}.`);
    await dropDatabasesByPrefix(databasePrefix);
  }, 60_000);

  it('injects every fault while orders flow', () => {
    expect(result.faults).toEqual([
      expect.stringMatching(/^kill -9 order-service/),
      // A graceful stop mid-load drains and exits 0.
      expect.stringMatching(/^SIGTERM payment-service \(exit 0 after /),
      expect.stringMatching(/^order\.created unroutable for /),
      expect.stringMatching(/^dropped [1-9]\d* broker connections$/),
    ]);
    expect(result.accepted).toBeGreaterThan(100);
    // The deleted binding hit orders in flight: their order.created came back from the broker.
    expect(result.unroutable).toBeGreaterThan(0);
  });

  it('loses no order: every accepted order reaches a terminal status within 60 s of the last fault', () => {
    expect(result.lost).toBe(0);
    expect(result.terminal).toBe(result.accepted);
    expect(result.recoverySeconds).not.toBeNull();
    expect(result.recoverySeconds!).toBeLessThanOrEqual(60);
  });

  it('charges no one twice, oversells nothing, parks nothing, and the audit passes', () => {
    expect(result.doubleCharged).toBe(0);
    expect(result.oversold).toBe(0);
    expect(result.deadLettered).toBe(0);
    expect(result.report.violations).toEqual([]);
  });
});
