/**
 * Assembles the runtime tree of a service image: `tsx k8s/tools/bundle.ts <app> <outRoot>` writes
 *   <outRoot>/dist/main.js                  the app (apps/<app>/src/main.ts)
 *   <outRoot>/libs/migrate/dist/cli.js      the offline migration CLI (libs/migrate/src/cli.ts)
 *   <outRoot>/dist/wait-for-migrations.js   the Deployments' init container (k8s/tools/wait-for-migrations.ts)
 * each one self-contained file: our libs, the generated Prisma client and every npm package
 * are bundled, so the final image needs no node_modules (the workspace's production tree is
 * ~350 MB because `prisma`, a dependency of libs/migrate, pulls its Studio and PGlite).
 * Layout matters: the migrate CLI finds the repository as `../../..` of its own folder, so
 * `libs/migrate/dist/cli.js` next to `prisma/` works as it does in the source tree. The CLI
 * still resolves `prisma/package.json` and reads `prisma/build/schema_engine_bg.wasm` at run
 * time (engine.ts): exactly those two files are copied under <outRoot>/node_modules/prisma/,
 * and prisma/<service>/ (schemas and migrations) under <outRoot>/prisma/.
 */
import { cpSync, existsSync, mkdirSync, readdirSync } from 'node:fs';
import path from 'node:path';
import { build, type BuildOptions } from 'esbuild';

const root = path.resolve(__dirname, '..', '..');

const common: BuildOptions = {
  bundle: true,
  platform: 'node',
  target: 'node20',
  format: 'cjs',
  sourcemap: true,
  // pg-native: optional binding of `pg`, loaded only through `pg.native` (never here).
  // prisma/package.json: located at run time to find the schema engine wasm (see above).
  external: ['pg-native', 'prisma/package.json'],
  logLevel: 'warning',
  legalComments: 'none',
};

async function main(app: string | undefined, out: string | undefined): Promise<void> {
  if (!app || !out) throw new Error('usage: tsx k8s/tools/bundle.ts <app> <outRoot>  (the Dockerfile runs it)');
  const outRoot = path.resolve(out);
  await build({ ...common, entryPoints: [path.join(root, 'apps', app, 'src', 'main.ts')], outfile: path.join(outRoot, 'dist', 'main.js') });
  await build({
    ...common,
    entryPoints: [path.join(root, 'k8s', 'tools', 'wait-for-migrations.ts')],
    outfile: path.join(outRoot, 'dist', 'wait-for-migrations.js'),
  });
  await build({
    ...common,
    entryPoints: [path.join(root, 'libs', 'migrate', 'src', 'cli.ts')],
    outfile: path.join(outRoot, 'libs', 'migrate', 'dist', 'cli.js'),
  });
  // Service schemas only: test schemas live under libs/*/test and are not shipped.
  for (const db of readdirSync(path.join(root, 'prisma'))) {
    if (existsSync(path.join(root, 'prisma', db, 'schema.prisma'))) {
      cpSync(path.join(root, 'prisma', db), path.join(outRoot, 'prisma', db), { recursive: true });
    }
  }
  const prisma = path.dirname(require.resolve('prisma/package.json'));
  mkdirSync(path.join(outRoot, 'node_modules', 'prisma', 'build'), { recursive: true });
  for (const file of ['package.json', path.join('build', 'schema_engine_bg.wasm')]) {
    cpSync(path.join(prisma, file), path.join(outRoot, 'node_modules', 'prisma', file));
  }
}

main(process.argv[2], process.argv[3]).catch((err: Error) => {
  process.stderr.write(`${err.message}\n`);
  process.exit(1);
});
