/**
 * Writes the files under k8s/ that are derived from elsewhere in the repository:
 *   k8s/rabbitmq/definitions.json        from the services' topologies (rabbitmq-definitions.ts)
 *   k8s/gateway/gateway.conf.template    byte-identical copy of nginx/templates/gateway.conf.template
 * The copy exists because kustomize's load restrictor refuses files outside k8s/, symlinks
 * included (it resolves them), and `kubectl apply -k k8s/` must work without flags.
 *
 *   npx tsx k8s/tools/generate.ts           write them
 *   npx tsx k8s/tools/generate.ts --check   exit 1 when one is stale (the k8s unit tests check the same)
 */
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { DEFINITIONS_FILE, REPO_ROOT, rabbitmqDefinitions, renderDefinitions } from './rabbitmq-definitions';

export const GATEWAY_TEMPLATE_SOURCE = path.join(REPO_ROOT, 'nginx', 'templates', 'gateway.conf.template');
export const GATEWAY_TEMPLATE_COPY = path.join(REPO_ROOT, 'k8s', 'gateway', 'gateway.conf.template');

const read = (file: string): string | null => {
  try {
    return readFileSync(file, 'utf8');
  } catch {
    return null;
  }
};

async function main(check: boolean): Promise<number> {
  const wanted: Array<[string, string]> = [
    [DEFINITIONS_FILE, renderDefinitions(await rabbitmqDefinitions())],
    [GATEWAY_TEMPLATE_COPY, readFileSync(GATEWAY_TEMPLATE_SOURCE, 'utf8')],
  ];
  let stale = 0;
  for (const [file, content] of wanted) {
    const name = path.relative(REPO_ROOT, file);
    if (read(file) === content) {
      console.log(`${name}: up to date`);
    } else if (check) {
      stale++;
      console.error(`${name}: stale (run: npx tsx k8s/tools/generate.ts)`);
    } else {
      writeFileSync(file, content);
      console.log(`${name}: written`);
    }
  }
  return stale === 0 ? 0 : 1;
}

if (require.main === module) {
  main(process.argv.includes('--check')).then(
    (code) => {
      process.exitCode = code;
    },
    (err: Error) => {
      console.error(err.message);
      process.exitCode = 1;
    },
  );
}
