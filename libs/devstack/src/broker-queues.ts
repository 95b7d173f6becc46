/**
 * The broker side of an upgrade to quorum queues: the feature flags they need on this machine's
 * node, and the move of an installation's classic queues (with their messages) to the quorum
 * queues the services declare. The queues, their arguments and bindings come from
 * k8s/rabbitmq/definitions.json, which is generated from every service's topology.
 */
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import amqplib from 'amqplib';
import { migrateQueues, type QueueDeclaration, type QueueMigration } from '@orderflow/messaging';

export const DEFINITIONS_FILE = path.resolve(__dirname, '../../../k8s/rabbitmq/definitions.json');

interface Definitions {
  exchanges: Array<{ name: string; type: string; durable: boolean }>;
  queues: Array<{ name: string; arguments: Record<string, string | number> }>;
  bindings: Array<{ source: string; destination: string; routing_key: string }>;
}

/**
 * The production queues as declared (names prefixed with `prefix`, as a test system's are),
 * and the exchanges their bindings need.
 */
export function declaredQueues(prefix = '', file = DEFINITIONS_FILE): { exchanges: Definitions['exchanges']; queues: QueueDeclaration[] } {
  const defs = JSON.parse(readFileSync(file, 'utf8')) as Definitions;
  const direct = new Set(defs.exchanges.filter((e) => e.type === 'direct').map((e) => e.name));
  const queues = defs.queues.map((q) => {
    const args = { ...q.arguments };
    // The arguments that name a queue or an exchange: where a queue dead-letters to.
    for (const name of ['x-dead-letter-routing-key', 'x-dead-letter-exchange']) {
      const value = args[name];
      if (typeof value === 'string' && value !== '') args[name] = `${prefix}${value}`;
    }
    return {
      name: `${prefix}${q.name}`,
      arguments: args,
      // A direct exchange's bindings are keyed by the queue's name.
      bindings: defs.bindings
        .filter((b) => b.destination === q.name)
        .map((b) => ({ exchange: `${prefix}${b.source}`, routingKey: direct.has(b.source) ? `${prefix}${b.routing_key}` : b.routing_key })),
    };
  });
  return { exchanges: defs.exchanges.map((e) => ({ ...e, name: `${prefix}${e.name}` })), queues };
}

/**
 * Re-creates every production queue that exists otherwise than declared (the classic queues of
 * an earlier version) as declared, keeping its messages (see `migrateQueue`). Idempotent: on an
 * installation that is up to date it changes nothing. Refuses a queue that has consumers:
 * the services must be stopped.
 */
export async function migrateClassicQueues(o: { amqpUrl: string; prefix?: string; say?: (line: string) => void }): Promise<QueueMigration[]> {
  const { exchanges, queues } = declaredQueues(o.prefix);
  const conn = await amqplib.connect(o.amqpUrl);
  try {
    const ch = await conn.createChannel();
    for (const e of exchanges) await ch.assertExchange(e.name, e.type, { durable: e.durable });
    await ch.close();
    return await migrateQueues(conn, queues, { log: o.say });
  } finally {
    await conn.close().catch(() => undefined);
  }
}

/**
 * Enables every feature flag of the local node (`rabbitmqctl enable_feature_flag all`):
 * at-least-once dead-lettering of quorum queues needs `stream_queue`, which a node upgraded
 * from an earlier RabbitMQ leaves disabled (a fresh node enables all). Returns a line to show.
 */
export function enableFeatureFlags(): { ok: boolean; line: string } {
  const run = spawnSync('rabbitmqctl', ['-q', 'enable_feature_flag', 'all'], { encoding: 'utf8', timeout: 60_000 });
  if (run.status === 0) return { ok: true, line: 'RabbitMQ feature flags: all enabled (quorum queues dead-letter at least once)' };
  const why = run.error ? run.error.message : (run.stderr || run.stdout).trim().split('\n')[0];
  return {
    ok: false,
    line: `RabbitMQ feature flags could not be enabled here (${why}); on the broker's node run: rabbitmqctl enable_feature_flag all — quorum queues dead-letter at most once until then`,
  };
}
