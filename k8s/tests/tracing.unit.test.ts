/**
 * k8s/components/tracing: the service processes export their traces to a collector in another
 * namespace. Rendered as a user's overlay lists it: every service process gets an OTLP endpoint
 * that turns tracing on (read as the processes read it: @orderflow/tracing's settings), and the
 * NetworkPolicies, evaluated over the rendered pods, let exactly those processes reach the
 * collector's OTLP/HTTP port — which the base denies, so that without the component a process
 * configured for a collector would export nothing.
 */
import path from 'node:path';
import { tracingSettings } from '@orderflow/tracing';
import { evaluate, type Endpoint, type NetworkPolicyObject } from './network-policy';
import { renderOverlay } from './overlay';
import { K8S, PROCESSES, containerEnv, ofKind, podTemplates, renderK8s, type K8sObject } from './support';
import { validate } from './validate';

const TRACING = path.join(K8S, 'components', 'tracing');
const NAMESPACE = 'orderflow';
const ENDPOINT = 'http://tempo.tracing:4318';
/** An overlay pointing the component at a collector of its own in namespace `tracing`, as docs/operations.md shows. */
const OVERLAY_PATCHES = [
  'patches:',
  `  - patch: "{apiVersion: v1, kind: ConfigMap, metadata: {name: orderflow-config, namespace: ${NAMESPACE}}, data: {OTEL_EXPORTER_OTLP_ENDPOINT: '${ENDPOINT}', OTEL_TRACES_SAMPLER: parentbased_traceidratio, OTEL_TRACES_SAMPLER_ARG: '0.1'}}"`,
  '  - target: {kind: NetworkPolicy, name: services-to-trace-collector}',
  '    patch: |-',
  '      - op: replace',
  '        path: /spec/egress/0/to/0/namespaceSelector/matchLabels/kubernetes.io~1metadata.name',
  '        value: tracing',
];

/** Each workload's pod, as the policies see it; `env`: its first container's environment. */
function pods(objects: K8sObject[]): Array<Extract<Endpoint, { kind: 'pod' }> & { env: Record<string, string> }> {
  return podTemplates(objects).map(({ owner, template }, i) => ({
    kind: 'pod' as const,
    name: owner.metadata.name,
    namespace: owner.metadata.namespace ?? NAMESPACE,
    namespaceLabels: { 'kubernetes.io/metadata.name': owner.metadata.namespace ?? NAMESPACE },
    labels: template.metadata.labels ?? {},
    ip: `10.244.0.${i + 1}`,
    ports: [],
    env: containerEnv(template.spec.containers[0]!, objects),
  }));
}

const collectorIn = (namespace: string): Endpoint => ({
  kind: 'pod',
  name: 'otel-collector',
  namespace,
  namespaceLabels: { 'kubernetes.io/metadata.name': namespace },
  labels: { 'app.kubernetes.io/name': 'opentelemetry-collector' },
  ip: '10.244.9.9',
  ports: [{ name: 'otlp-http', port: 4318, protocol: 'TCP' }, { name: 'otlp-grpc', port: 4317, protocol: 'TCP' }],
});
const policies = (objects: K8sObject[]) => ofKind<K8sObject & NetworkPolicyObject>('NetworkPolicy', objects);
const processNames = PROCESSES.map((p) => p.name).sort();
/** The pods that may open a connection to `to`:`port`. */
const reaching = (objects: K8sObject[], to: Endpoint, port: number) =>
  pods(objects)
    .filter((p) => evaluate(policies(objects), p, to, port).allowed)
    .map((p) => p.name)
    .sort();

describe('k8s/components/tracing', () => {
  const objects = renderOverlay([TRACING]);

  it('renders valid objects', () => {
    for (const o of objects) expect(() => validate(o)).not.toThrow();
  });

  it('turns tracing on in every service process (exporter otlp to the collector), and in no other workload', () => {
    const traced = pods(objects).filter((p) => tracingSettings(p.env) !== undefined);
    expect(traced.map((p) => p.name).sort()).toEqual(processNames);
    for (const p of traced) {
      expect(tracingSettings(p.env)).toEqual({ exporters: ['otlp'], protocol: 'http/protobuf' });
      expect(p.env.OTEL_EXPORTER_OTLP_ENDPOINT).toBe('http://otel-collector.observability:4318');
    }
  });

  it('lets every service process, and nothing else of the namespace, reach the collector on 4318 only', () => {
    const collector = collectorIn('observability');
    expect(reaching(objects, collector, 4318)).toEqual(processNames);
    expect(reaching(objects, collector, 4317)).toEqual([]);
    // Another namespace is not the collector's.
    expect(reaching(objects, collectorIn('default'), 4318)).toEqual([]);
  });

  it("an overlay's patches point every process at a collector of its own, in another namespace", () => {
    const patched = renderOverlay([TRACING], OVERLAY_PATCHES);
    const traced = pods(patched).filter((p) => processNames.includes(p.name));
    expect(traced.map((p) => p.name).sort()).toEqual(processNames);
    for (const p of traced) {
      expect(p.env).toMatchObject({ OTEL_EXPORTER_OTLP_ENDPOINT: ENDPOINT, OTEL_TRACES_SAMPLER: 'parentbased_traceidratio', OTEL_TRACES_SAMPLER_ARG: '0.1' });
    }
    expect(reaching(patched, collectorIn('tracing'), 4318)).toEqual(processNames);
    expect(reaching(patched, collectorIn('observability'), 4318)).toEqual([]);
  });
});

describe('the base without the component', () => {
  const objects = renderK8s();

  it('leaves tracing off, and denies every process the collector: the component is what allows it', () => {
    expect(pods(objects).filter((p) => tracingSettings(p.env) !== undefined)).toEqual([]);
    expect(reaching(objects, collectorIn('observability'), 4318)).toEqual([]);
  });
});
