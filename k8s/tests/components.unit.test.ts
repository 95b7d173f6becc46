/**
 * The optional parts of the deployment, as an overlay enables them: k8s/components/keda
 * (queue-depth autoscaling of the bulk lanes), k8s/components/cloudnative-pg (PostgreSQL run by
 * the CloudNativePG operator, with backups) and both together. Each renders on top of the base,
 * as a user's overlay lists them, every object is valid (KEDA's kinds against @kubernetes-models/keda;
 * CloudNativePG publishes no such model, so the fields used are checked against its
 * documentation below), and the objects fit the base and the code.
 */
import path from 'node:path';
import { selectLanes } from '@orderflow/messaging';
import { ScaledObject } from '@kubernetes-models/keda/keda.sh/v1alpha1/ScaledObject';
import { TriggerAuthentication } from '@kubernetes-models/keda/keda.sh/v1alpha1/TriggerAuthentication';
import { connectionBudget } from './capacity';
import { CLOUDNATIVE_PG, KEDA, renderOverlay } from './overlay';
import {
  PAYMENT_GATEWAY,
  PROCESSES,
  ROOT,
  SERVICES,
  appDeployment,
  containerEnv,
  dataOf,
  generated,
  named,
  ofKind,
  podTemplates,
  renderK8s,
  type Container,
  type DataObject,
  type K8sObject,
  type ServiceObject,
  type Workload,
} from './support';
import { validate } from './validate';

const VARIANTS: Array<[string, () => K8sObject[]]> = [
  ['base + components/keda', () => renderOverlay([KEDA])],
  ['base + components/cloudnative-pg', () => renderOverlay([CLOUDNATIVE_PG])],
  ['base + both components', () => renderOverlay([CLOUDNATIVE_PG, KEDA])],
  // As docs/operations.md tells a user to: real values replace the placeholders in the overlay, after the
  // components; the references inside the operators' objects must follow the new hashed names.
  [
    'an overlay with both components replacing the Secrets',
    () =>
      renderOverlay(
        [CLOUDNATIVE_PG, KEDA],
        [
          // The base's Secret: a generator (it exists before the overlay's generators run).
          'secretGenerator:',
          '  - {name: orderflow-secrets, behavior: merge, literals: [RABBITMQ_PASSWORD=overlay-secret, KEDA_RABBITMQ_HOST=amqp://orderflow:overlay-secret@rabbitmq:5672/%2F]}',
          // The component's Secrets: patches (components are added after the overlay's generators).
          'patches:',
          '  - patch: "{apiVersion: v1, kind: Secret, metadata: {name: orderflow-db-order, namespace: orderflow}, stringData: {password: overlay-order}}"',
          '  - patch: "{apiVersion: v1, kind: Secret, metadata: {name: orderflow-db-backup-credentials, namespace: orderflow}, stringData: {ACCESS_KEY_ID: overlay-key}}"',
        ],
      ),
  ],
];

describe('an overlay replacing the placeholders', () => {
  const overlay = VARIANTS.find(([n]) => n.startsWith('an overlay'))?.[1] ?? (() => []);

  it('reaches the services, the Cluster\'s role and KEDA alike', () => {
    const objects = overlay();
    const env = containerEnv(appDeployment('order-service', objects).container, objects);
    expect(decodeURIComponent(new URL(env.DATABASE_URL ?? '').password)).toBe('overlay-order');
    const cluster = ofKind<Cluster>('Cluster', objects)[0];
    const role = cluster?.spec.managed?.roles?.find((r) => r.name === 'orderflow_order');
    expect(dataOf(named<DataObject>('Secret', role?.passwordSecret?.name ?? '', objects)).password).toBe('overlay-order');
    const auth = ofKind<TriggerAuthSpec>('TriggerAuthentication', objects)[0]?.spec.secretTargetRef?.[0];
    expect(dataOf(named<DataObject>('Secret', auth?.name ?? '', objects))[auth?.key ?? '']).toContain(':overlay-secret@');
  });
});

