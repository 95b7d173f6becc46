/**
 * renovate.json keeps the three kinds of dependency current: npm packages, container images
 * (Dockerfile, docker-compose.yml, the manifests under k8s/, CI's service containers) and
 * GitHub Actions. Checked here: every file that names an image is one a Renovate manager reads,
 * Prisma's exactly pinned packages move in one pull request, and our own images are left alone.
 * (What Renovate then proposes is Renovate's business; these are the parts that are ours.)
 */
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { K8S, ROOT, readText } from './support';

interface PackageRule {
  matchPackageNames?: string[];
  matchDatasources?: string[];
  matchManagers?: string[];
  matchDepTypes?: string[];
  matchUpdateTypes?: string[];
  groupName?: string;
  enabled?: boolean;
  dependencyDashboardApproval?: boolean;
}
interface RenovateConfig {
  extends?: string[];
  enabledManagers?: string[];
  kubernetes?: { managerFilePatterns?: string[] };
  customManagers?: Array<{ customType: string; managerFilePatterns: string[]; matchStrings: string[]; datasourceTemplate?: string }>;
  packageRules?: PackageRule[];
}

const config = JSON.parse(readText('renovate.json')) as RenovateConfig;

/** Renovate's `/regex/` pattern form (the one this config uses; a glob would need another matcher). */
function patternRegex(pattern: string): RegExp {
  const match = /^\/(.*)\/([a-z]*)$/.exec(pattern);
  if (!match) throw new Error(`not a /regex/ pattern: ${pattern}`);
  return new RegExp(match[1] as string, match[2]);
}

/** Renovate's matchPackageNames: exact names, `scope/**` globs, `/regex/`, and `!` exclusions. */
function matchesPackage(patterns: string[], name: string): boolean {
  const one = (p: string) => (p.startsWith('/') ? patternRegex(p).test(name) : p.endsWith('/**') ? name.startsWith(p.slice(0, -2)) : p === name);
  const positive = patterns.filter((p) => !p.startsWith('!'));
  const negative = patterns.filter((p) => p.startsWith('!')).map((p) => p.slice(1));
  return (positive.length === 0 || positive.some(one)) && !negative.some(one);
}

function filesUnder(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((d) => (d.isDirectory() ? filesUnder(path.join(dir, d.name)) : [path.join(dir, d.name)]));
}
const relative = (file: string) => path.relative(ROOT, file).split(path.sep).join('/');

/** Every npm dependency the workspace declares, by name. */
function workspaceDependencies(): string[] {
  const manifests = ['package.json', ...['apps', 'libs'].flatMap((d) => readdirSync(path.join(ROOT, d)).map((p) => `${d}/${p}/package.json`))];
  const names = manifests.flatMap((m) => {
    try {
      const pkg = JSON.parse(readFileSync(path.join(ROOT, m), 'utf8')) as Record<string, Record<string, string> | undefined>;
      return [...Object.keys(pkg.dependencies ?? {}), ...Object.keys(pkg.devDependencies ?? {})];
    } catch {
      return []; // a folder without a package.json
    }
  });
  return [...new Set(names)].filter((n) => !n.startsWith('@orderflow/')).sort();
}

