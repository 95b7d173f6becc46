import {
  ORDER_CANCELLED,
  applyMoves,
  decideCreated,
  decideCreatedBatch,
  decideRelease,
  reserve,
  type Stock,
} from '../src/stock';

const stock = (levels: Record<string, [available: number, reserved?: number, price?: number]>): Stock =>
  new Map(Object.entries(levels).map(([id, [available, reserved = 0, price = 10]]) => [id, { available, reserved, price }]));

describe('reserving stock for an order', () => {
  it('when every line fits, all lines are reserved, one move per product in product order', () => {
    expect(reserve(stock({ B: [5], A: [5] }), [{ productId: 'B', quantity: 2 }, { productId: 'A', quantity: 1 }])).toEqual({
      ok: true,
      moves: [{ productId: 'A', quantity: 1 }, { productId: 'B', quantity: 2 }],
      items: [{ productId: 'B', quantity: 2, unitPrice: 10 }, { productId: 'A', quantity: 1, unitPrice: 10 }],
      total: 30,
    });
  });

  it('when one line does not fit, nothing is reserved and the shortage names requested and available', () => {
    const r = reserve(stock({ A: [5], B: [1] }), [{ productId: 'A', quantity: 2 }, { productId: 'B', quantity: 3 }]);
    expect(r).toEqual({ ok: false, unavailable: [{ productId: 'B', requested: 3, available: 1 }], unknown: [], mismatches: [] });
  });

  it('lines of the same product are summed before checking the stock', () => {
    const lines = [{ productId: 'A', quantity: 3 }, { productId: 'A', quantity: 3 }];
    expect(reserve(stock({ A: [5] }), lines)).toMatchObject({ ok: false, unavailable: [{ productId: 'A', requested: 6, available: 5 }] });
    expect(reserve(stock({ A: [6] }), lines)).toMatchObject({ ok: true, moves: [{ productId: 'A', quantity: 6 }] });
  });

  it('an order for exactly the available stock is reserved; one more unit is not', () => {
    expect(reserve(stock({ A: [4] }), [{ productId: 'A', quantity: 4 }]).ok).toBe(true);
    expect(reserve(stock({ A: [4] }), [{ productId: 'A', quantity: 5 }]).ok).toBe(false);
  });

  it('an unknown product fails the order and the reason names it', () => {
    const d = decideCreated('NEW', stock({ A: [5] }), [{ productId: 'A', quantity: 1 }, { productId: 'NOPE', quantity: 2 }]);
    expect(d).toEqual({
      kind: 'reject',
      next: 'FAILED',
      reason: 'unknown product NOPE',
      unavailable: [{ productId: 'NOPE', requested: 2, available: 0 }],
    });
  });

  it('the reason of a shortage names the product and both quantities', () => {
    const d = decideCreated('NEW', stock({ A: [1] }), [{ productId: 'A', quantity: 2 }]);
    expect(d).toMatchObject({ kind: 'reject', reason: 'insufficient stock for A (requested 2, available 1)' });
  });

  it('an order cancelled before its order.created reserves nothing and is answered with "order cancelled"', () => {
    expect(decideCreated('CANCELLED', stock({ A: [5] }), [{ productId: 'A', quantity: 1 }])).toEqual({
      kind: 'reject',
      next: 'FAILED',
      reason: ORDER_CANCELLED,
      unavailable: [],
    });
  });

  it.each(['RESERVED', 'FAILED', 'RELEASED'] as const)('an order.created for an order already %s changes nothing', (status) => {
    expect(decideCreated(status, stock({ A: [5] }), [{ productId: 'A', quantity: 1 }])).toEqual({ kind: 'ignore' });
  });

  it('in a batch, each reservation lowers what the next order can get; a failed order takes nothing', () => {
    const { decisions, stock: after } = decideCreatedBatch(stock({ A: [3, 1] }), [
      { orderId: 'o1', status: 'NEW', lines: [{ productId: 'A', quantity: 2 }] },
      { orderId: 'o2', status: 'NEW', lines: [{ productId: 'A', quantity: 2 }] },
      { orderId: 'o3', status: 'NEW', lines: [{ productId: 'A', quantity: 1 }] },
    ]);
    expect(decisions.map((d) => d.kind)).toEqual(['reserve', 'reject', 'reserve']);
    expect(decisions[1]).toMatchObject({ unavailable: [{ productId: 'A', requested: 2, available: 1 }] });
    expect(after.get('A')).toEqual({ available: 0, reserved: 4, price: 10 });
  });

  it('moves keep available + reserved constant and do not change the stock they were given', () => {
    const before = stock({ A: [5, 2] });
    const reserved = applyMoves(before, [{ productId: 'A', quantity: 3 }], 1);
    expect(reserved.get('A')).toEqual({ available: 2, reserved: 5, price: 10 });
    expect(applyMoves(reserved, [{ productId: 'A', quantity: 3 }], -1).get('A')).toEqual({ available: 5, reserved: 2, price: 10 });
    expect(before.get('A')).toEqual({ available: 5, reserved: 2, price: 10 });
  });
});