/** Secret names the operators' objects refer to (kustomize rewrites them through kustomizeconfig.yaml). */
function operatorSecretRefs(objects: K8sObject[]): Array<{ where: string; name: string; key?: string }> {
  const refs: Array<{ where: string; name: string; key?: string }> = [];
  for (const o of objects) {
    const spec = (o as { spec?: Record<string, any> }).spec ?? {}; // eslint-disable-line @typescript-eslint/no-explicit-any
    const where = `${o.kind} ${o.metadata.name}`;
    if (o.kind === 'TriggerAuthentication') for (const r of spec.secretTargetRef ?? []) refs.push({ where, name: r.name, key: r.key });
    if (o.kind === 'Cluster') {
      for (const r of spec.managed?.roles ?? []) if (r.passwordSecret) refs.push({ where, name: r.passwordSecret.name, key: 'password' });
      if (spec.bootstrap?.initdb?.secret) refs.push({ where, name: spec.bootstrap.initdb.secret.name, key: 'password' });
    }
    if (o.kind === 'ObjectStore') for (const r of Object.values<{ name: string; key: string }>(spec.configuration?.s3Credentials ?? {})) refs.push({ where, name: r.name, key: r.key });
  }
  return refs;
}

/* ---------------------------------------------------------------------------- KEDA */

type KedaModel = new (data: never) => { validate(): void };
const KEDA_MODELS: Record<string, KedaModel> = {
  'keda.sh/v1alpha1/ScaledObject': ScaledObject,
  'keda.sh/v1alpha1/TriggerAuthentication': TriggerAuthentication,
};

interface ScaledObjectSpec extends K8sObject {
  spec: {
    scaleTargetRef: { apiVersion?: string; kind?: string; name: string };
    minReplicaCount?: number;
    maxReplicaCount?: number;
    advanced?: { horizontalPodAutoscalerConfig?: { behavior?: { scaleDown?: { stabilizationWindowSeconds?: number } } } };
    triggers: Array<{ type: string; metadata: Record<string, string>; authenticationRef?: { name: string } }>;
  };
}
interface TriggerAuthSpec extends K8sObject {
  spec: { secretTargetRef?: Array<{ parameter: string; name: string; key: string }> };
}

/** The queues a service's bulk lane consumes, from its code: its subscriptions with `lane: 'bulk'`, named by its topology. */
function bulkLaneQueues(app: string): string[] {
  /* eslint-disable @typescript-eslint/no-require-imports */
  const { subscriptions } = require(path.join(ROOT, 'apps', app, 'src', 'handlers.ts')) as { subscriptions: (deps: never) => Record<string, unknown> };
  const { topology } = require(path.join(ROOT, 'apps', app, 'src', 'topology.ts')) as { topology: (prefix?: string) => { service: string; queues: Array<{ name: string }> } };
  /* eslint-enable @typescript-eslint/no-require-imports */
  // Handler factories only close over their dependencies: building them touches nothing.
  const subs = subscriptions({ now: () => new Date(0), successRate: 1 } as never);
  const declared = topology('');
  const queues = Object.keys(selectLanes(subs as never, 'bulk')).map((purpose) => `${declared.service}.${purpose}`);
  for (const q of queues) if (!declared.queues.some((d) => d.name === q)) throw new Error(`${app}: bulk lane consumes ${q}, which its topology does not declare`);
  return queues.sort();
}

