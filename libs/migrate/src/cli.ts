/**
 * Command line of @orderflow/migrate (`npx tsx libs/migrate/src/cli.ts <command>`):
 *   generate                    prisma generate for every schema
 *   deploy [name...]            create missing databases, apply pending migrations
 *   new <name> <migration>      create a migration from the schema change
 * Exit code 0 on success, 1 on failure, 2 on bad usage.
 */
import path from 'node:path';
import { ensureDatabase, redactUrl } from './databases';
import { listDatabases, urlEnvVar, type DatabaseInfo } from './discover';
import { generateClients } from './generate';
import { applyMigrations, createMigration, readMigrationsList } from './migrations';

const repoRoot = path.resolve(__dirname, '..', '..', '..');

const USAGE = `Usage: tsx libs/migrate/src/cli.ts <command>
  generate                     run prisma generate for every schema
  deploy [database...]         create missing databases and apply pending migrations (default: all)
  new <database> <migration>   create prisma/<database>/migrations/<timestamp>_<migration>/migration.sql
A database's URL is $<NAME>_DATABASE_URL (e.g. ORDER_DATABASE_URL, IMPORT_WORKER_DATABASE_URL)
or the default from its prisma.config.ts.`;

class UsageError extends Error {}

function urlOf(db: DatabaseInfo): string {
  return process.env[urlEnvVar(db.name)] || db.defaultUrl;
}

function select(names: string[]): DatabaseInfo[] {
  const all = listDatabases(repoRoot);
  const unknown = names.filter((name) => !all.some((db) => db.name === name));
  if (unknown.length > 0) {
    throw new UsageError(`Unknown database ${unknown.join(', ')}; known: ${all.map((db) => db.name).join(', ')}`);
  }
  return names.length === 0 ? all : all.filter((db) => names.includes(db.name));
}

function message(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

async function generate(): Promise<void> {
  for (const client of await generateClients(repoRoot)) {
    console.log(`${client.name}: generated client (${client.ms} ms)`);
  }
}

/** Each database is independent, so they are migrated concurrently; one line per database. */
async function deploy(names: string[]): Promise<boolean> {
  const databases = select(names);
  const outcomes = await Promise.allSettled(
    databases.map(async (db) => {
      const url = urlOf(db);
      await ensureDatabase(url);
      const applied = await applyMigrations({ url, migrationsDir: db.migrationsDir, schemaPath: db.schemaPath });
      const { migrationDirectories } = await readMigrationsList(db.migrationsDir);
      return { applied, hasMigrations: migrationDirectories.length > 0 };
    }),
  );
  let ok = true;
  outcomes.forEach((outcome, i) => {
    const db = databases[i] as DatabaseInfo;
    const where = redactUrl(urlOf(db));
    if (outcome.status === 'rejected') {
      ok = false;
      console.error(`${db.name}: FAILED (${where})\n${message(outcome.reason)}`);
    } else if (!outcome.value.hasMigrations) {
      console.log(`${db.name}: no migrations yet (create them: npm run db:new-migration -- ${db.name} init)`);
    } else if (outcome.value.applied.length === 0) {
      console.log(`${db.name}: up to date`);
    } else {
      console.log(`${db.name}: applied ${outcome.value.applied.join(', ')}`);
    }
  });
  return ok;
}

async function newMigration(args: string[]): Promise<void> {
  const [name, migrationName, ...rest] = args;
  if (!name || !migrationName || rest.length > 0) throw new UsageError('new takes <database> <migration-name>');
  const [db] = select([name]);
  if (!db) throw new UsageError(`Unknown database ${name}`);
  const url = urlOf(db);
  await ensureDatabase(url);
  const dir = await createMigration({ schemaPath: db.schemaPath, migrationsDir: db.migrationsDir, url, name: migrationName });
  console.log(
    dir
      ? `${db.name}: created ${path.relative(repoRoot, path.join(dir, 'migration.sql'))}`
      : `${db.name}: schema matches the migrations, nothing to create`,
  );
}

async function main(argv: string[]): Promise<number> {
  const [command, ...args] = argv;
  switch (command) {
    case 'generate':
      await generate();
      return 0;
    case 'deploy':
      return (await deploy(args)) ? 0 : 1;
    case 'new':
      await newMigration(args);
      return 0;
    default:
      throw new UsageError(command ? `Unknown command ${command}` : 'Missing command');
  }
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (error: unknown) => {
    console.error(error instanceof UsageError ? `${error.message}\n\n${USAGE}` : `Error: ${message(error)}`);
    process.exitCode = error instanceof UsageError ? 2 : 1;
  },
);
