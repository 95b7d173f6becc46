/**
 * `kubectl apply -k k8s/` renders, every object is valid against the Kubernetes schemas
 * (kubernetes-models: the OpenAPI definitions compiled to validators), and the objects fit
 * together: Services select pods that exist, probes and ports match what the code serves.
 */
import { PROBE_PATHS } from '../../libs/http/src/probes';
import { validate } from './validate';
import {
  PROCESSES,
  SERVICES,
  appDeployment,
  containerEnv,
  generated,
  named,
  ofKind,
  podTemplates,
  portNumber,
  readText,
  renderK8s,
  selects,
  type Container,
  type JobObject,
  type K8sObject,
  type ServiceObject,
  type Workload,
} from './support';

const NAMESPACE = 'orderflow';

describe('kubectl kustomize k8s/', () => {
  it('renders the whole stack: namespace, broker, database, five services, migrations, gateway', () => {
    const kinds = renderK8s().map((o) => `${o.kind}/${o.metadata.name.replace(/-[a-z0-9]{10}$/, '')}`);
    expect(kinds).toEqual(
      expect.arrayContaining([
        `Namespace/${NAMESPACE}`,
        'StatefulSet/rabbitmq',
        'PodDisruptionBudget/rabbitmq',
        'ServiceAccount/rabbitmq',
        'StatefulSet/postgres',
        'Deployment/gateway',
        'Service/gateway',
        'Deployment/payment-gateway',
        'Service/payment-gateway',
        'Secret/orderflow-secrets',
        'ConfigMap/orderflow-config',
        ...SERVICES.flatMap((s) => [`Service/${s.app}`, `Job/${s.database}-migrate`]),
        // Every process npm start runs is a Deployment: each service, and each bulk lane.
        ...PROCESSES.flatMap((p) => [`Deployment/${p.name}`, `PodDisruptionBudget/${p.name}`]),
        // Each Deployment that takes traffic is autoscaled.
        ...PROCESSES.filter((p) => p.lanes === 'interactive').map((p) => `HorizontalPodAutoscaler/${p.name}`),
      ]),
    );
  });

  it('every rendered object is valid against the Kubernetes schema of its kind', () => {
    const failures = renderK8s().flatMap((o) => {
      try {
        validate(o);
        return [];
      } catch (err) {
        return [`${o.kind} ${o.metadata.name}: ${(err as Error).message}`];
      }
    });
    expect(failures).toEqual([]);
  });

  it('the schema validation rejects an invalid object (the check can fail)', () => {
    const { deployment } = appDeployment('order-service');
    const broken = structuredClone(deployment);
    const container = broken.spec.template.spec.containers[0] as unknown as Record<string, unknown>;
    container.ports = [{ name: 'http', containerPort: '8081' }];
    container.resources = { limits: { memory: 'lots' } };
    expect(() => validate(broken)).toThrow(/containerPort must be integer/);
  });

  it('everything but the namespace itself lives in the orderflow namespace', () => {
    const elsewhere = renderK8s()
      .filter((o) => o.kind !== 'Namespace' && o.metadata.namespace !== NAMESPACE)
      .map((o) => `${o.kind}/${o.metadata.name}`);
    expect(elsewhere).toEqual([]);
  });
});

