/**
 * The alerting rules (k8s/components/monitoring/alerts.yaml): valid for Prometheus itself
 * (`promtool check rules`, Debian's `prometheus` package, installed by .ci/run), firing on
 * synthetic series as intended (`promtool test rules`, k8s/tests/monitoring/alerts.test.yaml),
 * each with its severity, words and runbook, reading only metrics the code defines, and
 * covering every queue and service there is.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parse } from 'yaml';
import { ALERTS_FILE } from '../tools/monitoring';
import { metricsOf, undefinedMetrics } from './metric-names';
import { K8S, SERVICES, readText } from './support';

interface Rule {
  alert?: string;
  record?: string;
  expr: string;
  for?: string;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
}
const groups = (parse(readFileSync(ALERTS_FILE, 'utf8')) as { groups: Array<{ name: string; rules: Rule[] }> }).groups;
const alerts = groups.flatMap((g) => g.rules).filter((r): r is Rule & { alert: string } => r.alert !== undefined);
const alert = (name: string): Rule => {
  const found = alerts.find((a) => a.alert === name);
  if (!found) throw new Error(`no alert ${name}`);
  return found;
};

/** Runs promtool; fails, rather than passes, where it is missing. */
function promtool(args: string[], cwd?: string): { status: number | null; output: string } {
  const run = spawnSync('promtool', args, { encoding: 'utf8', timeout: 60_000, cwd });
  if (run.error) {
    throw new Error(`cannot run promtool (${run.error.message}): install Debian's prometheus package (apt-get install --no-install-recommends prometheus; .ci/run does)`);
  }
  return { status: run.status, output: `${run.stdout}${run.stderr}` };
}

/** GitHub's anchors of a Markdown document's headings. */
function anchors(markdown: string): Set<string> {
  const slugs = [...markdown.matchAll(/^#{1,6}\s+(.+)$/gm)].map((m) =>
    m[1]!
      .trim()
      .toLowerCase()
      .replace(/[^\p{L}\p{N} _-]/gu, '')
      .replace(/ /g, '-'),
  );
  return new Set(slugs);
}

describe('the alerting rules', () => {
  it('pass promtool check rules', () => {
    const run = promtool(['check', 'rules', ALERTS_FILE]);
    expect({ status: run.status, output: run.output }).toEqual({ status: 0, output: expect.stringContaining('SUCCESS') });
  });

  it('promtool refuses a broken rule (the check can fail)', () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'orderflow-rules-'));
    try {
      const file = path.join(dir, 'broken.yaml');
      writeFileSync(file, readFileSync(ALERTS_FILE, 'utf8').replace('max by (service) (messaging_dead_letter_depth) > 0', 'max by (service) (messaging_dead_letter_depth > 0'));
      expect(promtool(['check', 'rules', file]).status).not.toBe(0);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('fire on synthetic series when they should, and not before (promtool test rules)', () => {
    const run = promtool(['test', 'rules', 'alerts.test.yaml'], path.join(K8S, 'tests', 'monitoring'));
    expect({ status: run.status, output: run.output }).toEqual({ status: 0, output: expect.stringContaining('SUCCESS') });
  });

  it('each has a severity, a summary, a description and a runbook: a section of docs/operations.md', () => {
    const sections = anchors(readText('docs/operations.md'));
    const problems = alerts.flatMap((a) => {
      const found: string[] = [];
      if (!['warning', 'critical'].includes(a.labels?.severity ?? '')) found.push(`${a.alert}: severity ${a.labels?.severity}`);
      for (const key of ['summary', 'description']) if (!a.annotations?.[key]) found.push(`${a.alert}: no ${key}`);
      const [file, anchor] = (a.annotations?.runbook ?? '').split('#');
      if (file !== 'docs/operations.md' || !anchor || !sections.has(anchor)) found.push(`${a.alert}: runbook ${a.annotations?.runbook} is no section of docs/operations.md`);
      return found;
    });
    expect(problems).toEqual([]);
    expect(alerts.length).toBeGreaterThanOrEqual(10);
  });

  it('read only metrics the code defines', () => {
    const used = alerts.flatMap((a) => metricsOf(a.expr));
    expect(used).toEqual(expect.arrayContaining(['messaging_dead_letter_depth', 'orderflow_saga_duration_seconds_bucket', 'orderflow_queue_consumers']));
    expect(undefinedMetrics(used)).toEqual([]);
  });

  it('the metric check fails on a metric nobody defines (a renamed one)', () => {
    expect(undefinedMetrics(metricsOf(alert('OrderflowOutboxLag').expr.replace('messaging_outbox_lag_seconds', 'messaging_outbox_age_seconds')))).toEqual([
      'messaging_outbox_age_seconds',
    ]);
  });

  it('watch every queue a service consumes for a missing consumer (the topologies\' queues, retry and dead-letter queues aside)', () => {
    const definitions = JSON.parse(readText('k8s/rabbitmq/definitions.json')) as { queues: Array<{ name: string }> };
    const consumed = definitions.queues.map((q) => q.name).filter((q) => !/\.(retry\.\d+ms|dead-letter)$/.test(q));
    const watched = [...alert('OrderflowConsumerMissing').expr.matchAll(/absent\(messaging_consumer_active\{queue="([^"]+)"\}\)/g)].map((m) => m[1]);
    expect(watched.sort()).toEqual(consumed.sort());
  });

  it('miss no service\'s metrics', () => {
    const watched = [...alert('OrderflowMetricsAbsent').expr.matchAll(/absent\(messaging_broker_connected\{service="([^"]+)"\}\)/g)].map((m) => m[1]);
    expect(watched.sort()).toEqual(SERVICES.map((s) => s.app).sort());
  });

  it('leave the dead-letter queues out of "queue without consumer": nobody consumes them', () => {
    expect(alert('OrderflowQueueWithoutConsumer').expr).toContain('queue!~".+\\\\.dead-letter"');
  });
});
