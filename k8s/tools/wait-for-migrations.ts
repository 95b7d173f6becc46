/**
 * Init container of each service Deployment: `node dist/wait-for-migrations.js <database>`
 * returns once the database (DATABASE_URL) has every migration that this image ships
 * (`prisma/<database>/migrations/*`, relative to the working directory) applied. Migrations
 * run once, in the service's migration Job; replicas only wait for it, so a pod never starts
 * on an older schema than its code expects (after a rollback, a newer schema still passes).
 * Exits 1 after WAIT_TIMEOUT_S (default 600): the kubelet restarts the init container.
 */
import { readdirSync } from 'node:fs';
import path from 'node:path';
import { Client } from 'pg';

const POLL_MS = 2_000;

/** Migration folders shipped with this image, as Prisma names them in `_prisma_migrations`. */
export function shippedMigrations(database: string, root = process.cwd()): string[] {
  return readdirSync(path.join(root, 'prisma', database, 'migrations'), { withFileTypes: true })
    .filter((entry) => entry.isDirectory())
    .map((entry) => entry.name)
    .sort();
}

async function appliedMigrations(url: string): Promise<Set<string>> {
  const client = new Client({ connectionString: url, connectionTimeoutMillis: 5_000 });
  await client.connect();
  try {
    const { rows } = await client.query<{ migration_name: string }>(
      'SELECT migration_name FROM _prisma_migrations WHERE finished_at IS NOT NULL AND rolled_back_at IS NULL',
    );
    return new Set(rows.map((r) => r.migration_name));
  } finally {
    await client.end().catch(() => undefined);
  }
}

async function main(database: string | undefined): Promise<number> {
  const url = process.env.DATABASE_URL;
  if (!database || !url) {
    console.error('usage: DATABASE_URL=... node dist/wait-for-migrations.js <database>');
    return 2;
  }
  const wanted = shippedMigrations(database);
  const deadline = Date.now() + Number(process.env.WAIT_TIMEOUT_S ?? 600) * 1000;
  let lastReport = 0;
  for (;;) {
    let missing: string[];
    try {
      const applied = await appliedMigrations(url);
      missing = wanted.filter((m) => !applied.has(m));
    } catch (err) {
      // No table yet (42P01) or no server yet: both mean "not migrated yet".
      missing = [`(${(err as Error).message})`];
    }
    if (missing.length === 0) {
      console.log(`${database}: all ${wanted.length} migrations applied`);
      return 0;
    }
    if (Date.now() > deadline) {
      console.error(`${database}: still waiting for ${missing.join(', ')}; giving up`);
      return 1;
    }
    if (Date.now() - lastReport > 30_000) {
      lastReport = Date.now();
      console.log(`${database}: waiting for the migration Job: ${missing.join(', ')}`);
    }
    await new Promise((resolve) => setTimeout(resolve, POLL_MS));
  }
}

if (require.main === module) {
  main(process.argv[2]).then((code) => process.exit(code));
}
