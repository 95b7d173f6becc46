/**
 * The monitoring component's derived files (k8s/components/monitoring/), from their one source:
 *   prometheus-rule.yaml      the PrometheusRule carrying alerts.yaml's groups (Prometheus'
 *                             rule-file format, which compose's Prometheus and promtool read)
 *   orderflow-dashboard.json  the Grafana dashboard, from grafana-dashboard.ts
 * kustomize loads nothing outside k8s/ and cannot wrap a rule file into an object: generate.ts
 * writes both, and the k8s unit tests fail when one is stale.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { parse, stringify } from 'yaml';
import { renderDashboard } from './grafana-dashboard';
import { REPO_ROOT } from './rabbitmq-definitions';

export const MONITORING_DIR = path.join(REPO_ROOT, 'k8s', 'components', 'monitoring');
export const ALERTS_FILE = path.join(MONITORING_DIR, 'alerts.yaml');
export const PROMETHEUS_RULE_FILE = path.join(MONITORING_DIR, 'prometheus-rule.yaml');
export const DASHBOARD_FILE = path.join(MONITORING_DIR, 'orderflow-dashboard.json');

/** alerts.yaml's groups as a PrometheusRule in the orderflow namespace. */
export function renderPrometheusRule(alerts: string = readFileSync(ALERTS_FILE, 'utf8')): string {
  const { groups } = parse(alerts) as { groups: unknown[] };
  const rule = {
    apiVersion: 'monitoring.coreos.com/v1',
    kind: 'PrometheusRule',
    metadata: { name: 'orderflow', namespace: 'orderflow', labels: { 'app.kubernetes.io/part-of': 'orderflow' } },
    spec: { groups },
  };
  return `# Generated from alerts.yaml by k8s/tools/generate.ts: edit that file, then run npx tsx k8s/tools/generate.ts\n${stringify(rule, { lineWidth: 0 })}`;
}

/** The component's generated files and their wanted content. */
export const monitoringFiles = (): Array<[string, string]> => [
  [PROMETHEUS_RULE_FILE, renderPrometheusRule()],
  [DASHBOARD_FILE, renderDashboard()],
];
