/**
 * `npm run broker:migrate-queues [-- --prefix <p> --url amqp://…]`: turns the classic queues of
 * an installation of an earlier version into the quorum queues the services now declare, with
 * every message they hold (see docs/operations.md, "Upgrading to quorum queues"). Stop the services first:
 * a queue with consumers is refused. Safe to run again, after a crash midway too.
 */
import { parseArgs } from 'node:util';
import { migrateClassicQueues } from './broker-queues';

const { values } = parseArgs({
  options: {
    url: { type: 'string', default: process.env.AMQP_URL ?? 'amqp://guest:guest@127.0.0.1:5672' },
    prefix: { type: 'string', default: '' },
  },
});

async function main(): Promise<void> {
  const say = (line: string): void => {
    process.stdout.write(`[migrate-queues] ${line}\n`);
  };
  const results = await migrateClassicQueues({ amqpUrl: values.url!, prefix: values.prefix, say });
  const migrated = results.filter((r) => r.outcome === 'migrated');
  say(
    migrated.length === 0
      ? `all ${results.length} queues already as declared; nothing to do`
      : `${migrated.length} of ${results.length} queues re-created as declared, ${migrated.reduce((n, r) => n + r.moved, 0)} message(s) kept`,
  );
}

main().catch((err: Error) => {
  process.stderr.write(`[migrate-queues] failed: ${err.message}\nNothing is lost: run it again once the cause is fixed (messages of a queue being migrated wait in <queue>.migrating).\n`);
  process.exit(1);
});
