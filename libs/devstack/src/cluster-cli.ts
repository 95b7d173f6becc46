/**
 * `npm run cluster:start | cluster:stop | cluster:status`: a local 3-node RabbitMQ cluster
 * (orderflow-1…3@localhost, AMQP 5681–5683) beside the machine's own broker, for the failover
 * tests and demos. Also, for demos: `npm run cluster -- kill|restart|stop-node|wipe <node>`
 * (node as `orderflow-2`, a full name or its AMQP port) and `npm run cluster -- leader <queue>`.
 */
import { LocalCluster } from './cluster';

const say = (line: string): void => {
  process.stdout.write(`[cluster] ${line}\n`);
};

async function status(cluster: LocalCluster): Promise<void> {
  for (const n of cluster.nodes) {
    const pid = cluster.pidOf(n);
    say(`${n.name.padEnd(22)} amqp ${n.amqpPort}  dist ${n.distPort}${n.managementPort ? `  management ${n.managementPort}` : ''}  ${pid ? `running (pid ${pid})` : 'down'}`);
  }
  const running = cluster.runningNodes()[0];
  if (running) {
    say(`cluster members (as ${running.short} sees them): ${(await cluster.members(running)).join(', ')}; running: ${(await cluster.runningMembers(running)).join(', ')}`);
    const quorum = (await cluster.queues()).filter((q) => q.type === 'quorum');
    for (const q of quorum) say(`  ${q.name}: leader ${q.leader || '(none)'}, members ${q.members.join(', ')}`);
  }
  say(`directory: ${cluster.dir}`);
  say(`AMQP_URLS=${cluster.urls.join(',')}`);
}

async function main(): Promise<void> {
  const [command = 'status', arg] = process.argv.slice(2);
  const cluster = new LocalCluster({ say });
  const nodeArg = (): ReturnType<LocalCluster['node']> => {
    if (!arg) throw new Error(`${command} needs a node, e.g. orderflow-2`);
    return cluster.node(arg);
  };
  switch (command) {
    case 'start':
      await cluster.start();
      await status(cluster);
      break;
    case 'stop':
      await cluster.stop();
      say('every node stopped');
      break;
    case 'status':
      await status(cluster);
      break;
    case 'kill':
      await cluster.kill(nodeArg());
      break;
    case 'restart':
      await cluster.restart(nodeArg());
      break;
    case 'stop-node':
      await cluster.stopNode(nodeArg());
      break;
    case 'wipe':
      await cluster.wipeAndRejoin(nodeArg());
      break;
    case 'leader': {
      if (!arg) throw new Error('leader needs a queue name');
      const leader = await cluster.leaderOf(arg);
      say(leader ? `${arg}: led by ${leader.name}` : `${arg}: no leader (no such quorum queue?)`);
      break;
    }
    default:
      throw new Error(`unknown command ${command}: start, stop, status, kill, restart, stop-node, wipe, leader`);
  }
}

main().catch((err: Error) => {
  process.stderr.write(`[cluster] ${err.message}\n`);
  process.exit(1);
});
