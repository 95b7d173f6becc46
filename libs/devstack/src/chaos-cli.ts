/**
 * `npm run chaos [-- --seconds 180 --rate 40 --outage 60]`: the full chaos run. A steady order
 * load through the gateway while each service is killed with SIGKILL in turn (and restarted),
 * the broker connections are dropped, an operator deletes a binding for a while, RabbitMQ is
 * restarted, PostgreSQL is restarted and then stopped for `--outage` seconds; then it waits
 * for quiet and runs the auditor. Uses its own databases and topology prefix, but restarts the
 * machine's RabbitMQ and PostgreSQL: do not run it next to other work on those servers.
 */
import { parseArgs } from 'node:util';
import { deleteByPrefix, dropDatabasesByPrefix, freePorts, uniqueName } from '@orderflow/testkit';
import { runChaos } from './chaos';
import { PROCESSES, SYSTEM_PORTS } from './services';

const { values } = parseArgs({ options: { seconds: { type: 'string', default: '180' }, outage: { type: 'string', default: '60' }, rate: { type: 'string', default: '40' }, 'keep-data': { type: 'boolean', default: false }, logs: { type: 'boolean', default: false } } });

async function main(): Promise<void> {
  const databasePrefix = uniqueName('chaos');
  const [gatewayPort, basePort] = await freePorts(1 + SYSTEM_PORTS);
  const say = (l: string): void => {
    process.stdout.write(`[chaos] ${l}\n`);
  };
  const result = await runChaos({
    seconds: Number(values.seconds),
    rate: Number(values.rate),
    gatewayPort: gatewayPort!,
    basePort: basePort!,
    databasePrefix,
    topologyPrefix: `${databasePrefix}.`,
    faults: [
      ...PROCESSES.filter((s) => s.app !== 'import-worker').map((s) => ({ kind: 'kill' as const, app: s.name })),
      { kind: 'stop', app: 'order-service' },
      { kind: 'drop-broker-connections' },
      { kind: 'restart-broker' },
      { kind: 'unbind', seconds: 10 },
      { kind: 'restart-database' },
      { kind: 'database-outage', seconds: Number(values.outage) },
    ],
    quietTimeoutS: 120,
    // The services' own log lines (warn and up), e.g. to see why one exited.
    stdio: values.logs ? 'inherit' : 'ignore',
    say,
  });
  const line = (k: string, v: string | number): void => {
    process.stdout.write(`  ${k.padEnd(30)} ${v}\n`);
  };
  process.stdout.write('\nchaos run\n');
  line('faults', result.faults.join('; '));
  line('orders accepted', result.accepted);
  line('orders refused (5xx/timeouts)', result.refused);
  line('orders terminal', result.terminal);
  line('lost', result.lost);
  line('double-charged', result.doubleCharged);
  line('oversold products', result.oversold);
  line('dead-lettered', result.deadLettered);
  line('unroutable (held, then sent)', result.unroutable);
  line('recovery after the last fault', result.recoverySeconds === null ? 'never (within the wait)' : `${result.recoverySeconds.toFixed(1)} s`);
  line('audit', result.report.ok ? 'passed' : 'FAILED');
  await result.system.stop();
  if (!values['keep-data']) {
    await deleteByPrefix(`${databasePrefix}.`);
    await dropDatabasesByPrefix(databasePrefix);
  }
  const ok = result.report.ok && result.lost === 0 && result.deadLettered === 0 && result.recoverySeconds !== null && result.recoverySeconds <= 60;
  process.exit(ok ? 0 : 1);
}

main().catch((err) => {
  console.error(err);
  process.exit(2);
});
