/**
 * `npm run audit [-- --deadline 180 --grace 60 --outbox-age 60]`: audits the system that
 * `npm start` runs (databases orderflow_<service>, or <SERVICE>_DATABASE_URL; the payment gateway
 * simulator's ledger orderflow_payment_gateway, or PAYMENT_GATEWAY_DATABASE_URL) and exits
 * non-zero on any violation.
 */
import path from 'node:path';
import { parseArgs } from 'node:util';
import { listDatabases, urlEnvVar, withDatabaseName } from '@orderflow/migrate';
import { audit, formatReport } from './audit';
import { PAYMENT_GATEWAY } from './services';

const { values } = parseArgs({
  options: {
    deadline: { type: 'string', default: '180' },
    grace: { type: 'string', default: '60' },
    'outbox-age': { type: 'string', default: '60' },
    'database-prefix': { type: 'string', default: 'orderflow' },
    'topology-prefix': { type: 'string', default: '' },
  },
});

async function main(): Promise<void> {
  const pgUrl = process.env.PG_URL ?? 'postgresql://postgres@127.0.0.1:5432/postgres';
  const databases = new Map<string, string>();
  for (const db of listDatabases(path.resolve(__dirname, '../../..')).filter((d) => !d.name.endsWith('-test'))) {
    const name = `${values['database-prefix']}_${new URL(db.defaultUrl).pathname.slice(1).replace(/^orderflow_/, '')}`;
    databases.set(db.name, process.env[urlEnvVar(db.name)] ?? withDatabaseName(pgUrl, name));
  }
  const report = await audit({
    databases,
    // Named as startSystem names it: the simulator's database is not one of our schemas.
    paymentGatewayDatabase: process.env[urlEnvVar(PAYMENT_GATEWAY.database)] ?? withDatabaseName(pgUrl, `${values['database-prefix']}_${PAYMENT_GATEWAY.database}`),
    amqpUrl: process.env.AMQP_URL ?? 'amqp://guest:guest@127.0.0.1:5672',
    topologyPrefix: values['topology-prefix'],
    orderDeadlineS: Number(values.deadline),
    graceS: Number(values.grace),
    outboxMaxAgeS: Number(values['outbox-age']),
  });
  process.stdout.write(`${formatReport(report)}\n`);
  process.exit(report.ok ? 0 : 1);
}

main().catch((err: Error) => {
  process.stderr.write(`audit could not run: ${err.message}\n`);
  process.exit(2);
});
