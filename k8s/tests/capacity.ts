/**
 * How many PostgreSQL connections the services may hold at once in a rendered deployment, and
 * how many the server allows: every Deployment at its ceiling (its autoscaler's maximum, else
 * its replicas) plus the one extra pod of a rolling update, each replica holding its pools.
 */
import { PROCESSES, appDeployment, configSchemaOf, containerEnv, named, ofKind, serviceOf, type K8sObject, type Workload } from './support';

type Hpa = K8sObject & { spec: { scaleTargetRef: { kind: string; name: string }; maxReplicas: number } };
type ScaledObject = K8sObject & { spec: { scaleTargetRef: { kind?: string; name: string }; maxReplicaCount?: number } };

/** KEDA's default when a ScaledObject names no maximum. */
const KEDA_DEFAULT_MAX = 100;
/** A migration runs its statements one after another: one connection per Job. */
const PER_MIGRATION_JOB = 1;
/** PostgreSQL's superuser_reserved_connections default: not for the services. */
const SUPERUSER_RESERVED = 3;

/** The most replicas a Deployment may have: its HPA's or ScaledObject's maximum, else its replicas. */
export function ceilingOf(deployment: Workload, objects: K8sObject[]): number {
  const name = deployment.metadata.name;
  const hpa = ofKind<Hpa>('HorizontalPodAutoscaler', objects).find((h) => h.spec.scaleTargetRef.kind === 'Deployment' && h.spec.scaleTargetRef.name === name);
  const scaled = ofKind<ScaledObject>('ScaledObject', objects).find((s) => (s.spec.scaleTargetRef.kind ?? 'Deployment') === 'Deployment' && s.spec.scaleTargetRef.name === name);
  if (hpa && scaled) throw new Error(`Deployment ${name} has both an HPA and a ScaledObject: they would fight`);
  if (hpa) return hpa.spec.maxReplicas;
  if (scaled) return scaled.spec.maxReplicaCount ?? KEDA_DEFAULT_MAX;
  return deployment.spec.replicas ?? 1;
}

/** Connections one replica of a process may hold: its HTTP pool and its messaging pool. */
export function connectionsPerReplica(name: string, objects: K8sObject[]): number {
  const process = PROCESSES.find((p) => p.name === name);
  if (!process) throw new Error(`no process ${name}`);
  const parsed = configSchemaOf(serviceOf(process)).safeParse(containerEnv(appDeployment(name, objects).container, objects));
  if (!parsed.success || !parsed.data) throw new Error(`the environment of ${name} does not parse`);
  return Number(parsed.data.DB_POOL_SIZE) + Number(parsed.data.MESSAGING_POOL_SIZE);
}

export interface ConnectionBudget {
  /** Deployment → connections at its ceiling, rollout surge included. */
  byDeployment: Record<string, number>;
  needed: number;
  allowed: number;
}

export function connectionBudget(objects: K8sObject[], maxConnections: number): ConnectionBudget {
  const byDeployment = Object.fromEntries(
    PROCESSES.map((p) => {
      const deployment = named<Workload>('Deployment', p.name, objects);
      const surge = Number(deployment.spec.strategy?.rollingUpdate?.maxSurge ?? 1);
      return [p.name, (ceilingOf(deployment, objects) + surge) * connectionsPerReplica(p.name, objects)];
    }),
  );
  const jobs = ofKind('Job', objects).length * PER_MIGRATION_JOB;
  const needed = Object.values(byDeployment).reduce((a, b) => a + b, 0) + jobs;
  return { byDeployment, needed, allowed: maxConnections - SUPERUSER_RESERVED };
}
