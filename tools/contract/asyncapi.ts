/**
 * docs/asyncapi.yaml: the events as an AsyncAPI 3 document, generated from the event contracts
 * (libs/events) and the services' topologies (apps/<app>/src/topology.ts), so that it cannot
 * say other than the code. Channels: one per event type (its routing key on its topic
 * exchange), one per queue (with its bindings and arguments), one per dead-letter queue.
 * Operations: who sends each event, who receives each queue, who parks into a dead-letter queue.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { stringify } from 'yaml';
import type { EventContract } from '@orderflow/events';
import { queueDeclarations, type QueueDeclaration, type Topology } from '@orderflow/messaging';
import { allContracts, byText, messageId, REPO_ROOT, serviceEvents, type ServiceEvents } from './asyncapi-services';
import { envelopeJsonSchema, headersJsonSchema, jsonSchemaOf, messagePayload, type JsonSchema } from './asyncapi-schemas';

export const ASYNCAPI_FILE = path.join(REPO_ROOT, 'docs', 'asyncapi.yaml');

type Doc = Record<string, unknown>;

const AMQP_BINDING = '0.3.0';
const VHOST = '/';
const ref = ($ref: string): { $ref: string } => ({ $ref });
/** A JSON Pointer segment (ids here have no `/` or `~`, but a future one must not break the pointer). */
const seg = (id: string): string => id.replace(/~/g, '~0').replace(/\//g, '~1');
const code = (names: readonly string[]): string => names.map((n) => `\`${n}\``).join(', ');
const byKey = <T>(entries: Array<[string, T]>): Record<string, T> => Object.fromEntries(entries.sort(([a], [b]) => byText(a, b)));

/** Who sends and who receives each contract, and on which queues it arrives. */
interface Routes {
  senders: Map<string, string[]>;
  queues: Map<string, string[]>;
}

function routesOf(services: readonly ServiceEvents[]): Routes {
  const senders = new Map<string, string[]>();
  const queues = new Map<string, string[]>();
  const add = (map: Map<string, string[]>, key: string, value: string): void => {
    map.set(key, [...new Set([...(map.get(key) ?? []), value])].sort());
  };
  for (const { topology, publishes } of services) {
    for (const c of publishes) add(senders, messageId(c), topology.service);
    for (const q of topology.queues) for (const c of q.contracts) add(queues, messageId(c), q.name);
  }
  return { senders, queues };
}

function message(c: EventContract, routes: Routes): Doc {
  const senders = routes.senders.get(messageId(c)) ?? [];
  const queues = routes.queues.get(messageId(c)) ?? [];
  return {
    name: c.type,
    title: `${c.type} v${c.version}`,
    summary: `Published by ${senders.join(', ') || 'no service'} on \`${c.exchange}\`; consumed on ${code(queues) || 'no queue'}.`,
    headers: ref('#/components/schemas/MessageHeaders'),
    correlationId: ref('#/components/correlationIds/correlationId'),
    payload: messagePayload(c, `#/components/schemas/${seg(messageId(c))}`),
    bindings: { amqp: { messageType: c.type, bindingVersion: AMQP_BINDING } },
  };
}

const messagesOf = (list: readonly EventContract[]): Record<string, { $ref: string }> =>
  byKey([...new Map(list.map((c) => [messageId(c), c])).values()].map((c) => [messageId(c), ref(`#/components/messages/${seg(messageId(c))}`)]));

/** The channel of one event type: its routing key on its topic exchange (all its versions). */
function eventChannel(type: string, versions: EventContract[], routes: Routes): Doc {
  const exchange = versions[0]!.exchange;
  const queues = [...new Set(versions.flatMap((c) => routes.queues.get(messageId(c)) ?? []))].sort();
  return {
    address: type,
    title: type,
    description: `Routing key \`${type}\` on the topic exchange \`${exchange}\`; bound to ${code(queues) || 'no queue'}.`,
    messages: messagesOf(versions),
    bindings: {
      amqp: { is: 'routingKey', exchange: { name: exchange, type: 'topic', durable: true, autoDelete: false, vhost: VHOST }, bindingVersion: AMQP_BINDING },
    },
  };
}

/** A queue as a channel: the AMQP binding carries what the service declares (bindings, x-arguments). */
function queueChannel(declaration: QueueDeclaration, description: string, contracts: readonly EventContract[]): Doc {
  return {
    address: declaration.name,
    title: declaration.name,
    description,
    messages: messagesOf(contracts),
    bindings: {
      amqp: {
        is: 'queue',
        queue: { name: declaration.name, durable: true, exclusive: false, autoDelete: false, vhost: VHOST },
        'x-bindings': declaration.bindings
          .map((b) => ({ exchange: b.exchange, routingKey: b.routingKey }))
          .sort((a, b) => byText(`${a.exchange} ${a.routingKey}`, `${b.exchange} ${b.routingKey}`)),
        'x-arguments': byKey(Object.entries(declaration.arguments)),
        bindingVersion: AMQP_BINDING,
      },
    },
  };
}

function declarationOf(topology: Topology, queue: string): QueueDeclaration {
  const found = queueDeclarations(topology).find((d) => d.name === queue);
  if (!found) throw new Error(`${topology.service} declares no queue ${queue}`);
  return found;
}

function serviceChannels(topology: Topology): Array<[string, Doc]> {
  const retries = code(topology.retryLevels.map((l) => l.queue));
  const consumed = topology.queues.flatMap((q) => q.contracts);
  const work = topology.queues.map((q): [string, Doc] => [
    q.name,
    queueChannel(
      declarationOf(topology, q.name),
      `The ${topology.service} service's queue \`${q.purpose}\` (quorum). A transient failure waits in ${retries || 'no retry queue'} ` +
        `(each behind a fanout exchange of its name) and comes back to this queue only; the last failure, or a permanent one, parks the message in \`${topology.deadLetterQueue}\`.`,
      q.contracts,
    ),
  ]);
  const deadLetter: [string, Doc] = [
    topology.deadLetterQueue,
    queueChannel(
      declarationOf(topology, topology.deadLetterQueue),
      `Where the ${topology.service} service parks what it could not handle (through its direct exchange \`${topology.directExchange}\`), with the park headers; ` +
        `the dead-letter API lists, replays and discards them (docs/contract.md, "Dead letters").` +
        (consumed.length === 0 ? ' The service consumes nothing, so nothing is parked here.' : ''),
      consumed,
    ),
  ];
  return [...work, deadLetter];
}

const tags = (service: string): Array<{ name: string }> => [{ name: service }];

function serviceOperations(topology: Topology, publishes: readonly EventContract[]): Array<[string, Doc]> {
  const { service } = topology;
  const msgRefs = (channel: string, list: readonly EventContract[]): Array<{ $ref: string }> =>
    Object.keys(messagesOf(list)).map((id) => ref(`#/channels/${seg(channel)}/messages/${seg(id)}`));
  const types = [...new Set(publishes.map((c) => c.type))].sort();
  const sends = types.map((type): [string, Doc] => [
    `${service}.send.${type}`,
    {
      action: 'send',
      channel: ref(`#/channels/${seg(type)}`),
      title: `${service} publishes ${type}`,
      summary: 'Persistent and mandatory (an event no queue takes is returned to the publisher, not dropped), with publisher confirms.',
      messages: msgRefs(type, publishes.filter((c) => c.type === type)),
      bindings: { amqp: { deliveryMode: 2, mandatory: true, timestamp: true, bindingVersion: AMQP_BINDING } },
      tags: tags(service),
    },
  ]);
  const queues = [...topology.queues].sort((a, b) => byText(a.purpose, b.purpose));
  const receives = queues.map((q): [string, Doc] => [
    `${service}.receive.${q.purpose}`,
    {
      action: 'receive',
      channel: ref(`#/channels/${seg(q.name)}`),
      title: `${service} consumes ${q.name}`,
      summary: 'Acknowledged once handled (effects, inbox and outbox in one transaction); an invalid message is parked at once.',
      messages: msgRefs(q.name, q.contracts),
      bindings: { amqp: { ack: true, bindingVersion: AMQP_BINDING } },
      tags: tags(service),
    },
  ]);
  const consumed = topology.queues.flatMap((q) => q.contracts);
  const park: Array<[string, Doc]> =
    consumed.length === 0
      ? []
      : [
          [
            `${service}.park`,
            {
              action: 'send',
              channel: ref(`#/channels/${seg(topology.deadLetterQueue)}`),
              title: `${service} parks a message it could not handle`,
              summary: 'A copy with the park headers, confirmed before the original is acknowledged.',
              messages: msgRefs(topology.deadLetterQueue, consumed),
              bindings: { amqp: { deliveryMode: 2, mandatory: true, bindingVersion: AMQP_BINDING } },
              tags: tags(service),
            },
          ],
        ];
  return [...sends, ...receives, ...park];
}

const DESCRIPTION = `The events of Orderflow on RabbitMQ. Generated by \`npm run contract\` from the event contracts
(libs/events/src/contracts.ts) and the services' topologies (apps/*/src/topology.ts): do not edit.

- **Channels.** Each event is published on the durable topic exchange \`<domain>.events\` with routing
  key = event type: one channel per event type (all its versions). Each service consumes its own
  quorum queues \`<service>.<purpose>\`: one channel per queue, whose AMQP binding lists the queue's
  bindings (\`x-bindings\`) and arguments (\`x-arguments\`).
- **Messages.** The body is the JSON envelope (schema \`Envelope\`) with the event's payload; the
  message id is \`<type>.v<version>\`. AMQP properties of every event: delivery mode 2 (persistent),
  mandatory, content type \`application/json\`, \`message_id\` = \`eventId\`, \`correlation_id\` =
  \`correlationId\`, \`type\` = the event type, \`timestamp\` = the publish time in seconds.
- **Versions.** A breaking payload change is a new version, published on the same routing key next
  to the old one until every consumer has moved; a consumer's queue lists the versions it takes.
- **Retries and dead letters.** A transient failure sends the message round the service's retry
  ladder (\`<service>.retry.<delay>ms\`, \`RETRY_DELAYS_MS\`) back to the one queue that failed; the
  last failure, or a permanent one, parks it in \`<service>.dead-letter\` (the \`park\` operations),
  with the headers of \`MessageHeaders\`.`;

/** The AsyncAPI 3 document of the events, as a plain object (stable key order). */
export function asyncApiDocument(services: readonly ServiceEvents[] = serviceEvents()): Doc {
  const contracts = allContracts(services);
  const routes = routesOf(services);
  const byType = new Map<string, EventContract[]>();
  for (const c of contracts) byType.set(c.type, [...(byType.get(c.type) ?? []), c]);
  const channels: Array<[string, Doc]> = [
    ...[...byType].map(([type, versions]): [string, Doc] => [type, eventChannel(type, versions, routes)]).sort(([a], [b]) => byText(a, b)),
    ...services.flatMap((s) => serviceChannels(s.topology)).sort(([a], [b]) => byText(a, b)),
  ];
  const ids = channels.map(([id]) => id);
  const clash = ids.find((id, i) => ids.indexOf(id) !== i);
  if (clash) throw new Error(`channel id ${clash} is both an event type and a queue name`);
  const { version } = JSON.parse(readFileSync(path.join(REPO_ROOT, 'package.json'), 'utf8')) as { version: string };
  return {
    asyncapi: '3.0.0',
    id: 'urn:orderflow:events',
    info: {
      title: 'Orderflow events',
      version,
      description: DESCRIPTION,
      license: { name: 'MIT' },
      tags: services.map((s) => ({ name: s.topology.service, description: `apps/${s.app}` })),
    },
    defaultContentType: 'application/json',
    servers: {
      local: {
        host: '127.0.0.1:5672',
        protocol: 'amqp',
        protocolVersion: '0.9.1',
        description: 'The broker `npm start` and the tests use (the default AMQP_URL), vhost `/`.',
        security: [ref('#/components/securitySchemes/brokerUser')],
      },
      cluster: {
        host: 'rabbitmq:5672',
        protocol: 'amqp',
        protocolVersion: '0.9.1',
        description:
          'Compose and Kubernetes: the `rabbitmq` service, vhost `/`. Each service connects as its own user with the least permissions its topology needs (k8s/rabbitmq/definitions.json).',
        security: [ref('#/components/securitySchemes/brokerUser')],
      },
    },
    channels: Object.fromEntries(channels),
    operations: Object.fromEntries(services.flatMap((s) => serviceOperations(s.topology, s.publishes))),
    components: {
      messages: byKey(contracts.map((c) => [messageId(c), message(c, routes)])),
      schemas: {
        Envelope: envelopeJsonSchema(),
        MessageHeaders: headersJsonSchema(),
        ...byKey(contracts.map((c): [string, JsonSchema] => [messageId(c), { title: `${messageId(c)} payload`, ...jsonSchemaOf(c.payload) }])),
      },
      correlationIds: {
        correlationId: {
          description: 'The order id (the import id for import and bulk events): the envelope\'s `correlationId`, also the AMQP correlation_id.',
          location: '$message.payload#/correlationId',
        },
      },
      securitySchemes: {
        brokerUser: { type: 'userPassword', description: 'A RabbitMQ user and password (AMQP_URL / AMQP_URLS).' },
      },
    },
  };
}

/** docs/asyncapi.yaml's exact text. */
export function renderAsyncApi(doc: Doc = asyncApiDocument()): string {
  const header = '# Generated by `npm run contract` (tools/contract/asyncapi.ts) from libs/events and apps/*/src/topology.ts: do not edit.\n';
  return header + stringify(doc, { aliasDuplicateObjects: false, lineWidth: 0 });
}