describe('components/keda', () => {
  const objects = renderOverlay([KEDA]);
  const scaled = ofKind<ScaledObjectSpec>('ScaledObject', objects);
  const bulk = PROCESSES.filter((p) => p.lanes === 'bulk');

  it('gives every bulk lane a ScaledObject, and only the bulk lanes', () => {
    expect(scaled.map((s) => s.spec.scaleTargetRef.name).sort()).toEqual(bulk.map((p) => p.name).sort());
    for (const s of scaled) expect(s.spec.scaleTargetRef.kind ?? 'Deployment').toBe('Deployment');
  });

  it.each(bulk.map((p) => [p.name, p.app] as const))('%s: triggers on the depth of exactly the queues its lane consumes (from the code)', (name, app) => {
    const s = scaled.find((o) => o.spec.scaleTargetRef.name === name) as ScaledObjectSpec;
    expect(s.spec.triggers.map((t) => t.metadata.queueName).sort()).toEqual(bulkLaneQueues(app));
    for (const t of s.spec.triggers) {
      expect(t.type).toBe('rabbitmq');
      expect(t.metadata).toMatchObject({ mode: 'QueueLength', protocol: 'amqp' });
      expect(Number(t.metadata.value)).toBeGreaterThan(0);
      expect(t.metadata.host).toBeUndefined(); // credentials only through the TriggerAuthentication
      named<TriggerAuthSpec>('TriggerAuthentication', t.authenticationRef?.name ?? '', objects);
    }
  });

  it('leaves the bulk lanes\' replica count to KEDA, between 1 and a ceiling, scaling in slowly', () => {
    for (const s of scaled) {
      expect(named<Workload>('Deployment', s.spec.scaleTargetRef.name, objects).spec.replicas).toBeUndefined();
      expect(s.spec.minReplicaCount).toBe(1);
      expect(s.spec.maxReplicaCount).toBeGreaterThan(1);
      expect(s.spec.advanced?.horizontalPodAutoscalerConfig?.behavior?.scaleDown?.stabilizationWindowSeconds).toBeGreaterThanOrEqual(120);
    }
    // The interactive Deployments keep their CPU autoscalers, untouched.
    for (const p of PROCESSES.filter((x) => x.lanes === 'interactive')) named('HorizontalPodAutoscaler', p.name, objects);
  });

  it('connects with the Secret\'s broker user, to the broker Service\'s AMQP port, in the vhost "/"', () => {
    const auth = ofKind<TriggerAuthSpec>('TriggerAuthentication', objects);
    expect(auth).toHaveLength(1);
    const ref = auth[0]?.spec.secretTargetRef?.find((r) => r.parameter === 'host');
    const secret = generated('Secret', 'orderflow-secrets', objects);
    expect(ref?.name).toBe(secret.metadata.name); // kustomize followed the hash suffix
    const url = new URL(dataOf(secret)[ref?.key ?? ''] ?? '');
    expect({ user: decodeURIComponent(url.username), password: decodeURIComponent(url.password) }).toEqual({
      user: dataOf(secret).RABBITMQ_USER,
      password: dataOf(secret).RABBITMQ_PASSWORD,
    });
    const amqp = named<ServiceObject>('Service', url.hostname, objects).spec.ports.find((p) => p.name === 'amqp');
    expect({ protocol: url.protocol, port: Number(url.port) }).toEqual({ protocol: 'amqp:', port: amqp?.port });
    expect(decodeURIComponent(url.pathname.slice(1))).toBe('/');
  });

  it('the KEDA models reject an invalid ScaledObject (the check can fail)', () => {
    const broken = structuredClone(scaled[0]) as unknown as { spec: Record<string, unknown> };
    broken.spec.maxReplicaCount = 'many';
    expect(() => new ScaledObject(broken as never).validate()).toThrow();
  });
});

/* --------------------------------------------------------------------- CloudNativePG */

/*
 * The fields used, as CloudNativePG documents them (no npm model exists):
 *   Cluster, Database, ScheduledBackup (postgresql.cnpg.io/v1):
 *     https://cloudnative-pg.io/documentation/current/cloudnative-pg.v1/
 *     https://cloudnative-pg.io/documentation/current/declarative_role_management/  (managed.roles, passwordSecret: basic-auth)
 *     https://cloudnative-pg.io/documentation/current/declarative_database_management/  (Database: name, owner, cluster)
 *     https://cloudnative-pg.io/documentation/current/backup/  (ScheduledBackup: six-field schedule, method plugin)
 *   ObjectStore (barmancloud.cnpg.io/v1), the Barman Cloud plugin that replaces the deprecated
 *   in-tree barmanObjectStore (https://cloudnative-pg.io/documentation/current/appendixes/backup_barmanobjectstore/):
 *     https://cloudnative-pg.io/plugin-barman-cloud/docs/usage  (ObjectStore, .spec.plugins, Backup method plugin)
 *     https://github.com/cloudnative-pg/plugin-barman-cloud/blob/main/web/docs/plugin-barman-cloud.v1.md  (retentionPolicy ^[1-9][0-9]*[dwm]$)
 * A path not listed here (a typo, a field from another version) fails the test.
 */
