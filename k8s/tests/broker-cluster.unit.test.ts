/**
 * RabbitMQ as a 3-node cluster (k8s/rabbitmq/): the nodes can find each other (peer discovery,
 * its RBAC, stable names), share the Erlang cookie from the Secret, keep a majority through a
 * voluntary disruption, never share a machine, and every service knows every node.
 */
import { brokerPasswordKey } from '../tools/rabbitmq-definitions';
import { selects, PROCESSES, appDeployment, containerEnv, generated, named, ofKind, dataOf, type Container, type K8sObject, type ServiceObject, type Workload } from './support';

const sts = named<Workload>('StatefulSet', 'rabbitmq');
const pod = sts.spec.template.spec;
const broker = pod.containers.find((c) => c.name === 'rabbitmq') as Container;
const brokerEnv = containerEnv(broker);
const replicas = sts.spec.replicas ?? 1;
const config = generated('ConfigMap', 'rabbitmq-config');
const secret = dataOf(generated('Secret', 'orderflow-secrets'));

/** rabbitmq.conf-style `key = value` lines of a file in the ConfigMap. */
function conf(file: string): Record<string, string> {
  const text = config.data?.[file];
  if (text === undefined) throw new Error(`rabbitmq-config has no ${file}`);
  return Object.fromEntries(
    text
      .split('\n')
      .map((l) => /^\s*([a-z_.0-9]+)\s*=\s*(.*?)\s*$/.exec(l))
      .filter((m): m is RegExpExecArray => m !== null)
      .map((m) => [m[1], m[2]]),
  );
}

/** Where a ConfigMap file is mounted in the broker container (subPath mounts). */
const mountOf = (file: string): string | undefined => {
  const volume = pod.volumes?.find((v) => v.configMap?.name === config.metadata.name)?.name;
  return broker.volumeMounts?.find((m) => m.name === volume && m.subPath === file)?.mountPath;
};

