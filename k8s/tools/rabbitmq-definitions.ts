/**
 * The broker's boot definitions (RabbitMQ's definitions JSON: exchanges, queues, bindings,
 * and each service's broker user with its permissions), derived from what the services really
 * declare: every `apps/<app>/src/topology.ts` is built with the production prefix ('') and the
 * default RETRY_DELAYS_MS, then handed to the real `assertTopology` with a recording channel.
 * Whatever arguments that function passes (e.g. a retry queue's `x-message-ttl` and
 * `x-dead-letter-exchange`) end up here verbatim, so a queue declared at boot never differs
 * from the service's own declaration (which RabbitMQ would refuse with PRECONDITION_FAILED).
 * Every service gets a user named after its app with `brokerPermissions(topology)`; its
 * password is a placeholder (`@<KEY>@`) that prepare-definitions.sh fills in from the
 * variable KEY (the Secret's key of that name) when the broker boots.
 */
import { existsSync, readdirSync } from 'node:fs';
import path from 'node:path';
import type { Channel, Options } from 'amqplib';
import { assertTopology, brokerPermissions, type BrokerPermissions, type Topology } from '@orderflow/messaging';
import { serviceConfigSchema } from '@orderflow/service';

export const REPO_ROOT = path.resolve(__dirname, '..', '..');
export const DEFINITIONS_FILE = path.join(REPO_ROOT, 'k8s', 'rabbitmq', 'definitions.json');

const VHOST = '/';

export interface ExchangeDefinition {
  name: string;
  vhost: string;
  type: string;
  durable: boolean;
  auto_delete: boolean;
  internal: boolean;
  arguments: Record<string, unknown>;
}
export interface QueueDefinition {
  name: string;
  vhost: string;
  durable: boolean;
  auto_delete: boolean;
  arguments: Record<string, unknown>;
}
export interface BindingDefinition {
  source: string;
  vhost: string;
  destination: string;
  destination_type: 'queue';
  routing_key: string;
  arguments: Record<string, unknown>;
}
export interface UserDefinition {
  name: string;
  /** `@<KEY>@`: filled in at boot from the variable KEY (prepare-definitions.sh). */
  password: string;
  tags: string;
}
export interface PermissionDefinition extends BrokerPermissions {
  user: string;
  vhost: string;
}
export interface Definitions {
  vhosts: Array<{ name: string }>;
  /** The services' users: no tags (no management UI or API), only their permissions. */
  users: UserDefinition[];
  permissions: PermissionDefinition[];
  exchanges: ExchangeDefinition[];
  queues: QueueDefinition[];
  bindings: BindingDefinition[];
}

/** The Secret key (and variable) of a service's broker password: `ORDER_RABBITMQ_PASSWORD` for order-service. */
export const brokerPasswordKey = (app: string): string => `${app.replace(/-service$/, '').toUpperCase().replace(/[^A-Z0-9]/g, '_')}_RABBITMQ_PASSWORD`;

/** The password placeholder of a service's user in definitions.json. */
export const passwordPlaceholder = (app: string): string => `@${brokerPasswordKey(app)}@`;

/** amqplib turns these assertQueue options into x-arguments (lib/api_args.js); anything else is refused. */
const QUEUE_OPTION_ARGS: Record<string, string> = {
  messageTtl: 'x-message-ttl',
  expires: 'x-expires',
  deadLetterExchange: 'x-dead-letter-exchange',
  deadLetterRoutingKey: 'x-dead-letter-routing-key',
  maxLength: 'x-max-length',
  maxPriority: 'x-max-priority',
  overflow: 'x-overflow',
  queueMode: 'x-queue-mode',
};

/** The retry ladder the services run with when RETRY_DELAYS_MS is not set (the manifests do not set it). */
export const defaultRetryDelays = (): number[] => serviceConfigSchema(1).shape.RETRY_DELAYS_MS.parse(undefined);

/** Apps that declare a topology (apps/<app>/src/topology.ts exporting `topology(prefix, delays)`). */
export function topologyApps(root = REPO_ROOT): string[] {
  return readdirSync(path.join(root, 'apps'))
    .filter((app) => existsSync(path.join(root, 'apps', app, 'src', 'topology.ts')))
    .sort();
}

type TopologyFactory = (prefix?: string, retryDelaysMs?: readonly number[]) => Topology;

function loadTopology(app: string, root: string, delays: readonly number[]): Topology {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const mod = require(path.join(root, 'apps', app, 'src', 'topology.ts')) as { topology?: TopologyFactory };
  if (typeof mod.topology !== 'function') throw new Error(`apps/${app}/src/topology.ts does not export topology(prefix, retryDelaysMs)`);
  return mod.topology('', delays);
}

