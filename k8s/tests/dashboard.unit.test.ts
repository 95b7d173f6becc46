/**
 * The Grafana dashboard (k8s/components/monitoring/orderflow-dashboard.json): generated from
 * k8s/tools/grafana-dashboard.ts, which tsc checks against Grafana's schema (@grafana/schema);
 * here the JSON as Grafana loads it: its schema version, the datasource variable every query
 * goes through, a grid without overlaps, the panels the saga, the import and the messaging core
 * need, and only metrics the code defines.
 */
import { readFileSync } from 'node:fs';
import { defaultDashboard } from '@grafana/schema';
import { renderDashboard } from '../tools/grafana-dashboard';
import { DASHBOARD_FILE } from '../tools/monitoring';
import { metricsOf, undefinedMetrics } from './metric-names';

interface GridPos {
  x: number;
  y: number;
  w: number;
  h: number;
}
interface DashboardPanel {
  id: number;
  type: string;
  title: string;
  gridPos: GridPos;
  datasource?: { type: string; uid: string };
  targets?: Array<{ refId: string; expr: string; datasource?: { type: string; uid: string } }>;
}
interface DashboardJson {
  uid: string;
  title: string;
  schemaVersion: number;
  panels: DashboardPanel[];
  templating: { list: Array<{ name: string; type: string; query?: unknown }> };
}

const text = readFileSync(DASHBOARD_FILE, 'utf8');
const dashboard = JSON.parse(text) as DashboardJson;
const panels = dashboard.panels.filter((p) => p.type !== 'row');
const exprs = panels.flatMap((p) => (p.targets ?? []).map((t) => t.expr));
const VIA_VARIABLE = { type: 'prometheus', uid: '${datasource}' };

/** The panels of a section: those after its row header, up to the next one. */
function section(title: string): DashboardPanel[] {
  const start = dashboard.panels.findIndex((p) => p.type === 'row' && p.title === title);
  if (start < 0) throw new Error(`no row ${title}`);
  const end = dashboard.panels.findIndex((p, i) => i > start && p.type === 'row');
  return dashboard.panels.slice(start + 1, end < 0 ? undefined : end);
}
const queriesOf = (ps: DashboardPanel[]): string => ps.flatMap((p) => (p.targets ?? []).map((t) => t.expr)).join('\n');

