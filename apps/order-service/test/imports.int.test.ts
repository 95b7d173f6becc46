import { randomUUID } from 'node:crypto';
import amqplib from 'amqplib';
import request from 'supertest';
import {
  importChunkV2,
  importFailed,
  importReceived,
  importStarted,
  inventoryBatchFailed,
  inventoryBatchReleased,
  inventoryBatchReserved,
  paymentBatchProcessed,
  type Envelope,
  type EventContract,
  type PayloadOf,
} from '@orderflow/events';
import type { Service } from '@orderflow/service';
import { type ServiceUnderTest, bearer, publishEvent, uniquePrefix, waitFor } from '@orderflow/testkit';
import type { Db, Tx } from '../src/db';
import { orderServiceUnderTest } from './support';

const admin = bearer('ops', 'admin');
type Order = PayloadOf<typeof importChunkV2>['orders'][number];

/** An order of a chunk as the worker writes it: `[orderRef, customerId, paymentMethod, [[line, productId, quantity, unitPrice], …]]`. */
const order = (orderRef: string, customerId = 'alice', paymentMethod = 'pm_card_ok', lines: Array<[string, number, number]> = [['P1', 2, 10]]): Order => [
  orderRef,
  customerId,
  paymentMethod,
  lines.map(([productId, quantity, unitPrice], i) => [i + 2, productId, quantity, unitPrice]),
];
const rows = (n: number) => ({ read: n, accepted: n, rejected: 0 });

