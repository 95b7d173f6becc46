import type { HandlerContext } from '@orderflow/messaging';
import type { Tx } from './db';
import { decideCreatedBatch, decideRelease, type CreatedDecision, type Line, type Move, type OrderStatus } from './stock';
import { claimOrders, heldBy, insertOrderStatuses, insertReservations, lockKnownOrders, lockStock, markReservationsReleased, moveStock, setOrderStatuses, type OrderMoves, type StatusChange } from './store';

type Logger = HandlerContext<Tx>['logger'];

// The two transactions of inventory's saga (lock/read → decide → write). Checkout's events and
// an import's chunks both go through them; only the messages in and out differ.

/**
 * The first request of each order, keyed as the tables key it (PostgreSQL prints uuids in lower
 * case; the contracts accept either case). A second one for the same order in one batch is a
 * duplicate.
 */
function firstPerOrder<T extends { orderId: string }>(requests: readonly T[], logger: Logger): Array<T & { key: string }> {
  const seen = new Set<string>();
  return requests.flatMap((request) => {
    const key = request.orderId.toLowerCase();
    if (seen.has(key)) {
      logger.warn('second event for the same order in one batch; ignored', { orderId: key });
      return [];
    }
    seen.add(key);
    return [{ ...request, key }];
  });
}

/** An order to reserve for: its id and lines (with the client's prices, if any) and the total it claimed, if any. */
export interface ToReserve {
  orderId: string;
  lines: readonly Line[];
  total?: number | undefined;
}

/**
 * Reserves for many orders at once, in one transaction: lock the orders heard of before, lock
 * every product they name (stock and price) in one statement, decide and price all orders in
 * memory (each reservation lowers what the next order can get), then write all moves,
 * reservations and statuses in one statement each. Returns each order with its decision, in the
 * given order, the first request of each order only: a reservation carries the order's lines
 * at the catalog price and their total.
 */
export async function reserveOrders<T extends ToReserve>(tx: Tx, requests: readonly T[], logger: Logger): Promise<Array<{ order: T; decision: CreatedDecision }>> {
  const orders = firstPerOrder(requests, logger);
  const known = await lockKnownOrders(tx, orders.map((o) => o.key).sort());
  const claimed = orders.map((o) => ({ orderId: o.key, status: known.get(o.key) ?? ('NEW' as const), lines: o.lines, total: o.total }));
  const stock = await lockStock(
    tx,
    claimed.filter((o) => o.status === 'NEW').flatMap((o) => o.lines.map((i) => i.productId)),
  );
  const { decisions } = decideCreatedBatch(stock, claimed);
  const reserved: OrderMoves[] = [];
  const changes: StatusChange[] = [];
  decisions.forEach((d, i) => {
    const { orderId } = claimed[i]!;
    if (d.kind === 'reserve') {
      reserved.push({ orderId, moves: d.moves });
      changes.push({ orderId, status: d.next, reason: null });
    } else if (d.kind === 'reject') {
      changes.push({ orderId, status: d.next, reason: d.reason });
    }
  });
  await moveStock(tx, reserved.flatMap((r) => r.moves), 1);
  await insertReservations(tx, reserved);
  await insertOrderStatuses(tx, changes.filter((c) => !known.has(c.orderId)));
  await setOrderStatuses(tx, changes.filter((c) => known.has(c.orderId)));
  return decisions.map((decision, i) => ({ order: orders[i]!, decision }));
}

/** An order whose stock goes back, and why. */
export interface ReleaseRequest {
  orderId: string;
  reason: string;
}

function statusOf(statuses: ReadonlyMap<string, OrderStatus>, key: string): OrderStatus {
  const status = statuses.get(key);
  if (!status) throw new Error(`order ${key} was not claimed`);
  return status;
}

/**
 * Gives back what orders hold, in one transaction. Idempotent per order: only a RESERVED order
 * releases (once); an order not seen yet gets a tombstone instead. Returns the requests that
 * released stock (the first of each order only).
 */
export async function releaseOrders<R extends ReleaseRequest>(tx: Tx, all: readonly R[], logger: Logger): Promise<R[]> {
  const requests = firstPerOrder(all, logger);
  const ids = requests.map((r) => r.key).sort();
  const statuses = await claimOrders(tx, ids);
  const held = await heldBy(tx, ids.filter((id) => statuses.get(id) === 'RESERVED'));
  const moves: Move[] = [];
  const released: Array<R & { key: string }> = [];
  const changes: StatusChange[] = [];
  for (const r of requests) {
    const d = decideRelease(statusOf(statuses, r.key), held.get(r.key) ?? []);
    switch (d.kind) {
      case 'release':
        moves.push(...d.moves);
        released.push(r);
        changes.push({ orderId: r.key, status: d.next, reason: r.reason });
        break;
      case 'remember':
        changes.push({ orderId: r.key, status: d.next, reason: r.reason });
        logger.info('release before order.created: remembered, the order will reserve nothing', { orderId: r.orderId, reason: r.reason });
        break;
      case 'ignore':
        break;
    }
  }
  // Lock in product order first, as reservations do: the UPDATE alone locks in no set order.
  await lockStock(tx, moves.map((m) => m.productId));
  await moveStock(tx, moves, -1);
  await markReservationsReleased(tx, released.map((r) => r.key));
  await setOrderStatuses(tx, changes);
  return released;
}
