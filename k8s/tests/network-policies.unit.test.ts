/**
 * The NetworkPolicies as the cluster would apply them: the rendered policies evaluated over
 * the rendered pods (network-policy.ts), plus the parties outside the namespace they name or
 * must keep out. The whole reachability table is compared with the intended allow-list, so a
 * connection nobody meant to allow fails the test as surely as a missing one.
 */
import { CLOUDNATIVE_PG, KEDA, renderOverlay } from './overlay';
import { evaluate, inCidr, matchesSelector, reachability, type Endpoint, type ListeningPort, type NetworkPolicyObject, type Protocol } from './network-policy';
import { PAYMENT_GATEWAY, PROCESSES, SERVICES, ofKind, podTemplates, renderK8s, type K8sObject } from './support';

const NAMESPACE = 'orderflow';

/* ------------------------------------------------------------------------- endpoints */

const policiesOf = (objects: K8sObject[]): NetworkPolicyObject[] => ofKind<K8sObject & NetworkPolicyObject>('NetworkPolicy', objects);

function namespaceLabels(objects: K8sObject[]): Record<string, string> {
  const ns = ofKind('Namespace', objects).find((n) => n.metadata.name === NAMESPACE);
  // The API server labels every namespace with its name.
  return { ...ns?.metadata.labels, 'kubernetes.io/metadata.name': NAMESPACE };
}

let nextIp = 1;
const podIp = () => `10.244.${Math.floor(nextIp / 250)}.${(nextIp++ % 250) + 1}`;

const listening = (ports: Array<{ name?: string; containerPort: number; protocol?: string }> = []): ListeningPort[] =>
  ports.map((p) => ({ name: p.name, port: p.containerPort, protocol: (p.protocol ?? 'TCP') as Protocol }));

/** One endpoint per rendered workload (Deployment, StatefulSet, Job), named after it. */
function workloadPods(objects: K8sObject[]): Endpoint[] {
  const nsLabels = namespaceLabels(objects);
  return podTemplates(objects).map(({ owner, template }) => ({
    kind: 'pod' as const,
    name: owner.metadata.name,
    namespace: owner.metadata.namespace ?? NAMESPACE,
    namespaceLabels: nsLabels,
    labels: template.metadata.labels ?? {},
    ip: podIp(),
    ports: template.spec.containers.flatMap((c) => listening(c.ports)),
  }));
}

type PodEndpoint = Extract<Endpoint, { kind: 'pod' }>;
const pod = (name: string, namespace: string, labels: Record<string, string>, ports: ListeningPort[]): PodEndpoint => ({
  kind: 'pod',
  name,
  namespace,
  namespaceLabels: { 'kubernetes.io/metadata.name': namespace },
  labels,
  ip: podIp(),
  ports,
});
const tcp = (port: number, name?: string): ListeningPort => ({ name, port, protocol: 'TCP' });

/** Parties outside the namespace: those the policies name, and some they must keep out. */
const OUTSIDE = {
  kubeDns: pod('kube-dns', 'kube-system', { 'k8s-app': 'kube-dns' }, [{ port: 53, protocol: 'UDP', name: 'dns' }, tcp(53, 'dns-tcp')]),
  prometheus: pod('prometheus', 'monitoring', { 'app.kubernetes.io/name': 'prometheus' }, [tcp(9090, 'web')]),
  // Same labels as our gateway and services, another namespace: selectors must not reach across.
  stranger: pod('other-namespace-pod', 'default', { 'app.kubernetes.io/name': 'gateway', 'app.kubernetes.io/component': 'service' }, [tcp(8081, 'http')]),
  internet: { kind: 'address', name: 'internet', ip: '203.0.113.10', ports: [tcp(443)] } as Endpoint,
  // The `kubernetes` Service's backend: the API server, not a pod.
  apiServer: { kind: 'address', name: 'kube-apiserver', ip: '172.18.0.2', ports: [tcp(443), tcp(6443)] } as Endpoint,
};

/* ----------------------------------------------------------------- intended allow-list */