describe('the Grafana dashboard', () => {
  it('is what k8s/tools/grafana-dashboard.ts builds (regenerate: npx tsx k8s/tools/generate.ts)', () => {
    expect(text).toBe(renderDashboard());
  });

  it('carries the schema version of the Grafana whose types it is checked against, and a stable uid', () => {
    expect(dashboard.schemaVersion).toBe(defaultDashboard.schemaVersion);
    expect(dashboard.schemaVersion).toBeGreaterThanOrEqual(39);
    expect(dashboard.uid).toBe('orderflow');
  });

  it('reads Prometheus only through its datasource variable: no datasource uid of one installation', () => {
    const variable = dashboard.templating.list.find((v) => v.name === 'datasource');
    expect(variable).toMatchObject({ type: 'datasource', query: 'prometheus' });
    for (const p of panels) {
      expect([p.title, p.datasource]).toEqual([p.title, VIA_VARIABLE]);
      for (const t of p.targets ?? []) expect([p.title, t.datasource]).toEqual([p.title, VIA_VARIABLE]);
    }
  });

  it('has panels of known types, each with queries of distinct refIds', () => {
    for (const p of panels) {
      expect([p.title, ['timeseries', 'stat'].includes(p.type)]).toEqual([p.title, true]);
      const refIds = (p.targets ?? []).map((t) => t.refId);
      expect(refIds.length).toBeGreaterThan(0);
      expect(new Set(refIds).size).toBe(refIds.length);
      for (const t of p.targets ?? []) expect(t.expr.trim()).not.toBe('');
    }
    const ids = dashboard.panels.map((p) => p.id);
    expect(new Set(ids).size).toBe(ids.length);
  });

  it('lays its panels on the 24-column grid without overlaps', () => {
    const overlaps: string[] = [];
    dashboard.panels.forEach((a, i) => {
      const g = a.gridPos;
      expect([a.title, g.x >= 0 && g.w > 0 && g.h > 0 && g.x + g.w <= 24]).toEqual([a.title, true]);
      for (const b of dashboard.panels.slice(i + 1)) {
        const h = b.gridPos;
        if (g.x < h.x + h.w && h.x < g.x + g.w && g.y < h.y + h.h && h.y < g.y + g.h) overlaps.push(`${a.title} / ${b.title}`);
      }
    });
    expect(overlaps).toEqual([]);
  });

  it('shows the saga: orders placed and finished per minute, p50/p95/p99, failures by reason, payments and amounts', () => {
    const saga = queriesOf(section('Saga'));
    for (const q of [0.5, 0.95, 0.99]) expect(saga).toContain(`histogram_quantile(${q}, sum by (le) (rate(orderflow_saga_duration_seconds_bucket`);
    expect(saga).toMatch(/sum by \(source\) \(rate\(orderflow_orders_placed_total\[\$__rate_interval\]\)\) \* 60/);
    expect(saga).toMatch(/sum by \(status\) \(rate\(orderflow_orders_finished_total/);
    expect(saga).toMatch(/sum by \(status, reason\) \(rate\(orderflow_orders_finished_total\{status!="CONFIRMED"\}/);
    expect(saga).toContain('orderflow_payments_total');
    expect(saga).toContain('orderflow_payments_amount_total');
    expect(saga).toContain('payment_gateway_circuit_state');
  });

  it('shows the import: rows and orders by outcome, and the backlog', () => {
    const imports = queriesOf(section('Import'));
    expect(imports).toMatch(/sum by \(outcome\) \(rate\(orderflow_import_rows_total/);
    expect(imports).toMatch(/sum by \(outcome\) \(rate\(orderflow_import_orders_total/);
    expect(imports).toContain('orderflow_queue_messages');
  });

  it('shows the messaging core and HTTP: depth and consumers per queue, dead letters, outbox lag, unroutable, broker, handling, requests, latency, errors', () => {
    const messaging = queriesOf(section('Messaging'));
    for (const m of ['max by (queue) (orderflow_queue_messages', 'max by (queue) (orderflow_queue_consumers', 'messaging_dead_letter_depth', 'messaging_outbox_lag_seconds', 'messaging_unroutable_total', 'messaging_broker_connected', 'messaging_consumer_active', 'messaging_handle_duration_seconds_bucket']) {
      expect([m, messaging.includes(m)]).toEqual([m, true]);
    }
    const http = queriesOf(section('HTTP'));
    expect(http).toContain('rate(http_request_duration_seconds_count');
    expect(http).toContain('http_request_duration_seconds_bucket');
    expect(http).toContain('status=~"5.."');
  });

  it('reads only metrics the code defines (a renamed metric fails here)', () => {
    const variableQueries = dashboard.templating.list.filter((v) => v.type === 'query').map((v) => String(v.query).replace(/^label_values\((.*),\s*\w+\)$/, '$1'));
    expect(variableQueries).toEqual(['messaging_broker_connected']);
    expect(undefinedMetrics([...exprs, ...variableQueries].flatMap(metricsOf))).toEqual([]);
    expect(undefinedMetrics(metricsOf(exprs[0]!.replace(/orderflow_\w+/, 'orderflow_orders_created_total')))).toEqual(['orderflow_orders_created_total']);
  });

  it('fits a ConfigMap that kubectl apply can annotate (the last-applied annotation holds 256 KiB)', () => {
    expect(Buffer.byteLength(text)).toBeLessThan(200 * 1024);
  });
});
