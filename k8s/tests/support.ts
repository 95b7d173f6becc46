/**
 * Shared by the k8s/ unit tests: the rendered manifests (`kubectl kustomize k8s/`), the
 * compose file and the workflow, parsed; and the environment a container would really get.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { parse, parseAllDocuments } from 'yaml';
import { PAYMENT_GATEWAY, PROCESSES, SERVICES, type ProcessSpec, type ServiceSpec } from '../../libs/devstack/src/services';

export const ROOT = path.resolve(__dirname, '..', '..');
export const K8S = path.join(ROOT, 'k8s');

/* ------------------------------------------------------------------ Kubernetes objects */

export interface K8sObject {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string; labels?: Record<string, string> };
  [key: string]: unknown;
}

export interface EnvVar {
  name: string;
  value?: string;
  valueFrom?: {
    secretKeyRef?: { name: string; key: string };
    configMapKeyRef?: { name: string; key: string };
    fieldRef?: { fieldPath: string };
  };
}
export interface HttpProbe {
  httpGet?: { path: string; port: number | string };
  exec?: { command: string[] };
  periodSeconds?: number;
  timeoutSeconds?: number;
  failureThreshold?: number;
}
export interface Container {
  name: string;
  image: string;
  command?: string[];
  args?: string[];
  ports?: Array<{ name?: string; containerPort: number }>;
  env?: EnvVar[];
  envFrom?: Array<{ configMapRef?: { name: string }; secretRef?: { name: string } }>;
  startupProbe?: HttpProbe;
  livenessProbe?: HttpProbe;
  readinessProbe?: HttpProbe;
  lifecycle?: { preStop?: { exec?: { command: string[] }; sleep?: { seconds: number } } };
  resources?: { requests?: Record<string, string>; limits?: Record<string, string> };
  securityContext?: {
    runAsNonRoot?: boolean;
    runAsUser?: number;
    readOnlyRootFilesystem?: boolean;
    allowPrivilegeEscalation?: boolean;
  };
  volumeMounts?: Array<{ name: string; mountPath: string; subPath?: string; readOnly?: boolean }>;
}
export interface Volume {
  name: string;
  emptyDir?: Record<string, unknown>;
  configMap?: { name: string };
  secret?: { secretName: string };
}
export interface PodSpec {
  containers: Container[];
  initContainers?: Container[];
  volumes?: Volume[];
  terminationGracePeriodSeconds?: number;
  securityContext?: { runAsNonRoot?: boolean; runAsUser?: number };
  restartPolicy?: string;
  serviceAccountName?: string;
  automountServiceAccountToken?: boolean;
  affinity?: {
    podAntiAffinity?: {
      requiredDuringSchedulingIgnoredDuringExecution?: Array<{ topologyKey: string; labelSelector?: { matchLabels?: Record<string, string> } }>;
    };
  };
}
export interface PodTemplate {
  metadata: { labels?: Record<string, string>; annotations?: Record<string, string> };
  spec: PodSpec;
}
export interface Workload extends K8sObject {
  spec: {
    replicas?: number;
    selector: { matchLabels: Record<string, string> };
    template: PodTemplate;
    serviceName?: string;
    podManagementPolicy?: string;
    strategy?: { rollingUpdate?: { maxSurge?: number | string; maxUnavailable?: number | string } };
    volumeClaimTemplates?: Array<{ metadata: { name: string } }>;
  };
}
export interface JobObject extends K8sObject {
  spec: { template: PodTemplate; backoffLimit?: number };
}
export interface ServiceObject extends K8sObject {
  spec: {
    type?: string;
    clusterIP?: string;
    selector?: Record<string, string>;
    ports: Array<{ name?: string; port: number; targetPort?: number | string }>;
  };
}
export interface DataObject extends K8sObject {
  data?: Record<string, string>;
  stringData?: Record<string, string>;
}

const renderedDirs = new Map<string, K8sObject[]>();

/** `kubectl kustomize <dir>`, as `kubectl apply -k <dir>` renders it (no flags), parsed; once per directory. */
export function renderKustomization(dir: string): K8sObject[] {
  const cached = renderedDirs.get(dir);
  if (cached) return cached;
  const run = spawnSync('kubectl', ['kustomize', dir], { encoding: 'utf8', timeout: 30_000 });
  if (run.error) throw new Error(`cannot run kubectl (${run.error.message}); the k8s tests need kubectl on PATH`);
  if (run.status !== 0) throw new Error(`kubectl kustomize ${path.relative(ROOT, dir) || dir} failed:\n${run.stderr}`);
  const objects = parseAllDocuments(run.stdout).map((doc) => {
    if (doc.errors.length > 0) throw new Error(doc.errors.map((e) => e.message).join('\n'));
    return doc.toJS() as K8sObject;
  });
  renderedDirs.set(dir, objects);
  return objects;
}