const processPorts = PROCESSES.map((p) => [p.name, p.port] as const);
/** The processes that charge and refund: the payment service's, both lanes. */
const paymentProcesses = PROCESSES.filter((p) => p.app === 'payment-service').map((p) => p.name);
const simulator = `${PAYMENT_GATEWAY.app}:${PAYMENT_GATEWAY.port}/TCP`;
const migrations = SERVICES.map((s) => `${s.database}-migrate`);
const workloadNames = (objects: K8sObject[]) => workloadPods(objects).map((p) => p.name);
const everyoneOutside = ['internet', 'kube-apiserver', 'kube-dns', 'prometheus', 'other-namespace-pod'];

/** The base's allow-list, derived from the services' specs (libs/devstack/src/services.ts). */
function intendedBase(objects: K8sObject[]): string[] {
  return [
    // Name resolution, for every pod of the namespace.
    ...workloadNames(objects).flatMap((w) => [`${w} → kube-dns:53/UDP`, `${w} → kube-dns:53/TCP`]),
    // The entry point: the gateway's LoadBalancer brings clients from anywhere.
    ...everyoneOutside.map((o) => `${o} → gateway:8080/TCP`),
    // The gateway → each service's API (not the bulk lanes).
    ...SERVICES.map((s) => `gateway → ${s.app}:${s.port}/TCP`),
    // The order service (its API pods) → every service process and bulk lane's HTTP port, itself
    // included: GET /api/admin/system asks each for /ready.
    ...processPorts.map(([name, port]) => `order-service → ${name}:${port}/TCP`),
    // Each service process → the database server and the broker's AMQP port; migrations → the database.
    ...processPorts.flatMap(([name]) => [`${name} → postgres:5432/TCP`, `${name} → rabbitmq:5672/TCP`]),
    ...migrations.map((m) => `${m} → postgres:5432/TCP`),
    // The broker's nodes among themselves: epmd and Erlang distribution.
    'rabbitmq → rabbitmq:4369/TCP',
    'rabbitmq → rabbitmq:25672/TCP',
    // Peer discovery through the API server; until an overlay narrows the block to its address,
    // HTTPS anywhere (the documented trade-off in k8s/network-policies/rabbitmq.yaml).
    'rabbitmq → kube-apiserver:443/TCP',
    'rabbitmq → kube-apiserver:6443/TCP',
    'rabbitmq → internet:443/TCP',
    // Metrics: every service process on its HTTP port, each broker node on 15692.
    ...processPorts.map(([name, port]) => `prometheus → ${name}:${port}/TCP`),
    'prometheus → rabbitmq:15692/TCP',
    // The payment gateway simulator: called by the payment service's processes (nobody else),
    // scraped by Prometheus, and it keeps its ledger in the database server.
    ...paymentProcesses.map((name) => `${name} → ${simulator}`),
    `prometheus → ${simulator}`,
    `${PAYMENT_GATEWAY.app} → postgres:5432/TCP`,
  ].sort();
}

/* ------------------------------------------------------------------------------ base */

