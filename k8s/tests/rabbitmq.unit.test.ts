/**
 * The broker declares the services' topology at boot from k8s/rabbitmq/definitions.json.
 * That file must be exactly what the code declares (RabbitMQ refuses a service's declaration
 * with PRECONDITION_FAILED when a queue's arguments differ), and it must really be loaded.
 */
import { readFileSync } from 'node:fs';
import { DEFINITIONS_FILE, brokerPasswordKey, defaultRetryDelays, passwordPlaceholder, rabbitmqDefinitions, renderDefinitions, topologyApps, type Definitions } from '../tools/rabbitmq-definitions';
import { PROCESSES, SERVICES, compose, composeEnv, dataOf, generated, named, type Container, type Workload } from './support';
import { BROKER_DELIVERY_LIMIT, permits } from '@orderflow/messaging';

const committed = (): Definitions => JSON.parse(readFileSync(DEFINITIONS_FILE, 'utf8')) as Definitions;

describe('k8s/rabbitmq/definitions.json', () => {
  it('is exactly what the services\' topologies declare (regenerate: npx tsx k8s/tools/generate.ts)', async () => {
    expect(readFileSync(DEFINITIONS_FILE, 'utf8')).toBe(renderDefinitions(await rabbitmqDefinitions()));
  });

  it('covers every app that declares a topology', () => {
    const apps = topologyApps();
    expect(apps.length).toBeGreaterThanOrEqual(4);
    expect(apps.every((app) => SERVICES.some((s) => s.app === app))).toBe(true);
    const queues = committed().queues.map((q) => q.name);
    for (const app of apps) expect(queues).toContain(`${app.replace(/-service$/, '')}.dead-letter`);
  });

  it('declares each retry queue as a quorum queue with the TTL and its service\'s direct exchange as dead-letter exchange, as the services assert, dead-lettering at least once', () => {
    const retryQueues = committed().queues.filter((q) => q.name.includes('.retry.'));
    expect(retryQueues.length).toBe(topologyApps().length * defaultRetryDelays().length);
    for (const q of retryQueues) {
      const delay = Number(/\.retry\.(\d+)ms$/.exec(q.name)?.[1]);
      const service = q.name.slice(0, q.name.indexOf('.retry.'));
      expect({ name: q.name, durable: q.durable, auto_delete: q.auto_delete, arguments: q.arguments }).toEqual({
        name: q.name,
        durable: true,
        auto_delete: false,
        arguments: {
          'x-queue-type': 'quorum',
          'x-message-ttl': delay,
          'x-dead-letter-exchange': `${service}.direct`,
          'x-dead-letter-strategy': 'at-least-once',
          'x-overflow': 'reject-publish',
        },
      });
    }
  });

  it('declares every queue as a quorum queue: consumer queues with the delivery limit dead-lettering into their service\'s dead-letter queue', () => {
    const { queues } = committed();
    expect(queues.every((q) => q.durable && q.arguments['x-queue-type'] === 'quorum')).toBe(true);
    const work = queues.filter((q) => !q.name.includes('.retry.') && !q.name.endsWith('.dead-letter'));
    expect(work.map((q) => q.name)).toEqual(expect.arrayContaining(['order.saga', 'inventory.saga', 'inventory.bulk', 'payment.saga', 'notification.events']));
    for (const q of work) {
      const service = q.name.slice(0, q.name.indexOf('.'));
      expect(q.arguments).toEqual({
        'x-queue-type': 'quorum',
        'x-delivery-limit': BROKER_DELIVERY_LIMIT,
        'x-dead-letter-exchange': `${service}.direct`,
        'x-dead-letter-routing-key': `${service}.dead-letter`,
        'x-dead-letter-strategy': 'at-least-once',
        'x-overflow': 'reject-publish',
      });
    }
    for (const q of queues.filter((x) => x.name.endsWith('.dead-letter'))) expect(q.arguments).toEqual({ 'x-queue-type': 'quorum' });
  });

  it('binds each consumer queue to its events, and each retry queue to its fanout exchange', () => {
    const { bindings, exchanges } = committed();
    expect(bindings).toContainEqual(expect.objectContaining({ source: 'order.events', destination: 'inventory.saga', routing_key: 'order.created' }));
    expect(bindings).toContainEqual(expect.objectContaining({ source: 'order.retry.1000ms', destination: 'order.retry.1000ms', routing_key: '' }));
    expect(exchanges).toContainEqual(expect.objectContaining({ name: 'payment.events', type: 'topic', durable: true }));
    expect(exchanges).toContainEqual(expect.objectContaining({ name: 'order.retry.1000ms', type: 'fanout', durable: true }));
  });

  it('binds every queue of a service to its direct exchange by its name (retries, parking and replays go through it)', () => {
    const { bindings, queues } = committed();
    for (const q of queues.filter((x) => !x.name.includes('.retry.'))) {
      const service = q.name.slice(0, q.name.indexOf('.'));
      expect(bindings).toContainEqual(expect.objectContaining({ source: `${service}.direct`, destination: q.name, routing_key: q.name }));
    }
  });

  it('gives every service a user of its own, without tags, allowed only its own exchanges and queues and never the default exchange', () => {
    const { users, permissions } = committed();
    expect(users.map((u) => u.name)).toEqual(topologyApps());
    for (const u of users) {
      expect(u).toEqual({ name: u.name, password: passwordPlaceholder(u.name), tags: '' });
      const p = permissions.find((x) => x.user === u.name);
      expect(p).toBeDefined();
      for (const access of ['configure', 'write', 'read'] as const) expect(permits(p!, access, '')).toBe(false);
    }
    const inventory = permissions.find((p) => p.user === 'inventory-service')!;
    expect(permits(inventory, 'write', 'inventory.events')).toBe(true);
    expect(permits(inventory, 'write', 'payment.events')).toBe(false);
    expect(permits(inventory, 'read', 'payment.events')).toBe(true);
    expect(permits(inventory, 'read', 'payment.saga')).toBe(false);
    expect(permits(inventory, 'configure', 'payment.saga')).toBe(false);
    expect(permits(inventory, 'configure', 'inventory.retry.1000ms')).toBe(true);
    expect(permits(inventory, 'write', 'order.direct')).toBe(false);
  });

  it('differs when a declaration differs (the check can fail)', async () => {
    const other = await rabbitmqDefinitions(undefined, [2000]);
    expect(renderDefinitions(other)).not.toBe(readFileSync(DEFINITIONS_FILE, 'utf8'));
  });
});