/** A Channel that records declarations instead of sending them (and the exchanges checked passively in `checked`). */
function recordingChannel(defs: Definitions, checked: Map<string, string>, app: () => string): Channel {
  const upsert = <T extends { name: string }>(list: T[], item: T, what: string): void => {
    const existing = list.find((x) => x.name === item.name);
    if (!existing) list.push(item);
    else if (JSON.stringify(existing) !== JSON.stringify(item)) {
      // Two services declaring one name differently: RabbitMQ would refuse the second one.
      throw new Error(`${what} ${item.name} is declared differently by two services:\n${JSON.stringify(existing)}\n${JSON.stringify(item)}`);
    }
  };
  const channel = {
    async checkExchange(name: string) {
      checked.set(name, app());
      return {};
    },
    async assertExchange(name: string, type: string, options: Options.AssertExchange = {}) {
      const { durable = true, autoDelete = false, internal = false, arguments: args = {}, ...rest } = options;
      if (Object.keys(rest).length > 0) throw new Error(`assertExchange option(s) not mapped to definitions: ${Object.keys(rest).join(', ')}`);
      upsert(defs.exchanges, { name, vhost: VHOST, type, durable, auto_delete: autoDelete, internal, arguments: { ...args } }, 'exchange');
      return { exchange: name };
    },
    async assertQueue(name: string, options: Options.AssertQueue = {}) {
      const { durable = true, autoDelete = false, exclusive = false, arguments: args = {}, ...rest } = options;
      if (exclusive) throw new Error(`queue ${name} is exclusive: it cannot be declared at boot`);
      const queueArgs: Record<string, unknown> = { ...args };
      for (const [option, value] of Object.entries(rest)) {
        const arg = QUEUE_OPTION_ARGS[option];
        if (!arg) throw new Error(`assertQueue option ${option} not mapped to definitions`);
        if (value !== undefined) queueArgs[arg] = value;
      }
      upsert(defs.queues, { name, vhost: VHOST, durable, auto_delete: autoDelete, arguments: queueArgs }, 'queue');
      return { queue: name, messageCount: 0, consumerCount: 0 };
    },
    async bindQueue(queue: string, source: string, pattern: string, args: Record<string, unknown> = {}) {
      const binding: BindingDefinition = { source, vhost: VHOST, destination: queue, destination_type: 'queue', routing_key: pattern, arguments: { ...args } };
      if (!defs.bindings.some((b) => JSON.stringify(b) === JSON.stringify(binding))) defs.bindings.push(binding);
      return {};
    },
  };
  return channel as unknown as Channel;
}

const byName = (a: { name: string }, b: { name: string }): number => a.name.localeCompare(b.name);

/** The definitions every service's topology declares, merged and sorted (stable file content). */
export async function rabbitmqDefinitions(root = REPO_ROOT, delays: readonly number[] = defaultRetryDelays()): Promise<Definitions> {
  const defs: Definitions = { vhosts: [{ name: VHOST }], users: [], permissions: [], exchanges: [], queues: [], bindings: [] };
  /** Exchange → an app that binds to it without declaring it (another service's). */
  const checked = new Map<string, string>();
  let current = '';
  const channel = recordingChannel(defs, checked, () => current);
  for (const app of topologyApps(root)) {
    current = app;
    const topology = loadTopology(app, root, delays);
    await assertTopology(channel, topology);
    defs.users.push({ name: app, password: passwordPlaceholder(app), tags: '' });
    defs.permissions.push({ user: app, vhost: VHOST, ...brokerPermissions(topology) });
  }
  for (const [exchange, app] of checked) {
    // Its user may not declare it: the broker must, and so some service must publish on it.
    if (!defs.exchanges.some((e) => e.name === exchange)) throw new Error(`${app} binds to exchange ${exchange}, which no service publishes on (nothing would declare it)`);
  }
  defs.users.sort(byName);
  defs.permissions.sort((a, b) => a.user.localeCompare(b.user));
  defs.exchanges.sort(byName);
  defs.queues.sort(byName);
  defs.bindings.sort((a, b) => `${a.destination}\u0000${a.source}\u0000${a.routing_key}`.localeCompare(`${b.destination}\u0000${b.source}\u0000${b.routing_key}`));
  return defs;
}

/** The committed file's exact text for these definitions. */
export const renderDefinitions = (defs: Definitions): string => `${JSON.stringify(defs, null, 2)}\n`;
