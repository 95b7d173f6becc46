/**
 * docker-compose.yml and the CI workflow: they parse, they build and run the same images as
 * the manifests, compose starts things in the right order, and CI runs the README's command on
 * every Node.js line package.json supports, the Dockerfile's (a maintained LTS) among them.
 */
import { readdirSync } from 'node:fs';
import path from 'node:path';
import { WEB_PARTS } from '../../libs/devstack/src/web';
import { PAYMENT_GATEWAY, SERVICES, ROOT, WORKFLOW, buildArg, compose, ofKind, readText, workflow, type Container, type JobObject, type Workload } from './support';

const README_TEST_COMMAND = 'npm ci && npm test';
/** Every app: the services, and the payment gateway simulator (an image of its own, deployed beside them). */
const APPS = [...SERVICES.map((s) => s.app), PAYMENT_GATEWAY.app].sort();
/** Image repository of an app, as the manifests, compose and the workflow must spell it. */
const imageOf = (app: string): string => `orderflow/${app}`;
const repository = (image: string): string => image.replace(/:[^/:]+$/, '');
const packageJson = (relative = 'package.json') => JSON.parse(readText(relative)) as { version: string; engines?: { node?: string } };

describe('images', () => {
  it('every app folder has a place in the deployment: an image of its own, or the gateway\'s web root', () => {
    const folders = readdirSync(path.join(ROOT, 'apps'), { withFileTypes: true })
      .filter((d) => d.isDirectory())
      .map((d) => d.name)
      .sort();
    // An app built into the gateway's web root (the console) is among its parts' sources.
    const inWebRoot = WEB_PARTS.flatMap((p) => p.sources())
      .map((f) => path.relative(path.join(ROOT, 'apps'), f).split(path.sep)[0] ?? '')
      .filter((app) => app !== '' && !app.startsWith('..'));
    expect(folders).toEqual([...new Set([...APPS, ...inWebRoot])].sort());
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

  it('compose builds each app\'s image under that name, with the Dockerfile\'s APP argument, and the gateway\'s from its target', () => {
    const gatewayTarget = (s: { build?: unknown }) => typeof s.build === 'object' && (s.build as { target?: string }).target === 'gateway';
    const built = Object.values(compose().services).filter((s) => s.build !== undefined && !gatewayTarget(s));
    expect(Object.values(compose().services).filter(gatewayTarget).map((s) => s.image)).toEqual([`orderflow/gateway:${packageJson().version}`]);
    expect(readText('Dockerfile')).toMatch(/^FROM \S+ AS gateway$/m);
    expect(built.length).toBeGreaterThanOrEqual(APPS.length);
    // Tagged with the release, as k8s/kustomization.yaml's `images` (images.unit.test.ts).
    for (const s of built) expect(s.image).toBe(`${imageOf(buildArg(s, 'APP') ?? '?')}:${packageJson().version}`);
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

  it('the workflow builds the gateway\'s image from its target, tagged with the commit and the release', () => {
    const build = Object.values(workflow().jobs)
      .flatMap((j) => j.steps)
      .find((s) => s.uses?.startsWith('docker/build-push-action') && s.with?.target === 'gateway');
    const tags = String(build?.with?.tags ?? '').split('\n').map((t) => t.trim()).filter(Boolean);
    expect(tags).toEqual(['orderflow/gateway:${{ github.sha }}', 'orderflow/gateway:${{ steps.release.outputs.version }}']);
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

  it('publishes the gateway on 8080 and the management UI on 15672 (on whichever host address)', () => {
    const published = (name: string) => (services[name]?.ports ?? []).map((p) => p.replace(/^(\d{1,3}(\.\d{1,3}){3}|\[[^\]]+\]):/, ''));
    expect(published('gateway')).toContain('8080:8080');
    expect(published('rabbitmq')).toContain('15672:15672');
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

/* ----------------------------------------------------------------- Node.js runtime */

/**
 * End of support of the Node.js LTS lines (https://github.com/nodejs/Release): after it a line
 * gets no security fixes. Add a line when it enters LTS (October of its year).
 */
const NODE_END_OF_LIFE: Record<number, string> = { 20: '2026-04-30', 22: '2027-04-30', 24: '2028-04-30', 26: '2029-04-30' };

type Version = [number, number, number];
const parseVersion = (text: string): Version => {
  const [major = NaN, minor = 0, patch = 0] = text.replace(/^v/, '').split('.').map(Number);
  if ([major, minor, patch].some((n) => !Number.isInteger(n))) throw new Error(`not a version: ${text}`);
  return [major, minor, patch];
};
const compare = (a: Version, b: Version): number => a[0] - b[0] || a[1] - b[1] || a[2] - b[2];

/**
 * Whether a version satisfies an `engines` range written with `||`, `^x.y[.z]` and `>=x[.y.z]`
 * (the forms package.json and Prisma use); any other form throws rather than guess.
 */
function satisfies(version: string, range: string): boolean {
  const v = parseVersion(version);
  return range.split('||').some((alternative) => {
    const match = /^\s*(\^|>=)\s*(\d+(?:\.\d+){0,2})\s*$/.exec(alternative);
    if (!match) throw new Error(`engines form not understood: "${alternative.trim()}" in "${range}"`);
    const bound = parseVersion(match[2] as string);
    return match[1] === '^' ? v[0] === bound[0] && compare(v, bound) >= 0 : compare(v, bound) >= 0;
  });
}

describe('the Node.js runtime', () => {
  const engines = packageJson().engines?.node ?? '';
  const job = Object.values(workflow().jobs).find((j) => j.steps.some((s) => s.run?.trim() === README_TEST_COMMAND));
  const matrix = ((job?.strategy?.matrix.node ?? []) as Array<number | string>).map(Number);
  const dockerNode = /^ARG NODE_IMAGE=node:(\d+)[-.\w]*$/m.exec(readText('Dockerfile'));
  const dockerMajor = Number(dockerNode?.[1]);

  it('CI runs the README\'s test command on every line of its matrix, each set up from the matrix', () => {
    // LTS lines only (even majors), each once.
    expect(matrix.length).toBeGreaterThan(1);
    expect(matrix.filter((m) => m % 2 !== 0 || !Number.isInteger(m))).toEqual([]);
    expect(new Set(matrix).size).toBe(matrix.length);
    const steps = job?.steps ?? [];
    const setup = steps.findIndex((s) => s.uses?.startsWith('actions/setup-node') && s.with?.['node-version'] === '${{ matrix.node }}');
    const test = steps.findIndex((s) => s.run?.trim() === README_TEST_COMMAND);
    expect(setup).toBeGreaterThanOrEqual(0);
    expect(setup).toBeLessThan(test);
    // No step skips a line: every step runs on every matrix entry.
    expect(steps.filter((s) => s.if !== undefined).map((s) => s.name ?? s.uses)).toEqual([]);
  });

  it('package.json\'s engines admits exactly the lines CI tests (from their first supported release)', () => {
    const majorsNamed = engines.split('||').map((alternative) => parseVersion(alternative.replace(/[\^>=\s]/g, ''))[0]);
    expect(majorsNamed).toEqual(matrix);
    for (const major of matrix) expect([major, satisfies(`${major}.99.0`, engines)]).toEqual([major, true]);
    // Odd lines are never LTS; what predates the floors is refused.
    for (const version of ['18.20.0', '20.18.0', '21.7.0', '22.11.0', '23.11.0']) expect([version, satisfies(version, engines)]).toEqual([version, false]);
    // …and the machine running these tests is on a supported line.
    expect([process.versions.node, satisfies(process.versions.node, engines)]).toEqual([process.versions.node, true]);
  });

  it('engines admits no Node.js version the pinned Prisma packages refuse', () => {
    for (const name of ['prisma', '@prisma/client']) {
      const theirs = packageJson(`node_modules/${name}/package.json`).engines?.node ?? '>=0';
      for (const version of ['20.18.0', '20.19.0', '22.11.0', '22.12.0', '23.0.0', '24.0.0', '26.0.0']) {
        if (satisfies(version, engines)) expect([name, version, satisfies(version, theirs)]).toEqual([name, version, true]);
      }
    }
  });

  it('the Dockerfile runs a supported LTS line that CI tests and engines admits', () => {
    expect(dockerNode).not.toBeNull();
    expect(matrix).toContain(dockerMajor);
    expect(satisfies(`${dockerMajor}.99.0`, engines)).toBe(true);
    const endOfLife = NODE_END_OF_LIFE[dockerMajor];
    expect({ line: dockerMajor, lts: endOfLife !== undefined }).toEqual({ line: dockerMajor, lts: true });
    // Deliberately dated: the day a line's support ends, this fails and says to move the image on.
    expect({ line: dockerMajor, supportedUntil: endOfLife, supportedToday: new Date() < new Date(`${endOfLife}T23:59:59Z`) }).toEqual({
      line: dockerMajor,
      supportedUntil: endOfLife,
      supportedToday: true,
    });
  });

  it('the engines check refuses forms it does not understand (the check can fail)', () => {
    expect(satisfies('22.12.0', '^20.19 || ^22.12 || >=24')).toBe(true);
    expect(satisfies('22.11.9', '^20.19 || ^22.12 || >=24')).toBe(false);
    expect(() => satisfies('22.0.0', '~22.1')).toThrow(/not understood/);
  });
});
