import { execFile } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import amqplib from 'amqplib';
import { AMQP_URL, bearer, waitFor } from '@orderflow/testkit';
import { systemUnderTest } from './system-under-test';

const HEADER = 'orderRef,customerId,productId,quantity,unitPrice,paymentMethod';

/**
 * Bulk imports through the gateway, the whole system started as `npm start` starts it: the
 * upload streamed through Nginx to the worker, the progress from the order service, the orders
 * through the same saga as checkout, on their own queues.
 */
describe('bulk import end to end, through the gateway', () => {
  const sut = systemUnderTest('e2eimp');
  const admin = bearer('ops', 'admin');

  async function call(method: string, p: string, options: { as?: string; body?: unknown; type?: string } = {}) {
    const json = options.body !== undefined && options.type === undefined;
    const res = await fetch(`${sut.gateway}${p}`, {
      method,
      headers: { ...(options.as ? { Authorization: options.as } : {}), ...(options.body !== undefined ? { 'Content-Type': options.type ?? 'application/json' } : {}) },
      body: options.body === undefined ? undefined : json ? JSON.stringify(options.body) : (options.body as string | Buffer),
    });
    const text = await res.text();
    let body: any = text;
    try {
      body = JSON.parse(text);
    } catch {
      // CSV or text
    }
    return { status: res.status, body, headers: res.headers };
  }
  const upload = (csv: string | Buffer) => call('POST', '/api/imports', { as: admin, body: csv, type: 'text/csv' });
  const progress = async (id: string) => (await call('GET', `/api/imports/${id}`, { as: admin })).body;
  const completed = (id: string, timeoutMs = 60_000) =>
    waitFor(async () => {
      const p = await progress(id);
      return (p.state === 'COMPLETED' || p.state === 'FAILED') && p;
    }, `import ${id} finished`, timeoutMs);
  const product = async (available: number): Promise<string> => {
    const id = `IMP-${randomUUID().slice(0, 8)}`;
    expect((await call('PUT', `/api/inventory/${id}`, { as: admin, body: { name: id, price: 10, available } })).status).toBe(201);
    return id;
  };
  const stockOf = async (id: string) => (await call('GET', `/api/inventory/${id}`, { as: admin })).body as { available: number; reserved: number };

  it('each service runs as two processes: its import queues are consumed only by its bulk process, its checkout queues only by the other', async () => {
    const conn = await amqplib.connect(AMQP_URL);
    try {
      const ch = await conn.createChannel();
      const consumers = async (queue: string) => (await ch.checkQueue(`${sut.topologyPrefix}${queue}`)).consumerCount;
      const bulk = ['order.import', 'order.bulk', 'inventory.bulk', 'payment.bulk', 'notification.bulk'];
      const interactive = ['order.saga', 'order.import-status', 'inventory.saga', 'payment.saga', 'notification.events'];
      // One consumer each: a process consuming the other lane's queues too would make it two.
      expect(await Promise.all([...bulk, ...interactive].map(consumers))).toEqual([...bulk, ...interactive].map(() => 1));
      // Without the bulk process of the order service, its import queues have nobody; checkout's queue keeps its consumer.
      await sut.system.kill('order-service-bulk');
      await waitFor(async () => (await consumers('order.import')) === 0, 'the killed process\'s consumer gone');
      expect(await Promise.all(['order.import', 'order.bulk', 'order.saga'].map(consumers))).toEqual([0, 0, 1]);
      await sut.system.restart('order-service-bulk');
      await waitFor(async () => (await consumers('order.import')) === 1, 'the bulk process consuming again');
    } finally {
      await conn.close();
    }
  });

  it('an upload with good and hostile rows: 202, the orders go through the saga, bad rows are reported by line; uploading it again creates nothing', async () => {
    const p1 = await product(100);
    const p2 = await product(1);
    const run = randomUUID().slice(0, 8);
    const csv = Buffer.concat([
      Buffer.from(
        [
          HEADER,
          `${run}-1,ann-${run},${p1},2,10.00,pm_card_ok`,
          `${run}-1,ann-${run},${p1},1,10.00,pm_card_ok`,
          `${run}-2,ben-${run},${p2},5,10.00,pm_card_ok`, // more than the stock: REJECTED
          `${run}-3,cat-${run},${p1},1,10.00,pm_card_declined`, // CANCELLED, stock back
          `${run}-4,dan-${run},"${p1},1,10.00,pm_card_ok`, // unterminated quote
          `${run}-5,eve-${run},${p1},1`, // wrong column count
          `${run}-6,fay-${run},${p1},x,10.00,pm_card_ok`, // bad number
          `${run}-7,gus-${run},${p1},1,10.00,${'x'.repeat(10 * 1024 * 1024)}`, // a 10 MB line
        ].join('\n'),
      ),
      Buffer.from([0x0a, 0x00, 0x01, 0xff, 0xfe, 0x2c, 0x2c, 0x0a]), // binary garbage
      Buffer.from(`${run}-8,hal-${run},${p1},3,10.00,pm_card_ok\n`),
    ]);
    const res = await upload(csv);
    expect(res.status).toBe(202);
    expect(res.body.rows).toEqual({ read: 10, accepted: 5, rejected: 5 });
    const done = await completed(res.body.importId);
    expect(done).toMatchObject({
      state: 'COMPLETED',
      rows: { read: 10, accepted: 5, rejected: 5 },
      orders: { created: 4, alreadyImported: 0, pending: 0, confirmed: 2, rejected: 1, cancelled: 1 },
    });
    const ann = (await call('GET', `/api/orders?customerId=ann-${run}`, { as: admin })).body.items;
    expect(ann).toHaveLength(1);
    expect(ann[0]).toMatchObject({ status: 'CONFIRMED', total: 30, items: [{ productId: p1, quantity: 2 }, { productId: p1, quantity: 1 }] });
    expect(ann[0].timeline.map((t: { status: string }) => t.status)).toEqual(['PENDING', 'STOCK_RESERVED', 'CONFIRMED']);
    const cat = (await call('GET', `/api/orders?customerId=cat-${run}`, { as: admin })).body.items[0];
    expect(cat.status).toBe('CANCELLED');
    await waitFor(async () => (await stockOf(p1)).reserved === 6, 'the declined order\'s stock back');
    expect(await stockOf(p1)).toEqual(expect.objectContaining({ available: 94, reserved: 6 }));
    expect(await stockOf(p2)).toEqual(expect.objectContaining({ available: 1, reserved: 0 }));
    const notes = await waitFor(async () => {
      const n = await call('GET', `/api/notifications?orderId=${ann[0].orderId}`, { as: admin });
      return n.body.items?.length === 3 && n.body.items;
    }, 'the notifications');
    expect(notes.map((x: { template: string }) => x.template).sort()).toEqual(['order-confirmed', 'order-confirmed', 'order-received']);

    const errors = await call('GET', `/api/imports/${res.body.importId}/errors`, { as: admin });
    expect(errors.status).toBe(200);
    expect(errors.headers.get('content-type')).toMatch(/text\/csv/);
    const rows = (errors.body as string).trim().split('\n');
    expect(rows[0]).toBe('line,reason,raw');
    expect(rows.slice(1).map((r) => Number(r.split(',')[0]))).toEqual([6, 7, 8, 9, 10]);
    expect(errors.body).toMatch(/6,unterminated quoted field/);
    expect(errors.body).toMatch(/9,the line is 10485\d+ bytes long/);
    expect(errors.body).toMatch(/10,binary data/);

    const again = await upload(csv);
    expect(again.status).toBe(202);
    expect(await completed(again.body.importId)).toMatchObject({ state: 'COMPLETED', orders: { created: 0, alreadyImported: 4, confirmed: 0 } });
    expect((await call('GET', `/api/orders?customerId=ann-${run}`, { as: admin })).body.items).toHaveLength(1);
    expect(await stockOf(p1)).toEqual(expect.objectContaining({ available: 94, reserved: 6 }));
  }, 90_000);

  it('the catalog prices imported orders: a row priced 0.01 for a product at 10 is REJECTED with PRICE_MISMATCH and never charged; a row with an empty price is charged the catalog price', async () => {
    const p = await product(100);
    const run = randomUUID().slice(0, 8);
    const csv = [
      HEADER,
      `${run}-cheap,mia-${run},${p},2,0.01,pm_card_ok`,
      `${run}-open,ned-${run},${p},3,,pm_card_ok`,
      `${run}-open,ned-${run},${p},1,10.00,pm_card_ok`,
    ].join('\n');
    const res = await upload(`${csv}\n`);
    expect(res.status).toBe(202);
    expect(res.body.rows).toEqual({ read: 3, accepted: 3, rejected: 0 });
    expect(await completed(res.body.importId)).toMatchObject({ state: 'COMPLETED', orders: { created: 2, confirmed: 1, rejected: 1, cancelled: 0 } });

    const [cheap] = (await call('GET', `/api/orders?customerId=mia-${run}`, { as: admin })).body.items;
    expect(cheap.status).toBe('REJECTED');
    expect(cheap.timeline.at(-1).reason).toBe(`PRICE_MISMATCH: line 1 (${p}): client price 0.01, catalog price 10.00`);
    expect((await call('GET', `/api/payments?orderId=${cheap.orderId}`, { as: admin })).body.items).toEqual([]);

    const [open] = (await call('GET', `/api/orders?customerId=ned-${run}`, { as: admin })).body.items;
    expect(open).toMatchObject({ status: 'CONFIRMED', total: 40, items: [{ productId: p, quantity: 3, unitPrice: 10 }, { productId: p, quantity: 1, unitPrice: 10 }] });
    expect((await call('GET', `/api/payments?orderId=${open.orderId}`, { as: admin })).body.items).toEqual([expect.objectContaining({ type: 'CHARGE', status: 'SUCCEEDED', amount: 40 })]);
    expect(await stockOf(p)).toEqual(expect.objectContaining({ available: 96, reserved: 4 }));
  }, 90_000);

  it('a body that is not CSV fails the import with the reason, and the progress says so', async () => {
    const res = await upload(Buffer.from([0x50, 0x4b, 0x03, 0x04, 0x14, 0x00, 0x00, 0x00, 0x08, 0x00, 0x0a]));
    expect(res.status).toBe(400);
    expect(res.body.code).toBe('IMPORT.NOT_CSV');
    const importId = /\/api\/imports\/(.+)$/.exec(res.headers.get('location') ?? '')?.[1] ?? '';
    const failed = await waitFor(async () => {
      const p = await progress(importId);
      return p.state === 'FAILED' && p;
    }, 'FAILED');
    expect(failed.failure).toMatch(/not a CSV file/);
    expect((await call('POST', '/api/imports', { as: bearer('alice'), body: `${HEADER}\n`, type: 'text/csv' })).status).toBe(403);
  });

  it('npm run import uploads through the gateway and prints the summary; checkout keeps its latency meanwhile', async () => {
    const p = await product(1_000_000);
    const checkoutProduct = await product(100);
    const run = randomUUID().slice(0, 8);
    const file = path.join(os.tmpdir(), `${run}.csv`);
    const lines = [HEADER];
    for (let i = 0; i < 20_000; i++) lines.push(`${run}-${Math.floor(i / 2)},c-${Math.floor(i / 2) % 97},${p},1,10.00,pm_card_ok`);
    fs.writeFileSync(file, `${lines.join('\n')}\n`);
    try {
      const cli = new Promise<{ code: number; stdout: string }>((resolve) => {
        execFile(
          process.execPath,
          ['--import', 'tsx', path.resolve(__dirname, '../../../apps/import-worker/src/upload-cli.ts'), file, '--gateway', sut.gateway, '--token', admin.slice(7)],
          { cwd: path.resolve(__dirname, '../../..') },
          (err, stdout) => resolve({ code: err ? (typeof err.code === 'number' ? err.code : 1) : 0, stdout }),
        );
      });
      // A checkout order placed while the import runs is answered on the interactive queues.
      const importing = await waitFor(async () => {
        const list = await call('GET', `/api/orders?customerId=c-1`, { as: admin });
        return list.body.items?.length > 0;
      }, 'the import under way', 30_000);
      expect(importing).toBe(true);
      const t0 = Date.now();
      const order = await call('POST', '/api/orders', { as: bearer('shopper'), body: { customerId: 'shopper', items: [{ productId: checkoutProduct, quantity: 1, unitPrice: 10 }], paymentMethod: 'pm_card_ok' } });
      expect(order.status).toBe(202);
      await waitFor(async () => (await call('GET', `/api/orders/${order.body.orderId}`, { as: bearer('shopper') })).body.status === 'CONFIRMED', 'the checkout order confirmed');
      const checkoutMs = Date.now() - t0;

      const { code, stdout } = await cli;
      expect(code).toBe(0);
      expect(stdout).toMatch(/accepted in [\d.]+ s: import [0-9a-f-]{36}, 20,000 rows read, 20,000 accepted, 0 rejected/);
      expect(stdout).toMatch(/COMPLETED in [\d.]+ s/);
      expect(stdout).toMatch(/orders\s+10,000 created, 0 already imported: 10,000 confirmed, 0 rejected, 0 cancelled, 0 pending/);
      expect(checkoutMs).toBeLessThan(5_000);
    } finally {
      fs.rmSync(file, { force: true });
    }
  }, 120_000);
});