describe('renovate.json', () => {
  const extendsPresets = config.extends ?? [];

  it('updates npm packages, Dockerfiles, compose files, kustomizations and GitHub Actions (config:recommended\'s managers, none switched off)', () => {
    // config:recommended leaves every manager on, each with its default files: package.json,
    // Dockerfile, docker-compose.yml, kustomization.yaml, .github/workflows/*.yml.
    expect(extendsPresets).toContain('config:recommended');
    if (config.enabledManagers) expect(config.enabledManagers).toEqual(expect.arrayContaining(['npm', 'dockerfile', 'docker-compose', 'kubernetes', 'kustomize', 'github-actions']));
  });

  it('reads every manifest under k8s/ that names an image (the kubernetes manager has no default files)', () => {
    const patterns = (config.kubernetes?.managerFilePatterns ?? []).map(patternRegex);
    const withImages = filesUnder(K8S)
      .filter((f) => /\.ya?ml$/.test(f) && /^\s*(-\s*)?image:\s*\S+/m.test(readFileSync(f, 'utf8')))
      .map(relative);
    expect(withImages.length).toBeGreaterThan(2);
    expect(withImages.filter((f) => !patterns.some((p) => p.test(f)))).toEqual([]);
  });

  it('reads the image CloudNativePG\'s Cluster names in imageName (a custom manager), as a docker image', () => {
    const lines = filesUnder(path.join(K8S, 'components')).flatMap((f) =>
      readFileSync(f, 'utf8')
        .split('\n')
        .filter((l) => /^\s*imageName:/.test(l))
        .map((line) => ({ file: relative(f), line })),
    );
    expect(lines.length).toBeGreaterThan(0);
    for (const { file, line } of lines) {
      const manager = (config.customManagers ?? []).find((m) => m.managerFilePatterns.some((p) => patternRegex(p).test(file)));
      const match = manager?.matchStrings.map((s) => new RegExp(s).exec(line)).find(Boolean);
      expect({ file, datasource: manager?.datasourceTemplate, depName: match?.groups?.depName, currentValue: match?.groups?.currentValue }).toEqual({
        file,
        datasource: 'docker',
        depName: /imageName:\s*["']?([^:\s"']+)/.exec(line)?.[1],
        currentValue: /:([^\s:"']+)["']?\s*$/.exec(line)?.[1],
      });
    }
  });

  it('moves the exactly pinned Prisma packages together, in one group holding nothing else', () => {
    const group = (config.packageRules ?? []).filter((r) => r.groupName === 'prisma');
    expect(group).toHaveLength(1);
    const patterns = group[0]?.matchPackageNames ?? [];
    const deps = workspaceDependencies();
    const prisma = deps.filter((d) => d === 'prisma' || d.startsWith('@prisma/'));
    expect(prisma.length).toBeGreaterThan(3);
    expect(deps.filter((d) => matchesPackage(patterns, d))).toEqual(prisma);
    // Nothing later overrides the group for them (later rules win in Renovate).
    const rules = config.packageRules ?? [];
    const after = rules.slice(rules.indexOf(group[0] as PackageRule) + 1).filter((r) => r.groupName !== undefined && r.matchPackageNames && prisma.some((d) => matchesPackage(r.matchPackageNames ?? [], d)));
    expect(after).toEqual([]);
  });

  it('leaves our own images (built here, tagged with the release) alone', () => {
    const off = (config.packageRules ?? []).find((r) => r.enabled === false && matchesPackage(r.matchPackageNames ?? [], 'orderflow/order-service'));
    expect(off?.matchDatasources).toEqual(['docker']);
  });

  it('asks before a major version of the database or the broker (a data migration)', () => {
    const majors = (config.packageRules ?? []).filter((r) => r.dependencyDashboardApproval === true && r.matchUpdateTypes?.includes('major'));
    for (const image of ['postgres', 'rabbitmq', 'ghcr.io/cloudnative-pg/postgresql']) {
      expect([image, majors.some((r) => matchesPackage(r.matchPackageNames ?? [], image))]).toEqual([image, true]);
    }
  });

  it('the package matcher distinguishes names, scopes and exclusions (the check can fail)', () => {
    expect(matchesPackage(['@prisma/**'], '@prisma/client')).toBe(true);
    expect(matchesPackage(['@prisma/**'], 'prisma')).toBe(false);
    expect(matchesPackage(['!jest'], 'ts-jest')).toBe(true);
    expect(matchesPackage(['!jest'], 'jest')).toBe(false);
    expect(() => patternRegex('k8s/**/*.yaml')).toThrow(/not a \/regex\//);
  });
});
