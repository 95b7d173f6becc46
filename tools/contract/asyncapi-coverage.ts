/**
 * Whether an AsyncAPI document says everything the code declares about the events: each
 * contract as a message on the channel of its routing key, each service's sends, each queue
 * with its bindings and its consumer. Read from the code directly, not from the generator, so
 * a document that is fresh but incomplete (a generator bug) fails too.
 */
import { contracts as eventContracts, type EventContract } from '@orderflow/events';
import { messageId, type ServiceEvents } from './asyncapi-services';

type Node = Record<string, unknown>;

/** The object at `keys` under `doc`, or undefined. */
function at(doc: unknown, ...keys: string[]): Node | undefined {
  let node: unknown = doc;
  for (const key of keys) {
    if (typeof node !== 'object' || node === null) return undefined;
    node = (node as Node)[key];
  }
  return typeof node === 'object' && node !== null ? (node as Node) : undefined;
}

const refsOf = (list: unknown): string[] => (Array.isArray(list) ? list.map((m) => String((m as Node).$ref)) : []);

interface Operation {
  id: string;
  action: string;
  channel: string;
  messages: string[];
  tags: string[];
}

function operationsOf(doc: unknown): Operation[] {
  return Object.entries(at(doc, 'operations') ?? {}).map(([id, op]) => {
    const o = op as Node;
    return {
      id,
      action: String(o.action),
      channel: String(at(o, 'channel')?.$ref),
      messages: refsOf(o.messages),
      tags: Array.isArray(o.tags) ? o.tags.map((t) => String((t as Node).name)) : [],
    };
  });
}

/**
 * What the code declares and `doc` does not say, one sentence each (none: it says it all), and
 * the messages `doc` names that no contract defines.
 */
export function undocumented(doc: unknown, services: readonly ServiceEvents[], contracts: readonly EventContract[] = eventContracts): string[] {
  const problems: string[] = [];
  const operations = operationsOf(doc);
  const hasOperation = (service: string, action: string, channel: string, message: string): boolean =>
    operations.some((o) => o.tags.includes(service) && o.action === action && o.channel === `#/channels/${channel}` && o.messages.includes(`#/channels/${channel}/messages/${message}`));
  const all = [...contracts, ...services.flatMap((s) => [...s.publishes, ...s.topology.queues.flatMap((q) => q.contracts)])];

  for (const c of new Set(all)) {
    const id = messageId(c);
    const body = at(doc, 'components', 'messages', id, 'payload', 'allOf', '1', 'properties');
    if (at(body, 'eventType')?.const !== c.type || at(body, 'version')?.const !== c.version) problems.push(`message ${id} is missing (or not of type ${c.type} v${c.version})`);
    if (!at(doc, 'components', 'schemas', id)) problems.push(`the payload schema ${id} is missing`);
    if (at(doc, 'channels', c.type, 'bindings', 'amqp', 'exchange')?.name !== c.exchange) problems.push(`channel ${c.type} on exchange ${c.exchange} is missing`);
    else if (!at(doc, 'channels', c.type, 'messages', id)) problems.push(`channel ${c.type} does not carry ${id}`);
  }
  for (const { topology, publishes } of services) {
    for (const c of publishes) {
      if (!hasOperation(topology.service, 'send', c.type, messageId(c))) problems.push(`no send operation of ${topology.service} for ${messageId(c)}`);
    }
    for (const q of topology.queues) {
      const amqp = at(doc, 'channels', q.name, 'bindings', 'amqp');
      const bound = Array.isArray(amqp?.['x-bindings']) ? (amqp['x-bindings'] as Node[]).map((b) => `${String(b.exchange)} ${String(b.routingKey)}`) : [];
      if (amqp?.is !== 'queue') problems.push(`queue channel ${q.name} is missing`);
      for (const b of q.bindings) if (!bound.includes(`${b.exchange} ${b.routingKey}`)) problems.push(`queue ${q.name}'s binding to ${b.exchange} ${b.routingKey} is missing`);
      for (const c of q.contracts) {
        if (!hasOperation(topology.service, 'receive', q.name, messageId(c))) problems.push(`no receive operation of ${topology.service} for ${messageId(c)} on ${q.name}`);
      }
    }
  }
  const known = new Set(all.map(messageId));
  for (const id of Object.keys(at(doc, 'components', 'messages') ?? {})) if (!known.has(id)) problems.push(`message ${id} is no contract of the code`);
  return problems;
}
