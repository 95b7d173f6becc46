/**
 * A small evaluator of Kubernetes NetworkPolicy semantics (networking.k8s.io/v1), enough to
 * compute which endpoint may open a connection to which port from rendered manifests:
 * podSelector and namespaceSelector (matchLabels, matchExpressions), ipBlock (IPv4 cidr,
 * except), ports (number or container port name, protocol, endPort), policyTypes and their
 * defaults. A connection passes when the client's egress and the server's ingress both allow
 * it; a pod that no policy of a type selects is not isolated for that type.
 *
 * Where the API leaves a choice to the network plugin, the evaluator takes the permissive one,
 * so that a "denied" here is denied on every plugin: an ipBlock also matches pod addresses
 * (Calico and others do so; the API only says ipBlock is meant for addresses outside the cluster).
 */

export type Protocol = 'TCP' | 'UDP' | 'SCTP';
export type Labels = Record<string, string>;

export interface LabelSelector {
  matchLabels?: Labels;
  matchExpressions?: Array<{ key: string; operator: 'In' | 'NotIn' | 'Exists' | 'DoesNotExist'; values?: string[] }>;
}
export interface PolicyPeer {
  podSelector?: LabelSelector;
  namespaceSelector?: LabelSelector;
  ipBlock?: { cidr: string; except?: string[] };
}
export interface PolicyPort {
  protocol?: Protocol;
  port?: number | string;
  endPort?: number;
}
export interface NetworkPolicyObject {
  kind: string;
  metadata: { name: string; namespace?: string };
  spec: {
    podSelector: LabelSelector;
    policyTypes?: Array<'Ingress' | 'Egress'>;
    ingress?: Array<{ from?: PolicyPeer[]; ports?: PolicyPort[] }>;
    egress?: Array<{ to?: PolicyPeer[]; ports?: PolicyPort[] }>;
  };
}

/** A port a pod listens on (a container port). */
export interface ListeningPort {
  name?: string;
  port: number;
  protocol: Protocol;
}

/** One end of a connection: a pod (in a namespace with labels) or an address outside the cluster's pods. */
export type Endpoint =
  | { kind: 'pod'; name: string; namespace: string; namespaceLabels: Labels; labels: Labels; ip: string; ports: ListeningPort[] }
  | { kind: 'address'; name: string; ip: string; ports: ListeningPort[] };

/** Whether a label selector matches a label set; the empty selector `{}` matches everything. */
export function matchesSelector(selector: LabelSelector, labels: Labels): boolean {
  const byLabels = Object.entries(selector.matchLabels ?? {}).every(([k, v]) => labels[k] === v);
  const byExpressions = (selector.matchExpressions ?? []).every((e) => {
    const has = Object.prototype.hasOwnProperty.call(labels, e.key);
    const value = labels[e.key];
    switch (e.operator) {
      case 'In':
        return has && (e.values ?? []).includes(value as string);
      case 'NotIn':
        return !has || !(e.values ?? []).includes(value as string);
      case 'Exists':
        return has;
      case 'DoesNotExist':
        return !has;
      default:
        throw new Error(`unknown selector operator ${String((e as { operator: unknown }).operator)}`);
    }
  });
  return byLabels && byExpressions;
}

function ipv4(address: string): number {
  const parts = address.split('.').map(Number);
  if (parts.length !== 4 || parts.some((p) => !Number.isInteger(p) || p < 0 || p > 255)) throw new Error(`not an IPv4 address: ${address}`);
  return parts.reduce((n, p) => n * 256 + p, 0);
}

/** Whether an IPv4 address lies in a CIDR block. */
export function inCidr(ip: string, cidr: string): boolean {
  const [base, bitsText] = cidr.split('/');
  const bits = Number(bitsText);
  if (base === undefined || !Number.isInteger(bits) || bits < 0 || bits > 32) throw new Error(`not an IPv4 CIDR: ${cidr}`);
  const size = 2 ** (32 - bits);
  return Math.floor(ipv4(ip) / size) === Math.floor(ipv4(base) / size);
}

