import { outboxInsert, type OutgoingEvent } from '../src';

const event = (n: number): OutgoingEvent => ({
  exchange: 'order.events',
  routingKey: 'order.created',
  envelope: {
    eventId: `00000000-0000-4000-8000-00000000000${n}`,
    eventType: 'order.created',
    version: 1,
    occurredAt: '2026-01-01T00:00:00.000Z',
    source: 'test',
    correlationId: `c${n}`,
    causationId: null,
    payload: { n },
  },
});

const placeholders = (sql: string): number[] => [...sql.matchAll(/\$(\d+)/g)].map((m) => Number(m[1]));

describe('outboxInsert', () => {
  it('alone, numbers its placeholders from $1 and passes one parameter per envelope', () => {
    const { sql, params } = outboxInsert([event(1), event(2)]);
    expect(placeholders(sql)).toEqual([1, 2, 3, 4, 5]);
    expect(params).toEqual([
      [event(1).envelope.eventId, event(2).envelope.eventId],
      ['order.events', 'order.events'],
      ['order.created', 'order.created'],
      JSON.stringify(event(1).envelope),
      JSON.stringify(event(2).envelope),
    ]);
    expect(sql).not.toContain('WHERE');
  });

  it("inside a caller's statement, continues after the caller's parameters, which lead the returned list", () => {
    const own = ['a', 'b', 'c'];
    const { sql, params } = outboxInsert([event(1)], { params: own, where: 'e.key IN (SELECT id FROM o)', keys: ['k1'] });
    // event ids, exchanges, routing keys, keys, then the envelope.
    expect(placeholders(sql)).toEqual([4, 5, 6, 8, 7]);
    expect(sql).toMatch(/\$7::uuid\[\]\)\s+AS e\(event_id, exchange, routing_key, envelope, key\)\s+WHERE e\.key IN \(SELECT id FROM o\)$/);
    expect(params.slice(0, 3)).toEqual(own);
    expect(params[6]).toEqual(['k1']);
    expect(params).toHaveLength(8);
    expect(own).toEqual(['a', 'b', 'c']);
  });

  it('events that carry a trace context (tracing on) add the trace_context column, one text[] before the envelopes; events without leave it out', () => {
    const traced = { ...event(1), traceContext: '{"traceparent":"00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"}' };
    const { sql, params } = outboxInsert([traced, event(2)], { keys: ['k1', 'k2'] });
    expect(sql).toContain('INSERT INTO outbox_events (event_id, exchange, routing_key, envelope, created_at, trace_context)');
    expect(sql).toMatch(/\$4::uuid\[\], \$5::text\[\]\)\s+AS e\(event_id, exchange, routing_key, envelope, key, trace_context\)/);
    expect(placeholders(sql)).toEqual([1, 2, 3, 6, 7, 4, 5]);
    expect(params[4]).toEqual([traced.traceContext, null]);
    expect(params.slice(5)).toEqual([JSON.stringify(event(1).envelope), JSON.stringify(event(2).envelope)]);
    expect(outboxInsert([event(1)]).sql).not.toContain('trace_context');
  });

  it('refuses keys that do not match the events one to one', () => {
    expect(() => outboxInsert([event(1)], { keys: [] })).toThrow(expect.objectContaining({ code: 'OUTBOX.KEYS_MISMATCH' }));
  });
});
