/**
 * docs/asyncapi.yaml: fresh (what the code generates), valid for the official AsyncAPI parser,
 * and complete (every contract, sender, queue binding and consumer of the code is in it).
 */
import { existsSync, readFileSync } from 'node:fs';
import { Parser, type Diagnostic } from '@asyncapi/parser';
import { parse } from 'yaml';
import { z } from 'zod';
import { contracts, defineEvent } from '@orderflow/events';
import { defineTopology } from '@orderflow/messaging';
import { ASYNCAPI_FILE, asyncApiDocument, renderAsyncApi } from './asyncapi';
import { undocumented } from './asyncapi-coverage';
import { messageId, serviceEvents } from './asyncapi-services';

const services = serviceEvents();
const committedText = (): string => (existsSync(ASYNCAPI_FILE) ? readFileSync(ASYNCAPI_FILE, 'utf8') : '');

/** The parsed document and its errors and warnings, readable (hints, e.g. that a newer AsyncAPI version exists, are not problems). */
async function parsed(text: string) {
  const { document, diagnostics } = await new Parser().parse(text);
  return { document, problems: diagnostics.filter((d: Diagnostic) => d.severity <= 1).map((d) => `${d.code} at ${d.path.join('.')}: ${d.message}`) };
}

describe('docs/asyncapi.yaml', () => {
  it('is exactly what the event contracts and the topologies generate', () => {
    const stale = committedText() === renderAsyncApi() ? null : 'docs/asyncapi.yaml differs from what the code generates: run `npm run contract`';
    expect(stale).toBeNull();
  });

  it('is a valid AsyncAPI 3 document for the AsyncAPI parser, without errors or warnings', async () => {
    const { document, problems } = await parsed(renderAsyncApi());
    expect(problems).toEqual([]);
    // The parser resolved every reference: each operation reaches its channel and messages.
    const sends = document!.operations().filterBySend().map((o) => o.id());
    expect(sends).toEqual(expect.arrayContaining(['order.send.order.created', 'import-worker.send.import.chunk', 'payment.send.payment.refunded']));
    const receive = document!.operations().get('inventory.receive.saga')!;
    expect(receive.channels().all().map((c) => c.address())).toEqual(['inventory.saga']);
    expect(receive.messages().all().map((m) => m.name()).sort()).toEqual(['order.cancelled', 'order.created', 'payment.failed']);
  });

  it('would be refused by the parser if an operation named a channel that does not exist', async () => {
    const doc = asyncApiDocument() as { operations: Record<string, { channel: { $ref: string } }> };
    doc.operations['order.send.order.created']!.channel = { $ref: '#/channels/order.vanished' };
    expect((await parsed(JSON.stringify(doc))).problems).toContain("invalid-ref at operations.order.send.order.created.channel.$ref: '#/channels/order.vanished' does not exist");
  });

  it('documents every contract, every service that sends it and every queue binding and consumer of the topologies', () => {
    expect(undocumented(parse(committedText()), services)).toEqual([]);
  });

  it('reports a new contract, its sender and its queue when the document does not have them yet', () => {
    const archived = defineEvent('order.archived', 1, z.object({ orderId: z.uuid() }));
    const archive = defineTopology({ service: 'archive', publishes: [archived], consumes: { audit: [archived] }, retryDelaysMs: [1000] });
    const withNewService = [...services, { app: 'archive-service', topology: archive, publishes: [archived] }];
    expect(undocumented(parse(committedText()), withNewService, [...contracts, archived])).toEqual([
      'message order.archived.v1 is missing (or not of type order.archived v1)',
      'the payload schema order.archived.v1 is missing',
      'channel order.archived on exchange order.events is missing',
      'no send operation of archive for order.archived.v1',
      'queue channel archive.audit is missing',
      "queue archive.audit's binding to order.events order.archived is missing",
      'no receive operation of archive for order.archived.v1 on archive.audit',
    ]);
  });

  it('carries each payload as the JSON Schema of its zod contract, inside the envelope with its type and version', () => {
    const doc = parse(committedText()) as { components: { schemas: Record<string, unknown>; messages: Record<string, { payload: unknown }> } };
    for (const c of contracts) {
      const { $schema: _dialect, ...expected } = z.toJSONSchema(c.payload, { target: 'draft-7', io: 'input' });
      expect(doc.components.schemas[messageId(c)]).toEqual({ title: `${messageId(c)} payload`, ...expected });
      expect(doc.components.messages[messageId(c)]!.payload).toEqual({
        allOf: [
          { $ref: '#/components/schemas/Envelope' },
          { type: 'object', properties: { eventType: { const: c.type }, version: { const: c.version }, payload: { $ref: `#/components/schemas/${messageId(c)}` } } },
        ],
      });
    }
  });
});

describe('the events of the topologies', () => {
  it('each have a service that sends them and a queue that receives them (a mandatory publish nobody takes stays in the outbox)', () => {
    const sent = new Set(services.flatMap((s) => s.publishes.map(messageId)));
    const received = new Set(services.flatMap((s) => s.topology.queues.flatMap((q) => q.contracts.map(messageId))));
    expect(contracts.map(messageId).filter((id) => !sent.has(id))).toEqual([]);
    expect(contracts.map(messageId).filter((id) => !received.has(id))).toEqual([]);
  });
});