describe('order service: imports (real PostgreSQL and RabbitMQ)', () => {
  const prefix = uniquePrefix();
  let sut: ServiceUnderTest<Service<Db, Tx>>;
  let service: Service<Db, Tx>;
  let ch: amqplib.ConfirmChannel;
  const published: Envelope<any>[] = [];

  beforeAll(async () => {
    sut = await orderServiceUnderTest({ prefix });
    ({ service, ch } = sut);
    await sut.tap('order.events', published);
  });
  afterAll(() => sut.stop());

  const publish = <C extends EventContract>(contract: C, payload: PayloadOf<C>, correlationId: string) =>
    publishEvent(ch, prefix, contract, payload, { correlationId });
  const progress = async (importId: string) => (await request(service.app).get(`/api/imports/${importId}`).set('Authorization', admin)).body;
  const batchesFor = (importId: string, type: string) => published.filter((e) => e.eventType === type && e.payload.importId === importId);
  const orderOf = async (orderId: string) => (await request(service.app).get(`/api/orders/${orderId}`).set('Authorization', admin)).body;
  /** Publishes an import's lifecycle and chunks; resolves once `expectCreated` orders were announced (default: all). */
  async function startImport(orders: Order[][], expectCreated = orders.flat().length): Promise<{ importId: string; created: Array<{ orderId: string; customerId: string; total: number }> }> {
    const importId = randomUUID();
    await publish(importStarted, { importId }, importId);
    for (const [chunkNo, chunk] of orders.entries()) {
      await publish(importChunkV2, { importId, chunkNo, orders: chunk, rows: rows(chunk.length) }, importId);
    }
    const total = orders.flat().length;
    await publish(importReceived, { importId, rows: rows(total), chunks: orders.length, bytes: 1000 }, importId);
    await waitFor(async () => (await progress(importId)).chunks?.applied === orders.length, 'chunks applied');
    // import.received travels on its own queue (import-status): wait for it too.
    await waitFor(async () => (await progress(importId)).state !== 'RECEIVING', 'import.received applied');
    const created = await waitFor(() => {
      const all = batchesFor(importId, 'order.batch-created').flatMap((e) => e.payload.orders);
      return all.length === expectCreated && all;
    }, 'order.batch-created');
    return { importId, created };
  }

  it('a chunk creates its orders PENDING (lines, timeline) and ONE order.batch-created; a chunk delivered again creates nothing', async () => {
    const ref = randomUUID();
    const { importId, created } = await startImport([[order(`${ref}-1`), order(`${ref}-2`, 'bob', 'pm_card_ok', [['P1', 1, 5], ['P2', 3, 2.5]])]]);
    expect(batchesFor(importId, 'order.batch-created')).toHaveLength(1);
    expect(created).toEqual([
      { orderId: expect.any(String), customerId: 'alice', items: [{ productId: 'P1', quantity: 2, unitPrice: 10 }], total: 20, paymentMethod: 'pm_card_ok' },
      { orderId: expect.any(String), customerId: 'bob', items: [{ productId: 'P1', quantity: 1, unitPrice: 5 }, { productId: 'P2', quantity: 3, unitPrice: 2.5 }], total: 12.5, paymentMethod: 'pm_card_ok' },
    ]);
    const bob = await orderOf(created[1]!.orderId);
    expect(bob).toMatchObject({ status: 'PENDING', total: 12.5, items: [{ productId: 'P1' }, { productId: 'P2' }], timeline: [{ status: 'PENDING', reason: 'order imported' }] });

    await publish(importChunkV2, { importId, chunkNo: 0, orders: [order(`${ref}-1`), order(`${ref}-3`)], rows: rows(2) }, importId);
    await publish(importChunkV2, { importId, chunkNo: 1, orders: [order(`${ref}-4`)], rows: rows(1) }, importId);
    await waitFor(async () => (await progress(importId)).chunks.applied === 2, 'the next chunk applied');
    await waitFor(() => batchesFor(importId, 'order.batch-created').length === 2, 'the next chunk announced');
    expect(batchesFor(importId, 'order.batch-created')[1]!.payload.orders).toHaveLength(1);
    expect((await progress(importId)).orders).toMatchObject({ created: 3, alreadyImported: 0 });
  });

  it('rows without a price make an unpriced order (null prices and total); inventory.batch-reserved records the catalog prices, and payment\'s answer the amount charged', async () => {
    const ref = randomUUID();
    const importId = randomUUID();
    await publish(importStarted, { importId }, importId);
    const orders: PayloadOf<typeof importChunkV2>['orders'] = [
      [`${ref}-1`, 'ivy', 'pm_card_ok', [[2, 'P1', 2, null], [3, 'P2', 1, 4]]],
      [`${ref}-2`, 'jon', 'pm_card_ok', [[4, 'P1', 1, 10]]],
      [`${ref}-3`, 'kim', 'pm_card_ok', [[5, 'P3', 3, null]]],
    ];
    await publish(importChunkV2, { importId, chunkNo: 0, orders, rows: rows(4) }, importId);
    const created = await waitFor(() => {
      const all = batchesFor(importId, 'order.batch-created').flatMap((e) => e.payload.orders);
      return all.length === 3 && all;
    }, 'the chunk announced');
    expect(created.map((o: Record<string, unknown>) => [o.items, o.total])).toEqual([
      [[{ productId: 'P1', quantity: 2 }, { productId: 'P2', quantity: 1, unitPrice: 4 }], undefined],
      [[{ productId: 'P1', quantity: 1, unitPrice: 10 }], 10],
      [[{ productId: 'P3', quantity: 3 }], undefined],
    ]);
    const [ivy, jon, kim] = created as Array<{ orderId: string }>;
    expect(await orderOf(ivy!.orderId)).toMatchObject({ status: 'PENDING', total: null, items: [{ productId: 'P1', unitPrice: null }, { productId: 'P2', unitPrice: 4 }] });

    await publish(
      inventoryBatchReserved,
      {
        importId,
        orders: [
          { orderId: ivy!.orderId, customerId: 'ivy', items: [{ productId: 'P1', quantity: 2, unitPrice: 10 }, { productId: 'P2', quantity: 1, unitPrice: 4 }], total: 24, paymentMethod: 'pm_card_ok' },
          { orderId: jon!.orderId, customerId: 'jon', items: [{ productId: 'P1', quantity: 1, unitPrice: 10 }], total: 10, paymentMethod: 'pm_card_ok' },
        ],
      },
      importId,
    );
    await waitFor(async () => (await orderOf(ivy!.orderId)).total === 24, 'the prices recorded');
    expect(await orderOf(ivy!.orderId)).toMatchObject({ status: 'PENDING', total: 24, items: [{ productId: 'P1', quantity: 2, unitPrice: 10 }, { productId: 'P2', quantity: 1, unitPrice: 4 }] });
    expect(await orderOf(jon!.orderId)).toMatchObject({ status: 'PENDING', total: 10, items: [{ unitPrice: 10 }] });

    // kim's reservation is late (a retry): payment's answer comes first and sets the total to the amount charged.
    await publish(
      paymentBatchProcessed,
      {
        importId,
        completed: [
          { orderId: ivy!.orderId, customerId: 'ivy', paymentId: randomUUID(), amount: 24 },
          { orderId: kim!.orderId, customerId: 'kim', paymentId: randomUUID(), amount: 7.5 },
        ],
        failed: [],
      },
      importId,
    );
    await waitFor(async () => (await orderOf(kim!.orderId)).status === 'CONFIRMED', 'kim confirmed');
    expect(await orderOf(kim!.orderId)).toMatchObject({ total: 7.5, items: [{ unitPrice: null }] });
    const concluded = await waitFor(() => batchesFor(importId, 'order.batch-concluded')[0], 'order.batch-concluded');
    expect(concluded.payload.confirmed.map((o: { orderId: string; total: number }) => [o.orderId, o.total])).toEqual([
      [ivy!.orderId, 24],
      [kim!.orderId, 7.5],
    ]);
    await publish(inventoryBatchReserved, { importId, orders: [{ orderId: kim!.orderId, customerId: 'kim', items: [{ productId: 'P3', quantity: 3, unitPrice: 2.5 }], total: 7.5, paymentMethod: 'pm_card_ok' }] }, importId);
    await waitFor(async () => (await orderOf(kim!.orderId)).items[0].unitPrice === 2.5, 'kim\'s lines priced');
    expect(await orderOf(kim!.orderId)).toMatchObject({ status: 'CONFIRMED', total: 7.5 });
  });

  it('an orderRef imported before (the same file uploaded again) creates nothing new and is counted as already imported', async () => {
    const ref = randomUUID();
    await startImport([[order(`${ref}-A`)]]);
    const again = await startImport([[order(`${ref}-A`), order(`${ref}-B`)]], 1);
    expect(again.created).toHaveLength(1);
    expect((await progress(again.importId)).orders).toMatchObject({ created: 1, alreadyImported: 1 });
  });

  it('batch answers move each order through the statuses and timeline of the saga; the import COMPLETES when every order is terminal', async () => {
    const ref = randomUUID();
    const { importId, created } = await startImport([[order(`${ref}-ok`), order(`${ref}-nostock`, 'bob'), order(`${ref}-declined`, 'carol', 'pm_card_declined')]]);
    const [ok, nostock, declined] = created;
    expect((await progress(importId)).state).toBe('PROCESSING');
    await publish(inventoryBatchFailed, { importId, orders: [{ orderId: nostock!.orderId, customerId: 'bob', reason: 'insufficient stock for P1 (requested 2, available 0)', unavailable: [{ productId: 'P1', requested: 2, available: 0 }] }] }, importId);
    await publish(
      paymentBatchProcessed,
      { importId, completed: [{ orderId: ok!.orderId, customerId: 'alice', paymentId: randomUUID(), amount: 20 }], failed: [{ orderId: declined!.orderId, customerId: 'carol', reason: 'card declined' }] },
      importId,
    );
    const done = await waitFor(async () => {
      const p = await progress(importId);
      return p.state === 'COMPLETED' && p;
    }, 'the import completed');
    expect(done).toMatchObject({ orders: { created: 3, pending: 0, confirmed: 1, rejected: 1, cancelled: 1 }, rows: { read: 3, accepted: 3, rejected: 0 }, etaSeconds: 0 });
    expect(done.timings.completedAt).toEqual(expect.any(String));
    expect((await orderOf(ok!.orderId)).timeline.map((t: { status: string; reason: string }) => `${t.status}: ${t.reason}`)).toEqual([
      'PENDING: order imported',
      'STOCK_RESERVED: stock reserved',
      'CONFIRMED: payment of 20.00 completed',
    ]);
    expect((await orderOf(nostock!.orderId)).timeline.map((t: { status: string }) => t.status)).toEqual(['PENDING', 'REJECTED']);
    expect((await orderOf(declined!.orderId)).timeline.map((t: { status: string }) => t.status)).toEqual(['PENDING', 'STOCK_RESERVED', 'CANCELLED']);
    const concluded = await waitFor(() => {
      const all = batchesFor(importId, 'order.batch-concluded');
      return all.length === 2 && all;
    }, 'two order.batch-concluded');
    const outcome = (kind: 'confirmed' | 'rejected' | 'cancelled') => concluded.flatMap((e) => e.payload[kind].map((o: { orderId: string }) => o.orderId));
    expect([outcome('confirmed'), outcome('rejected'), outcome('cancelled')]).toEqual([[ok!.orderId], [nostock!.orderId], [declined!.orderId]]);

    // The compensation's answer is noted on the timeline, as for an order placed through the API.
    await publish(inventoryBatchReleased, { importId, released: [{ orderId: declined!.orderId, reason: 'payment failed: card declined' }] }, importId);
    await waitFor(async () => (await orderOf(declined!.orderId)).timeline.length === 4, 'the release noted');
  });

  it("a blocked customer's imported orders are REJECTED (CUSTOMER_BLOCKED) at once: inventory never hears of them, the import counts them rejected", async () => {
    await service.deps.sql.$executeRawUnsafe(`INSERT INTO customers (id, status, updated_at) VALUES ('mallet', 'BLOCKED', now())`);
    const ref = randomUUID();
    const importId = randomUUID();
    // The chunk comes before import.started (they travel on different queues): the import's row does not exist yet.
    await publish(importChunkV2, { importId, chunkNo: 0, orders: [order(`${ref}-1`, 'mallet'), order(`${ref}-2`, 'erin')], rows: rows(2) }, importId);
    await waitFor(async () => (await progress(importId)).chunks?.applied === 1, 'chunk applied');
    await publish(importStarted, { importId }, importId);
    await publish(importReceived, { importId, rows: rows(2), chunks: 1, bytes: 100 }, importId);
    await waitFor(async () => (await progress(importId)).state === 'PROCESSING', 'import.received applied');
    const created = await waitFor(() => batchesFor(importId, 'order.batch-created')[0]?.payload.orders, 'order.batch-created');
    expect(created.map((o: { customerId: string }) => o.customerId)).toEqual(['erin']);
    const concluded = await waitFor(() => batchesFor(importId, 'order.batch-concluded')[0], 'order.batch-concluded');
    expect(concluded.payload.rejected).toEqual([{ orderId: expect.any(String), customerId: 'mallet', total: 20, reason: 'CUSTOMER_BLOCKED' }]);
    expect((await orderOf(concluded.payload.rejected[0].orderId)).timeline.map((t: { reason: string }) => t.reason)).toEqual(['order imported', 'CUSTOMER_BLOCKED']);
    await publish(paymentBatchProcessed, { importId, completed: [{ orderId: created[0]!.orderId, customerId: 'erin', paymentId: randomUUID(), amount: 20 }], failed: [] }, importId);
    await waitFor(async () => (await progress(importId)).state === 'COMPLETED', 'completed');
    expect((await progress(importId)).orders).toMatchObject({ created: 2, confirmed: 1, rejected: 1, pending: 0 });
  });

  it('a customer cancelling an imported order moves its import\'s counters', async () => {
    const ref = randomUUID();
    const { importId, created } = await startImport([[order(`${ref}-1`, 'dora')]]);
    await publish(paymentBatchProcessed, { importId, completed: [{ orderId: created[0]!.orderId, customerId: 'dora', paymentId: randomUUID(), amount: 20 }], failed: [] }, importId);
    await waitFor(async () => (await progress(importId)).state === 'COMPLETED', 'completed');
    const cancel = await request(service.app).post(`/api/orders/${created[0]!.orderId}/cancel`).set('Authorization', bearer('dora'));
    expect(cancel.status).toBe(202);
    expect((await progress(importId)).orders).toMatchObject({ confirmed: 0, cancelled: 1, pending: 0 });
  });

  it('import.failed marks the import FAILED with the reason; the chunks it had published stay imported', async () => {
    const importId = randomUUID();
    const ref = randomUUID();
    await publish(importStarted, { importId }, importId);
    await publish(importChunkV2, { importId, chunkNo: 0, orders: [order(`${ref}-1`)], rows: rows(1) }, importId);
    expect((await waitFor(async () => (await progress(importId)).chunks?.applied === 1 && progress(importId), 'the chunk')).state).toBe('RECEIVING');
    await publish(importFailed, { importId, reason: 'the upload was interrupted before the end of the file (the client disconnected)', rows: rows(1), chunks: 1 }, importId);
    const failed = await waitFor(async () => {
      const p = await progress(importId);
      return p.state === 'FAILED' && p;
    }, 'FAILED');
    expect(failed).toMatchObject({ failure: expect.stringContaining('interrupted'), orders: { created: 1 }, chunks: { published: 1, applied: 1 } });
  });

  it('the list shows the most recent imports first with their progress, filtered by state', async () => {
    const older = await startImport([[order(`${randomUUID()}-1`)]]);
    const newer = await startImport([[order(`${randomUUID()}-1`)]]);
    const list = async (query: string) => (await request(service.app).get(`/api/imports${query}`).set('Authorization', admin)).body.items as Array<{ importId: string; state: string }>;
    const ids = (await list('?limit=100')).map((i) => i.importId);
    expect(ids.indexOf(newer.importId)).toBeLessThan(ids.indexOf(older.importId));
    expect((await list('?limit=1'))[0]).toMatchObject({ importId: newer.importId, state: 'PROCESSING', orders: { created: 1, pending: 1 }, rows: { accepted: 1 } });
    expect((await list('?state=COMPLETED&limit=100')).every((i) => i.state === 'COMPLETED')).toBe(true);
    expect((await request(service.app).get('/api/imports?state=DONE').set('Authorization', admin)).status).toBe(400);
  });

  it('progress and the list are for admins; an unknown import is 404', async () => {
    expect((await request(service.app).get(`/api/imports/${randomUUID()}`).set('Authorization', bearer('alice'))).status).toBe(403);
    expect((await request(service.app).get('/api/imports').set('Authorization', bearer('alice'))).status).toBe(403);
    const missing = await request(service.app).get(`/api/imports/${randomUUID()}`).set('Authorization', admin);
    expect(missing.status).toBe(404);
    expect(missing.body.code).toBe('IMPORT.NOT_FOUND');
  });
});
