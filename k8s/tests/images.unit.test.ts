/**
 * Every image the deployment runs is named with a version: never `latest`, never untagged
 * (which means `latest`). What runs is then what was tested, a rollback is a tag, and Renovate
 * (renovate.json) can tell that a newer version exists. Our own images carry the release, the
 * version in package.json, in k8s/ and compose alike.
 */
import { CLOUDNATIVE_PG, KEDA, renderOverlay } from './overlay';
import { PAYMENT_GATEWAY, SERVICES, compose, interpolate, ofKind, podTemplates, readText, renderK8s, workflow, type K8sObject } from './support';

const RELEASE = (JSON.parse(readText('package.json')) as { version: string }).version;

/** The tag of an image reference (`undefined` when it has none); a digest counts as a pinned version. */
function tagOf(image: string): string | undefined {
  if (/@sha256:[0-9a-f]{64}$/.test(image)) return 'digest';
  const lastSegment = image.slice(image.lastIndexOf('/') + 1);
  const colon = lastSegment.indexOf(':');
  return colon < 0 ? undefined : lastSegment.slice(colon + 1);
}

/** A version: `15`, `3.13-management`, `1.27-alpine`, `24-bookworm-slim`, `0.1.0`; not `latest`, `stable`, `alpine`. */
const isVersionTag = (tag: string | undefined): boolean => tag === 'digest' || (tag !== undefined && /^v?\d+(\.\d+){0,3}(-[a-z0-9][a-z0-9.-]*)?$/i.test(tag));

function unversioned(images: Array<{ where: string; image: string }>): string[] {
  return images.filter((i) => !isVersionTag(tagOf(i.image))).map((i) => `${i.where}: ${i.image}`);
}

/** Every image a rendered object names: pod templates' containers, and CloudNativePG's imageName. */
function renderedImages(objects: K8sObject[]): Array<{ where: string; image: string }> {
  const containers = podTemplates(objects).flatMap(({ owner, template }) =>
    [...(template.spec.initContainers ?? []), ...template.spec.containers].map((c) => ({ where: `${owner.kind} ${owner.metadata.name} ${c.name}`, image: c.image })),
  );
  const clusters = ofKind<K8sObject & { spec: { imageName?: string } }>('Cluster', objects)
    .filter((c) => c.spec.imageName !== undefined)
    .map((c) => ({ where: `Cluster ${c.metadata.name}`, image: c.spec.imageName as string }));
  return [...containers, ...clusters];
}

describe('image tags', () => {
  it.each([
    ['k8s/', () => renderK8s()],
    ['k8s/ + components/keda', () => renderOverlay([KEDA])],
    ['k8s/ + components/cloudnative-pg', () => renderOverlay([CLOUDNATIVE_PG])],
  ])('%s: every image has a version tag', (_name, render) => {
    const images = renderedImages(render());
    expect(images.length).toBeGreaterThan(0);
    expect(unversioned(images)).toEqual([]);
  });

  it('k8s/ runs our images at the release, package.json\'s version', () => {
    const ours = renderedImages(renderK8s()).filter((i) => i.image.startsWith('orderflow/'));
    // One per app, and the gateway's (nginx with the API document, its viewer and the console).
    expect(new Set(ours.map((i) => i.image.replace(/:.*$/, '')))).toEqual(new Set([...SERVICES.map((s) => s.app), PAYMENT_GATEWAY.app, 'gateway'].map((app) => `orderflow/${app}`)));
    expect(ours.filter((i) => tagOf(i.image) !== RELEASE).map((i) => `${i.where}: ${i.image}`)).toEqual([]);
  });

  it('compose builds and runs every image with a version tag, ours at the release', () => {
    const services = Object.entries(compose().services).filter(([, s]) => s.image !== undefined);
    expect(services.length).toBeGreaterThan(0);
    const images = services.map(([name, s]) => ({ where: `compose ${name}`, image: interpolate(s.image as string) }));
    expect(unversioned(images)).toEqual([]);
    expect(images.filter((i) => i.image.startsWith('orderflow/') && tagOf(i.image) !== RELEASE).map((i) => `${i.where}: ${i.image}`)).toEqual([]);
  });

  it('the Dockerfile\'s base images and the workflow\'s images and tags are versions, never latest', () => {
    const dockerfile = readText('Dockerfile');
    const stages = [...dockerfile.matchAll(/^FROM\s+\S+\s+AS\s+(\S+)/gim)].map((m) => m[1]);
    const args = Object.fromEntries([...dockerfile.matchAll(/^ARG\s+(\w+)=(\S+)/gm)].map((m) => [m[1], m[2]]));
    const bases = [...dockerfile.matchAll(/^FROM\s+(?:--platform=\S+\s+)?(\S+)/gim)]
      .map((m) => (m[1] as string).replace(/^\$\{?(\w+)\}?$/, (_w, arg: string) => args[arg] ?? `$${arg}`))
      .filter((image) => !stages.includes(image));
    expect(bases.length).toBeGreaterThan(0);
    expect(unversioned(bases.map((image) => ({ where: 'Dockerfile', image })))).toEqual([]);

    const jobs = Object.entries(workflow().jobs);
    const serviceImages = jobs.flatMap(([job, j]) => Object.entries(j.services ?? {}).map(([name, s]) => ({ where: `${job} service ${name}`, image: s.image })));
    expect(unversioned(serviceImages)).toEqual([]);
    const tags = jobs.flatMap(([, j]) => j.steps.flatMap((s) => String(s.with?.tags ?? '').split('\n').map((t) => t.trim()).filter(Boolean)));
    expect(tags.length).toBeGreaterThan(0);
    expect(tags.filter((t) => tagOf(t) === undefined || tagOf(t) === 'latest')).toEqual([]);
  });

  it('the check refuses latest, no tag and a word for a tag (the check can fail)', () => {
    expect(unversioned(['rabbitmq:latest', 'orderflow/order-service', 'nginx:stable-alpine', 'registry:5000/orderflow/app', 'postgres:15-bookworm'].map((image) => ({ where: 'x', image })))).toEqual([
      'x: rabbitmq:latest',
      'x: orderflow/order-service',
      'x: nginx:stable-alpine',
      'x: registry:5000/orderflow/app',
    ]);
    expect(tagOf(`node@sha256:${'a'.repeat(64)}`)).toBe('digest');
  });
});
