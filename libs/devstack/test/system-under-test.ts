import { deleteByPrefix, dropDatabasesByPrefix, freePorts, uniqueName } from '@orderflow/testkit';
import { startSystem, SYSTEM_PORTS, type RunningSystem } from '../src';
import { GATEWAY_LIMITS_LIFTED } from '../src/gateway';

/**
 * Starts the whole system as `npm start` does — the payment gateway simulator included, with
 * its own ledger database — with its own databases and topology prefix, before the suite's
 * tests, and stops and removes it after them (`dropDatabasesByPrefix` takes the ledger's too). The end-to-end suites drive
 * it only through `gateway` (Nginx is required; `.ci/run` installs it).
 */
export function systemUnderTest(name: string, env: Record<string, string> = {}): {
  readonly system: RunningSystem;
  readonly gateway: string;
  /** The payment gateway simulator startSystem runs first: its URL (and admin switches) and its ledger's database. */
  readonly paymentGateway: RunningSystem['paymentGateway'];
  readonly topologyPrefix: string;
} {
  const dbPrefix = uniqueName(name);
  const topologyPrefix = `${dbPrefix}.`;
  let system: RunningSystem | undefined;

  beforeAll(async () => {
    const [gatewayPort, basePort] = await freePorts(1 + SYSTEM_PORTS);
    system = await startSystem({
      gatewayPort,
      // The suites are many buyers from one address; the limits have their own test (gateway.int).
      gatewayLimits: GATEWAY_LIMITS_LIFTED,
      basePort,
      databasePrefix: dbPrefix,
      topologyPrefix,
      env: { RETRY_DELAYS_MS: '200,400,800', LOG_LEVEL: process.env.TEST_LOG_LEVEL ?? 'warn', PAYMENT_SUCCESS_RATE: '1', ...env },
      stdio: process.env.TEST_LOG_LEVEL ? 'inherit' : 'ignore',
    });
    if (!system.gatewayUrl) throw new Error('Nginx is required for the end-to-end tests (.ci/run installs it)');
  }, 180_000);

  afterAll(async () => {
    await system?.stop();
    await deleteByPrefix(topologyPrefix);
    await dropDatabasesByPrefix(dbPrefix);
  }, 60_000);

  return {
    get system() {
      if (!system) throw new Error('the system is not started (use it inside a test)');
      return system;
    },
    get gateway() {
      return this.system.gatewayUrl!;
    },
    get paymentGateway() {
      return this.system.paymentGateway;
    },
    topologyPrefix,
  };
}