describe('NetworkPolicies of the base (k8s/network-policies)', () => {
  const objects = renderK8s();
  const policies = policiesOf(objects);
  const pods = workloadPods(objects);
  const endpoints = [...pods, ...Object.values(OUTSIDE)];
  const find = (name: string): Endpoint => {
    const found = endpoints.find((e) => e.name === name);
    if (!found) throw new Error(`no endpoint ${name}`);
    return found;
  };
  const allowed = (from: string, to: string, port: number, protocol: Protocol = 'TCP') => evaluate(policies, find(from), find(to), port, protocol).allowed;
  const appPods = [...processPorts.map(([name]) => name), ...migrations];

  it('cut off a pod nobody planned for (a debug pod, a new workload): it resolves names, nothing more', () => {
    const newcomer: Endpoint = { ...pod('newcomer', NAMESPACE, { 'app.kubernetes.io/name': 'debug' }, [tcp(8080, 'http')]), namespaceLabels: namespaceLabels(objects) };
    const table = reachability(policies, [...endpoints, newcomer]).filter((line) => line.includes('newcomer'));
    expect(table).toEqual(['newcomer → kube-dns:53/TCP', 'newcomer → kube-dns:53/UDP']);
  });

  it('allow exactly the intended connections, and nothing else', () => {
    expect(reachability(policies, endpoints)).toEqual(intendedBase(objects));
  });

  it.each(SERVICES.map((s) => [s.app, s.port] as const))('the gateway reaches %s on its API port %d', (app, port) => {
    expect(allowed('gateway', app, port)).toBe(true);
  });

  it('the gateway does not reach the bulk lanes, the database or the broker', () => {
    for (const p of PROCESSES.filter((x) => x.lanes === 'bulk')) expect([p.name, allowed('gateway', p.name, p.port)]).toEqual([p.name, false]);
    expect(allowed('gateway', 'postgres', 5432)).toBe(false);
    expect(allowed('gateway', 'rabbitmq', 5672)).toBe(false);
    expect(allowed('gateway', 'rabbitmq', 15672)).toBe(false);
  });

  it('every service process reaches the one PostgreSQL server (which database: the roles decide) and the broker over AMQP', () => {
    // inventory-service → "payment's database" is inventory-service → postgres:5432: one server
    // holds every database, and its roles (one per service, CONNECT revoked from PUBLIC) keep
    // each service out of the others' databases.
    for (const [name] of processPorts) expect([name, allowed(name, 'postgres', 5432), allowed(name, 'rabbitmq', 5672)]).toEqual([name, true, true]);
    for (const m of migrations) expect([m, allowed(m, 'postgres', 5432), allowed(m, 'rabbitmq', 5672)]).toEqual([m, true, false]);
  });

  it('no pod reaches the management UI (15672) or the Erlang ports (4369, 25672) of the broker, but its peers the latter', () => {
    for (const p of [...appPods, 'gateway', 'postgres', ...everyoneOutside]) {
      expect([p, allowed(p, 'rabbitmq', 15672), allowed(p, 'rabbitmq', 4369), allowed(p, 'rabbitmq', 25672)]).toEqual([p, false, false, false]);
    }
    expect([allowed('rabbitmq', 'rabbitmq', 4369), allowed('rabbitmq', 'rabbitmq', 25672), allowed('rabbitmq', 'rabbitmq', 15672)]).toEqual([true, true, false]);
  });

  it('only the payment service\'s processes reach the payment gateway simulator: not Nginx, not the other services, not another namespace', () => {
    for (const name of paymentProcesses) expect([name, allowed(name, PAYMENT_GATEWAY.app, PAYMENT_GATEWAY.port)]).toEqual([name, true]);
    for (const [name] of processPorts.filter(([n]) => !paymentProcesses.includes(n))) expect([name, allowed(name, PAYMENT_GATEWAY.app, PAYMENT_GATEWAY.port)]).toEqual([name, false]);
    for (const other of ['gateway', 'internet', 'other-namespace-pod', ...migrations]) expect([other, allowed(other, PAYMENT_GATEWAY.app, PAYMENT_GATEWAY.port)]).toEqual([other, false]);
    // It calls nobody but its database.
    expect(allowed(PAYMENT_GATEWAY.app, 'payment-service', 8083)).toBe(false);
    expect(allowed(PAYMENT_GATEWAY.app, 'rabbitmq', 5672)).toBe(false);
    expect(allowed(PAYMENT_GATEWAY.app, 'postgres', 5432)).toBe(true);
  });

  it('the services do not call each other, but for the order service asking each process for /ready', () => {
    for (const [name, port] of processPorts) expect([name, allowed('order-service', name, port)]).toEqual([name, true]);
    expect(allowed('order-service', 'inventory-service', 5432)).toBe(false);
    expect(allowed('order-service-bulk', 'order-service', 8081)).toBe(false);
    expect(allowed('order-service-bulk', 'inventory-service-bulk', 8087)).toBe(false);
    expect(allowed('inventory-service', 'order-service', 8081)).toBe(false);
    expect(allowed('order-service', PAYMENT_GATEWAY.app, PAYMENT_GATEWAY.port)).toBe(false);
  });

  it('pods of another namespace reach no service, database or broker, whatever their labels', () => {
    for (const [name, port] of processPorts) expect([name, allowed('other-namespace-pod', name, port)]).toEqual([name, false]);
    expect(allowed('other-namespace-pod', 'postgres', 5432)).toBe(false);
    expect(allowed('other-namespace-pod', 'rabbitmq', 5672)).toBe(false);
    // …and our pods do not reach it either, though it carries our gateway's labels.
    expect(allowed('order-service', 'other-namespace-pod', 8081)).toBe(false);
  });

  it('Prometheus (namespace monitoring) scrapes the services and the broker\'s metrics port only', () => {
    expect(allowed('prometheus', 'order-service-bulk', 8086)).toBe(true);
    expect(allowed('prometheus', 'rabbitmq', 15692)).toBe(true);
    expect(allowed('prometheus', 'rabbitmq', 15672)).toBe(false);
    expect(allowed('prometheus', 'postgres', 5432)).toBe(false);
  });

  it('every pod resolves names (kube-dns, UDP and TCP 53) and nothing but the broker leaves the cluster', () => {
    for (const p of pods) expect([p.name, allowed(p.name, 'kube-dns', 53, 'UDP'), allowed(p.name, 'kube-dns', 53, 'TCP')]).toEqual([p.name, true, true]);
    for (const p of pods.filter((x) => x.name !== 'rabbitmq')) expect([p.name, allowed(p.name, 'internet', 443), allowed(p.name, 'kube-apiserver', 443)]).toEqual([p.name, false, false]);
    expect(allowed('rabbitmq', 'kube-apiserver', 443)).toBe(true);
  });

  it('the table changes when a policy does (the check can fail)', () => {
    // The database open to all: whoever's egress is open (another namespace) gets in; the
    // gateway still does not, its own egress policy keeps it out (both ends must agree).
    const loosened = policies.map((p) => (p.metadata.name === 'postgres' ? { ...p, spec: { ...p.spec, ingress: [{}] } } : p));
    const table = reachability(loosened, endpoints);
    expect(table).toEqual(expect.arrayContaining(['other-namespace-pod → postgres:5432/TCP', 'prometheus → postgres:5432/TCP']));
    expect(table).not.toContain('gateway → postgres:5432/TCP');
    const withoutApis = policies.filter((p) => p.metadata.name !== 'service-apis');
    expect(evaluate(withoutApis, find('gateway'), find('order-service'), 8081).allowed).toBe(false);
  });
});

