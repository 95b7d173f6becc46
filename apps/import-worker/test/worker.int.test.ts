import { spawn, type ChildProcess } from 'node:child_process';
import http from 'node:http';
import path from 'node:path';
import amqplib from 'amqplib';
import { Pool } from 'pg';
import request from 'supertest';
import { parseConfig } from '@orderflow/config';
import { newId, type Envelope, type PayloadOf, type importChunkV2 } from '@orderflow/events';
import { pgStatements } from '@orderflow/db';
import { buildService, type Service } from '@orderflow/service';
import { AMQP_URL, TEST_JWT_SECRET, bearer, cloneDatabase, deleteTopologies, freePorts, serviceEnv, uniquePrefix, waitFor } from '@orderflow/testkit';
import { importsApi } from '../src/api';
import { importWorkerConfigSchema } from '../src/config';
import { database, type Db, type Tx } from '../src/db';
import { importer } from '../src/importer';
import { failOrphans, insertJob } from '../src/jobs';
import { startSweeper } from '../src/sweeper';
import { topology } from '../src/topology';

type Chunk = Envelope<PayloadOf<typeof importChunkV2>>;
const HEADER = 'orderRef,customerId,productId,quantity,unitPrice,paymentMethod';
const admin = bearer('ops', 'admin');

/** A file of `orders` orders of two rows each, refs `<tag>-<n>`. */
const csvOf = (tag: string, orders: number): string =>
  `${HEADER}\n${Array.from({ length: orders }, (_, n) => `${tag}-${n},cust-${n % 7},P${n % 5},1,2.50,pm_card_ok\n${tag}-${n},cust-${n % 7},P9,2,1.25,pm_card_ok\n`).join('')}`;

/**
 * The import worker with real PostgreSQL and RabbitMQ. A test queue bound to import.chunk stands
 * in for the order service's chunk queue (and is the queue whose depth is the backlog).
 */
