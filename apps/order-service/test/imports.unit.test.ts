import { talliesOf } from '../src/import-store';
import { presentImport } from '../src/imports-api';
import type { OrderStatus } from '../src/decide';
import { NO_CONTACT, type OrderState } from '../src/history';

const order = (id: string, status: OrderStatus, importId: string | null = 'imp-1'): OrderState => ({ id, status, customerId: 'c', total: 1, unitPrices: null, importId, contact: NO_CONTACT, version: 1 });

describe('import tallies', () => {
  it('count moves between terminal statuses of imported orders, per import', () => {
    const before = new Map<string, OrderStatus>([
      ['a', 'PENDING'],
      ['b', 'STOCK_RESERVED'],
      ['c', 'CONFIRMED'],
      ['d', 'PENDING'],
      ['e', 'PENDING'],
      ['f', 'PENDING'],
    ]);
    const after = [order('a', 'CONFIRMED'), order('b', 'CANCELLED'), order('c', 'CANCELLED'), order('d', 'STOCK_RESERVED'), order('e', 'REJECTED', 'imp-2'), order('f', 'CONFIRMED', null)];
    expect(talliesOf(before, after)).toEqual([
      { importId: 'imp-1', confirmed: 0, rejected: 0, cancelled: 2 },
      { importId: 'imp-2', confirmed: 0, rejected: 1, cancelled: 0 },
    ]);
  });
});

describe('import progress', () => {
  const row = {
    id: 'imp',
    state: 'PROCESSING' as const,
    rowsRead: 3000,
    rowsAccepted: 2990,
    rowsRejected: 10,
    chunkRowsRead: 2000,
    chunkRowsAccepted: 1995,
    chunkRowsRejected: 5,
    chunksTotal: 3,
    chunksApplied: 2,
    ordersCreated: 1000,
    ordersAlreadyImported: 0,
    ordersConfirmed: 400,
    ordersRejected: 50,
    ordersCancelled: 50,
    failure: null,
    bytes: BigInt(250_000),
    startedAt: new Date('2026-01-01T00:00:00Z'),
    receivedAt: new Date('2026-01-01T00:00:02Z'),
    completedAt: null,
    failedAt: null,
    updatedAt: new Date('2026-01-01T00:00:10Z'),
  };

  it('reports rows, orders, rate and an ETA from the rate orders become terminal', () => {
    const p = presentImport(row, new Date('2026-01-01T00:00:10Z'));
    expect(p).toMatchObject({
      state: 'PROCESSING',
      rows: { read: 3000, accepted: 2990, rejected: 10 },
      orders: { created: 1000, pending: 500, confirmed: 400, rejected: 50, cancelled: 50 },
      chunks: { published: 3, applied: 2 },
      timings: { uploadSeconds: 2, elapsedSeconds: 10 },
      rate: { rowsPerSecond: 200, ordersPerSecond: 50 },
    });
    // 1,500 orders expected (a third chunk of ~500 to come), 500 terminal, 50 per second: 20 s.
    expect(p.etaSeconds).toBe(20);
  });

  it('has no ETA while the upload runs, and 0 once completed', () => {
    expect(presentImport({ ...row, state: 'RECEIVING', chunksTotal: null, rowsRead: null }, new Date('2026-01-01T00:00:10Z'))).toMatchObject({ etaSeconds: null, rows: { read: 2000 } });
    expect(presentImport({ ...row, state: 'COMPLETED', completedAt: new Date('2026-01-01T00:00:30Z') }, new Date('2026-01-01T01:00:00Z'))).toMatchObject({ etaSeconds: 0, timings: { elapsedSeconds: 30 } });
  });
});
