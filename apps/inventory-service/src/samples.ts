import type { Db } from './db';

/** The catalogue a fresh install starts with (docs/contract.md, "HTTP API"). */
export const SAMPLE_PRODUCTS = [
  { id: 'PROD-001', name: 'Laptop', price: 999, available: 10 },
  { id: 'PROD-002', name: 'Mouse', price: 25, available: 50 },
  { id: 'PROD-003', name: 'Keyboard', price: 75, available: 100 },
] as const;

/**
 * Adds the sample products that do not exist yet; never touches an existing one, so a restart
 * keeps what admins and orders did to them, and two replicas starting together are harmless
 * (INSERT ... ON CONFLICT DO NOTHING).
 */
export async function seedSampleProducts(deps: { db: Db }): Promise<void> {
  await deps.db.product.createMany({ data: [...SAMPLE_PRODUCTS], skipDuplicates: true });
}
