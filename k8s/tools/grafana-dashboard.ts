/**
 * The Orderflow Grafana dashboard, as code typed against Grafana's own schema (@grafana/schema):
 * the saga, the import, the messaging core and HTTP. generate.ts writes it to
 * k8s/components/monitoring/orderflow-dashboard.json, which the Kubernetes component ships as
 * a ConfigMap for Grafana's sidecar and compose's Grafana provisions. Edit this file, not the JSON.
 * Panels only name metrics the code defines (k8s/tests/monitoring.unit.test.ts checks it).
 */
import {
  BigValueColorMode,
  BigValueGraphMode,
  BigValueJustifyMode,
  BigValueTextMode,
  DashboardCursorSync,
  defaultDashboard,
  LegendDisplayMode,
  MappingType,
  PercentChangeColorMode,
  SortOrder,
  StackingMode,
  ThresholdsMode,
  TooltipDisplayMode,
  VariableHide,
  VariableRefresh,
  VariableSort,
  VisibilityMode,
  VizOrientation,
  type Dashboard,
  type DataSourceRef,
  type FieldConfigSource,
  type Panel,
  type RowPanel,
  type ValueMapping,
  type VariableModel,
} from '@grafana/schema';
import type { Options as StatOptions } from '@grafana/schema/dist/types/raw/composable/stat/panelcfg/x/types.gen';
import type { FieldConfig as TimeSeriesFieldConfig, Options as TimeSeriesOptions } from '@grafana/schema/dist/types/raw/composable/timeseries/panelcfg/x/types.gen';

/** Every panel and query reads the Prometheus the viewer picks: nothing names a datasource uid. */
const DATASOURCE: DataSourceRef = { type: 'prometheus', uid: '${datasource}' };
/** The processes the messaging and HTTP panels show (every service by default). */
const SERVICE = 'service=~"$service"';

interface Query {
  expr: string;
  legend: string;
}
interface PanelSpec {
  title: string;
  description: string;
  unit: string;
  queries: Query[];
  /** Grid columns out of 24 (default 8: three panels a row). */
  width?: number;
  stacked?: boolean;
  /** A stat panel per series (a current state) instead of a graph. */
  stat?: { mappings?: ValueMapping[]; red?: number };
}

const target = (q: Query, i: number): Record<string, unknown> => ({
  refId: String.fromCharCode(65 + i),
  datasource: DATASOURCE,
  editorMode: 'code',
  expr: q.expr,
  legendFormat: q.legend,
  range: true,
});

function timeSeries(spec: PanelSpec): Panel & { options: TimeSeriesOptions } {
  const custom: TimeSeriesFieldConfig = {
    fillOpacity: spec.stacked ? 40 : 10,
    lineWidth: 1,
    showPoints: VisibilityMode.Never,
    stacking: { mode: spec.stacked ? StackingMode.Normal : StackingMode.None, group: 'A' },
  };
  // Grafana's Panel types its custom field config as a plain record; the spread keeps the check above.
  const fieldConfig: FieldConfigSource = { defaults: { unit: spec.unit, min: 0, custom: { ...custom } }, overrides: [] };
  return {
    type: 'timeseries',
    title: spec.title,
    description: spec.description,
    datasource: DATASOURCE,
    targets: spec.queries.map(target),
    fieldConfig,
    options: {
      legend: { displayMode: LegendDisplayMode.List, placement: 'bottom', showLegend: true, calcs: [] },
      tooltip: { mode: TooltipDisplayMode.Multi, sort: SortOrder.Descending },
    },
  };
}

function stat(spec: PanelSpec): Panel & { options: StatOptions } {
  const steps = [{ color: 'green', value: null }, ...(spec.stat?.red === undefined ? [] : [{ color: 'red', value: spec.stat.red }])];
  return {
    type: 'stat',
    title: spec.title,
    description: spec.description,
    datasource: DATASOURCE,
    targets: spec.queries.map(target),
    fieldConfig: { defaults: { unit: spec.unit, mappings: spec.stat?.mappings ?? [], thresholds: { mode: ThresholdsMode.Absolute, steps } }, overrides: [] },
    options: {
      colorMode: BigValueColorMode.Background,
      graphMode: BigValueGraphMode.None,
      justifyMode: BigValueJustifyMode.Auto,
      textMode: BigValueTextMode.ValueAndName,
      percentChangeColorMode: PercentChangeColorMode.Standard,
      showPercentChange: false,
      wideLayout: true,
      orientation: VizOrientation.Auto,
      reduceOptions: { calcs: ['lastNotNull'], fields: '', values: false },
    },
  };
}

const perMinute = (metric: string, by: string, filter = ''): string => `sum by (${by}) (rate(${metric}${filter ? `{${filter}}` : ''}[$__rate_interval])) * 60`;
const quantile = (q: number, metric: string, by: string[] = [], filter = ''): string =>
  `histogram_quantile(${q}, sum by (${[...by, 'le'].join(', ')}) (rate(${metric}_bucket${filter ? `{${filter}}` : ''}[$__rate_interval])))`;
