import type { Tx } from './db';
import type { Contact } from './templates';

/** An order's contact as notification knows it, and when the order service said so. */
export interface KnownContact {
  orderId: string;
  customerId: string;
  contact: Contact;
  asOf: Date;
}

/** What an event says about an order's contact: given when it was placed, or changed since. */
export interface ContactNews {
  kind: 'placed' | 'updated';
  known: KnownContact;
}

/**
 * The contact after some news, pure. The contact given at placement applies only to an order
 * without one yet: an order.created that arrives late (retried) never undoes an update. An
 * update applies unless a later update is known already (events of one order may overtake each
 * other through the retry queues or two replicas).
 */
export function applyContactNews(current: KnownContact | undefined, news: ContactNews): KnownContact | undefined {
  if (current === undefined) return news.known;
  if (news.kind === 'placed') return current;
  return news.known.asOf.getTime() >= current.asOf.getTime() ? news.known : current;
}

/** Order ids as the table keys them (PostgreSQL prints uuids in lower case; events may not). */
export const orderKey = (orderId: string): string => orderId.toLowerCase();

/** The known contacts of these orders, by `orderKey`. */
export async function loadContacts(tx: Tx, orderIds: readonly string[]): Promise<Map<string, KnownContact>> {
  if (orderIds.length === 0) return new Map();
  const rows = await tx.$queryRawUnsafe<
    Array<{ order_id: string; customer_id: string; email: string | null; phone: string | null; shipping_address: string | null; as_of: Date }>
  >(
    `SELECT order_id::text, customer_id, email, phone, shipping_address, as_of FROM order_contacts WHERE order_id = ANY($1::uuid[])`,
    [...new Set(orderIds.map(orderKey))],
  );
  return new Map(
    rows.map((r) => [
      r.order_id,
      {
        orderId: r.order_id,
        customerId: r.customer_id,
        contact: {
          ...(r.email !== null ? { email: r.email } : {}),
          ...(r.phone !== null ? { phone: r.phone } : {}),
          ...(r.shipping_address !== null ? { shippingAddress: r.shipping_address } : {}),
        },
        asOf: new Date(r.as_of),
      },
    ]),
  );
}

/**
 * Writes contacts learnt in a batch, at most one per order, each in one statement per kind. The
 * rules of `applyContactNews` hold in SQL too, against what another replica may have written
 * meanwhile: a placement's contact is inserted only where there is none, an update overwrites
 * only an older one.
 */
export async function saveContacts(tx: Tx, contacts: { placed: readonly KnownContact[]; updated: readonly KnownContact[] }): Promise<void> {
  const columns = (list: readonly KnownContact[]) => [
    list.map((c) => orderKey(c.orderId)),
    list.map((c) => c.customerId),
    list.map((c) => c.contact.email ?? null),
    list.map((c) => c.contact.phone ?? null),
    list.map((c) => c.contact.shippingAddress ?? null),
    list.map((c) => c.asOf.toISOString()),
  ];
  const insert = `INSERT INTO order_contacts (order_id, customer_id, email, phone, shipping_address, as_of)
     SELECT * FROM unnest($1::uuid[], $2::text[], $3::text[], $4::text[], $5::text[], $6::timestamptz[])`;
  if (contacts.placed.length > 0) await tx.$executeRawUnsafe(`${insert} ON CONFLICT (order_id) DO NOTHING`, ...columns(contacts.placed));
  if (contacts.updated.length > 0) {
    await tx.$executeRawUnsafe(
      `${insert} ON CONFLICT (order_id) DO UPDATE
         SET customer_id = EXCLUDED.customer_id, email = EXCLUDED.email, phone = EXCLUDED.phone,
             shipping_address = EXCLUDED.shipping_address, as_of = EXCLUDED.as_of
         WHERE order_contacts.as_of <= EXCLUDED.as_of`,
      ...columns(contacts.updated),
    );
  }
}