describe('the RabbitMQ cluster', () => {
  it('runs 3 nodes, started together (a restarted cluster waits for all its nodes), each with its volume', () => {
    expect(replicas).toBe(3);
    expect(sts.spec.podManagementPolicy).toBe('Parallel');
    expect(sts.spec.volumeClaimTemplates?.map((c) => c.metadata.name)).toEqual(['data']);
    expect(broker.volumeMounts).toContainEqual(expect.objectContaining({ name: 'data', mountPath: '/var/lib/rabbitmq' }));
  });

  it('forms the cluster with the Kubernetes peer discovery plugin, over the headless Service', () => {
    expect(config.data?.enabled_plugins?.trim()).toMatch(/^\[.*\]\.$/);
    const plugins = (config.data?.enabled_plugins ?? '').replace(/[[\].\s]/g, '').split(',');
    expect(plugins).toEqual(expect.arrayContaining(['rabbitmq_management', 'rabbitmq_prometheus', 'rabbitmq_peer_discovery_k8s']));
    expect(mountOf('enabled_plugins')).toBe('/etc/rabbitmq/enabled_plugins');
    expect(mountOf('cluster.conf')).toMatch(/^\/etc\/rabbitmq\/conf\.d\/.+\.conf$/);
    const cluster = conf('cluster.conf');
    expect(cluster).toMatchObject({
      'cluster_formation.peer_discovery_backend': 'rabbit_peer_discovery_k8s',
      'cluster_formation.k8s.address_type': 'hostname',
      cluster_partition_handling: 'pause_minority',
    });
    expect(Number(cluster['cluster_formation.target_cluster_size_hint'])).toBe(replicas);

    const headless = named<ServiceObject & { spec: { publishNotReadyAddresses?: boolean } }>('Service', sts.spec.serviceName ?? '');
    expect(headless.spec.clusterIP).toBe('None');
    expect(headless.spec.publishNotReadyAddresses).toBe(true);
    expect(brokerEnv.K8S_SERVICE_NAME).toBe(headless.metadata.name);
  });

  it('names each node after its stable DNS name, the one peer discovery builds from the endpoints', () => {
    expect(brokerEnv.RABBITMQ_USE_LONGNAME).toBe('true');
    // containerEnv shows fieldRefs as <fieldPath>; the kubelet substitutes the pod's name and namespace.
    const host = `<metadata.name>${brokerEnv.K8S_HOSTNAME_SUFFIX}`;
    expect(brokerEnv.RABBITMQ_NODENAME).toBe(`rabbit@${host}`);
    expect(brokerEnv.K8S_HOSTNAME_SUFFIX).toBe(`.${sts.spec.serviceName}.<metadata.namespace>`);
  });

  it('may read the endpoints it discovers peers from: its ServiceAccount is bound to a Role that allows it', () => {
    expect(pod.serviceAccountName).toBe('rabbitmq');
    expect(pod.automountServiceAccountToken).toBe(true);
    named<K8sObject>('ServiceAccount', 'rabbitmq');
    type Binding = K8sObject & { subjects: Array<{ kind: string; name: string }>; roleRef: { kind: string; name: string } };
    type RoleObject = K8sObject & { rules: Array<{ apiGroups: string[]; resources: string[]; verbs: string[] }> };
    const roles = ofKind<Binding>('RoleBinding')
      .filter((b) => b.subjects.some((s) => s.kind === 'ServiceAccount' && s.name === pod.serviceAccountName))
      .map((b) => named<RoleObject>(b.roleRef.kind, b.roleRef.name));
    const rules = roles.flatMap((r) => r.rules);
    expect(rules.some((r) => r.apiGroups.includes('') && r.resources.includes('endpoints') && r.verbs.includes('get'))).toBe(true);
    // Nothing beyond what discovery needs.
    expect(rules.flatMap((r) => r.verbs).filter((v) => !['get', 'create'].includes(v))).toEqual([]);
  });

  it('writes the Erlang cookie from the Secret into the node\'s home, owner-only, before the node starts', () => {
    const init = pod.initContainers?.find((c) => c.name === 'erlang-cookie') as Container;
    const ref = init.env?.find((e) => e.valueFrom?.secretKeyRef)?.valueFrom?.secretKeyRef;
    expect(ref?.name).toBe(generated('Secret', 'orderflow-secrets').metadata.name);
    expect(secret[ref?.key ?? '']).toBeTruthy();
    const script = (init.command ?? []).join(' ');
    expect(script).toContain('/var/lib/rabbitmq/.erlang.cookie');
    expect(script).toMatch(/umask 077|chmod 400/);
    expect(init.volumeMounts).toContainEqual(expect.objectContaining({ name: 'data', mountPath: '/var/lib/rabbitmq' }));
    // No cookie in the broker's own environment (deprecated, and visible to every process).
    expect(Object.keys(brokerEnv).filter((k) => /COOKIE/.test(k))).toEqual([]);
  });

  it('keeps a majority through a voluntary disruption: a PodDisruptionBudget of one node, selecting the broker pods', () => {
    const pdb = named<K8sObject & { spec: { maxUnavailable?: number; selector: { matchLabels: Record<string, string> } } }>('PodDisruptionBudget', 'rabbitmq');
    expect(pdb.spec.maxUnavailable).toBe(1);
    expect(selects(pdb.spec.selector.matchLabels, sts.spec.template.metadata.labels)).toBe(true);
    expect(replicas - (pdb.spec.maxUnavailable ?? 0)).toBeGreaterThan(replicas / 2);
  });

  it('never places two nodes on one machine (required anti-affinity on the broker pods)', () => {
    const terms = pod.affinity?.podAntiAffinity?.requiredDuringSchedulingIgnoredDuringExecution ?? [];
    expect(terms.some((t) => t.topologyKey === 'kubernetes.io/hostname' && selects(t.labelSelector?.matchLabels ?? {}, sts.spec.template.metadata.labels))).toBe(true);
  });

  it('exposes the Prometheus plugin\'s port 15692, annotated for scraping, and keeps the management UI', () => {
    expect(broker.ports).toContainEqual({ name: 'prometheus', containerPort: 15692 });
    expect(sts.spec.template.metadata.annotations).toMatchObject({ 'prometheus.io/scrape': 'true', 'prometheus.io/port': '15692' });
    expect(named<ServiceObject>('Service', sts.spec.serviceName ?? '').spec.ports).toContainEqual(expect.objectContaining({ port: 15692 }));
    expect(named<ServiceObject>('Service', 'rabbitmq').spec.ports).toContainEqual(expect.objectContaining({ port: 15672 }));
  });

  it('lets neither liveness restart a paused or booting node, nor a stop take away a quorum', () => {
    expect(broker.livenessProbe?.exec?.command).toEqual(['rabbitmq-diagnostics', '-q', 'ping']);
    expect(broker.lifecycle?.preStop?.exec?.command.slice(0, 2)).toEqual(['rabbitmq-upgrade', 'await_online_quorum_plus_one']);
  });
});

describe.each(PROCESSES.map((p) => [p.name] as const))('%s reaches the broker cluster', (name) => {
  const env = containerEnv(appDeployment(name).container);

  it('through AMQP_URLS, one URL per node by its stable name, with the credentials of AMQP_URL', () => {
    const urls = (env.AMQP_URLS ?? '').split(',').map((u) => new URL(u));
    const single = new URL(env.AMQP_URL ?? '');
    expect(urls.map((u) => u.host)).toEqual(Array.from({ length: replicas }, (_, i) => `${sts.metadata.name}-${i}.${sts.spec.serviceName}:5672`));
    for (const u of urls) expect({ protocol: u.protocol, username: u.username, password: u.password }).toEqual({ protocol: 'amqp:', username: single.username, password: single.password });
    // Its service's own broker user (k8s/rabbitmq/definitions.json), never the operator's.
    const app = PROCESSES.find((p) => p.name === name)!.app;
    expect(decodeURIComponent(single.username)).toBe(app);
    expect(decodeURIComponent(single.username)).not.toBe(secret.RABBITMQ_USER);
    expect(decodeURIComponent(single.password)).toBe(secret[brokerPasswordKey(app)]);
    // Kept for images that predate AMQP_URLS: any ready node, through the Service.
    expect(single.host).toBe('rabbitmq:5672');
  });
});
