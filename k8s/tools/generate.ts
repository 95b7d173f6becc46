/**
 * Writes the files under k8s/ that are derived from elsewhere in the repository:
 *   k8s/rabbitmq/definitions.json        from the services' topologies (rabbitmq-definitions.ts)
 *   k8s/gateway/gateway.conf.template    byte-identical copy of nginx/templates/gateway.conf.template
 *   k8s/components/monitoring/           the PrometheusRule and the Grafana dashboard (monitoring.ts)
 * The copy exists because kustomize's load restrictor refuses files outside k8s/, symlinks
 * included (it resolves them), and `kubectl apply -k k8s/` must work without flags.
 *
 *   npx tsx k8s/tools/generate.ts           write them
 *   npx tsx k8s/tools/generate.ts --check   exit 1 when one is stale (the k8s unit tests check the same)
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { runGenerator, type GeneratedFile } from '../../tools/write-or-check';
import { monitoringFiles } from './monitoring';
import { DEFINITIONS_FILE, REPO_ROOT, rabbitmqDefinitions, renderDefinitions } from './rabbitmq-definitions';

export const GATEWAY_TEMPLATE_SOURCE = path.join(REPO_ROOT, 'nginx', 'templates', 'gateway.conf.template');
export const GATEWAY_TEMPLATE_COPY = path.join(REPO_ROOT, 'k8s', 'gateway', 'gateway.conf.template');

/** Every derived file, generated from its source as it is now. */
export async function derivedFiles(): Promise<GeneratedFile[]> {
  const wanted: Array<[string, string]> = [
    [DEFINITIONS_FILE, renderDefinitions(await rabbitmqDefinitions())],
    [GATEWAY_TEMPLATE_COPY, readFileSync(GATEWAY_TEMPLATE_SOURCE, 'utf8')],
    ...monitoringFiles(),
  ];
  return wanted.map(([file, content]) => ({ file, content }));
}

if (require.main === module) runGenerator(derivedFiles, { root: REPO_ROOT, fix: 'npx tsx k8s/tools/generate.ts' });
