import type { Client } from 'pg';

/**
 * What the payment gateway really kept, order by order, against what the payment service's
 * records say it kept (audit.ts): an approved charge whose answer was lost and whose order was
 * then voided, or a refund recorded but never made, shows only in the gateway's own ledger.
 */
export const GATEWAY_CHECK = 'the payment gateway kept what the payments say, order by order';

/** An order's money on one side: kept (taken minus given back), and whether it moved within the grace period. */
export interface KeptMoney {
  kept: number;
  moving: boolean;
}

const cents = (n: number): number => Math.round(n * 100) / 100;

/**
 * Per order, what the simulator's ledger (apps/payment-gateway, table `gateway_ledger`) kept:
 * approved charges minus refunds. A refund row is only ever written `refunded` (ledger.ts): the
 * status is named anyway, so both kinds read by the ledger's own rule. Declined, pending and
 * voided charges took nothing.
 */
export async function keptAtGateway(c: Client, graceS: number): Promise<Map<string, KeptMoney>> {
  const { rows } = await c.query<{ order_id: string; kept: string; moving: boolean }>(
    `SELECT order_id,
            (coalesce(sum(amount) FILTER (WHERE kind = 'charge' AND status = 'approved'), 0)
             - coalesce(sum(amount) FILTER (WHERE kind = 'refund' AND status = 'refunded'), 0))::text AS kept,
            bool_or(updated_at > now() - make_interval(secs => $1)) AS moving
       FROM gateway_ledger GROUP BY order_id`,
    [graceS],
  );
  return new Map(rows.map((r) => [r.order_id, { kept: Number(r.kept), moving: r.moving }]));
}

/**
 * The orders whose kept money differs between the gateway and the payments (an order absent on
 * one side kept nothing there). An order whose money moved on either side within the grace period
 * is left for a later audit: its answer may still be on its way.
 */
export function keptMismatches(atGateway: Map<string, KeptMoney>, payments: Map<string, KeptMoney>): string[] {
  return [...new Set([...atGateway.keys(), ...payments.keys()])].flatMap((id) => {
    const gateway = atGateway.get(id);
    const said = payments.get(id);
    if (gateway?.moving || said?.moving) return [];
    const kept = cents(gateway?.kept ?? 0);
    if (Math.abs(kept - (said?.kept ?? 0)) <= 0.005) return [];
    return [said ? `${id}: the gateway kept ${kept}, the payments say ${cents(said.kept)}` : `${id}: the gateway kept ${kept}, the payments have no row for it`];
  });
}
