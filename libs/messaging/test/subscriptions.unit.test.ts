import { z } from 'zod';
import { defineEvent } from '@orderflow/events';
import type { Pool } from 'pg';
import { createLogger } from '@orderflow/logging';
import { BULK_LANE, Messaging, assertSubscriptions, defineTopology, on, onBatch, subscriptionMismatches, type Subscriptions } from '../src';

const taskRequested = defineEvent('task.requested', 1, z.object({ key: z.string() }));
const taskCancelled = defineEvent('task.cancelled', 1, z.object({ key: z.string() }));
const chunk = defineEvent('task.chunk', 1, z.object({ n: z.number() }));
const chunkV2 = defineEvent('task.chunk', 2, z.object({ n: z.tuple([z.number()]) }));

const topology = defineTopology({
  service: 'worker',
  prefix: 'test-',
  publishes: [],
  consumes: { work: [taskRequested, taskCancelled], bulk: [chunk, chunkV2] },
  retryDelaysMs: [1000],
});
const noop = async () => undefined;
const matching: Subscriptions<never> = {
  work: [onBatch([taskRequested, taskCancelled], noop)],
  bulk: { handlers: [on(chunk, noop), on(chunkV2, noop)], ...BULK_LANE },
};

describe('subscriptions against the topology', () => {
  it('when every queue has handlers for exactly its contracts, there is nothing to report', () => {
    expect(subscriptionMismatches(topology, matching)).toEqual([]);
    expect(() => assertSubscriptions(topology, matching)).not.toThrow();
  });

  it('when a queue receives a contract no handler takes, start fails naming the queue and the contract', () => {
    const subscriptions = { ...matching, bulk: { handlers: [on(chunkV2, noop)], ...BULK_LANE } };
    expect(subscriptionMismatches(topology, subscriptions)).toEqual([
      'queue test-worker.bulk receives task.chunk v1 but no handler of subscription "bulk" takes it (it would be parked)',
    ]);
    expect(() => assertSubscriptions(topology, subscriptions)).toThrow(
      expect.objectContaining({ code: 'MESSAGING.SUBSCRIPTION_MISMATCH', message: expect.stringContaining('test-worker.bulk receives task.chunk v1') }),
    );
  });

  it('when a handler takes a contract the topology does not route to its queue, start fails naming both', () => {
    const subscriptions = { ...matching, work: [onBatch([taskRequested, taskCancelled, chunk], noop)] };
    expect(subscriptionMismatches(topology, subscriptions)).toEqual([
      'subscription "work" handles task.chunk v1 but the topology does not route it to queue test-worker.work (the handler would never run)',
    ]);
  });

  it('when a subscription names a queue the topology does not have, start fails listing the queues it has', () => {
    const subscriptions = { ...matching, jobs: [on(taskRequested, noop)] };
    expect(subscriptionMismatches(topology, subscriptions)).toEqual([
      'subscription "jobs" names no queue of the worker topology (its queues: bulk, work)',
    ]);
  });

  it('when a topology queue has no subscription, start fails: nothing would consume it', () => {
    const { bulk: _bulk, ...subscriptions } = matching;
    expect(subscriptionMismatches(topology, subscriptions)).toEqual([
      'queue test-worker.bulk (task.chunk v1, task.chunk v2) has no subscription "bulk": nothing would consume it',
    ]);
    expect(() => assertSubscriptions(topology, subscriptions)).toThrow(expect.objectContaining({ details: { problems: [expect.stringContaining('test-worker.bulk')] } }));
  });

  it('Messaging.start refuses mismatched subscriptions before it connects to anything', async () => {
    const messaging = new Messaging<never>({
      topology,
      // Nothing listens here: a start that tried to connect would fail otherwise (or hang).
      amqpUrl: 'amqp://127.0.0.1:1',
      connectionName: 'subscriptions-test',
      pool: {} as Pool,
      transaction: async () => {
        throw new Error('no database in this test');
      },
      logger: createLogger({ service: 'test', silent: true }),
    });
    const { bulk: _bulk, ...subscriptions } = matching;
    await expect(messaging.start(subscriptions)).rejects.toMatchObject({ code: 'MESSAGING.SUBSCRIPTION_MISMATCH' });
    expect(messaging.broker.isConnected()).toBe(false);
  });
});