describe('pricing an order from the catalog', () => {
  it('lines without a client price are priced at the catalog price; the total is catalog price × quantity, in cents', () => {
    const d = decideCreated('NEW', stock({ A: [5, 0, 999], B: [5, 0, 0.1] }), [
      { productId: 'A', quantity: 2 },
      { productId: 'B', quantity: 3 },
    ]);
    expect(d).toEqual({
      kind: 'reserve',
      next: 'RESERVED',
      moves: [{ productId: 'A', quantity: 2 }, { productId: 'B', quantity: 3 }],
      items: [{ productId: 'A', quantity: 2, unitPrice: 999 }, { productId: 'B', quantity: 3, unitPrice: 0.1 }],
      total: 1998.3,
    });
  });

  it('a client price equal to the catalog price is accepted; the lines carry the catalog price', () => {
    const d = decideCreated('NEW', stock({ A: [5, 0, 12.5] }), [{ productId: 'A', quantity: 1, unitPrice: 12.5 }, { productId: 'A', quantity: 2 }]);
    expect(d).toMatchObject({ kind: 'reserve', items: [{ productId: 'A', quantity: 1, unitPrice: 12.5 }, { productId: 'A', quantity: 2, unitPrice: 12.5 }], total: 37.5 });
  });

  it('a client price that differs from the catalog refuses the whole order: PRICE_MISMATCH names the line, product, client and catalog price; nothing is reserved', () => {
    const d = decideCreated('NEW', stock({ A: [5, 0, 10], B: [5, 0, 10] }), [
      { productId: 'B', quantity: 1, unitPrice: 10 },
      { productId: 'A', quantity: 2, unitPrice: 0.01 },
    ]);
    expect(d).toEqual({ kind: 'reject', next: 'FAILED', reason: 'PRICE_MISMATCH: line 2 (A): client price 0.01, catalog price 10.00', unavailable: [] });
  });

  it('a price mismatch comes first in the reason, before the stock problems of the same order', () => {
    const d = decideCreated('NEW', stock({ A: [1, 0, 10] }), [{ productId: 'A', quantity: 2, unitPrice: 9.99 }, { productId: 'NOPE', quantity: 1 }]);
    expect(d).toMatchObject({ kind: 'reject', reason: 'PRICE_MISMATCH: line 1 (A): client price 9.99, catalog price 10.00; unknown product NOPE; insufficient stock for A (requested 2, available 1)' });
  });

  it('a claimed total (the client gave no line prices) that differs from the catalog total refuses the order: PRICE_MISMATCH names both totals; nothing is reserved', () => {
    const d = decideCreated('NEW', stock({ A: [5, 0, 1999.99], B: [5, 0, 500] }), [{ productId: 'A', quantity: 1 }, { productId: 'B', quantity: 1 }], 2599.99);
    expect(d).toEqual({ kind: 'reject', next: 'FAILED', reason: 'PRICE_MISMATCH: total: client total 2599.99, catalog total 2499.99', unavailable: [] });
  });

  it('a claimed total equal to the catalog total (compared in cents) is accepted', () => {
    const d = decideCreated('NEW', stock({ A: [5, 0, 0.1], B: [5, 0, 0.2] }), [{ productId: 'A', quantity: 1 }, { productId: 'B', quantity: 1 }], 0.3);
    expect(d).toMatchObject({ kind: 'reserve', total: 0.3 });
  });

  it('a wrong line price is named alone: the claimed total that follows from it adds nothing', () => {
    const d = decideCreated('NEW', stock({ A: [5, 0, 10] }), [{ productId: 'A', quantity: 2, unitPrice: 0.01 }], 0.02);
    expect(d).toMatchObject({ kind: 'reject', reason: 'PRICE_MISMATCH: line 1 (A): client price 0.01, catalog price 10.00' });
  });

  it('a claimed total for an order with an unknown product: the unknown product is the reason (there is no catalog total)', () => {
    const d = decideCreated('NEW', stock({ A: [5, 0, 10] }), [{ productId: 'A', quantity: 1 }, { productId: 'NOPE', quantity: 1 }], 10);
    expect(d).toMatchObject({ kind: 'reject', reason: 'unknown product NOPE' });
  });

  it('in a batch, each order is checked against its own claimed total', () => {
    const { decisions } = decideCreatedBatch(stock({ A: [5, 0, 10] }), [
      { orderId: 'o1', status: 'NEW', lines: [{ productId: 'A', quantity: 1 }], total: 9 },
      { orderId: 'o2', status: 'NEW', lines: [{ productId: 'A', quantity: 1 }], total: 10 },
    ]);
    expect(decisions.map((d) => d.kind)).toEqual(['reject', 'reserve']);
  });

  it('in a batch, an order refused for its price takes no stock from the next order', () => {
    const { decisions, stock: after } = decideCreatedBatch(stock({ A: [2, 0, 10] }), [
      { orderId: 'o1', status: 'NEW', lines: [{ productId: 'A', quantity: 2, unitPrice: 1 }] },
      { orderId: 'o2', status: 'NEW', lines: [{ productId: 'A', quantity: 2 }] },
    ]);
    expect(decisions.map((d) => d.kind)).toEqual(['reject', 'reserve']);
    expect(decisions[1]).toMatchObject({ items: [{ productId: 'A', quantity: 2, unitPrice: 10 }], total: 20 });
    expect(after.get('A')).toEqual({ available: 0, reserved: 2, price: 10 });
  });
});

describe('releasing the stock of an order', () => {
  const held = [{ productId: 'A', quantity: 2 }];

  it('a reserved order gives back everything it holds', () => {
    expect(decideRelease('RESERVED', held)).toEqual({ kind: 'release', next: 'RELEASED', moves: held });
  });

  it('releasing twice changes nothing the second time', () => {
    const first = decideRelease('RESERVED', held);
    expect(first.kind).toBe('release');
    expect(decideRelease(first.kind === 'release' ? first.next : 'RESERVED', [])).toEqual({ kind: 'ignore' });
  });

  it.each(['FAILED', 'CANCELLED'] as const)('an order that holds nothing (%s) releases nothing', (status) => {
    expect(decideRelease(status, [])).toEqual({ kind: 'ignore' });
  });

  it('a release for an order not seen yet is remembered, so its order.created reserves nothing', () => {
    const release = decideRelease('NEW', []);
    expect(release).toEqual({ kind: 'remember', next: 'CANCELLED' });
    const created = decideCreated(release.kind === 'remember' ? release.next : 'NEW', stock({ A: [5] }), [{ productId: 'A', quantity: 1 }]);
    expect(created).toMatchObject({ kind: 'reject', reason: ORDER_CANCELLED });
  });
});
