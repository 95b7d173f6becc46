/**
 * k8s/components/ingress: the gateway reached over HTTPS through an Ingress, its certificate
 * from cert-manager. Rendered on top of the base as a user's overlay lists it; every object is
 * valid, the Ingress reaches the gateway's Service and port, the controller passes uploads on
 * as the gateway's import route takes them, and the gateway keeps its limits per client.
 */
import { Ingress } from 'kubernetes-models/networking.k8s.io/v1/Ingress';
import {
  containerEnv,
  named,
  ofKind,
  portNumber,
  selects,
  type Container,
  type K8sObject,
  type ServiceObject,
  type Workload,
} from './support';
import { INGRESS, renderOverlay } from './overlay';
import { validate } from './validate';

interface IngressObject extends K8sObject {
  metadata: K8sObject['metadata'] & { annotations?: Record<string, string> };
  spec: {
    ingressClassName?: string;
    tls?: Array<{ hosts?: string[]; secretName?: string }>;
    rules?: Array<{
      host?: string;
      http?: { paths: Array<{ path?: string; pathType: string; backend: { service?: { name: string; port: { name?: string; number?: number } } } }> };
    }>;
  };
}

const gatewayContainer = (objects?: K8sObject[]): Container => named<Workload>('Deployment', 'gateway', objects).spec.template.spec.containers[0] as Container;

describe('components/ingress', () => {
  const objects = renderOverlay([INGRESS]);
  const [ingress, ...others] = ofKind<IngressObject>('Ingress', objects);

  it('every object is valid against the Kubernetes schemas, and in the orderflow namespace', () => {
    const failures = objects.flatMap((o) => {
      try {
        if (o.kind === 'Ingress') new Ingress(o as never).validate();
        else validate(o);
        return [];
      } catch (err) {
        return [`${o.kind} ${o.metadata.name}: ${(err as Error).message}`];
      }
    });
    expect(failures).toEqual([]);
    expect(objects.filter((o) => o.kind !== 'Namespace' && o.metadata.namespace !== 'orderflow').map((o) => `${o.kind}/${o.metadata.name}`)).toEqual([]);
  });

  it('the Ingress model rejects an invalid Ingress (the check can fail)', () => {
    const broken = structuredClone(ingress) as unknown as { spec: { rules: Array<{ http: { paths: Array<Record<string, unknown>> } }> } };
    broken.spec.rules[0]!.http.paths[0]!.pathType = 42;
    expect(() => new Ingress(broken as never).validate()).toThrow();
  });

  it('sends every path of its host to the gateway Service\'s HTTP port, which selects the gateway pods', () => {
    expect(others).toEqual([]);
    const paths = ingress?.spec.rules?.flatMap((r) => r.http?.paths ?? []) ?? [];
    expect(paths.map((p) => [p.path, p.pathType])).toEqual([['/', 'Prefix']]);
    const backend = paths[0]?.backend.service;
    const service = named<ServiceObject>('Service', backend?.name ?? '', objects);
    const port = service.spec.ports.find((p) => p.name === backend?.port.name || p.port === backend?.port.number);
    const container = gatewayContainer(objects);
    expect(portNumber(port?.targetPort, container)).toBe(Number(containerEnv(container, objects).GATEWAY_PORT));
    expect(selects(service.spec.selector ?? {}, named<Workload>('Deployment', 'gateway', objects).spec.template.metadata.labels)).toBe(true);
  });

  it('terminates TLS for its hosts with a certificate cert-manager issues into the named Secret', () => {
    const hosts = ingress?.spec.rules?.map((r) => r.host) ?? [];
    expect(hosts.length).toBeGreaterThan(0);
    expect(ingress?.spec.tls?.flatMap((t) => t.hosts ?? [])).toEqual(hosts);
    expect(ingress?.spec.tls?.[0]?.secretName).toMatch(/^[a-z0-9-]+$/);
    expect(ingress?.metadata.annotations?.['cert-manager.io/cluster-issuer']).toMatch(/^\S+$/);
  });

  it('passes uploads on as the gateway\'s import route takes them: its size cap, streamed, its timeouts', () => {
    const env = containerEnv(gatewayContainer(objects), objects);
    const annotations = ingress?.metadata.annotations ?? {};
    expect(annotations['nginx.ingress.kubernetes.io/proxy-body-size']).toBe(env.GATEWAY_IMPORT_MAX_BODY);
    expect(annotations['nginx.ingress.kubernetes.io/proxy-request-buffering']).toBe('off');
    expect(Number(annotations['nginx.ingress.kubernetes.io/proxy-read-timeout'])).toBeGreaterThanOrEqual(600);
    expect(Number(annotations['nginx.ingress.kubernetes.io/proxy-send-timeout'])).toBeGreaterThanOrEqual(600);
  });

  it('the gateway is reached through the Ingress only, and limits each client by the address the controller forwards', () => {
    expect(named<ServiceObject>('Service', 'gateway', objects).spec.type ?? 'ClusterIP').toBe('ClusterIP');
    expect(containerEnv(gatewayContainer(objects), objects).GATEWAY_TRUSTED_PROXY).toMatch(/^\d+\.\d+\.\d+\.\d+\/\d+$/);
    // Without the component: its own load balancer, and no proxy trusted to name the client.
    expect(named<ServiceObject>('Service', 'gateway').spec.type).toBe('LoadBalancer');
    expect(containerEnv(gatewayContainer()).GATEWAY_TRUSTED_PROXY).toBe('unix:');
    // The load balancer must hand the gateway the client's own address (kube-proxy would put a
    // node's in its place, and every client behind a node would share one limit); a ClusterIP
    // Service may not carry that setting at all.
    expect((named<ServiceObject>('Service', 'gateway').spec as { externalTrafficPolicy?: string }).externalTrafficPolicy).toBe('Local');
    expect((named<ServiceObject>('Service', 'gateway', objects).spec as { externalTrafficPolicy?: string }).externalTrafficPolicy).toBeUndefined();
  });

  it('changes nothing else of the gateway\'s Deployment', () => {
    const withoutTrust = (c: Container) => ({ ...c, env: c.env?.filter((e) => e.name !== 'GATEWAY_TRUSTED_PROXY') });
    expect(withoutTrust(gatewayContainer(objects))).toEqual(withoutTrust(gatewayContainer()));
  });
});