describe('Services and selectors', () => {
  it('every Service selects the pods of a workload, on a port those pods expose', () => {
    const problems: string[] = [];
    for (const service of ofKind<ServiceObject>('Service')) {
      const targets = podTemplates().filter(({ template }) => selects(service.spec.selector ?? {}, template.metadata.labels));
      if (targets.length === 0) problems.push(`Service ${service.metadata.name} selects no pods`);
      for (const { owner, template } of targets) {
        if (owner.kind === 'Job') problems.push(`Service ${service.metadata.name} selects the pods of Job ${owner.metadata.name}`);
        const containers = template.spec.containers;
        for (const port of service.spec.ports) {
          const target = port.targetPort ?? port.port;
          const exposed = containers.some((c) => portNumber(target, c) !== undefined && c.ports?.some((p) => p.containerPort === portNumber(target, c)));
          if (!exposed) problems.push(`Service ${service.metadata.name} port ${port.port} → ${target}: no such port on ${owner.kind} ${owner.metadata.name}`);
        }
      }
    }
    expect(problems).toEqual([]);
  });

  it('every workload selector matches its own pod template, and PDBs select a workload', () => {
    const workloads = [...ofKind<Workload>('Deployment'), ...ofKind<Workload>('StatefulSet')];
    for (const w of workloads) {
      expect(selects(w.spec.selector.matchLabels, w.spec.template.metadata.labels)).toBe(true);
    }
    for (const pdb of ofKind<K8sObject & { spec: { selector: { matchLabels: Record<string, string> } } }>('PodDisruptionBudget')) {
      const covered = workloads.filter((d) => selects(pdb.spec.selector.matchLabels, d.spec.template.metadata.labels));
      expect({ pdb: pdb.metadata.name, covered: covered.map((d) => d.metadata.name) }).toEqual({ pdb: pdb.metadata.name, covered: [pdb.metadata.name] });
    }
  });

  it('the StatefulSets have their governing Service and a persistent volume claim', () => {
    for (const name of ['rabbitmq', 'postgres']) {
      const sts = named<Workload>('StatefulSet', name);
      expect(named<ServiceObject>('Service', sts.spec.serviceName ?? '').spec.clusterIP).toBe('None');
      const claims = (sts.spec.volumeClaimTemplates ?? []).map((c) => c.metadata.name);
      const mounted = sts.spec.template.spec.containers.flatMap((c) => c.volumeMounts ?? []).map((m) => m.name);
      expect(claims.length).toBeGreaterThan(0);
      expect(mounted).toEqual(expect.arrayContaining(claims));
    }
  });

  it('the gateway is exposed by a LoadBalancer Service and the management UI on 15672', () => {
    expect(named<ServiceObject>('Service', 'gateway').spec.type).toBe('LoadBalancer');
    expect(named<ServiceObject>('Service', 'rabbitmq').spec.ports.map((p) => p.port)).toEqual(expect.arrayContaining([5672, 15672]));
  });
});

