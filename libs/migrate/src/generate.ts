import { execFile } from 'node:child_process';
import path from 'node:path';
import { promisify } from 'node:util';
import { listDatabases } from './discover';

const run = promisify(execFile);

/** Outcome of generating one schema's client. */
export interface GeneratedClient {
  name: string;
  schemaPath: string;
  /** Wall time of the `prisma generate` process. */
  ms: number;
}

/** The `prisma` CLI entry point (its package.json `bin`). */
function prismaCli(): string {
  const packageJson = require.resolve('prisma/package.json');
  const { bin } = require(packageJson) as { bin: { prisma: string } };
  return path.join(path.dirname(packageJson), bin.prisma);
}

/**
 * Runs `prisma generate` for every schema {@link listDatabases} finds, in parallel, each
 * in its schema folder so the prisma.config.ts there applies.
 * PRISMA_SCHEMA_ENGINE_BINARY points at node: without it the CLI tries to download the
 * native schema engine at start (no internet here); generate never runs that engine.
 * @throws Error naming every schema whose generation failed, with the CLI's output.
 */
export async function generateClients(repoRoot: string): Promise<GeneratedClient[]> {
  const cli = prismaCli();
  const env = { ...process.env, PRISMA_SCHEMA_ENGINE_BINARY: process.execPath, PRISMA_HIDE_UPDATE_MESSAGE: '1' };
  const results = await Promise.allSettled(
    listDatabases(repoRoot).map(async ({ name, schemaPath }): Promise<GeneratedClient> => {
      const started = Date.now();
      await run(process.execPath, [cli, 'generate'], { cwd: path.dirname(schemaPath), env }).catch(
        (error: Error & { stdout?: string; stderr?: string }) => {
          throw new Error(`prisma generate failed for ${name} (${schemaPath}):\n${error.stderr || error.stdout || error.message}`);
        },
      );
      return { name, schemaPath, ms: Date.now() - started };
    }),
  );
  const failures = results.flatMap((r) => (r.status === 'rejected' ? [(r.reason as Error).message] : []));
  if (failures.length > 0) throw new Error(failures.join('\n\n'));
  return results.flatMap((r) => (r.status === 'fulfilled' ? [r.value] : []));
}