const upDown = (up: string, down: string): ValueMapping[] => [{ type: MappingType.ValueToText, options: { '0': { text: down, color: 'red' }, '1': { text: up, color: 'green' } } }];

const SECTIONS: Array<{ title: string; panels: PanelSpec[] }> = [
  {
    title: 'Saga',
    panels: [
      { title: 'Orders placed', description: 'Orders placed per minute, through the API and by imports.', unit: 'opm', stacked: true, queries: [{ expr: perMinute('orderflow_orders_placed_total', 'source'), legend: '{{source}}' }] },
      { title: 'Orders finished', description: 'Orders reaching their final status per minute.', unit: 'opm', stacked: true, queries: [{ expr: perMinute('orderflow_orders_finished_total', 'status'), legend: '{{status}}' }] },
      {
        title: 'Saga duration',
        description: 'From placement to the final status (CONFIRMED, REJECTED, CANCELLED).',
        unit: 's',
        queries: [0.5, 0.95, 0.99].map((q) => ({ expr: quantile(q, 'orderflow_saga_duration_seconds'), legend: `p${Math.round(q * 100)}` })),
      },
      { title: 'Orders not confirmed, by reason', description: 'Rejected and cancelled orders per minute, by the reason the order service recorded.', unit: 'opm', stacked: true, queries: [{ expr: perMinute('orderflow_orders_finished_total', 'status, reason', 'status!="CONFIRMED"'), legend: '{{status}} {{reason}}' }] },
      { title: 'Payments', description: 'Charges and refunds per minute, by outcome.', unit: 'opm', queries: [{ expr: perMinute('orderflow_payments_total', 'kind, outcome'), legend: '{{kind}} {{outcome}}' }] },
      { title: 'Payment amounts', description: 'Amounts charged and refunded per minute, by outcome.', unit: 'short', queries: [{ expr: perMinute('orderflow_payments_amount_total', 'kind, outcome'), legend: '{{kind}} {{outcome}}' }] },
      {
        title: 'Payment gateway circuit',
        description: 'The payment service\'s circuit breaker around the payment gateway: open or half-open means payments wait.',
        unit: 'none',
        stat: { mappings: [{ type: MappingType.ValueToText, options: { '0': { text: 'closed', color: 'green' }, '1': { text: 'half-open', color: 'orange' }, '2': { text: 'open', color: 'red' } } }] },
        queries: [{ expr: 'max(payment_gateway_circuit_state{state="open"} * 2 or payment_gateway_circuit_state{state="half_open"})', legend: 'circuit' }],
      },
      { title: 'Payment gateway calls (p95)', description: 'Duration of the calls to the payment gateway, by operation and outcome.', unit: 's', width: 16, queries: [{ expr: quantile(0.95, 'payment_gateway_call_duration_seconds', ['operation', 'outcome']), legend: '{{operation}} {{outcome}}' }] },
    ],
  },
  {
    title: 'Import',
    panels: [
      { title: 'Rows imported', description: 'Rows of the uploads that ended, per minute: accepted (in an order of a chunk) or rejected.', unit: 'short', stacked: true, queries: [{ expr: perMinute('orderflow_import_rows_total', 'outcome'), legend: '{{outcome}}' }] },
      { title: 'Imported orders finished', description: 'Imported orders reaching their final status per minute.', unit: 'opm', stacked: true, queries: [{ expr: perMinute('orderflow_import_orders_total', 'outcome'), legend: '{{outcome}}' }] },
      {
        title: 'Import backlog',
        description: 'Chunks waiting in the order service\'s import queue, and the imported orders\' answers waiting in the bulk queues.',
        unit: 'short',
        queries: [{ expr: 'max by (queue) (orderflow_queue_messages{queue=~"(.+\\\\.)?(order\\\\.import|[a-z]+\\\\.bulk)"})', legend: '{{queue}}' }],
      },
      { title: 'Upload waits', description: 'Per upload, how long reading waited on the broker, by cause (p95).', unit: 's', width: 24, queries: [{ expr: quantile(0.95, 'import_upload_wait_seconds', ['cause']), legend: '{{cause}}' }] },
    ],
  },
  {
    title: 'Messaging',
    panels: [
      { title: 'Queue depth', description: 'Messages ready per queue (the consumers\' lag; −1: the broker could not be asked).', unit: 'short', queries: [{ expr: `max by (queue) (orderflow_queue_messages{${SERVICE}, queue!~".+\\\\.dead-letter"})`, legend: '{{queue}}' }] },
      { title: 'Consumers per queue', description: 'Consumers the broker counts on each queue: 0 means nobody works it off.', unit: 'short', queries: [{ expr: `max by (queue) (orderflow_queue_consumers{${SERVICE}, queue!~".+\\\\.dead-letter"})`, legend: '{{queue}}' }] },
      { title: 'Dead letters', description: 'Messages parked in each service\'s dead-letter queue, waiting for triage.', unit: 'short', stat: { red: 1 }, queries: [{ expr: `max by (service) (messaging_dead_letter_depth{${SERVICE}})`, legend: '{{service}}' }] },
      { title: 'Outbox lag', description: 'Age of the oldest unsent outbox row (0 when none).', unit: 's', queries: [{ expr: `max by (service) (messaging_outbox_lag_seconds{${SERVICE}})`, legend: '{{service}}' }] },
      { title: 'Unroutable publishes', description: 'Publishes the broker returned because no queue is bound, per minute.', unit: 'opm', queries: [{ expr: perMinute('messaging_unroutable_total', 'service, exchange, routing_key', SERVICE), legend: '{{service}} {{exchange}} {{routing_key}}' }] },
      { title: 'Broker connected', description: 'Whether every process of the service is connected to the broker.', unit: 'none', stat: { mappings: upDown('connected', 'disconnected') }, queries: [{ expr: `min by (service) (messaging_broker_connected{${SERVICE}})`, legend: '{{service}}' }] },
      { title: 'Consumers consuming', description: 'Per queue, whether every process that consumes it is consuming (0: paused, broker or database away).', unit: 'none', width: 12, stat: { mappings: upDown('consuming', 'stopped') }, queries: [{ expr: `min by (queue) (messaging_consumer_active{${SERVICE}})`, legend: '{{queue}}' }] },
      { title: 'Messages handled', description: 'Messages handled per second, by outcome (ack, retry, park, duplicate).', unit: 'ops', width: 12, stacked: true, queries: [{ expr: `sum by (outcome) (rate(messaging_handle_duration_seconds_count{${SERVICE}}[$__rate_interval]))`, legend: '{{outcome}}' }] },
      { title: 'Handling time (p95)', description: 'Time to handle one message (its share of a batch), by service.', unit: 's', width: 12, queries: [{ expr: quantile(0.95, 'messaging_handle_duration_seconds', ['service'], SERVICE), legend: '{{service}}' }] },
    ],
  },
  {
    title: 'HTTP',
    panels: [
      { title: 'Requests', description: 'Requests per second by service (probes excluded).', unit: 'reqps', stacked: true, queries: [{ expr: `sum by (service) (rate(http_request_duration_seconds_count{${SERVICE}}[$__rate_interval]))`, legend: '{{service}}' }] },
      {
        title: 'Latency',
        description: 'Request duration by service: p50 and p99.',
        unit: 's',
        queries: [
          { expr: quantile(0.5, 'http_request_duration_seconds', ['service'], SERVICE), legend: '{{service}} p50' },
          { expr: quantile(0.99, 'http_request_duration_seconds', ['service'], SERVICE), legend: '{{service}} p99' },
        ],
      },
      { title: 'Errors', description: 'Answers with a 5xx status per second, by service and status.', unit: 'reqps', queries: [{ expr: `sum by (service, status) (rate(http_request_duration_seconds_count{${SERVICE}, status=~"5.."}[$__rate_interval]))`, legend: '{{service}} {{status}}' }] },
    ],
  },
];

