/**
 * `npm start`: the whole system on this machine, against the PostgreSQL and RabbitMQ it
 * already runs. Creates and migrates every database, starts every service that exists,
 * prints where each listens; Ctrl-C stops them cleanly.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import amqplib from 'amqplib';
import { applyMigrations, ensureDatabase, listDatabases, urlEnvVar, withDatabaseName } from '@orderflow/migrate';
import { SERVICES, MANAGEMENT_UI_PORT } from './services';

const root = path.resolve(__dirname, '../../..');
const PG_URL = process.env.PG_URL ?? 'postgresql://postgres@127.0.0.1:5432/postgres';
const AMQP_URL = process.env.AMQP_URL ?? 'amqp://guest:guest@127.0.0.1:5672';
const JWT_SECRET = process.env.JWT_SECRET ?? 'orderflow-dev-secret-change-me';

const say = (line: string): void => {
  process.stdout.write(`[orderflow] ${line}\n`);
};

async function checkBroker(): Promise<void> {
  try {
    const conn = await amqplib.connect(AMQP_URL);
    await conn.close();
  } catch (err) {
    throw new Error(`RabbitMQ is not reachable at ${AMQP_URL} (${(err as Error).message}). Start it with: rabbitmq-server -detached`);
  }
}

async function migrate(): Promise<Map<string, string>> {
  const urls = new Map<string, string>();
  for (const db of listDatabases(root).filter((d) => !d.name.endsWith('-test'))) {
    const url = process.env[urlEnvVar(db.name)] ?? withDatabaseName(PG_URL, new URL(db.defaultUrl).pathname.slice(1));
    try {
      await ensureDatabase(url);
    } catch (err) {
      throw new Error(`PostgreSQL is not reachable at ${PG_URL} (${(err as Error).message}). Start it with: pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start`);
    }
    const applied = await applyMigrations({ url, migrationsDir: db.migrationsDir, schemaPath: db.schemaPath });
    say(`database ${db.name}: ${applied.length > 0 ? `applied ${applied.join(', ')}` : 'up to date'}`);
    urls.set(db.name, url);
  }
  return urls;
}

function startService(app: string, env: NodeJS.ProcessEnv): ChildProcess {
  const child = spawn(process.execPath, ['--enable-source-maps', '--import', 'tsx', path.join(root, 'apps', app, 'src/main.ts')], {
    env: { ...process.env, ...env },
    stdio: ['ignore', 'inherit', 'inherit'],
  });
  child.on('exit', (code, signal) => {
    if (!stopping) say(`${app} exited (${signal ?? code}); stopping everything`);
    if (!stopping) void stop(1);
  });
  return child;
}

let stopping = false;
const children: ChildProcess[] = [];

async function stop(code = 0): Promise<void> {
  if (stopping) return;
  stopping = true;
  say('stopping…');
  await Promise.all(
    children.map(
      (c) =>
        new Promise<void>((resolve) => {
          if (c.exitCode !== null || c.signalCode !== null) return resolve();
          c.once('exit', () => resolve());
          c.kill('SIGTERM');
          setTimeout(() => c.kill('SIGKILL'), 20_000).unref();
        }),
    ),
  );
  say('stopped');
  process.exit(code);
}

async function main(): Promise<void> {
  process.on('SIGINT', () => void stop());
  process.on('SIGTERM', () => void stop());
  await checkBroker();
  const urls = await migrate();
  const running: string[] = [];
  for (const s of SERVICES) {
    if (!fs.existsSync(path.join(root, 'apps', s.app, 'src/main.ts'))) continue;
    children.push(
      startService(s.app, {
        PORT: String(s.port),
        DATABASE_URL: urls.get(s.database),
        AMQP_URL,
        JWT_SECRET,
      }),
    );
    running.push(`  ${s.app.padEnd(22)} http://127.0.0.1:${s.port}`);
  }
  say(running.length > 0 ? `services:\n${running.join('\n')}` : 'no service has a src/main.ts yet: databases migrated, nothing to run');
  say(`RabbitMQ management UI: http://127.0.0.1:${MANAGEMENT_UI_PORT} (guest/guest; enable with: rabbitmq-plugins enable rabbitmq_management)`);
  if (children.length === 0) process.exit(0);
  say('press Ctrl-C to stop');
}

main().catch((err: Error) => {
  process.stderr.write(`[orderflow] cannot start: ${err.message}\n`);
  void stop(1);
});