/** Whether a policy peer (from/to entry) of a policy in `policyNamespace` matches an endpoint. */
function peerMatches(peer: PolicyPeer, policyNamespace: string, endpoint: Endpoint): boolean {
  if (peer.ipBlock) return inCidr(endpoint.ip, peer.ipBlock.cidr) && !(peer.ipBlock.except ?? []).some((e) => inCidr(endpoint.ip, e));
  if (endpoint.kind !== 'pod') return false;
  const namespaceOk = peer.namespaceSelector ? matchesSelector(peer.namespaceSelector, endpoint.namespaceLabels) : endpoint.namespace === policyNamespace;
  const podOk = peer.podSelector ? matchesSelector(peer.podSelector, endpoint.labels) : true;
  return namespaceOk && podOk;
}

/** Whether a rule's port list admits `port`/`protocol` on the destination (named ports resolve there). */
function portMatches(ports: PolicyPort[] | undefined, destination: Endpoint, port: number, protocol: Protocol): boolean {
  if (!ports || ports.length === 0) return true;
  return ports.some((p) => {
    if ((p.protocol ?? 'TCP') !== protocol) return false;
    if (p.port === undefined) return true;
    if (typeof p.port === 'string') {
      return destination.ports.some((l) => l.name === p.port && l.protocol === protocol && l.port === port);
    }
    return p.endPort === undefined ? p.port === port : port >= p.port && port <= p.endPort;
  });
}

const typesOf = (policy: NetworkPolicyObject): Array<'Ingress' | 'Egress'> =>
  policy.spec.policyTypes ?? (policy.spec.egress ? ['Ingress', 'Egress'] : ['Ingress']);

function selecting(policies: NetworkPolicyObject[], pod: Endpoint, type: 'Ingress' | 'Egress'): NetworkPolicyObject[] {
  if (pod.kind !== 'pod') return [];
  return policies.filter((p) => (p.metadata.namespace ?? 'default') === pod.namespace && typesOf(p).includes(type) && matchesSelector(p.spec.podSelector, pod.labels));
}

export interface Verdict {
  allowed: boolean;
  /** The policies that let the connection out of the client and into the server (empty: not isolated). */
  egress: string[];
  ingress: string[];
}

/** Whether `from` may open a connection to `to` on `port`/`protocol` under these policies. */
export function evaluate(policies: NetworkPolicyObject[], from: Endpoint, to: Endpoint, port: number, protocol: Protocol = 'TCP'): Verdict {
  const egressPolicies = selecting(policies, from, 'Egress');
  const egressAllowing = egressPolicies.filter((p) =>
    (p.spec.egress ?? []).some((rule) => (rule.to === undefined || rule.to.length === 0 || rule.to.some((peer) => peerMatches(peer, p.metadata.namespace ?? 'default', to))) && portMatches(rule.ports, to, port, protocol)),
  );
  const ingressPolicies = selecting(policies, to, 'Ingress');
  const ingressAllowing = ingressPolicies.filter((p) =>
    (p.spec.ingress ?? []).some((rule) => (rule.from === undefined || rule.from.length === 0 || rule.from.some((peer) => peerMatches(peer, p.metadata.namespace ?? 'default', from))) && portMatches(rule.ports, to, port, protocol)),
  );
  const egressOk = egressPolicies.length === 0 || egressAllowing.length > 0;
  const ingressOk = ingressPolicies.length === 0 || ingressAllowing.length > 0;
  return { allowed: egressOk && ingressOk, egress: egressAllowing.map((p) => p.metadata.name), ingress: ingressAllowing.map((p) => p.metadata.name) };
}

/**
 * Every connection the policies allow between these endpoints, to the ports the destination
 * listens on, as `client → server:port/protocol`. An endpoint stands for every replica of its
 * workload: `x → x` is one replica calling another (a pod's connection to itself is never
 * blocked, and not listed). Pairs of which no policy selects either end are left out: those
 * policies have no say in them.
 */
export function reachability(policies: NetworkPolicyObject[], endpoints: Endpoint[]): string[] {
  const governed = (e: Endpoint) => selecting(policies, e, 'Ingress').length > 0 || selecting(policies, e, 'Egress').length > 0;
  const allowed: string[] = [];
  for (const from of endpoints) {
    for (const to of endpoints) {
      if (!governed(from) && !governed(to)) continue;
      for (const l of to.ports) {
        if (evaluate(policies, from, to, l.port, l.protocol).allowed) allowed.push(`${from.name} → ${to.name}:${l.port}/${l.protocol}`);
      }
    }
  }
  return allowed.sort();
}