/** `kubectl kustomize k8s/`, as `kubectl apply -k k8s/` renders it (no flags), parsed. */
export const renderK8s = (): K8sObject[] => renderKustomization(K8S);

export const ofKind = <T extends K8sObject>(kind: string, objects: K8sObject[] = renderK8s()): T[] => objects.filter((o) => o.kind === kind) as T[];

export function named<T extends K8sObject>(kind: string, name: string, objects: K8sObject[] = renderK8s()): T {
  const found = ofKind<T>(kind, objects).find((o) => o.metadata.name === name);
  if (!found) throw new Error(`no ${kind} ${name} in the rendered manifests`);
  return found;
}

/** A generated ConfigMap/Secret by its base name (kustomize appends a content hash). */
export function generated<T extends DataObject>(kind: 'ConfigMap' | 'Secret', base: string, objects: K8sObject[] = renderK8s()): T {
  const found = ofKind<T>(kind, objects).filter((o) => o.metadata.name === base || o.metadata.name.startsWith(`${base}-`));
  if (found.length !== 1) throw new Error(`expected one ${kind} generated from ${base}, found ${found.length}`);
  return found[0] as T;
}

/** Pod templates of the workloads, with the labels their Services select on. */
export function podTemplates(objects: K8sObject[] = renderK8s()): Array<{ owner: K8sObject; template: PodTemplate }> {
  return objects
    .filter((o) => ['Deployment', 'StatefulSet', 'Job'].includes(o.kind))
    .map((o) => ({ owner: o, template: (o as Workload | JobObject).spec.template }));
}

export const selects = (selector: Record<string, string>, labels: Record<string, string> = {}): boolean =>
  Object.keys(selector).length > 0 && Object.entries(selector).every(([k, v]) => labels[k] === v);

export function dataOf(object: DataObject): Record<string, string> {
  const data = object.data ?? {};
  if (object.kind !== 'Secret') return data;
  // stringData overrides data, as the API server merges them (an overlay's patch may set it).
  return { ...Object.fromEntries(Object.entries(data).map(([k, v]) => [k, Buffer.from(v, 'base64').toString('utf8')])), ...object.stringData };
}

function findData(kind: 'ConfigMap' | 'Secret', name: string, objects: K8sObject[]): Record<string, string> {
  const object = ofKind<DataObject>(kind, objects).find((o) => o.metadata.name === name);
  if (!object) throw new Error(`the container refers to ${kind} ${name}, which is not rendered`);
  return dataOf(object);
}

/**
 * The environment the kubelet gives a container: envFrom first, then env in order, with
 * `$(VAR)` references expanded from what is defined before (Kubernetes' rule).
 */
export function containerEnv(container: Container, objects: K8sObject[] = renderK8s()): Record<string, string> {
  const env: Record<string, string> = {};
  for (const from of container.envFrom ?? []) {
    if (from.configMapRef) Object.assign(env, findData('ConfigMap', from.configMapRef.name, objects));
    if (from.secretRef) Object.assign(env, findData('Secret', from.secretRef.name, objects));
  }
  for (const v of container.env ?? []) {
    const ref = v.valueFrom;
    let value: string;
    if (ref?.secretKeyRef) value = lookup(findData('Secret', ref.secretKeyRef.name, objects), ref.secretKeyRef.key, v.name);
    else if (ref?.configMapKeyRef) value = lookup(findData('ConfigMap', ref.configMapKeyRef.name, objects), ref.configMapKeyRef.key, v.name);
    else if (ref?.fieldRef) value = `<${ref.fieldRef.fieldPath}>`;
    else value = (v.value ?? '').replace(/\$\$|\$\(([A-Za-z_][A-Za-z0-9_]*)\)/g, (whole, name?: string) => (name === undefined ? '$' : (env[name] ?? whole)));
    env[v.name] = value;
  }
  return env;
}

function lookup(data: Record<string, string>, key: string, variable: string): string {
  const value = data[key];
  if (value === undefined) throw new Error(`${variable} refers to key ${key}, which its source does not have`);
  return value;
}

/** The Deployment of an app and its main container (named after the app). */
export function appDeployment(app: string, objects: K8sObject[] = renderK8s()): { deployment: Workload; container: Container } {
  const deployment = named<Workload>('Deployment', app, objects);
  const container = deployment.spec.template.spec.containers.find((c) => c.name === app);
  if (!container) throw new Error(`Deployment ${app} has no container named ${app}`);
  return { deployment, container };
}

/** Resolves a probe's or Service's port (number or container port name) to a number. */
export function portNumber(port: number | string | undefined, container: Container): number | undefined {
  if (typeof port === 'number') return port;
  return container.ports?.find((p) => p.name === port)?.containerPort;
}

/* -------------------------------------------------------------------------- services */

export { PAYMENT_GATEWAY, PROCESSES, SERVICES, type ProcessSpec, type ServiceSpec };