const DOCUMENTED: Record<string, { paths: string[]; maps?: string[]; enums?: Record<string, string[]> }> = {
  'postgresql.cnpg.io/v1/Cluster': {
    paths: [
      'spec.instances',
      'spec.imageName',
      'spec.primaryUpdateStrategy',
      'spec.storage.size',
      'spec.affinity.enablePodAntiAffinity',
      'spec.affinity.podAntiAffinityType',
      'spec.affinity.topologyKey',
      'spec.postgresql.pg_hba[]',
      'spec.bootstrap.initdb.database',
      'spec.bootstrap.initdb.owner',
      'spec.bootstrap.initdb.secret.name',
      'spec.managed.roles[].name',
      'spec.managed.roles[].ensure',
      'spec.managed.roles[].login',
      'spec.managed.roles[].passwordSecret.name',
      'spec.plugins[].name',
      'spec.plugins[].isWALArchiver',
    ],
    // Free-form maps: PostgreSQL's own settings, the plugin's parameters, core ResourceRequirements.
    maps: ['spec.postgresql.parameters', 'spec.plugins[].parameters', 'spec.resources'],
    enums: {
      'spec.primaryUpdateStrategy': ['unsupervised', 'supervised'],
      'spec.affinity.podAntiAffinityType': ['preferred', 'required'],
      'spec.managed.roles[].ensure': ['present', 'absent'],
    },
  },
  'postgresql.cnpg.io/v1/Database': {
    paths: ['spec.cluster.name', 'spec.name', 'spec.owner', 'spec.ensure'],
    enums: { 'spec.ensure': ['present', 'absent'] },
  },
  'postgresql.cnpg.io/v1/ScheduledBackup': {
    paths: ['spec.schedule', 'spec.immediate', 'spec.backupOwnerReference', 'spec.cluster.name', 'spec.method', 'spec.pluginConfiguration.name'],
    enums: { 'spec.backupOwnerReference': ['none', 'self', 'cluster'], 'spec.method': ['barmanObjectStore', 'volumeSnapshot', 'plugin'] },
  },
  'barmancloud.cnpg.io/v1/ObjectStore': {
    paths: [
      'spec.retentionPolicy',
      'spec.configuration.destinationPath',
      'spec.configuration.endpointURL',
      'spec.configuration.s3Credentials.accessKeyId.name',
      'spec.configuration.s3Credentials.accessKeyId.key',
      'spec.configuration.s3Credentials.secretAccessKey.name',
      'spec.configuration.s3Credentials.secretAccessKey.key',
      'spec.configuration.wal.compression',
      'spec.configuration.data.compression',
    ],
    enums: {
      'spec.configuration.wal.compression': ['bzip2', 'gzip', 'lz4', 'snappy', 'xz', 'zstd'],
      'spec.configuration.data.compression': ['bzip2', 'gzip', 'snappy'],
    },
  },
};

/** Leaf paths of an object's spec (`a.b[].c`), stopping at the documented free-form maps. */
function leafPaths(value: unknown, at: string, maps: string[], out: Map<string, unknown[]>): void {
  if (maps.includes(at)) return;
  if (Array.isArray(value) && value.every((v) => typeof v === 'object' && v !== null)) {
    for (const v of value) leafPaths(v, `${at}[]`, maps, out);
  } else if (typeof value === 'object' && value !== null && !Array.isArray(value)) {
    for (const [k, v] of Object.entries(value)) leafPaths(v, at ? `${at}.${k}` : k, maps, out);
  } else {
    const key = Array.isArray(value) ? `${at}[]` : at;
    out.set(key, [...(out.get(key) ?? []), value]);
  }
}

