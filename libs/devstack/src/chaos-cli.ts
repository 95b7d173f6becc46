/**
 * `npm run chaos [-- --seconds 180 --rate 40 --outage 60]`: the full chaos run. A steady order
 * load through the gateway while each service is killed with SIGKILL in turn (and restarted),
 * the broker connections are dropped, an operator deletes a binding for a while, RabbitMQ is
 * restarted, PostgreSQL is restarted and then stopped for `--outage` seconds; then it waits
 * for quiet and runs the auditor. Uses its own databases and topology prefix, but restarts the
 * machine's RabbitMQ and PostgreSQL: do not run it next to other work on those servers.
 *
 * `npm run chaos -- --cluster` (`npm run chaos:cluster`): the system on the local 3-node
 * RabbitMQ cluster instead (started if needed, see cluster.ts), losing one broker node at a
 * time: the node leading the saga queues killed with SIGKILL, then stopped gracefully, then
 * one wiped and rejoined. It asks more: no order refused (no 5xx) and recovery within 30 s.
 */
import { parseArgs } from 'node:util';
import { deleteByPrefix, dropDatabasesByPrefix, freePorts, uniqueName } from '@orderflow/testkit';
import { runChaos } from './chaos';
import type { Fault } from './chaos-faults';
import { LocalCluster } from './cluster';
import { PROCESSES, SYSTEM_PORTS } from './services';

const { values } = parseArgs({ options: { seconds: { type: 'string', default: '180' }, outage: { type: 'string', default: '60' }, rate: { type: 'string', default: '40' }, 'keep-data': { type: 'boolean', default: false }, logs: { type: 'boolean', default: false }, cluster: { type: 'boolean', default: false } } });

async function main(): Promise<void> {
  const databasePrefix = uniqueName('chaos');
  const [gatewayPort, basePort] = await freePorts(1 + SYSTEM_PORTS);
  const say = (l: string): void => {
    process.stdout.write(`[chaos] ${l}\n`);
  };
  const cluster = values.cluster ? new LocalCluster({ say }) : undefined;
  const clusterWasUp = cluster ? cluster.runningNodes().length === cluster.nodes.length : false;
  await cluster?.start();
  const machineFaults: Fault[] = [
    ...PROCESSES.filter((s) => s.app !== 'import-worker').map((s) => ({ kind: 'kill' as const, app: s.name })),
    { kind: 'stop', app: 'order-service' },
    { kind: 'drop-broker-connections' },
    { kind: 'restart-broker' },
    { kind: 'unbind', seconds: 10 },
    { kind: 'restart-database' },
    { kind: 'database-outage', seconds: Number(values.outage) },
  ];
  const clusterFaults: Fault[] = [{ kind: 'kill-broker-node' }, { kind: 'stop-broker-node' }, { kind: 'wipe-broker-node' }];
  const result = await runChaos({
    seconds: Number(values.seconds),
    rate: Number(values.rate),
    gatewayPort: gatewayPort!,
    basePort: basePort!,
    databasePrefix,
    topologyPrefix: `${databasePrefix}.`,
    faults: cluster ? clusterFaults : machineFaults,
    cluster,
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
    await (cluster ? cluster.deleteByPrefix(`${databasePrefix}.`) : deleteByPrefix(`${databasePrefix}.`));
    await dropDatabasesByPrefix(databasePrefix);
  }
  if (cluster && !clusterWasUp) await cluster.stop();
  // Losing one node of three must cost no order (a 5xx or a timeout) and heal faster.
  const ok =
    result.report.ok &&
    result.lost === 0 &&
    result.deadLettered === 0 &&
    result.recoverySeconds !== null &&
    result.recoverySeconds <= (cluster ? 30 : 60) &&
    (!cluster || (result.refused === 0 && result.doubleCharged === 0 && result.oversold === 0));
  process.exit(ok ? 0 : 1);
}

main().catch((err) => {
  console.error(err);
  process.exit(2);
});