/* ------------------------------------------------------------------------ components */

describe('NetworkPolicies with components/keda', () => {
  const objects = renderOverlay([KEDA]);
  const policies = policiesOf(objects);
  const pods = workloadPods(objects);
  const rabbitmq = pods.find((p) => p.name === 'rabbitmq') as Endpoint;
  const operator = pod('keda-operator', 'keda', { app: 'keda-operator', 'app.kubernetes.io/name': 'keda-operator' }, [tcp(8080, 'http')]);
  const otherKedaPod = pod('keda-admission-webhooks', 'keda', { 'app.kubernetes.io/name': 'keda-admission-webhooks' }, [tcp(9443)]);

  it('KEDA\'s operator reads the queue depth over AMQP (as the ScaledObjects do), and reaches no other broker port', () => {
    expect(evaluate(policies, operator, rabbitmq, 5672).allowed).toBe(true);
    for (const port of [15672, 4369, 25672, 15692]) expect([port, evaluate(policies, operator, rabbitmq, port).allowed]).toEqual([port, false]);
    expect(evaluate(policies, otherKedaPod, rabbitmq, 5672).allowed).toBe(false);
  });

  it('adds nothing else to the base\'s table', () => {
    const endpoints = [...pods, ...Object.values(OUTSIDE)];
    expect(reachability(policies, endpoints)).toEqual(intendedBase(objects));
  });
});

