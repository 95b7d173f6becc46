import { z } from 'zod';
import { defineEvent } from '@orderflow/events';
import { BROKER_DELIVERY_LIMIT, defineTopology, queueDeclarations } from '../src';

describe('topology: queues and their bindings from the contracts', () => {
  it('two versions of one event consumed by a queue make one binding: they share the routing key', () => {
    const v1 = defineEvent('work.done', 1, z.object({ id: z.string() }));
    const v2 = defineEvent('work.done', 2, z.tuple([z.string()]));
    const other = defineEvent('work.failed', 1, z.object({ id: z.string() }));
    const topology = defineTopology({ service: 'svc', prefix: 't.', publishes: [], consumes: { work: [v1, v2, other] }, retryDelaysMs: [1000] });
    expect(topology.queues).toEqual([
      {
        name: 't.svc.work',
        purpose: 'work',
        contracts: [v1, v2, other],
        bindings: [
          { exchange: 't.work.events', routingKey: 'work.done' },
          { exchange: 't.work.events', routingKey: 'work.failed' },
        ],
      },
    ]);
  });

  it('declares every queue as a quorum queue: work queues dead-letter at their delivery limit into the dead-letter queue, retry queues back after their TTL, both at least once and through the service\'s direct exchange; retry queues first', () => {
    const work = defineEvent('work.done', 1, z.object({ id: z.string() }));
    const topology = defineTopology({ service: 'svc', prefix: 't.', publishes: [], consumes: { work: [work] }, retryDelaysMs: [1000, 5000] });
    const atLeastOnce = { 'x-dead-letter-strategy': 'at-least-once', 'x-overflow': 'reject-publish' };
    expect(queueDeclarations(topology)).toEqual([
      { name: 't.svc.retry.1000ms', arguments: { 'x-queue-type': 'quorum', 'x-message-ttl': 1000, 'x-dead-letter-exchange': 't.svc.direct', ...atLeastOnce }, bindings: [{ exchange: 't.svc.retry.1000ms', routingKey: '' }] },
      { name: 't.svc.retry.5000ms', arguments: { 'x-queue-type': 'quorum', 'x-message-ttl': 5000, 'x-dead-letter-exchange': 't.svc.direct', ...atLeastOnce }, bindings: [{ exchange: 't.svc.retry.5000ms', routingKey: '' }] },
      { name: 't.svc.dead-letter', arguments: { 'x-queue-type': 'quorum' }, bindings: [{ exchange: 't.svc.direct', routingKey: 't.svc.dead-letter' }] },
      {
        name: 't.svc.work',
        arguments: { 'x-queue-type': 'quorum', 'x-delivery-limit': BROKER_DELIVERY_LIMIT, 'x-dead-letter-exchange': 't.svc.direct', 'x-dead-letter-routing-key': 't.svc.dead-letter', ...atLeastOnce },
        bindings: [{ exchange: 't.work.events', routingKey: 'work.done' }, { exchange: 't.svc.direct', routingKey: 't.svc.work' }],
      },
    ]);
  });
});
