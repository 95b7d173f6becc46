/**
 * The services' objects come from one template (k8s/services/template) filled in with each
 * service's values: rendered, they must differ only in those values (names, image, database,
 * ports) and in the variations a service declares (a bulk lane, the import worker's single
 * Deployment, a service's own settings). A change to a probe, a limit or a securityContext is
 * made once, in the template; one made to a single service's objects fails here.
 */
import { PROCESSES, SERVICES, appDeployment, named, readText, renderK8s, type Container, type JobObject, type K8sObject, type ProcessSpec, type Workload } from './support';

/** The tag every app image carries: the release (k8s/kustomization.yaml's `images`). */
const RELEASE = (JSON.parse(readText('package.json')) as { version: string }).version;

/** Settings one service has and the others do not (its kustomization.yaml's patches), in every lane. */
const OWN_ENV: Record<string, string[]> = { 'payment-service': ['PAYMENT_GATEWAY_URL'] };

/** The values a process's objects are filled in with, as they are rendered. */
interface Values {
  name: string;
  app: string;
  database: string;
  port: number;
  databaseUrl: string;
  databasePasswordKey: string;
  brokerPasswordKey: string;
  databaseUrlVariable: string;
}

function valuesOf(process: ProcessSpec, objects: K8sObject[]): Values {
  const { container } = appDeployment(process.app, objects);
  const env = (name: string) => container.env?.find((e) => e.name === name);
  return {
    name: process.name,
    app: process.app,
    database: process.database,
    port: process.port,
    databaseUrl: env('DATABASE_URL')?.value ?? '',
    databasePasswordKey: env('DB_PASSWORD')?.valueFrom?.secretKeyRef?.key ?? '',
    brokerPasswordKey: env('RABBITMQ_PASSWORD')?.valueFrom?.secretKeyRef?.key ?? '',
    // The migrate CLI's variable (libs/migrate/src/discover.ts urlEnvVar).
    databaseUrlVariable: `${process.database.toUpperCase().replace(/[^A-Z0-9]/g, '_')}_DATABASE_URL`,
  };
}

/** The object with its values replaced by placeholders (whole strings and numbers only). */
function normalise(object: unknown, v: Values): unknown {
  const strings = new Map<string, string>([
    [`${v.database}-migrate`, '<database>-migrate'],
    [`orderflow/${v.app}:${RELEASE}`, '<image>'],
    [String(v.port), '<port>'],
    [v.databaseUrl, '<databaseUrl>'],
    [v.databasePasswordKey, '<databasePasswordKey>'],
    [v.brokerPasswordKey, '<brokerPasswordKey>'],
    [v.databaseUrlVariable, '<databaseUrlVariable>'],
  ]);
  // The commands take the database; names and labels the process's name (the import worker's
  // database has its name).
  const walk = (x: unknown, inCommand = false): unknown => {
    if (typeof x === 'string') {
      if (x === (inCommand ? v.database : v.name)) return inCommand ? '<database>' : '<name>';
      return strings.get(x) ?? x;
    }
    if (x === v.port) return '<port>';
    if (Array.isArray(x)) return x.map((y) => walk(y, inCommand));
    // The broker user is the service's (a bulk lane's too), not the process's name.
    if (x && typeof x === 'object' && (x as { name?: unknown }).name === 'RABBITMQ_USER' && (x as { value?: unknown }).value === v.app) return { ...x, value: '<app>' };
    if (x && typeof x === 'object') return Object.fromEntries(Object.entries(x).map(([k, y]) => [k, walk(y, k === 'command')]));
    return x;
  };
  return walk(object);
}

/** Paths where two objects differ; list items that have a name are matched by it (`env[LANES]`). */
function differences(a: unknown, b: unknown, path = ''): string[] {
  if (a === b) return [];
  const isObject = (x: unknown): x is Record<string, unknown> => !!x && typeof x === 'object';
  if (!isObject(a) || !isObject(b) || Array.isArray(a) !== Array.isArray(b)) return [path];
  const keyed = (x: Record<string, unknown>): Map<string, unknown> =>
    Array.isArray(x)
      ? new Map(x.map((item, i) => [`[${isObject(item) && typeof item.name === 'string' ? item.name : i}]`, item]))
      : new Map(Object.keys(x).map((k) => [`.${k}`, x[k]]));
  const [ka, kb] = [keyed(a), keyed(b)];
  return [...new Set([...ka.keys(), ...kb.keys()])].flatMap((k) => differences(ka.get(k), kb.get(k), `${path}${k}`));
}