/** What is wrong with a CloudNativePG object against the documented fields (empty: nothing). */
function undocumented(object: K8sObject): string[] {
  const doc = DOCUMENTED[`${object.apiVersion}/${object.kind}`];
  if (!doc) return [`${object.apiVersion} ${object.kind}: not a documented kind`];
  const paths = new Map<string, unknown[]>();
  leafPaths({ spec: object.spec }, '', doc.maps ?? [], paths);
  const problems = [...paths.keys()].filter((p) => !doc.paths.includes(p)).map((p) => `${object.kind} ${object.metadata.name}: ${p} is not a documented field`);
  for (const [p, allowed] of Object.entries(doc.enums ?? {})) {
    for (const v of paths.get(p) ?? []) if (!allowed.includes(String(v))) problems.push(`${object.kind} ${object.metadata.name}: ${p} = ${String(v)}, not one of ${allowed.join(', ')}`);
  }
  return problems;
}

interface Cluster extends K8sObject {
  spec: {
    instances: number;
    storage: { size: string };
    postgresql?: { parameters?: Record<string, string>; pg_hba?: string[] };
    bootstrap?: { initdb?: { database?: string; owner?: string; secret?: { name: string } } };
    managed?: { roles?: Array<{ name: string; ensure?: string; login?: boolean; passwordSecret?: { name: string } }> };
    plugins?: Array<{ name: string; isWALArchiver?: boolean; parameters?: Record<string, string> }>;
  };
}
interface Database extends K8sObject {
  spec: { cluster: { name: string }; name: string; owner: string };
}
interface ScheduledBackupObject extends K8sObject {
  spec: { schedule: string; cluster: { name: string }; method?: string; pluginConfiguration?: { name: string } };
}
interface ObjectStore extends K8sObject {
  spec: {
    retentionPolicy?: string;
    configuration: { destinationPath: string; s3Credentials?: Record<string, { name: string; key: string }> };
  };
}

/** Every container of the services' workloads that connects to PostgreSQL, with its connection URL. */
function databaseClients(objects: K8sObject[]): Array<{ where: string; url: URL; env: Record<string, string> }> {
  return podTemplates(objects).flatMap(({ owner, template }) =>
    [...(template.spec.initContainers ?? []), ...template.spec.containers].flatMap((c: Container) => {
      const env = containerEnv(c, objects);
      return Object.entries(env)
        .filter(([k, v]) => /(^|_)DATABASE_URL$/.test(k) && v.startsWith('postgresql://'))
        .map(([k, v]) => ({ where: `${owner.kind} ${owner.metadata.name} ${c.name} ${k}`, url: new URL(v), env }));
    }),
  );
}

