import { z } from 'zod';
import { defineEvent } from '@orderflow/events';
import { defineTopology } from '../src';

describe('topology: queues and their bindings from the contracts', () => {
  it('two versions of one event consumed by a queue make one binding: they share the routing key', () => {
    const v1 = defineEvent('work.done', 1, z.object({ id: z.string() }));
    const v2 = defineEvent('work.done', 2, z.tuple([z.string()]));
    const other = defineEvent('work.failed', 1, z.object({ id: z.string() }));
    const topology = defineTopology({ service: 'svc', prefix: 't.', publishes: [], consumes: { work: [v1, v2, other] }, retryDelaysMs: [1000] });
    expect(topology.queues).toEqual([
      {
        name: 't.svc.work',
        bindings: [
          { exchange: 't.work.events', routingKey: 'work.done' },
          { exchange: 't.work.events', routingKey: 'work.failed' },
        ],
      },
    ]);
  });
});
