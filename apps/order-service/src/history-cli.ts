/**
 * The order history's upkeep (docs/operations.md, "Order history"):
 *   npm run rebuild -- orders    rebuild the `orders` table from the order events, then swap it in
 *   tsx apps/order-service/src/history-cli.ts verify   (part of `npm run audit`) check every
 *                                order row against its events; exit 1 on a difference
 * The database is ORDER_DATABASE_URL, else DATABASE_URL, else the local default.
 */
import { createPools, pgStatements, pgTransactions } from '@orderflow/db';
import { rebuildOrders, verifyProjection } from './rebuild';

const USAGE = 'usage: history-cli.ts rebuild orders | verify';

async function main(args: string[]): Promise<number> {
  const url = process.env.ORDER_DATABASE_URL ?? process.env.DATABASE_URL ?? 'postgresql://postgres@127.0.0.1:5432/orderflow_order';
  // No statement or lock timeout: a rebuild's statements are long, and its swap waits for writers.
  const pool = createPools({ url, httpSize: 1, messagingSize: 1, timeouts: { statementTimeoutMs: 0, lockTimeoutMs: 0, idleInTransactionTimeoutMs: 0 }, onIdleError: () => undefined }).http;
  try {
    const sql = pgStatements(pool);
    if (args[0] === 'rebuild' && args[1] === 'orders') {
      const r = await rebuildOrders(sql, pgTransactions(pool), { log: (line) => process.stderr.write(`${line}\r`) });
      process.stdout.write(`\norders rebuilt from their events: ${r.orders} orders (${r.caughtUp} caught up under the lock) in ${(r.ms / 1000).toFixed(1)} s\n`);
      return 0;
    }
    if (args[0] === 'verify') {
      const v = await verifyProjection(sql);
      const ok = v.mismatched === 0;
      process.stdout.write(`${ok ? 'ok  ' : 'FAIL'} order projection: ${v.orders} orders, ${v.mismatched} differ from their events\n`);
      for (const e of v.examples) process.stdout.write(`     ${e.orderId}: ${e.fields.join(', ')}\n`);
      return ok ? 0 : 1;
    }
    process.stderr.write(`${USAGE}\n`);
    return 2;
  } finally {
    await pool.end();
  }
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (err: Error) => {
    process.stderr.write(`${err.message}\n`);
    process.exit(1);
  },
);