describe('components/cloudnative-pg', () => {
  const objects = renderOverlay([CLOUDNATIVE_PG]);
  const [cluster, ...otherClusters] = ofKind<Cluster>('Cluster', objects);
  const secretData = (name: string): Record<string, string> => dataOf(named<DataObject>('Secret', name, objects));

  it('replaces the base\'s PostgreSQL with one Cluster of 3 instances, on persistent storage', () => {
    expect(otherClusters).toEqual([]);
    expect(cluster?.apiVersion).toBe('postgresql.cnpg.io/v1');
    expect(cluster?.spec.instances).toBe(3);
    expect(cluster?.spec.storage.size).toMatch(/^\d+Gi$/);
    expect(objects.filter((o) => /^postgres(-headless|-init.*)?$/.test(o.metadata.name)).map((o) => `${o.kind}/${o.metadata.name}`)).toEqual([]);
  });

  it('uses only fields the CloudNativePG documentation lists, with documented values', () => {
    const operatorKinds = objects.filter((o) => /(^|\.)cnpg\.io\//.test(o.apiVersion));
    // A Database per service, and the payment gateway simulator's ledger.
    expect(operatorKinds.map((o) => o.kind).sort()).toEqual(['Cluster', ...SERVICES.map(() => 'Database'), 'Database', 'ObjectStore', 'ScheduledBackup']);
    expect(operatorKinds.flatMap(undocumented)).toEqual([]);
  });

  it('the documentation check fails on a field CloudNativePG does not have (the check can fail)', () => {
    const broken = structuredClone(cluster) as Cluster & { spec: Record<string, unknown> };
    broken.spec.replicas = 3;
    (broken.spec.managed as { roles: Array<Record<string, unknown>> }).roles[0]!.ensure = 'exists';
    expect(undocumented(broken)).toEqual([
      'Cluster orderflow-db: spec.replicas is not a documented field',
      'Cluster orderflow-db: spec.managed.roles[].ensure = exists, not one of present, absent',
    ]);
  });

  it('each service keeps its own database and login role, the role owning the database, its password from the role\'s Secret', () => {
    const roles = cluster?.spec.managed?.roles ?? [];
    const databases = ofKind<Database>('Database', objects);
    for (const spec of SERVICES) {
      const { container } = appDeployment(spec.app, objects);
      const env = containerEnv(container, objects);
      const url = new URL(env.DATABASE_URL ?? '');
      const role = roles.find((r) => r.name === url.username);
      expect({ app: spec.app, ensure: role?.ensure, login: role?.login }).toEqual({ app: spec.app, ensure: 'present', login: true });
      const secret = named<DataObject & { type?: string }>('Secret', role?.passwordSecret?.name ?? '', objects);
      // The shape CloudNativePG reads a role's password from.
      expect(secret.type).toBe('kubernetes.io/basic-auth');
      expect(dataOf(secret)).toEqual({ username: url.username, password: decodeURIComponent(url.password) });
      const database = databases.find((d) => d.spec.name === url.pathname.slice(1));
      expect({ owner: database?.spec.owner, cluster: database?.spec.cluster.name }).toEqual({ owner: url.username, cluster: cluster?.metadata.name });
    }
    // The initdb bootstrap creates one of them, with the same owner and Secret.
    const initdb = cluster?.spec.bootstrap?.initdb;
    const owner = roles.find((r) => r.name === initdb?.owner);
    expect(initdb?.secret?.name).toBe(owner?.passwordSecret?.name);
    expect(databases.some((d) => d.spec.name === initdb?.database && d.spec.owner === initdb?.owner)).toBe(true);
  });

  it('a service role reaches only its own database (pg_hba)', () => {
    const hba = cluster?.spec.postgresql?.pg_hba ?? [];
    expect(hba[0]).toMatch(/^host\s+sameuser\s+all\s+all\s+scram-sha-256$/);
    const rejected = /^host\s+all\s+(\S+)\s+all\s+reject$/.exec(hba[1] ?? '')?.[1]?.split(',') ?? [];
    expect(rejected.sort()).toEqual((cluster?.spec.managed?.roles ?? []).map((r) => r.name).sort());
  });

  it('every service workload (Deployments, their init containers, the migration Jobs) and the payment gateway simulator connects to the Cluster\'s read-write Service', () => {
    const clients = databaseClients(objects);
    expect(clients.length).toBe(PROCESSES.length * 2 + SERVICES.length + 1);
    expect(clients.filter((c) => c.where.startsWith(`Deployment ${PAYMENT_GATEWAY.app} `)).map((c) => c.url.pathname)).toEqual([`/orderflow_${PAYMENT_GATEWAY.database}`]);
    for (const c of clients) expect({ where: c.where, host: c.url.host }).toEqual({ where: c.where, host: `${cluster?.metadata.name}-rw:5432` });
  });

  it('archives WAL and backs up nightly through the Barman Cloud plugin, to a bucket whose key is in a Secret', () => {
    const [plugin, ...others] = cluster?.spec.plugins ?? [];
    expect(others).toEqual([]);
    expect(plugin).toMatchObject({ name: 'barman-cloud.cloudnative-pg.io', isWALArchiver: true });
    const store = named<ObjectStore>('ObjectStore', plugin?.parameters?.barmanObjectName ?? '', objects);
    expect(store.spec.configuration.destinationPath).toMatch(/^s3:\/\//);
    expect(store.spec.retentionPolicy).toMatch(/^[1-9][0-9]*[dwm]$/);
    for (const ref of Object.values(store.spec.configuration.s3Credentials ?? {})) expect(secretData(ref.name)[ref.key]).toBeTruthy();
    expect(Object.keys(store.spec.configuration.s3Credentials ?? {}).sort()).toEqual(['accessKeyId', 'secretAccessKey']);

    const [backup, ...moreBackups] = ofKind<ScheduledBackupObject>('ScheduledBackup', objects);
    expect(moreBackups).toEqual([]);
    // CloudNativePG's schedule has six fields, seconds first.
    expect(backup?.spec.schedule.trim().split(/\s+/)).toHaveLength(6);
    expect(backup?.spec).toMatchObject({ cluster: { name: cluster?.metadata.name }, method: 'plugin', pluginConfiguration: { name: plugin?.name } });
  });
});

/* -------------------------------------------------------------- every variant renders */

describe.each(VARIANTS)('%s', (_name, render) => {
  const objects = render();

  it('every object is valid: core kinds against the Kubernetes schemas, KEDA\'s against its models, CloudNativePG\'s against its documentation', () => {
    const failures = objects.flatMap((o) => {
      try {
        const keda = KEDA_MODELS[`${o.apiVersion}/${o.kind}`];
        if (keda) new keda(o as never).validate();
        else if (/(^|\.)cnpg\.io\//.test(o.apiVersion)) return undocumented(o);
        else validate(o);
        return [];
      } catch (err) {
        return [`${o.kind} ${o.metadata.name}: ${(err as Error).message}`];
      }
    });
    expect(failures).toEqual([]);
  });

  it('puts everything in the orderflow namespace, and every Secret and ConfigMap a container reads exists', () => {
    expect(objects.filter((o) => o.kind !== 'Namespace' && o.metadata.namespace !== 'orderflow').map((o) => `${o.kind}/${o.metadata.name}`)).toEqual([]);
    for (const { template } of podTemplates(objects)) {
      for (const c of [...(template.spec.initContainers ?? []), ...template.spec.containers]) expect(() => containerEnv(c, objects)).not.toThrow();
    }
  });

  it('every Secret the operators\' objects name exists, with the key they read', () => {
    const missing = operatorSecretRefs(objects).filter((r) => {
      const secret = ofKind<DataObject>('Secret', objects).find((s) => s.metadata.name === r.name);
      return !secret || (r.key !== undefined && dataOf(secret)[r.key] === undefined);
    });
    expect(missing).toEqual([]);
  });

  it('PostgreSQL allows the connections of every Deployment at its ceiling, rollouts and Jobs included', () => {
    const cluster = ofKind<Cluster>('Cluster', objects)[0];
    const postgres = ofKind<Workload>('StatefulSet', objects).find((s) => s.metadata.name === 'postgres');
    const maxConnections = cluster
      ? Number(cluster.spec.postgresql?.parameters?.max_connections)
      : Number(/max_connections=(\d+)/.exec(((postgres?.spec.template.spec.containers[0] as Container | undefined)?.args ?? []).join(' '))?.[1]);
    const budget = connectionBudget(objects, maxConnections);
    expect(budget.needed).toBeLessThanOrEqual(budget.allowed);
  });

  it('keeps the base\'s broker cluster and services as they are', () => {
    // Generated names differ by their hash only where an overlay changed the content.
    const unhashed = (o: unknown) => JSON.parse(JSON.stringify(o).replace(/(orderflow-secrets|rabbitmq-config)-[a-z0-9]{10}\b/g, '$1')) as unknown;
    expect(unhashed(named<Workload>('StatefulSet', 'rabbitmq', objects).spec)).toEqual(unhashed(named<Workload>('StatefulSet', 'rabbitmq').spec));
    expect(ofKind('Deployment', objects).map((d) => d.metadata.name).sort()).toEqual(ofKind('Deployment', renderK8s()).map((d) => d.metadata.name).sort());
  });
});
