/**
 * The Deployments that take traffic are autoscaled on CPU (HorizontalPodAutoscaler, in the
 * base), without fighting `kubectl apply` over the replica count, and the database has room for
 * every Deployment at its ceiling.
 */
import { connectionBudget } from './capacity';
import { PROCESSES, appDeployment, named, ofKind, renderK8s, type Container, type K8sObject, type Workload } from './support';

interface Hpa extends K8sObject {
  spec: {
    scaleTargetRef: { apiVersion: string; kind: string; name: string };
    minReplicas?: number;
    maxReplicas: number;
    metrics?: Array<{ type: string; resource?: { name: string; target: { type: string; averageUtilization?: number } } }>;
    behavior?: { scaleDown?: { stabilizationWindowSeconds?: number }; scaleUp?: { stabilizationWindowSeconds?: number } };
  };
}

const interactive = PROCESSES.filter((p) => p.lanes === 'interactive').map((p) => p.name);

describe.each(interactive.map((n) => [n] as const))('%s HorizontalPodAutoscaler', (name) => {
  const hpa = named<Hpa>('HorizontalPodAutoscaler', name);
  const { deployment, container } = appDeployment(name);

  it('targets the Deployment, between 2 and 6 replicas', () => {
    expect(hpa.spec.scaleTargetRef).toEqual({ apiVersion: 'apps/v1', kind: 'Deployment', name: deployment.metadata.name });
    expect(hpa.spec.minReplicas).toBe(2);
    expect(hpa.spec.maxReplicas).toBe(6);
  });

  it('scales on CPU utilization, which the container\'s CPU request makes measurable', () => {
    expect(hpa.spec.metrics).toEqual([{ type: 'Resource', resource: { name: 'cpu', target: { type: 'Utilization', averageUtilization: expect.any(Number) } } }]);
    expect(container.resources?.requests?.cpu).toBeDefined();
    // Utilization is per container of the pod: every container needs a CPU request.
    for (const c of deployment.spec.template.spec.containers as Container[]) expect(c.resources?.requests?.cpu).toBeDefined();
  });

  it('scales in only after a stable quiet spell, and the Deployment leaves the replica count to it', () => {
    expect(hpa.spec.behavior?.scaleDown?.stabilizationWindowSeconds).toBeGreaterThanOrEqual(120);
    expect(deployment.spec.replicas).toBeUndefined();
  });
});

describe('autoscaling, as a whole', () => {
  it('every HPA targets a Deployment that exists, and only the interactive ones', () => {
    const targets = ofKind<Hpa>('HorizontalPodAutoscaler').map((h) => h.spec.scaleTargetRef.name).sort();
    for (const t of targets) named<Workload>('Deployment', t);
    expect(targets).toEqual([...interactive].sort());
  });

  it('PostgreSQL allows the connections of every Deployment at its ceiling, rollouts and Jobs included', () => {
    const objects = renderK8s();
    const postgres = named<Workload>('StatefulSet', 'postgres', objects).spec.template.spec.containers[0] as Container;
    const maxConnections = Number(/max_connections=(\d+)/.exec((postgres.args ?? []).join(' '))?.[1]);
    const budget = connectionBudget(objects, maxConnections);
    expect(budget.needed).toBeLessThanOrEqual(budget.allowed);
  });
});