describe('import worker (real PostgreSQL and RabbitMQ)', () => {
  const prefix = uniquePrefix();
  const chunkQueue = `${prefix}test.chunks`;
  let db: Awaited<ReturnType<typeof cloneDatabase>>;
  let pool: Pool;
  let service: Service<Db, Tx>;
  let stopSweeper: () => void;
  let conn: amqplib.ChannelModel;
  let ch: amqplib.Channel;
  let consumerTag: string | undefined;
  const chunks: Chunk[] = [];
  const lifecycle: Envelope<{ importId: string; reason?: string; rows?: unknown; chunks?: number }>[] = [];
  const env = (extra: Record<string, string> = {}) =>
    serviceEnv({
      DATABASE_URL: db.url,
      TOPOLOGY_PREFIX: prefix,
      IMPORT_BACKLOG_QUEUE: 'test.chunks',
      IMPORT_CHUNK_ROWS: '100',
      IMPORT_CONFIRM_WINDOW: '2',
      IMPORT_MAX_BACKLOG_CHUNKS: '5',
      IMPORT_HEARTBEAT_MS: '100',
      IMPORT_STALE_AFTER_S: '2',
      ...extra,
    });

  const consumeChunks = async (): Promise<void> => {
    ({ consumerTag } = await ch.consume(chunkQueue, (m) => m && chunks.push(JSON.parse(m.content.toString()) as Chunk), { noAck: true }));
  };
  const chunksOf = (importId: string): Chunk[] => chunks.filter((c) => c.payload.importId === importId).sort((a, b) => a.payload.chunkNo - b.payload.chunkNo);
  const refsOf = (importId: string): string[] => chunksOf(importId).flatMap((c) => c.payload.orders.map(([orderRef]) => orderRef));
  const job = async (id: string) => (await pool.query('SELECT state::text, failure, rows_read, chunks, bytes::int, last_line FROM import_jobs WHERE id = $1', [id])).rows[0];
  const upload = (body: string | Buffer, as = admin, type = 'text/csv') => request(service.app).post('/api/imports').set('Authorization', as).set('Content-Type', type).send(body);
  /** Seconds uploads have waited for the consumers so far, from the worker's /metrics. */
  const backlogWaitSeconds = async (): Promise<number> => {
    const text = (await request(service.app).get('/metrics')).text;
    return Number(/^import_upload_wait_seconds_sum\{[^}]*cause="backlog"[^}]*\} (\S+)$/m.exec(text)?.[1] ?? 0);
  };

  beforeAll(async () => {
    db = await cloneDatabase('import-worker');
    pool = new Pool({ connectionString: db.url, max: 2 });
    const config = parseConfig(importWorkerConfigSchema(0), env());
    service = buildService({
      name: 'import-worker',
      config,
      topology: (p) => topology(p, config.RETRY_DELAYS_MS),
      database,
      rawBodyTypes: ['text/csv'],
      routes: (deps) => importsApi({ sql: deps.sql, imports: importer({ ...deps, config }) }),
    });
    conn = await amqplib.connect(AMQP_URL);
    ch = await conn.createChannel();
    await ch.assertExchange(`${prefix}import.events`, 'topic', { durable: true });
    await ch.assertQueue(chunkQueue, { durable: true });
    await ch.bindQueue(chunkQueue, `${prefix}import.events`, 'import.chunk');
    const { queue } = await ch.assertQueue('', { exclusive: true });
    for (const key of ['import.started', 'import.received', 'import.failed']) await ch.bindQueue(queue, `${prefix}import.events`, key);
    // At-least-once: an event published twice (a sweep at start racing the direct publish) counts once, as for any consumer.
    await ch.consume(
      queue,
      (m) => {
        const event = m && (JSON.parse(m.content.toString()) as (typeof lifecycle)[number]);
        if (event && !lifecycle.some((e) => e.eventId === event.eventId)) lifecycle.push(event);
      },
      { noAck: true },
    );
    await consumeChunks();
    await service.start();
    stopSweeper = startSweeper({ ...service.deps, staleAfterS: config.IMPORT_STALE_AFTER_S, instanceId: config.INSTANCE_ID });
  });
  afterAll(async () => {
    stopSweeper?.();
    await service?.stop();
    await ch?.deleteQueue(chunkQueue).catch(() => undefined);
    await conn?.close();
    await deleteTopologies(service.deps.messaging.topology);
    await pool?.end();
    await db?.drop();
  });

  it('an upload is accepted with 202 once every chunk is on the broker: whole orders, numbered chunks, started then received', async () => {
    const res = await upload(csvOf('HAPPY', 250));
    expect(res.status).toBe(202);
    expect(res.headers.location).toBe(`/api/imports/${res.body.importId}`);
    expect(res.body).toMatchObject({ state: 'PROCESSING', rows: { read: 500, accepted: 500, rejected: 0 }, chunks: 5 });
    expect(Object.keys(res.body).sort()).toEqual(['bytes', 'chunks', 'importId', 'rows', 'state', 'uploadSeconds']);
    const { importId } = res.body;
    await waitFor(() => chunksOf(importId).length === 5, 'five chunks');
    expect(chunksOf(importId).map((c) => c.payload.chunkNo)).toEqual([0, 1, 2, 3, 4]);
    expect(refsOf(importId)).toEqual(Array.from({ length: 250 }, (_, n) => `HAPPY-${n}`));
    expect(chunksOf(importId)[0]).toMatchObject({ eventType: 'import.chunk', version: 2, correlationId: importId, payload: { rows: { read: 100, accepted: 100, rejected: 0 } } });
    expect(chunksOf(importId)[0]!.payload.orders[0]).toEqual(['HAPPY-0', 'cust-0', 'pm_card_ok', [[2, 'P0', 1, 2.5], [3, 'P9', 2, 1.25]]]);
    const events = await waitFor(() => {
      const mine = lifecycle.filter((e) => e.payload.importId === importId);
      return mine.length === 2 && mine;
    }, 'import.started and import.received');
    expect(events.map((e) => e.eventType)).toEqual(['import.started', 'import.received']);
    expect(events[1]!.payload).toEqual({ importId, rows: { read: 500, accepted: 500, rejected: 0 }, chunks: 5, bytes: Buffer.byteLength(csvOf('HAPPY', 250)) });
    expect(await job(importId)).toMatchObject({ state: 'PROCESSING', rows_read: 500, chunks: 5 });
  });

  it('a hostile CSV: bad quotes, wrong columns, a 10 MB line and binary garbage are rejected with line and reason; the rest is imported', async () => {
    const body = Buffer.concat([
      Buffer.from(`${HEADER}\nH-1,alice,P1,1,1,pm_card_ok\nH-2,bob,"P1,1,1,pm_card_ok\nH-3,carol,P1,1\nH-4,dan,P1,1,1,pm,extra\n`),
      Buffer.from(`H-5,erin,P1,1,1,${'z'.repeat(10 * 1024 * 1024)}\n`),
      Buffer.from([0x48, 0x2d, 0x36, 0x2c, 0x00, 0xff, 0xfe, 0x00, 0x2c, 0x0a]),
      Buffer.from('H-7,gus,P"1,1,1,pm_card_ok\nH-8,hal,P1,1,1,pm_card_ok\n'),
    ]);
    const res = await upload(body);
    expect(res.status).toBe(202);
    expect(res.body.rows).toEqual({ read: 8, accepted: 2, rejected: 6 });
    const { importId } = res.body;
    await waitFor(() => refsOf(importId).length === 2, 'the good orders');
    expect(refsOf(importId)).toEqual(['H-1', 'H-8']);

    const errors = await request(service.app).get(`/api/imports/${importId}/errors`).set('Authorization', admin);
    expect(errors.status).toBe(200);
    expect(errors.headers['content-type']).toMatch(/^text\/csv/);
    const lines = errors.text.trim().split('\n');
    expect(lines[0]).toBe('line,reason,raw');
    expect(lines.slice(1).map((l) => l.split(',')[0])).toEqual(['3', '4', '5', '6', '7', '8']);
    expect(errors.text).toContain('unterminated quoted field');
    expect(errors.text).toContain('expected 6 fields, found 4');
    expect(errors.text).toContain('expected 6 fields, found 7');
    expect(errors.text).toContain(`the line is ${10 * 1024 * 1024 + 'H-5,erin,P1,1,1,'.length} bytes long; the limit is 4096`);
    expect(errors.text).toContain('binary data');
    expect(errors.text).toContain('misplaced quote');
    expect(errors.text.length).toBeLessThan(10_000);
  });

  it('a body that is not CSV fails the import with the reason: 400, import.failed, job FAILED', async () => {
    const res = await upload(Buffer.from([0x7f, 0x45, 0x4c, 0x46, 0x02, 0x01, 0x01, 0x00, 0x00, 0x00, 0x0a, 0xde, 0xad]));
    expect(res.status).toBe(400);
    expect(res.body).toMatchObject({ code: 'IMPORT.NOT_CSV', detail: expect.stringContaining('the body is not a CSV file: line 1: binary data') });
    const importId = /\/api\/imports\/(.+)$/.exec(res.headers.location ?? '')?.[1] ?? '';
    expect(await job(importId)).toMatchObject({ state: 'FAILED', failure: expect.stringContaining('not a CSV file') });
    const failed = await waitFor(() => lifecycle.find((e) => e.payload.importId === importId && e.eventType === 'import.failed'), 'import.failed');
    expect(failed.payload).toMatchObject({ reason: expect.stringContaining('not a CSV file'), chunks: 0 });
  });

  it('only admins upload, and only CSV', async () => {
    expect((await upload(csvOf('X', 1), bearer('alice'))).status).toBe(403);
    expect((await request(service.app).post('/api/imports').set('Content-Type', 'text/csv').send(csvOf('X', 1))).status).toBe(401);
    const json = await request(service.app).post('/api/imports').set('Authorization', admin).send({ rows: [] });
    expect(json.status).toBe(400);
    expect(json.body.errors).toEqual([{ field: 'Content-Type', message: 'must be text/csv' }]);
    expect((await request(service.app).get('/api/imports/0d7c1b2e-6d3f-4a4b-9c55-5a7f6f3f1e11/errors').set('Authorization', admin)).status).toBe(404);
  });

  it('back-pressure: while the consumers fall behind the upload is not read further, and it completes once they catch up', async () => {
    await ch.cancel(consumerTag!);
    const waitedBefore = await backlogWaitSeconds();
    const body = csvOf('BP', 25_000); // 50,000 rows: 500 chunks of 100 rows, 2.3 MB
    const pending = upload(body).then((r) => r);
    let settled = false;
    void pending.finally(() => (settled = true));
    const importId = await waitFor(async () => (await pool.query("SELECT id::text FROM import_jobs WHERE state = 'RECEIVING'")).rows[0]?.id as string | undefined, 'the import started');
    await waitFor(async () => (await ch.checkQueue(chunkQueue)).messageCount >= 5, 'the backlog limit reached');
    // Paused: the heartbeat keeps coming, reading does not move on, far from the end of the file.
    const paused = await waitFor(async () => {
      const a = await job(importId);
      return a.bytes > 0 && a;
    }, 'a heartbeat');
    await waitFor(async () => (await job(importId)).bytes === paused.bytes && (await ch.checkQueue(chunkQueue)).messageCount <= 5 + 2 + 1 && (await job(importId)), 'reading paused');
    expect(paused.bytes).toBeLessThan(Buffer.byteLength(body) / 2);
    expect(settled).toBe(false);
    expect((await ch.checkQueue(chunkQueue)).messageCount).toBeLessThanOrEqual(5 + 2 + 1);

    await consumeChunks();
    const res = await pending;
    expect(res.status).toBe(202);
    expect(res.body).toMatchObject({ rows: { read: 50_000, accepted: 50_000 }, chunks: 500 });
    expect(await backlogWaitSeconds()).toBeGreaterThan(waitedBefore);
    await waitFor(() => chunksOf(importId).length === 500, 'every chunk');
    expect(new Set(refsOf(importId)).size).toBe(25_000);
  }, 60_000);

  it('a worker killed mid-upload: another worker fails the import with the reason, and uploading the file again leaves no hole', async () => {
    const [port] = await freePorts(1);
    const child: ChildProcess = spawn(process.execPath, ['--import', 'tsx', path.join(__dirname, '../src/main.ts')], {
      env: { ...process.env, ...env({ PORT: String(port), IMPORT_MAX_BACKLOG_CHUNKS: '100000', JWT_SECRET: TEST_JWT_SECRET }) },
      stdio: ['ignore', 'ignore', 'inherit'],
    });
    try {
      await waitFor(async () => (await fetch(`http://127.0.0.1:${port}/ready`).catch(() => null))?.status === 200, 'the child worker ready', 30_000);
      const body = csvOf('KILL', 5_000); // 10,000 rows: 100 chunks
      const half = body.indexOf('\nKILL-2500,') + 1;
      // Send half the file and keep the connection open, as a slow client would.
      const req = http.request({ host: '127.0.0.1', port, path: '/api/imports', method: 'POST', headers: { authorization: admin, 'content-type': 'text/csv' } });
      req.on('error', () => undefined);
      req.write(body.slice(0, half));
      const importId = await waitFor(async () => (await pool.query("SELECT id::text FROM import_jobs WHERE state = 'RECEIVING' AND chunks >= 3")).rows[0]?.id as string | undefined, 'chunks published by the child');
      child.kill('SIGKILL');
      await new Promise((resolve) => child.once('exit', resolve));

      const failed = await waitFor(() => lifecycle.find((e) => e.payload.importId === importId && e.eventType === 'import.failed'), 'import.failed from the other worker', 20_000);
      expect(failed.payload.reason).toMatch(/the upload was interrupted: the worker receiving it stopped after line \d+ \(\d+ chunks were accepted and are imported\); upload the file again/);
      expect(await job(importId)).toMatchObject({ state: 'FAILED', failure: failed.payload.reason });
      const first = refsOf(importId);
      expect(first.length).toBeGreaterThan(0);
      expect(first).toEqual(Array.from({ length: first.length }, (_, n) => `KILL-${n}`));

      const again = await upload(body);
      expect(again.status).toBe(202);
      await waitFor(() => chunksOf(again.body.importId).length === again.body.chunks, 'the second upload\'s chunks');
      const second = refsOf(again.body.importId);
      expect(new Set(second).size).toBe(second.length);
      // No hole: every order of the file reached the broker; the order service creates the ones seen twice once.
      expect(new Set([...first, ...second]).size).toBe(5_000);
    } finally {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    }
  }, 60_000);

  it("a restarted instance fails the uploads its previous process was receiving, never one it has begun since", async () => {
    const sql = pgStatements(pool);
    const before = newId();
    const since = new Date();
    const after = newId();
    await insertJob(sql, before, 'instance-r', new Date(since.getTime() - 60_000));
    await insertJob(sql, after, 'instance-r', new Date(since.getTime() + 1));
    const failed = await failOrphans(sql, 3_600, { instanceId: 'instance-r', since }, new Date());
    expect(failed.map((j) => j.id)).toEqual([before]);
    expect(await job(before)).toMatchObject({ state: 'FAILED' });
    expect(await job(after)).toMatchObject({ state: 'RECEIVING' });
  });
});
