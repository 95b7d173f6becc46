/**
 * `npm start`: the whole system on this machine, against the PostgreSQL and RabbitMQ it
 * already runs. Prints where everything listens; Ctrl-C stops it cleanly.
 */
import { spawnSync } from 'node:child_process';
import { enableFeatureFlags, migrateClassicQueues } from './broker-queues';
import { ensureServiceUsers } from './broker-users';
import { portOpen } from './cluster-node';
import { readableLogsEnv } from './output';
import { MANAGEMENT_UI_PORT } from './services';
import { startSystem, type RunningSystem } from './system';

const say = (line: string): void => {
  process.stdout.write(`[orderflow] ${line}\n`);
};

/** The management UI is how operators watch the broker: turn it on when it is off and we can. */
async function managementUi(): Promise<string> {
  const url = `http://127.0.0.1:${MANAGEMENT_UI_PORT} (guest/guest)`;
  if (await portOpen(MANAGEMENT_UI_PORT)) return `RabbitMQ management UI: ${url}`;
  const enabled = spawnSync('rabbitmq-plugins', ['enable', 'rabbitmq_management'], { encoding: 'utf8', timeout: 60_000 });
  if (enabled.status === 0) {
    for (let i = 0; i < 50 && !(await portOpen(MANAGEMENT_UI_PORT)); i++) await new Promise((r) => setTimeout(r, 200));
    return `RabbitMQ management UI (plugin enabled now): ${url}`;
  }
  return `RabbitMQ management UI is off; enable it with: rabbitmq-plugins enable rabbitmq_management — then open ${url}`;
}

async function main(): Promise<void> {
  let system: RunningSystem | undefined;
  let stopping = false;
  const stop = async (code: number): Promise<void> => {
    if (stopping) return;
    stopping = true;
    say('stopping…');
    await system?.stop();
    say('stopped');
    process.exit(code);
  };
  process.on('SIGINT', () => void stop(0));
  process.on('SIGTERM', () => void stop(0));

  // Before any service declares its queues: quorum queues dead-letter at least once only with
  // the flags on, and the classic queues of an earlier version become quorum queues with their
  // messages (nothing consumes them yet: this command starts the consumers).
  say(enableFeatureFlags().line);
  // The administrator: declares every exchange and queue (each service may declare only its
  // own) and creates the services' users. Never given to a service.
  const adminAmqpUrl = process.env.AMQP_URL ?? 'amqp://guest:guest@127.0.0.1:5672';
  await migrateClassicQueues({ amqpUrl: adminAmqpUrl, say: (line) => say(`queues: ${line}`) });
  // The users are created through the management API when it is on (or rabbitmqctl).
  const ui = await managementUi();
  let amqpUrls: Record<string, string> | undefined;
  try {
    amqpUrls = await ensureServiceUsers({ adminAmqpUrl });
    say(`broker users: ${Object.keys(amqpUrls).join(', ')} (each service its own, allowed only its own exchanges and queues)`);
  } catch (err) {
    say(`${(err as Error).message}; the services connect as the administrator instead`);
  }
  system = await startSystem({
    amqpUrl: adminAmqpUrl,
    amqpUrls,
    // Each line behind its process's name, human-readable (LOG_FORMAT=pretty unless set).
    stdio: 'prefixed',
    // DEV_TOKENS: the console's "sign in as a local admin" button (POST /api/dev/token), local
    // development only; compose and Kubernetes never set it.
    env: { ...readableLogsEnv(), DEV_TOKENS: '1' },
    say,
    onCrash: (name, code, signal) => {
      say(`${name} exited (${signal ?? code}); stopping everything`);
      void stop(1);
    },
  });
  const width = Math.max(...system.services.map((s) => s.app.length)) + 1;
  const lines = system.services.map((s) => `  ${s.app.padEnd(width)} ${s.url}`);
  say(`services:\n${lines.join('\n')}`);
  say(system.gatewayUrl ? `gateway: ${system.gatewayUrl}  (e.g. curl ${system.gatewayUrl}/api/inventory -H "Authorization: Bearer $(npm run -s token -- --sub alice --role customer)")` : 'gateway: not running (see above)');
  if (system.gatewayUrl) say(`API reference: ${system.gatewayUrl}/api/docs/ (the document: ${system.gatewayUrl}/api/openapi.json)`);
  if (system.gatewayUrl) say(`operator console: ${system.gatewayUrl}/console/  (sign in with "Sign in as a local admin")`);
  say(`payment gateway simulator: ${system.paymentGateway.url}, from this machine only (not behind the gateway); an outage: curl -X PUT ${system.paymentGateway.url}/admin/outage -H 'Content-Type: application/json' -d '{"down":true}' (docs/payment-gateway.md)`);
  say(ui);
  say('press Ctrl-C to stop');
}

main().catch((err: Error) => {
  process.stderr.write(`[orderflow] cannot start: ${err.message}\n`);
  process.exit(1);
});
