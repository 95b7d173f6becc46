/**
 * The base with optional components, rendered as a user's overlay lists them
 * (`resources: [k8s]`, `components: [...]`, then any lines of the overlay's own), from a
 * temporary directory. The one renderer of overlays for every k8s test.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { K8S, renderKustomization, type K8sObject } from './support';

export const KEDA = path.join(K8S, 'components', 'keda');
export const CLOUDNATIVE_PG = path.join(K8S, 'components', 'cloudnative-pg');
export const INGRESS = path.join(K8S, 'components', 'ingress');

const rendered = new Map<string, K8sObject[]>();

/** `kubectl kustomize` of an overlay of k8s/ with these component directories and `extra` lines; once per list. */
export function renderOverlay(components: string[], extra: string[] = []): K8sObject[] {
  const key = [...components, ...extra].join('\n');
  const cached = rendered.get(key);
  if (cached) return cached;
  const dir = mkdtempSync(path.join(os.tmpdir(), 'orderflow-overlay-'));
  try {
    const rel = (p: string) => path.relative(dir, p);
    writeFileSync(
      path.join(dir, 'kustomization.yaml'),
      ['apiVersion: kustomize.config.k8s.io/v1beta1', 'kind: Kustomization', `resources: [${rel(K8S)}]`, `components: [${components.map(rel).join(', ')}]`, ...extra, ''].join('\n'),
    );
    const objects = renderKustomization(dir);
    rendered.set(key, objects);
    return objects;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
