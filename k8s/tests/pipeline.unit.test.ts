/**
 * docker-compose.yml and the CI workflow: they parse, they build and run the same images as
 * the manifests, compose starts things in the right order, and CI runs the README's command.
 */
import { readdirSync } from 'node:fs';
import path from 'node:path';
import { SERVICES, ROOT, WORKFLOW, buildArg, compose, ofKind, readText, workflow, type Container, type JobObject, type Workload } from './support';

const README_TEST_COMMAND = 'npm ci && npm test';
const APPS = SERVICES.map((s) => s.app).sort();
/** Image repository of an app, as the manifests, compose and the workflow must spell it. */
const imageOf = (app: string): string => `orderflow/${app}`;
const repository = (image: string): string => image.replace(/:[^/:]+$/, '');

describe('images', () => {
  it('every app folder has a place in the deployment', () => {
    const folders = readdirSync(path.join(ROOT, 'apps'), { withFileTypes: true })
      .filter((d) => d.isDirectory())
      .map((d) => d.name)
      .sort();
    expect(folders).toEqual(APPS);
  });

  it('Kubernetes runs orderflow/<app> for each app\'s pods, its init container and its migration Job', () => {
    const used = new Map<string, Set<string>>();
    const note = (owner: string, c: Container) => used.set(owner, new Set([...(used.get(owner) ?? []), repository(c.image)]));
    for (const d of ofKind<Workload>('Deployment').filter((d) => APPS.includes(d.metadata.name))) {
      for (const c of [...d.spec.template.spec.containers, ...(d.spec.template.spec.initContainers ?? [])]) note(d.metadata.name, c);
    }
    for (const spec of SERVICES) {
      const job = ofKind<JobObject>('Job').find((j) => j.metadata.name === `${spec.database}-migrate`);
      for (const c of job?.spec.template.spec.containers ?? []) note(spec.app, c);
    }
    expect(Object.fromEntries([...used].map(([k, v]) => [k, [...v]]))).toEqual(Object.fromEntries(APPS.map((a) => [a, [imageOf(a)]])));
  });

  it('compose builds each app\'s image under that name, with the Dockerfile\'s APP argument', () => {
    const built = Object.values(compose().services).filter((s) => s.build !== undefined);
    expect(built.length).toBeGreaterThanOrEqual(APPS.length);
    for (const s of built) expect(s.image).toBe(imageOf(buildArg(s, 'APP') ?? '?'));
    expect([...new Set(built.map((s) => buildArg(s, 'APP')))].sort()).toEqual(APPS);
    expect(readText('Dockerfile')).toMatch(/^ARG APP$/m);
  });

  it('the workflow builds an image for every app, tagged with the same name', () => {
    const job = workflow().jobs.image;
    expect((job?.strategy?.matrix.app as string[] | undefined)?.slice().sort()).toEqual(APPS);
    const build = job?.steps.find((s) => s.uses?.startsWith('docker/build-push-action'));
    expect(build?.with?.['build-args']).toBe('APP=${{ matrix.app }}');
    const tags = String(build?.with?.tags ?? '').split('\n').map((t) => t.trim()).filter(Boolean);
    expect(tags.length).toBeGreaterThan(0);
    for (const tag of tags) expect(repository(tag)).toBe(imageOf('${{ matrix.app }}'));
  });
});

describe('docker-compose.yml', () => {
  const services = compose().services;
  const deps = (name: string): Record<string, { condition: string }> => (services[name]?.depends_on ?? {}) as Record<string, { condition: string }>;

  it('parses, with health checks on the broker, the database, the services and the gateway', () => {
    for (const name of ['postgres', 'rabbitmq', 'gateway', ...SERVICES.map((s) => s.app)]) {
      expect([name, services[name]?.healthcheck?.test]).toEqual([name, expect.anything()]);
    }
  });

  it('runs each migration once, to completion, before its service, and the gateway after the services', () => {
    for (const spec of SERVICES) {
      const service = deps(spec.app);
      const migrations = Object.entries(service).filter(([, d]) => d.condition === 'service_completed_successfully');
      expect(migrations).toHaveLength(1);
      const [migration] = migrations[0] ?? [];
      expect(services[migration ?? '']?.command).toEqual(['node', 'libs/migrate/dist/cli.js', 'deploy', spec.database]);
      expect(buildArg(services[migration ?? ''] ?? {}, 'APP')).toBe(spec.app);
      expect(deps(migration ?? '').postgres?.condition).toBe('service_healthy');
      expect(service.rabbitmq?.condition).toBe('service_healthy');
      expect(deps('gateway')[spec.app]?.condition).toBe('service_healthy');
    }
  });

  it('runs the services read-only, as the image\'s non-root user, with time to drain', () => {
    for (const spec of SERVICES) {
      const service = services[spec.app];
      expect(service?.read_only).toBe(true);
      expect(service?.user ?? 'image default (USER 1000:1000)').not.toMatch(/^(0|root)\b/);
      expect(parseInt(service?.stop_grace_period ?? '10s', 10)).toBeGreaterThan(20);
    }
    expect(readText('Dockerfile')).toMatch(/^USER 1000:1000$/m);
  });

  it('publishes the gateway on 8080 and the management UI on 15672', () => {
    expect(services.gateway?.ports).toContain('8080:8080');
    expect(services.rabbitmq?.ports).toContain('15672:15672');
  });
});

describe(WORKFLOW, () => {
  const wf = workflow();

  it('runs on push and pull request', () => {
    expect(Object.keys(wf.on)).toEqual(expect.arrayContaining(['push', 'pull_request']));
  });

  it('runs the README\'s test command against PostgreSQL 15 and RabbitMQ 3 with the management UI', () => {
    expect(readText('README.md')).toContain(README_TEST_COMMAND);
    const job = Object.values(wf.jobs).find((j) => j.steps.some((s) => s.run?.trim() === README_TEST_COMMAND));
    expect(job).toBeDefined();
    expect(job?.services?.postgres?.image).toBe('postgres:15');
    expect(job?.services?.rabbitmq?.image).toBe('rabbitmq:3-management');
    expect(job?.services?.postgres?.ports).toContain('5432:5432');
    expect(job?.services?.rabbitmq?.ports).toContain('5672:5672');
    // The tests connect as postgres without a password (README defaults).
    expect(job?.services?.postgres?.env?.POSTGRES_HOST_AUTH_METHOD).toBe('trust');
  });

  it('provides rabbitmqctl, which the tests call, before running them', () => {
    const job = Object.values(wf.jobs).find((j) => j.steps.some((s) => s.run?.trim() === README_TEST_COMMAND));
    const steps = job?.steps ?? [];
    const provide = steps.findIndex((s) => /rabbitmqctl/.test(s.run ?? '') && /GITHUB_PATH/.test(s.run ?? ''));
    const test = steps.findIndex((s) => s.run?.trim() === README_TEST_COMMAND);
    expect(provide).toBeGreaterThanOrEqual(0);
    expect(provide).toBeLessThan(test);
  });
});