/** Lays the sections out on Grafana's 24-column grid: a row header, then panels left to right. */
function layout(): Array<Panel | RowPanel> {
  const panels: Array<Panel | RowPanel> = [];
  let id = 1;
  let y = 0;
  for (const section of SECTIONS) {
    panels.push({ type: 'row', id: id++, title: section.title, collapsed: false, panels: [], gridPos: { x: 0, y: y++, w: 24, h: 1 } });
    let x = 0;
    for (const spec of section.panels) {
      const w = spec.width ?? 8;
      const h = spec.stat ? 5 : 8;
      if (x + w > 24) {
        x = 0;
        y += 8;
      }
      panels.push({ ...(spec.stat ? stat(spec) : timeSeries(spec)), id: id++, gridPos: { x, y, w, h } });
      x += w;
    }
    y += 8;
  }
  return panels;
}

const variables: VariableModel[] = [
  { type: 'datasource', name: 'datasource', label: 'Prometheus', query: 'prometheus', hide: VariableHide.dontHide, refresh: VariableRefresh.onDashboardLoad },
  {
    type: 'query',
    name: 'service',
    label: 'Service',
    datasource: DATASOURCE,
    query: 'label_values(messaging_broker_connected, service)',
    refresh: VariableRefresh.onTimeRangeChanged,
    multi: true,
    includeAll: true,
    allValue: '.*',
    current: { text: 'All', value: '$__all' },
    sort: VariableSort.alphabeticalAsc,
  },
];

export const orderflowDashboard = (): Dashboard => ({
  uid: 'orderflow',
  title: 'Orderflow',
  description: 'The saga, the import, the messaging core and HTTP of Orderflow (docs/operations.md, "Metrics and alerts").',
  tags: ['orderflow'],
  editable: true,
  graphTooltip: DashboardCursorSync.Crosshair,
  // The schema version of the Grafana the types come from: a newer Grafana migrates it on load.
  schemaVersion: defaultDashboard.schemaVersion,
  time: { from: 'now-1h', to: 'now' },
  refresh: '30s',
  timezone: 'browser',
  templating: { list: variables },
  annotations: { list: [] },
  panels: layout(),
});

/** The JSON file's content: two-space indented, with a final newline. */
export const renderDashboard = (): string => `${JSON.stringify(orderflowDashboard(), null, 2)}\n`;
