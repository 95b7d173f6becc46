/**
 * The `restricted` Pod Security Standard, which k8s/namespace.yaml has Pod Security Admission
 * enforce: every rendered pod template is checked against the profile's rules (baseline's and
 * restricted's, https://kubernetes.io/docs/concepts/security/pod-security-standards/), so a
 * manifest the API server would refuse fails here first.
 */
import { restrictedViolations } from './pod-security';
import { named, podTemplates, renderK8s, type K8sObject, type PodTemplate } from './support';

const ownerName = (owner: K8sObject) => `${owner.kind} ${owner.metadata.name}`;

describe('Pod Security: the restricted profile', () => {
  it('is enforced on the namespace, and audited and warned about', () => {
    const labels = named('Namespace', 'orderflow').metadata.labels ?? {};
    expect(labels).toMatchObject({
      'pod-security.kubernetes.io/enforce': 'restricted',
      'pod-security.kubernetes.io/audit': 'restricted',
      'pod-security.kubernetes.io/warn': 'restricted',
    });
  });

  it('renders pod templates for every kind of workload (gateway, broker, database, services, Jobs)', () => {
    const owners = podTemplates().map(({ owner }) => owner.kind);
    expect(new Set(owners)).toEqual(new Set(['Deployment', 'StatefulSet', 'Job']));
  });

  it.each(podTemplates(renderK8s()).map(({ owner, template }) => [ownerName(owner), template] as const))('%s complies', (_name, template) => {
    expect(restrictedViolations(template)).toEqual([]);
  });

  it('the check finds what the profile forbids (the check can fail)', () => {
    const { template } = podTemplates().find(({ owner }) => owner.metadata.name === 'gateway') ?? { template: undefined };
    const broken = structuredClone(template) as PodTemplate;
    const spec = broken.spec as unknown as Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any
    spec.hostNetwork = true;
    spec.volumes = [...(spec.volumes ?? []), { name: 'host', hostPath: { path: '/var/run' } }];
    delete spec.securityContext.seccompProfile;
    spec.containers[0].securityContext = { ...spec.containers[0].securityContext, allowPrivilegeEscalation: true, capabilities: { add: ['NET_ADMIN'] } };
    expect(restrictedViolations(broken)).toEqual([
      'hostNetwork: true',
      'volume host: hostPath volumes are not allowed',
      'container gateway: allowPrivilegeEscalation must be false',
      'container gateway: seccompProfile must be RuntimeDefault or Localhost (pod or container)',
      'container gateway: capabilities must drop ALL',
      'container gateway: capability NET_ADMIN may not be added',
    ]);
  });
});