describe('NetworkPolicies with components/cloudnative-pg', () => {
  const objects = renderOverlay([CLOUDNATIVE_PG]);
  const policies = policiesOf(objects);
  const pods = workloadPods(objects);
  // The operator's pods (not rendered: the operator creates them): instances and their Jobs carry cnpg.io/cluster.
  const instance: Endpoint = {
    ...pod('orderflow-db', NAMESPACE, { 'cnpg.io/cluster': 'orderflow-db', 'cnpg.io/podRole': 'instance' }, [tcp(5432, 'postgresql'), tcp(8000, 'status'), tcp(9187, 'metrics')]),
    namespaceLabels: namespaceLabels(objects),
  };
  const operator = pod('cnpg-operator', 'cnpg-system', { 'app.kubernetes.io/name': 'cloudnative-pg' }, [tcp(9443, 'webhook-server')]);
  const endpoints = [...pods, instance, operator, ...Object.values(OUTSIDE)];

  it('replaces the base\'s postgres policy (no pod of that name is left to select)', () => {
    expect(policies.map((p) => p.metadata.name)).not.toContain('postgres');
  });

  it('allow the services and the migrations into the Cluster, its instances and operator to each other, and nothing else', () => {
    const base = intendedBase(objects).filter((line) => !/→ postgres:/.test(line));
    const cluster = [
      'orderflow-db → kube-dns:53/UDP',
      'orderflow-db → kube-dns:53/TCP',
      ...processPorts.map(([name]) => `${name} → orderflow-db:5432/TCP`),
      ...migrations.map((m) => `${m} → orderflow-db:5432/TCP`),
      `${PAYMENT_GATEWAY.app} → orderflow-db:5432/TCP`,
      'orderflow-db → orderflow-db:5432/TCP',
      'orderflow-db → orderflow-db:8000/TCP',
      'cnpg-operator → orderflow-db:5432/TCP',
      'cnpg-operator → orderflow-db:8000/TCP',
      'prometheus → orderflow-db:9187/TCP',
      // The instance manager's API calls and the Barman Cloud plugin's uploads (HTTPS).
      'orderflow-db → kube-apiserver:443/TCP',
      'orderflow-db → kube-apiserver:6443/TCP',
      'orderflow-db → internet:443/TCP',
      // The gateway is open to all, the operator's pod included.
      'cnpg-operator → gateway:8080/TCP',
    ];
    expect(reachability(policies, endpoints)).toEqual([...base, ...cluster].sort());
  });

  it('the gateway, the broker and other namespaces do not reach the database', () => {
    for (const from of ['gateway', 'rabbitmq']) expect([from, evaluate(policies, endpoints.find((e) => e.name === from) as Endpoint, instance, 5432).allowed]).toEqual([from, false]);
    expect(evaluate(policies, OUTSIDE.stranger, instance, 5432).allowed).toBe(false);
  });
});

/* ------------------------------------------------------------------------- evaluator */