describe('the broker loads them at boot', () => {
  const pod = named<Workload>('StatefulSet', 'rabbitmq').spec.template.spec;
  const config = generated('ConfigMap', 'rabbitmq-config');
  const conf = config.data?.['rabbitmq.conf'] ?? '';
  const definitionsDir = /^load_definitions\s*=\s*(\S+)$/m.exec(conf)?.[1];

  it('the ConfigMap carries the committed definitions and rabbitmq.conf points at their directory', () => {
    expect(config.data?.['definitions.json']).toBe(readFileSync(DEFINITIONS_FILE, 'utf8'));
    expect(definitionsDir).toBe('/etc/rabbitmq/definitions.d');
  });

  it('an init container writes them (with the users\' passwords and the operator user from the Secret) where the broker reads them', () => {
    const init = pod.initContainers?.find((c) => c.name === 'definitions') as Container;
    const broker = pod.containers.find((c) => c.name === 'rabbitmq') as Container;
    const configVolume = pod.volumes?.find((v) => v.configMap?.name === config.metadata.name)?.name;
    const mountOf = (c: Container, volume?: string) => c.volumeMounts?.find((m) => m.name === volume && !m.subPath)?.mountPath;
    const [, script, out, topology] = init.command ?? [];
    expect(script).toBe(`${mountOf(init, configVolume)}/prepare-definitions.sh`);
    expect(topology).toBe(`${mountOf(init, configVolume)}/definitions.json`);
    const dir = init.volumeMounts?.find((m) => m.mountPath === out);
    expect(out).toBe(definitionsDir);
    expect(mountOf(broker, dir?.name)).toBe(definitionsDir);
    expect(broker.volumeMounts).toContainEqual(expect.objectContaining({ name: configVolume, subPath: 'rabbitmq.conf', mountPath: '/etc/rabbitmq/conf.d/20-orderflow.conf' }));
    // Exactly the Secret's keys the definitions' placeholders name, and the operator's.
    const keys = committed().users.map((u) => brokerPasswordKey(u.name));
    expect(committed().users.map((u) => u.password)).toEqual(keys.map((k) => `@${k}@`));
    expect((init.env ?? []).map((e) => e.name).sort()).toEqual(['RABBITMQ_PASSWORD', 'RABBITMQ_USER', ...keys].sort());
    const secret = dataOf(generated('Secret', 'orderflow-secrets'));
    for (const e of init.env ?? []) {
      expect(e.valueFrom?.secretKeyRef?.key).toBe(e.name);
      expect(secret[e.name]).toMatch(/^[A-Za-z0-9._~-]+$/);
    }
  });

  it('compose mounts the same files the same way', () => {
    const rabbitmq = compose().services.rabbitmq;
    expect(rabbitmq?.volumes).toEqual(
      expect.arrayContaining([
        './k8s/rabbitmq/rabbitmq.conf:/etc/rabbitmq/conf.d/20-orderflow.conf:ro',
        './k8s/rabbitmq/prepare-definitions.sh:/opt/orderflow/prepare-definitions.sh:ro',
        './k8s/rabbitmq/definitions.json:/opt/orderflow/definitions.json:ro',
      ]),
    );
    expect(JSON.stringify(rabbitmq?.entrypoint ?? rabbitmq)).toContain(`prepare-definitions.sh ${definitionsDir} /opt/orderflow/definitions.json`);
  });

  it('compose gives the broker every service user\'s password, and each service (and its bulk lane) connects as its own user with it', () => {
    const services = compose().services;
    const brokerEnv = composeEnv(services.rabbitmq ?? {});
    for (const process of PROCESSES) {
      const key = brokerPasswordKey(process.app);
      expect(brokerEnv[key]).toMatch(/^[A-Za-z0-9._~-]+$/);
      const url = new URL(composeEnv(services[process.name] ?? {}).AMQP_URL ?? '');
      expect({ user: url.username, password: url.password }).toEqual({ user: process.app, password: brokerEnv[key] });
    }
  });
});
