/**
 * `npm run bench:messaging` — one hop at full speed: state change + outbox row in one
 * transaction → relay (confirm window) → RabbitMQ → one consumer process that records the
 * event id in its inbox and writes its effect in one PostgreSQL transaction per batch.
 *
 * Options: --seconds 10 --writers 8 --events-per-tx 20 --handler batch|single --prefetch 200
 * Prints events/s, commit→handled latency percentiles and CPU per process.
 */
import { fork } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { Messaging } from '../src';
import { pgTransactions, type SqlClient } from '@orderflow/db';
import { createTestDb, deleteTopology, logger, testTopology, uniqueName, workRequested, AMQP_URL } from '../test/support';

const { values } = parseArgs({
  options: {
    seconds: { type: 'string', default: '10' },
    writers: { type: 'string', default: '8' },
    'events-per-tx': { type: 'string', default: '20' },
    handler: { type: 'string', default: 'batch' },
    prefetch: { type: 'string', default: '400' },
    role: { type: 'string' },
    db: { type: 'string' },
    prefix: { type: 'string' },
  },
});

// The services' way: plain pg transactions and SQL in handlers (see @orderflow/db).
type Tx = SqlClient;

function messagingFor(db: Awaited<ReturnType<typeof createTestDb>>, prefix: string, name: string): Messaging<Tx> {
  return new Messaging<Tx>({
    topology: testTopology(prefix),
    amqpUrl: AMQP_URL,
    connectionName: name,
    pool: db.pool,
    transaction: pgTransactions(db.pool),
    logger,
    prefetch: Number(values.prefetch),
    // Half the window: the next batch is already delivered while this one commits.
    batchSize: Math.max(1, Math.floor(Number(values.prefetch) / 2)),
  });
}

/** The consumer process: handles events, reports latencies and CPU when told to stop. */
async function consumer(): Promise<void> {
  const { createTestDbAt } = await import('./db-at');
  const db = await createTestDbAt(values.db!);
  const messaging = messagingFor(db, values.prefix!, uniqueName('bench-consumer'));
  const latencies: number[] = [];
  const record = (occurredAt: string): void => {
    latencies.push(Date.now() - Date.parse(occurredAt));
  };
  const { on, onBatch } = await import('../src');
  const handler =
    values.handler === 'single'
      ? on<typeof workRequested, Tx>(workRequested, async (event, ctx) => {
          await ctx.tx.$executeRawUnsafe('INSERT INTO ledger_entries (key, event_id) VALUES ($1, $2::uuid)', event.payload.key, event.eventId);
          record(event.occurredAt);
        })
      : onBatch<typeof workRequested, Tx>(workRequested, async (events, ctx) => {
          await ctx.tx.$executeRawUnsafe(
            'INSERT INTO ledger_entries (key, event_id) SELECT * FROM unnest($1::text[], $2::uuid[])',
            events.map((e) => e.payload.key),
            events.map((e) => e.eventId),
          );
          events.forEach((e) => record(e.occurredAt));
        });
  const cpuStart = process.cpuUsage();
  await messaging.start({ 'work-requested': [handler] });
  process.send!({ ready: true });
  process.on('message', async (m: { stop?: boolean; expect?: number }) => {
    if (!m.stop) return;
    const deadline = Date.now() + 30_000;
    while (latencies.length < m.expect! && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    const cpu = process.cpuUsage(cpuStart);
    await messaging.stop();
    await db.prisma.$disconnect();
    await db.pool.end();
    process.send!({ latencies, cpuMs: (cpu.user + cpu.system) / 1000 }, () => process.exit(0));
  });
}

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? NaN;
}

async function main(): Promise<void> {
  const seconds = Number(values.seconds);
  const writers = Number(values.writers);
  const perTx = Number(values['events-per-tx']);
  const db = await createTestDb();
  const prefix = `${uniqueName('bench')}.`;
  const topology = testTopology(prefix);
  const producer = messagingFor(db, prefix, uniqueName('bench-producer'));
  await producer.start();

  const child = fork(__filename, ['--role', 'consumer', '--db', db.url, '--prefix', prefix, '--handler', values.handler!, '--prefetch', values.prefetch!], {
    execArgv: ['--import', 'tsx', ...(process.env.BENCH_CPU_PROF ? ['--cpu-prof', '--cpu-prof-dir', process.env.BENCH_CPU_PROF] : [])],
  });
  await new Promise<void>((resolve) => child.once('message', () => resolve()));

  // Where the backlog sits, once a second: outbox (relay behind) or queue (consumer behind).
  const samples: string[] = [];
  const sampler = setInterval(() => {
    void Promise.all([producer.relay.unsentCount(), producer.broker.withChannel(false, (ch) => ch.checkQueue(topology.queues[0]!.name))])
      .then(([unsent, q]) => samples.push(`${unsent}/${q.messageCount}`))
      .catch(() => undefined);
  }, 1000);
  const cpuStart = process.cpuUsage();
  const started = Date.now();
  const until = started + seconds * 1000;
  let produced = 0;
  await Promise.all(
    Array.from({ length: writers }, async () => {
      while (Date.now() < until) {
        await producer.transaction(async (tx, publish) => {
          // The state change that causes the events.
          await tx.$executeRawUnsafe("INSERT INTO ledger_entries (key) VALUES ('state-change')");
          for (let i = 0; i < perTx; i++) publish(workRequested, { key: 'e' }, { correlationId: randomUUID() });
        });
        produced += perTx;
      }
    }),
  );
  const producedIn = (Date.now() - started) / 1000;
  child.send({ stop: true, expect: produced });
  const result = await new Promise<{ latencies: number[]; cpuMs: number }>((resolve) => child.once('message', resolve));
  const drainedIn = (Date.now() - started) / 1000;
  clearInterval(sampler);
  const producerCpu = process.cpuUsage(cpuStart);
  const unsent = await producer.relay.unsentCount();
  await producer.stop();
  await deleteTopology(topology);
  await db.drop();

  const sorted = result.latencies.sort((a, b) => a - b);
  const fmt = (n: number): string => n.toFixed(0);
  console.log(`one hop, ${writers} writers, ${perTx} event(s) per transaction, ${values.handler} handler, prefetch ${values.prefetch}, ${seconds}s`);
  console.log(`  produced          ${produced} events in ${producedIn.toFixed(1)} s  (${fmt(produced / producedIn)} events/s committed)`);
  console.log(`  consumed          ${sorted.length} events in ${drainedIn.toFixed(1)} s  (${fmt(sorted.length / drainedIn)} events/s end to end)`);
  console.log(`  latency commit→handled  p50 ${fmt(percentile(sorted, 50))} ms  p95 ${fmt(percentile(sorted, 95))} ms  p99 ${fmt(percentile(sorted, 99))} ms  max ${fmt(sorted[sorted.length - 1] ?? NaN)} ms`);
  console.log(`  CPU  producer+relay ${fmt((producerCpu.user + producerCpu.system) / 1000)} ms (${(((producerCpu.user + producerCpu.system) / 1000 / produced) * 1000).toFixed(0)} µs/event)   consumer ${fmt(result.cpuMs)} ms (${((result.cpuMs / Math.max(1, sorted.length)) * 1000).toFixed(0)} µs/event)   wall ${fmt(drainedIn * 1000)} ms`);
 console.log(`  backlog per second (outbox unsent / queue ready): ${samples.join(' ')}`);
  console.log(`  lost              ${produced - sorted.length - unsent} (unsent in outbox: ${unsent})`);
}

if (values.role === 'consumer') void consumer();
else void main().catch((err) => {
  console.error(err);
  process.exit(1);
});
