/**
 * Which metrics a PromQL expression reads, and which metrics the code defines: a dashboard
 * panel or an alert that names a metric nobody exports (renamed, misspelt) shows nothing and
 * never fires, silently. Shared by the alert and dashboard tests.
 */
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { ROOT } from './support';

/** PromQL words that look like identifiers but are not metrics. */
const KEYWORDS = new Set(['and', 'or', 'unless', 'by', 'without', 'on', 'ignoring', 'group_left', 'group_right', 'bool', 'offset', 'inf', 'nan']);

/**
 * The metric names in a PromQL expression: label matchers, grouping clauses, strings, ranges
 * and Grafana's variables removed, the identifiers left that are neither functions nor keywords.
 */
export function metricsOf(expr: string): string[] {
  const stripped = expr
    .replace(/"(?:[^"\\]|\\.)*"/g, '""')
    .replace(/\{[^}]*\}/g, ' ')
    .replace(/\[[^\]]*\]/g, ' ')
    .replace(/\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)/g, ' ')
    .replace(/\$\{?\w+\}?/g, ' ');
  const names = [...stripped.matchAll(/\b([a-zA-Z_:][a-zA-Z0-9_:]*)\b(\s*\()?/g)]
    .filter((m) => m[2] === undefined && !KEYWORDS.has(m[1]!.toLowerCase()) && !/^\d/.test(m[1]!))
    .map((m) => m[1]!);
  return [...new Set(names)].sort();
}

function sourceFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const full = path.join(dir, e.name);
    if (e.isDirectory()) return e.name === 'node_modules' || e.name === 'generated' ? [] : sourceFiles(full);
    return e.name.endsWith('.ts') && !e.name.endsWith('.test.ts') ? [full] : [];
  });
}

let defined: Set<string> | undefined;

/** Every string literal that looks like a metric name in apps/*\/src and libs/*\/src (prom-client's `name: '…'` and constants alike). */
export function definedMetricNames(): Set<string> {
  if (defined) return defined;
  const names = new Set<string>();
  for (const group of ['apps', 'libs']) {
    for (const pkg of readdirSync(path.join(ROOT, group))) {
      let files: string[] = [];
      try {
        files = sourceFiles(path.join(ROOT, group, pkg, 'src'));
      } catch {
        continue;
      }
      for (const file of files) for (const m of readFileSync(file, 'utf8').matchAll(/['"`]([a-z][a-z0-9]*(?:_[a-z0-9]+)+)['"`]/g)) names.add(m[1]!);
    }
  }
  defined = names;
  return names;
}

/** The names of `metrics` the code does not define (a histogram's _bucket, _count and _sum count as its own). */
export function undefinedMetrics(metrics: Iterable<string>, known: Set<string> = definedMetricNames()): string[] {
  return [...new Set(metrics)].filter((m) => !known.has(m) && !known.has(m.replace(/_(bucket|count|sum)$/, ''))).sort();
}
