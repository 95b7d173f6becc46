/**
 * Monitoring as users enable it: k8s/components/monitoring on top of the base (a PodMonitor,
 * the PrometheusRule, the dashboard's ConfigMap), and compose's `monitoring` profile
 * (Prometheus and Grafana), both from the one copy of the rules and the dashboard.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { PodMonitor } from '@kubernetes-models/prometheus-operator/monitoring.coreos.com/v1/PodMonitor';
import { PrometheusRule } from '@kubernetes-models/prometheus-operator/monitoring.coreos.com/v1/PrometheusRule';
import { parse } from 'yaml';
import { ALERTS_FILE, DASHBOARD_FILE, MONITORING_DIR, PROMETHEUS_RULE_FILE, renderPrometheusRule } from '../tools/monitoring';
import { evaluate, matchesSelector, type Endpoint, type LabelSelector, type NetworkPolicyObject } from './network-policy';
import { renderOverlay } from './overlay';
import { PAYMENT_GATEWAY, PROCESSES, ROOT, buildArg, compose, composeEnv, ofKind, podTemplates, renderK8s, type ComposeService, type DataObject, type K8sObject } from './support';
import { validate } from './validate';

const OPERATOR_MODELS: Record<string, new (data: never) => { validate(): void }> = {
  'monitoring.coreos.com/v1/PodMonitor': PodMonitor,
  'monitoring.coreos.com/v1/PrometheusRule': PrometheusRule,
};

interface PodMonitorObject extends K8sObject {
  spec: { selector: LabelSelector; namespaceSelector?: unknown; podMetricsEndpoints: Array<{ port: string; path?: string }> };
}

describe('components/monitoring', () => {
  const objects = renderOverlay([MONITORING_DIR]);
  const base = renderK8s();
  const added = objects.filter((o) => !base.some((b) => b.kind === o.kind && b.metadata.name === o.metadata.name));

  it('adds a PodMonitor, the PrometheusRule and the dashboard\'s ConfigMap, and changes nothing of the base', () => {
    expect(added.map((o) => `${o.kind}/${o.metadata.name}`).sort()).toEqual(['ConfigMap/orderflow-dashboard', 'PodMonitor/orderflow', 'PrometheusRule/orderflow']);
    expect(objects.filter((o) => !added.includes(o))).toEqual(base);
  });

  it('every object is valid (the operator\'s kinds against @kubernetes-models/prometheus-operator) and in the orderflow namespace', () => {
    const failures = added.flatMap((o) => {
      try {
        const Model = OPERATOR_MODELS[`${o.apiVersion}/${o.kind}`];
        if (Model) new Model(o as never).validate();
        else validate(o);
        return o.metadata.namespace === 'orderflow' ? [] : [`${o.kind} ${o.metadata.name}: namespace ${o.metadata.namespace}`];
      } catch (err) {
        return [`${o.kind} ${o.metadata.name}: ${(err as Error).message}`];
      }
    });
    expect(failures).toEqual([]);
  });

  it('the operator\'s models reject an invalid PodMonitor (the check can fail)', () => {
    const broken = structuredClone(added.find((o) => o.kind === 'PodMonitor')) as unknown as { spec: { podMetricsEndpoints: unknown } };
    broken.spec.podMetricsEndpoints = 'http';
    expect(() => new PodMonitor(broken as never).validate()).toThrow();
  });

  it('the PrometheusRule carries exactly alerts.yaml\'s groups, and is fresh (regenerate: npx tsx k8s/tools/generate.ts)', () => {
    expect(readFileSync(PROMETHEUS_RULE_FILE, 'utf8')).toBe(renderPrometheusRule());
    const rule = added.find((o) => o.kind === 'PrometheusRule') as K8sObject & { spec: { groups: unknown } };
    expect(rule.spec.groups).toEqual((parse(readFileSync(ALERTS_FILE, 'utf8')) as { groups: unknown }).groups);
  });

  it('the PodMonitor scrapes every Orderflow process and only them, on the port and path their pods announce, and Prometheus may reach it', () => {
    const [monitor, ...others] = ofKind<PodMonitorObject>('PodMonitor', objects);
    expect(others).toEqual([]);
    expect(monitor?.spec.namespaceSelector).toBeUndefined(); // its own namespace
    const [endpoint] = monitor?.spec.podMetricsEndpoints ?? [];
    const selected = podTemplates(objects).filter(({ template }) => matchesSelector(monitor!.spec.selector, template.metadata.labels ?? {}));
    expect(selected.map((s) => s.owner.metadata.name).sort()).toEqual([...PROCESSES.map((p) => p.name), PAYMENT_GATEWAY.app].sort());

    const policies = ofKind<K8sObject & NetworkPolicyObject>('NetworkPolicy', objects);
    const prometheus: Endpoint = { kind: 'pod', name: 'prometheus', namespace: 'monitoring', namespaceLabels: { 'kubernetes.io/metadata.name': 'monitoring' }, labels: { 'app.kubernetes.io/name': 'prometheus' }, ip: '10.244.9.9', ports: [] };
    selected.forEach(({ owner, template }, i) => {
      const annotations = template.metadata.annotations ?? {};
      const port = template.spec.containers.flatMap((c) => c.ports ?? []).find((p) => p.name === endpoint?.port);
      expect([owner.metadata.name, port?.containerPort, endpoint?.path]).toEqual([owner.metadata.name, Number(annotations['prometheus.io/port']), annotations['prometheus.io/path']]);
      const pod: Endpoint = { kind: 'pod', name: owner.metadata.name, namespace: 'orderflow', namespaceLabels: { 'kubernetes.io/metadata.name': 'orderflow' }, labels: template.metadata.labels ?? {}, ip: `10.244.1.${i + 1}`, ports: [{ name: port?.name, port: port?.containerPort ?? 0, protocol: 'TCP' }] };
      expect([owner.metadata.name, evaluate(policies, prometheus, pod, port?.containerPort ?? 0).allowed]).toEqual([owner.metadata.name, true]);
    });
  });

  it('ships the dashboard in a ConfigMap Grafana\'s sidecar picks up, under one name, byte for byte', () => {
    const map = added.find((o) => o.kind === 'ConfigMap') as DataObject;
    expect(map.metadata.labels?.grafana_dashboard).toBe('1');
    expect(map.metadata.name).toBe('orderflow-dashboard'); // no hash suffix: an update replaces it
    expect(map.data?.['orderflow-dashboard.json']).toBe(readFileSync(DASHBOARD_FILE, 'utf8'));
  });
});

/* ------------------------------------------------------------------------- compose */

