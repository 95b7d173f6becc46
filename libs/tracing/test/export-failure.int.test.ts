import net from 'node:net';
import { OTLPTraceExporter } from '@opentelemetry/exporter-trace-otlp-proto';
import { BatchSpanProcessor } from '@opentelemetry/sdk-trace-base';
import { createTracing } from '../src';

/** A collector that takes connections and never answers: every export waits for its timeout. */
async function silentCollector(): Promise<{ port: number; close: () => Promise<void> }> {
  const sockets = new Set<net.Socket>();
  const server = net.createServer((socket) => {
    sockets.add(socket);
    socket.on('error', () => undefined);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    port: (server.address() as net.AddressInfo).port,
    close: async () => {
      for (const s of sockets) s.destroy();
      await new Promise((resolve) => server.close(resolve));
    },
  };
}

describe('a collector that does not answer', () => {
  it('spans are dropped, the service goes on, one line reports it (not one per export), and the stop does not wait for it', async () => {
    const collector = await silentCollector();
    const reports: Array<{ message: string; meta: Record<string, unknown> }> = [];
    const exporter = new OTLPTraceExporter({ url: `http://127.0.0.1:${collector.port}/v1/traces`, timeoutMillis: 300 });
    const tracing = createTracing({
      service: 'no-collector',
      processors: [new BatchSpanProcessor(exporter, { scheduledDelayMillis: 20, maxExportBatchSize: 2 })],
      report: (message, meta) => reports.push({ message, meta }),
    });
    const deadline = Date.now() + 2_000;
    let spans = 0;
    // Spans keep coming while their exports hang: ending one never waits for the exporter (300 ms).
    while (Date.now() < deadline) {
      const started = performance.now();
      tracing.tracer.startSpan('work').end();
      expect(performance.now() - started).toBeLessThan(250);
      spans++;
      await new Promise((r) => setTimeout(r, 25));
    }
    expect(spans).toBeGreaterThan(20);
    expect(reports).toHaveLength(1);
    expect(reports[0]!.message).toMatch(/^tracing: /);

    const stopping = Date.now();
    await tracing.shutdown(1_000);
    expect(Date.now() - stopping).toBeLessThan(2_000);
    await collector.close();
  });
});