describe.each(PROCESSES.map((p) => [p.name, p] as const))('%s Deployment', (name, spec) => {
  const { deployment, container } = appDeployment(name);
  const pod = deployment.spec.template.spec;
  const env = containerEnv(container);

  it(`runs 2 replicas (at least, when autoscaled) on port ${spec.port}, the port the code serves (PROCESSES)`, () => {
    const hpa = ofKind<K8sObject & { spec: { scaleTargetRef: { kind: string; name: string }; minReplicas?: number } }>('HorizontalPodAutoscaler').find(
      (h) => h.spec.scaleTargetRef.kind === 'Deployment' && h.spec.scaleTargetRef.name === name,
    );
    // An autoscaled Deployment leaves `replicas` to its HPA (a value would reset it at each apply).
    expect({ replicas: deployment.spec.replicas, min: hpa?.spec.minReplicas }).toEqual(hpa ? { replicas: undefined, min: 2 } : { replicas: 2, min: undefined });
    expect(container.ports?.map((p) => p.containerPort)).toEqual([spec.port]);
    expect(env.PORT).toBe(String(spec.port));
  });

  it(`runs the image of ${spec.app}, consuming the lanes npm start gives it (LANES=${spec.lanes ?? 'all'})`, () => {
    // Tagged with the release (package.json's version), never `latest`: images.unit.test.ts.
    expect(container.image).toBe(`orderflow/${spec.app}:${(JSON.parse(readText('package.json')) as { version: string }).version}`);
    expect(env.LANES ?? 'all').toBe(spec.lanes ?? 'all');
  });

  it('probes the code\'s endpoints: startup and liveness on /health, readiness on /ready', () => {
    const probe = (p: Container['livenessProbe']) => ({ path: p?.httpGet?.path, port: portNumber(p?.httpGet?.port, container) });
    expect(probe(container.livenessProbe)).toEqual({ path: '/health', port: spec.port });
    expect(probe(container.startupProbe)).toEqual({ path: '/health', port: spec.port });
    expect(probe(container.readinessProbe)).toEqual({ path: '/ready', port: spec.port });
    expect([...PROBE_PATHS]).toEqual(expect.arrayContaining(['/health', '/ready']));
    // /ready checks for ~2 s itself (libs/http/src/probes.ts): the probe must wait longer.
    expect(container.readinessProbe?.timeoutSeconds).toBeGreaterThan(2);
    // /health fails once a consumer has stayed gone CONSUMER_GONE_LIVENESS_S (it waits for a
    // broker node's failover itself): the probe only confirms it, it adds no long wait of its own.
    const liveness = container.livenessProbe;
    expect((liveness?.periodSeconds ?? 10) * (liveness?.failureThreshold ?? 3)).toBeLessThanOrEqual(60);
  });

  it('has requests and limits for CPU and memory', () => {
    for (const c of [container, ...(pod.initContainers ?? [])]) {
      expect(Object.keys(c.resources?.requests ?? {}).sort()).toEqual(['cpu', 'memory']);
      expect(Object.keys(c.resources?.limits ?? {}).sort()).toEqual(['cpu', 'memory']);
    }
  });

  it('gives SIGTERM time to drain: grace period ≥ SHUTDOWN_TIMEOUT_S + preStop', () => {
    const preStop = container.lifecycle?.preStop;
    const sleep = preStop?.sleep?.seconds ?? Number(preStop?.exec?.command.join(' ').match(/^sleep (\d+)$/)?.[1]);
    expect(sleep).toBeGreaterThan(0);
    const shutdownTimeout = Number(env.SHUTDOWN_TIMEOUT_S);
    expect(shutdownTimeout).toBeGreaterThan(0);
    expect(pod.terminationGracePeriodSeconds).toBeGreaterThanOrEqual(shutdownTimeout + sleep);
  });

  it('runs as non-root on a read-only root filesystem, with a writable /tmp', () => {
    for (const c of [container, ...(pod.initContainers ?? [])]) {
      expect(c.securityContext).toMatchObject({ readOnlyRootFilesystem: true, allowPrivilegeEscalation: false });
    }
    expect(pod.securityContext).toMatchObject({ runAsNonRoot: true });
    expect(pod.securityContext?.runAsUser).toBeGreaterThan(0);
    const tmp = container.volumeMounts?.find((m) => m.mountPath === '/tmp');
    expect(pod.volumes?.find((v) => v.name === tmp?.name)?.emptyDir).toBeDefined();
  });

  it('does not migrate at start: it waits for the migrations its Job applies, once', () => {
    const wait = pod.initContainers?.find((c) => c.name === 'wait-for-migrations');
    expect(wait?.command).toEqual(['node', 'dist/wait-for-migrations.js', spec.database]);
    expect(containerEnv(wait as Container).DATABASE_URL).toBe(env.DATABASE_URL);
    expect(JSON.stringify(container.command ?? [])).not.toMatch(/migrate/);

    const job = named<JobObject>('Job', `${spec.database}-migrate`);
    const [migrate, ...others] = job.spec.template.spec.containers;
    expect(others).toEqual([]);
    expect(job.spec.template.spec.restartPolicy).toMatch(/^(OnFailure|Never)$/);
    expect(migrate?.image).toBe(container.image);
    expect(migrate?.command).toEqual(['node', 'libs/migrate/dist/cli.js', 'deploy', spec.database]);
    // The migrate CLI reads <DATABASE>_DATABASE_URL (libs/migrate/src/discover.ts urlEnvVar).
    const urlVar = `${spec.database.toUpperCase().replace(/[^A-Z0-9]/g, '_')}_DATABASE_URL`;
    expect(containerEnv(migrate as Container)[urlVar]).toBe(env.DATABASE_URL);
  });
});

describe('gateway, broker and database pods', () => {
  it('the gateway runs 2 non-root replicas on a read-only root filesystem', () => {
    const gateway = named<Workload>('Deployment', 'gateway');
    expect(gateway.spec.replicas).toBe(2);
    expect(gateway.spec.template.spec.securityContext).toMatchObject({ runAsNonRoot: true });
    expect(gateway.spec.template.spec.containers[0]?.securityContext).toMatchObject({ readOnlyRootFilesystem: true });
  });

  it('PostgreSQL creates one database per service at init, with the Secret\'s passwords', () => {
    const script = generated('ConfigMap', 'postgres-init').data?.['init-databases.sh'] ?? '';
    const [postgres] = named<Workload>('StatefulSet', 'postgres').spec.template.spec.containers;
    const env = containerEnv(postgres as Container);
    for (const spec of SERVICES) {
      const { container } = appDeployment(spec.app);
      const url = new URL(containerEnv(container).DATABASE_URL ?? '');
      const database = url.pathname.slice(1);
      const line = script.split('\n').find((l) => l.startsWith(`create_database ${database} `));
      expect(line).toBeDefined();
      const passwordVar = /"\$([A-Z_]+)"$/.exec(line ?? '')?.[1] ?? '';
      expect({ database, user: url.username, password: decodeURIComponent(url.password) }).toEqual({ database, user: database, password: env[passwordVar] });
    }
  });
});