const MAIN = '.spec.template.spec.containers[<name>]';

/** How a process's Deployment differs from the first service's, by what its service declares. */
function expectedDeploymentDifferences(process: ProcessSpec): string[] {
  const expected = (OWN_ENV[process.app] ?? []).map((name) => `${MAIN}.env[${name}]`);
  if (process.lanes === 'bulk') {
    // A lane of its own: its label, a fixed count, the import queues, a lower CPU request.
    expected.push(
      '.metadata.labels.app.kubernetes.io/component',
      '.spec.replicas',
      '.spec.template.metadata.labels.app.kubernetes.io/component',
      `${MAIN}.env[LANES].value`,
      `${MAIN}.resources.requests.cpu`,
    );
  }
  if (process.lanes === undefined) {
    // One Deployment for all its queues: a fixed count, no LANES.
    expected.push('.spec.replicas', `${MAIN}.env[LANES]`);
  }
  if (process.nodeOptions) expected.push(`${MAIN}.env[NODE_OPTIONS]`);
  return expected.sort();
}

describe('the services are one template, filled in', () => {
  const objects = renderK8s();
  const [first] = PROCESSES;
  if (!first) throw new Error('no processes');
  const own = (process: ProcessSpec, object: K8sObject) => normalise(object, valuesOf(process, objects));
  const services = SERVICES.map((s) => PROCESSES.find((p) => p.name === s.app) as ProcessSpec);
  const interactive = PROCESSES.filter((p) => p.lanes === 'interactive');

  it.each(PROCESSES.map((p) => [p.name, p] as const))('Deployment %s differs from the first service\'s only in its values and declared variations', (name, process) => {
    const reference = own(first, named('Deployment', first.name, objects));
    const found = differences(reference, own(process, named('Deployment', name, objects))).sort();
    expect(found).toEqual(expectedDeploymentDifferences(process));
  });

  it.each<[string, (p: ProcessSpec) => string, ProcessSpec[]]>([
    ['PodDisruptionBudget', (p) => p.name, [...PROCESSES]],
    ['Service', (p) => p.name, services],
    ['HorizontalPodAutoscaler', (p) => p.name, interactive],
    ['Job', (p) => `${p.database}-migrate`, services],
  ])('every %s differs from the first service\'s only in its values', (kind, nameOf, processes) => {
    const [reference, ...others] = processes.map((p) => own(p, named(kind, nameOf(p), objects)));
    for (const other of others) expect(differences(reference, other)).toEqual([]);
  });

  it('every pod of a service, Deployments and Jobs alike, is restricted the same way', () => {
    const pods = [
      ...PROCESSES.map((p) => named<Workload>('Deployment', p.name, objects)),
      ...services.map((p) => named<JobObject>('Job', `${p.database}-migrate`, objects)),
    ].map((o) => o.spec.template.spec);
    const distinct = (values: unknown[]) => [...new Set(values.map((x) => JSON.stringify(x)))];
    expect(distinct(pods.map((pod) => [pod.securityContext, pod.automountServiceAccountToken, pod.volumes]))).toHaveLength(1);
    expect(distinct(pods.flatMap((pod) => [...pod.containers, ...(pod.initContainers ?? [])]).map((c: Container) => c.securityContext))).toHaveLength(1);
  });

  it('the comparison catches a change made to one service only (the check can fail)', () => {
    const changed = structuredClone(named<Workload>('Deployment', 'inventory-service', objects));
    const container = changed.spec.template.spec.containers[0] as Container;
    container.livenessProbe = { ...container.livenessProbe, periodSeconds: 30 };
    const process = PROCESSES.find((p) => p.name === 'inventory-service') as ProcessSpec;
    expect(differences(own(first, named('Deployment', first.name, objects)), own(process, changed))).toEqual([`${MAIN}.livenessProbe.periodSeconds`]);
  });
});
