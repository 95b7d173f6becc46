import { existsSync, readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';

/** One Prisma schema with its own database and migrations folder. */
export interface DatabaseInfo {
  /** `order`, `import-worker`, ... for service schemas; `<lib>-test` for test schemas. */
  name: string;
  /** Absolute path of schema.prisma. */
  schemaPath: string;
  /** Absolute path of the migrations folder next to it (may not exist yet). */
  migrationsDir: string;
  /** URL used when no environment variable overrides it. */
  defaultUrl: string;
}

/** Server of the default test databases (the same local server the service defaults use). */
const TEST_SERVER_URL = 'postgresql://postgres@127.0.0.1:5432';

function subfolders(dir: string): string[] {
  if (!existsSync(dir)) return [];
  return readdirSync(dir, { withFileTypes: true })
    .filter((entry) => entry.isDirectory())
    .map((entry) => entry.name)
    .sort();
}

/**
 * The literal default URL of a prisma.config.ts (`process.env.DATABASE_URL ?? '<url>'`).
 * Read as text on purpose: evaluating the config would resolve DATABASE_URL (the same for
 * every service if set) and would load a TypeScript loader for each file.
 */
function defaultUrlFromConfig(configPath: string): string {
  const match = /['"`](postgres(?:ql)?:\/\/[^'"`\s]+)['"`]/.exec(readFileSync(configPath, 'utf8'));
  if (!match?.[1]) throw new Error(`No default postgresql:// URL found in ${configPath}`);
  return match[1];
}

function describe(name: string, schemaDir: string, defaultUrl: string): DatabaseInfo {
  return {
    name,
    schemaPath: path.join(schemaDir, 'schema.prisma'),
    migrationsDir: path.join(schemaDir, 'migrations'),
    defaultUrl,
  };
}

/**
 * Discovers every schema of the repository: `prisma/<service>/schema.prisma` (default URL
 * from the prisma.config.ts next to it) and test-only `libs/<lib>/test/prisma/schema.prisma`
 * (named `<lib>-test`, default database `orderflow_test_<lib>`).
 */
export function listDatabases(repoRoot: string): DatabaseInfo[] {
  const services = subfolders(path.join(repoRoot, 'prisma'))
    .map((service) => path.join(repoRoot, 'prisma', service))
    .filter((dir) => existsSync(path.join(dir, 'schema.prisma')))
    .map((dir) => describe(path.basename(dir), dir, defaultUrlFromConfig(path.join(dir, 'prisma.config.ts'))));
  const testSchemas = subfolders(path.join(repoRoot, 'libs'))
    .map((lib) => ({ lib, dir: path.join(repoRoot, 'libs', lib, 'test', 'prisma') }))
    .filter(({ dir }) => existsSync(path.join(dir, 'schema.prisma')))
    .map(({ lib, dir }) => describe(`${lib}-test`, dir, `${TEST_SERVER_URL}/orderflow_test_${lib.replace(/-/g, '_')}`));
  return [...services, ...testSchemas];
}

/**
 * Environment variable that overrides a database's URL: `order` → ORDER_DATABASE_URL,
 * `import-worker` → IMPORT_WORKER_DATABASE_URL, `messaging-test` → MESSAGING_TEST_DATABASE_URL.
 */
export function urlEnvVar(name: string): string {
  return `${name.toUpperCase().replace(/[^A-Z0-9]/g, '_')}_DATABASE_URL`;
}
