/**
 * The broker declares the services' topology at boot from k8s/rabbitmq/definitions.json.
 * That file must be exactly what the code declares (RabbitMQ refuses a service's declaration
 * with PRECONDITION_FAILED when a queue's arguments differ), and it must really be loaded.
 */
import { readFileSync } from 'node:fs';
import { DEFINITIONS_FILE, defaultRetryDelays, rabbitmqDefinitions, renderDefinitions, topologyApps, type Definitions } from '../tools/rabbitmq-definitions';
import { SERVICES, compose, generated, named, type Container, type Workload } from './support';
import { BROKER_DELIVERY_LIMIT } from '@orderflow/messaging';

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

  it('declares each retry queue as a quorum queue with the TTL and the default dead-letter exchange the services assert, dead-lettering at least once', () => {
    const retryQueues = committed().queues.filter((q) => q.name.includes('.retry.'));
    expect(retryQueues.length).toBe(topologyApps().length * defaultRetryDelays().length);
    for (const q of retryQueues) {
      const delay = Number(/\.retry\.(\d+)ms$/.exec(q.name)?.[1]);
      expect({ name: q.name, durable: q.durable, auto_delete: q.auto_delete, arguments: q.arguments }).toEqual({
        name: q.name,
        durable: true,
        auto_delete: false,
        arguments: {
          'x-queue-type': 'quorum',
          'x-message-ttl': delay,
          'x-dead-letter-exchange': '',
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
        'x-dead-letter-exchange': '',
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

  it('an init container writes them (and the operator user from the Secret) where the broker reads them', () => {
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
    expect((init.env ?? []).map((e) => e.name).sort()).toEqual(['RABBITMQ_PASSWORD', 'RABBITMQ_USER']);
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
});