/** The service a process runs (a bulk lane's process runs its service's code). */
export const serviceOf = (process: ProcessSpec): ServiceSpec => {
  const spec = SERVICES.find((s) => s.app === process.app);
  if (!spec) throw new Error(`no service ${process.app}`);
  return spec;
};

/** The zod schema an app's main.ts validates its environment with. */
export function configSchemaOf(spec: ServiceSpec): { shape: Record<string, { safeParse(v: unknown): { success: boolean; data?: unknown } }>; safeParse(env: unknown): { success: boolean; error?: unknown; data?: Record<string, unknown> } } {
  const own = path.join(ROOT, 'apps', spec.app, 'src', 'config.ts');
  if (existsSync(own)) {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const mod = require(own) as Record<string, unknown>;
    const factories = Object.entries(mod).filter(([name, value]) => /ConfigSchema$/.test(name) && typeof value === 'function');
    if (factories.length !== 1) throw new Error(`apps/${spec.app}/src/config.ts should export one *ConfigSchema(defaultPort)`);
    return (factories[0]?.[1] as (port: number) => ReturnType<typeof configSchemaOf>)(spec.port);
  }
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const { serviceConfigSchema } = require('../../libs/service/src/config') as { serviceConfigSchema: (port: number) => ReturnType<typeof configSchemaOf> };
  return serviceConfigSchema(spec.port);
}

/** Variables a service cannot start without: in its schema, neither optional nor defaulted. */
export const requiredVariables = (spec: ServiceSpec): string[] =>
  Object.entries(configSchemaOf(spec).shape)
    .filter(([, field]) => !field.safeParse(undefined).success)
    .map(([name]) => name)
    .sort();

/* ----------------------------------------------------------------- compose, workflow */

export interface ComposeService {
  image?: string;
  entrypoint?: string[] | string;
  build?: { context?: string; target?: string; args?: Record<string, string> } | string;
  command?: string[] | string;
  environment?: Record<string, string | number | null> | string[];
  env_file?: string[] | string;
  ports?: string[];
  volumes?: Array<string | { type: string; source?: string; target: string }>;
  healthcheck?: { test: string[] | string };
  depends_on?: Record<string, { condition: string }> | string[];
  read_only?: boolean;
  user?: string;
  stop_grace_period?: string;
}
export interface ComposeFile {
  services: Record<string, ComposeService>;
  volumes?: Record<string, unknown>;
}

export const readText = (relative: string): string => readFileSync(path.join(ROOT, relative), 'utf8');

export const compose = (): ComposeFile => parse(readText('docker-compose.yml'), { merge: true }) as ComposeFile;

/** Compose's interpolation with nothing set in the environment: `${VAR:-default}` → default, `$$` → `$`. */
export function interpolate(value: string): string {
  return value.replace(/\$\$|\$\{([A-Za-z_][A-Za-z0-9_]*)(?::?-([^}]*))?\}/g, (whole, name?: string, fallback?: string) => {
    if (name === undefined) return '$';
    if (fallback === undefined) throw new Error(`compose variable ${name} has no default: ${whole}`);
    return fallback;
  });
}

function dotenv(file: string): Record<string, string> {
  const env: Record<string, string> = {};
  for (const line of readFileSync(path.join(ROOT, file), 'utf8').split('\n')) {
    const match = /^\s*([A-Za-z_][A-Za-z0-9_]*)=(.*)$/.exec(line);
    if (match?.[1]) env[match[1]] = (match[2] ?? '').trim();
  }
  return env;
}

/** The environment compose gives a service's container (env_file, then environment). */
export function composeEnv(service: ComposeService): Record<string, string> {
  const env: Record<string, string> = {};
  const files = service.env_file === undefined ? [] : Array.isArray(service.env_file) ? service.env_file : [service.env_file];
  for (const file of files) Object.assign(env, dotenv(file));
  const entries: Array<[string, string]> = Array.isArray(service.environment)
    ? service.environment.map((e) => {
        const [k, ...rest] = e.split('=');
        return [k ?? '', rest.join('=')];
      })
    : Object.entries(service.environment ?? {}).map(([k, v]) => [k, v === null ? '' : String(v)]);
  for (const [k, v] of entries) env[k] = interpolate(v);
  return env;
}

export const buildArg = (service: ComposeService, arg: string): string | undefined =>
  typeof service.build === 'object' ? service.build.args?.[arg] : undefined;

export interface WorkflowStep {
  name?: string;
  uses?: string;
  run?: string;
  with?: Record<string, unknown>;
  if?: string;
}
export interface WorkflowJob {
  'runs-on': string;
  services?: Record<string, { image: string; env?: Record<string, string>; ports?: string[] }>;
  strategy?: { matrix: Record<string, unknown> };
  steps: WorkflowStep[];
}
export interface Workflow {
  name: string;
  on: Record<string, unknown> | string[];
  jobs: Record<string, WorkflowJob>;
}

export const WORKFLOW = '.github/workflows/ci.yml';
export const workflow = (): Workflow => parse(readText(WORKFLOW)) as Workflow;