type ProfiledService = ComposeService & { profiles?: string[]; environment?: Record<string, string> };

describe('compose\'s monitoring profile', () => {
  const services = compose().services as Record<string, ProfiledService>;
  const mounts = (name: string): Array<{ source: string; target: string }> =>
    (services[name]?.volumes ?? [])
      .filter((v): v is string => typeof v === 'string')
      .map((v) => {
        const [source = '', target = ''] = v.split(':');
        return { source, target };
      });
  const mounted = (name: string, target: string): string => {
    const found = mounts(name).find((m) => m.target === target);
    if (!found) throw new Error(`${name} mounts nothing at ${target}`);
    return path.join(ROOT, found.source);
  };
  const prometheusConfig = parse(readFileSync(mounted('prometheus', '/etc/prometheus/prometheus.yml'), 'utf8')) as {
    rule_files: string[];
    scrape_configs: Array<{ metrics_path?: string; static_configs: Array<{ targets: string[] }> }>;
  };

  it('runs Prometheus and Grafana only with --profile monitoring; everything else as before', () => {
    const profiled = Object.entries(services).filter(([, s]) => s.profiles !== undefined);
    expect(profiled.map(([name, s]) => [name, s.profiles])).toEqual([
      ['prometheus', ['monitoring']],
      ['grafana', ['monitoring']],
    ]);
  });

  it('mounts files that exist: the rules and the dashboard from k8s/components/monitoring, the one copy', () => {
    for (const name of ['prometheus', 'grafana']) for (const m of mounts(name)) expect([name, m.source, existsSync(path.join(ROOT, m.source))]).toEqual([name, m.source, true]);
    expect(mounted('prometheus', prometheusConfig.rule_files[0] ?? '')).toBe(path.join(ROOT, 'k8s/components/monitoring/alerts.yaml'));
    expect(mounts('grafana').some((m) => path.join(ROOT, m.source) === DASHBOARD_FILE)).toBe(true);
  });

  it('Prometheus scrapes exactly compose\'s Orderflow processes, each on its PORT, at /metrics', () => {
    const processes = Object.entries(services)
      .filter(([, s]) => s.command === undefined && buildArg(s, 'APP') !== undefined)
      .map(([name, s]) => `${name}:${composeEnv(s).PORT}`);
    expect(processes.length).toBe(PROCESSES.length + 1);
    const targets = prometheusConfig.scrape_configs.flatMap((c) => c.static_configs.flatMap((s) => s.targets));
    expect(targets.sort()).toEqual(processes.sort());
    for (const c of prometheusConfig.scrape_configs) expect(c.metrics_path ?? '/metrics').toBe('/metrics');
  });

  it('Prometheus\'s config passes promtool check config (its rule file where compose mounts it)', () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'orderflow-prometheus-'));
    try {
      const config = readFileSync(mounted('prometheus', '/etc/prometheus/prometheus.yml'), 'utf8').replace(prometheusConfig.rule_files[0] ?? '', ALERTS_FILE);
      writeFileSync(path.join(dir, 'prometheus.yml'), config);
      const run = spawnSync('promtool', ['check', 'config', path.join(dir, 'prometheus.yml')], { encoding: 'utf8', timeout: 60_000 });
      if (run.error) throw new Error(`cannot run promtool (${run.error.message}): install Debian's prometheus package (.ci/run does)`);
      expect({ status: run.status, output: `${run.stdout}${run.stderr}` }).toEqual({ status: 0, output: expect.stringContaining('SUCCESS') });
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('Grafana reads that Prometheus, shows the dashboard to anonymous viewers, on the loopback interface only', () => {
    const grafana = services.grafana!;
    const datasource = parse(readFileSync(mounted('grafana', '/etc/grafana/provisioning/datasources/orderflow.yaml'), 'utf8')) as { datasources: Array<{ type: string; url: string; isDefault?: boolean }> };
    const [prom] = datasource.datasources;
    expect(prom).toMatchObject({ type: 'prometheus', isDefault: true });
    const url = new URL(prom?.url ?? '');
    expect(services[url.hostname]?.ports?.some((p) => p.endsWith(`:${url.port}`))).toBe(true);

    const provider = parse(readFileSync(mounted('grafana', '/etc/grafana/provisioning/dashboards/orderflow.yaml'), 'utf8')) as { providers: Array<{ type: string; options: { path: string } }> };
    const dashboardTarget = mounts('grafana').find((m) => path.join(ROOT, m.source) === DASHBOARD_FILE)?.target ?? '';
    expect(path.dirname(dashboardTarget)).toBe(provider.providers[0]?.options.path);
    const env = composeEnv(grafana);
    expect(env).toMatchObject({ GF_AUTH_ANONYMOUS_ENABLED: 'true', GF_AUTH_ANONYMOUS_ORG_ROLE: 'Viewer', GF_DASHBOARDS_DEFAULT_HOME_DASHBOARD_PATH: dashboardTarget });
    for (const name of ['prometheus', 'grafana']) expect(services[name]?.ports?.every((p) => p.startsWith('127.0.0.1:'))).toBe(true);
  });
});