describe('the NetworkPolicy evaluator', () => {
  const ns = (name: string) => ({ 'kubernetes.io/metadata.name': name });
  const a = pod('a', 'one', { role: 'client', tier: 'web' }, [tcp(80, 'http')]);
  const b = pod('b', 'one', { role: 'server' }, [tcp(8080, 'http'), tcp(9000), { port: 53, protocol: 'UDP' }]);
  const c = pod('c', 'two', { role: 'client' }, []);
  const policy = (name: string, namespace: string, spec: NetworkPolicyObject['spec']): NetworkPolicyObject => ({ kind: 'NetworkPolicy', metadata: { name, namespace }, spec });

  it('matches selectors: labels, In, NotIn, Exists, DoesNotExist; {} matches all', () => {
    expect(matchesSelector({}, {})).toBe(true);
    expect(matchesSelector({ matchLabels: { role: 'client' }, matchExpressions: [{ key: 'tier', operator: 'In', values: ['web'] }] }, { role: 'client', tier: 'web' })).toBe(true);
    expect(matchesSelector({ matchExpressions: [{ key: 'tier', operator: 'NotIn', values: ['web'] }] }, { tier: 'web' })).toBe(false);
    expect(matchesSelector({ matchExpressions: [{ key: 'tier', operator: 'NotIn', values: ['web'] }] }, {})).toBe(true);
    expect(matchesSelector({ matchExpressions: [{ key: 'tier', operator: 'Exists' }] }, {})).toBe(false);
    expect(matchesSelector({ matchExpressions: [{ key: 'tier', operator: 'DoesNotExist' }] }, {})).toBe(true);
  });

  it('a pod no policy selects is open; a selected one takes only what a rule allows', () => {
    expect(evaluate([], a, b, 8080).allowed).toBe(true);
    const deny = policy('deny', 'one', { podSelector: { matchLabels: { role: 'server' } } });
    expect(evaluate([deny], a, b, 8080).allowed).toBe(false);
    // policyTypes defaults to Ingress only: the client's egress stays open.
    expect(evaluate([policy('deny-all', 'one', { podSelector: {} })], a, c, 80).allowed).toBe(true);
  });

  it('podSelector alone means the policy\'s namespace; namespaceSelector + podSelector in one peer is AND, two peers OR', () => {
    const and = policy('and', 'one', {
      podSelector: { matchLabels: { role: 'server' } },
      ingress: [{ from: [{ namespaceSelector: { matchLabels: ns('two') }, podSelector: { matchLabels: { role: 'client' } } }] }],
    });
    expect(evaluate([and], c, b, 8080).allowed).toBe(true);
    expect(evaluate([and], a, b, 8080).allowed).toBe(false);
    const podOnly = policy('pod-only', 'one', { podSelector: { matchLabels: { role: 'server' } }, ingress: [{ from: [{ podSelector: { matchLabels: { role: 'client' } } }] }] });
    expect(evaluate([podOnly], a, b, 8080).allowed).toBe(true);
    expect(evaluate([podOnly], c, b, 8080).allowed).toBe(false);
    const or = policy('or', 'one', { podSelector: { matchLabels: { role: 'server' } }, ingress: [{ from: [{ namespaceSelector: { matchLabels: ns('two') } }, { podSelector: { matchLabels: { tier: 'web' } } }] }] });
    expect([evaluate([or], a, b, 8080).allowed, evaluate([or], c, b, 8080).allowed]).toEqual([true, true]);
  });

  it('ports: numbers, ranges, protocols and names resolved on the destination', () => {
    const ports = (p: NetworkPolicyObject['spec']['ingress']) => [policy('p', 'one', { podSelector: { matchLabels: { role: 'server' } }, ingress: p })];
    expect(evaluate(ports([{ ports: [{ port: 'http' }] }]), a, b, 8080).allowed).toBe(true);
    expect(evaluate(ports([{ ports: [{ port: 'http' }] }]), a, b, 9000).allowed).toBe(false);
    expect(evaluate(ports([{ ports: [{ port: 8000, endPort: 9000 }] }]), a, b, 9000).allowed).toBe(true);
    expect(evaluate(ports([{ ports: [{ port: 53 }] }]), a, b, 53, 'UDP').allowed).toBe(false);
    expect(evaluate(ports([{ ports: [{ port: 53, protocol: 'UDP' }] }]), a, b, 53, 'UDP').allowed).toBe(true);
  });

  it('ipBlock: cidr minus except', () => {
    expect(inCidr('10.1.2.3', '10.0.0.0/8')).toBe(true);
    expect(inCidr('11.1.2.3', '10.0.0.0/8')).toBe(false);
    expect(inCidr('203.0.113.10', '0.0.0.0/0')).toBe(true);
    const out = (cidr: string, except?: string[]) => [policy('e', 'one', { podSelector: {}, policyTypes: ['Egress'], egress: [{ to: [{ ipBlock: { cidr, except } }] }] })];
    expect(evaluate(out('203.0.113.0/24'), a, OUTSIDE.internet, 443).allowed).toBe(true);
    expect(evaluate(out('203.0.113.0/24', ['203.0.113.8/29']), a, OUTSIDE.internet, 443).allowed).toBe(false);
  });
});
