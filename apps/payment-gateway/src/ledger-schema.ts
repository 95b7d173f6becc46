import { Client } from 'pg';

/**
 * The ledger's storage (ledger.ts): its database and one table, created by the simulator at
 * start, idempotently and under an advisory lock — not by our migrations: the simulator stands
 * in for a third party, whose storage is not one of our services' schemas.
 */

const TABLE = `
  CREATE TABLE IF NOT EXISTS gateway_ledger (
    idempotency_key text PRIMARY KEY,
    kind text NOT NULL CHECK (kind IN ('charge', 'refund')),
    order_id text NOT NULL,
    amount numeric(14, 2) NOT NULL CHECK (amount >= 0),
    payment_method text,
    charge_key text,
    status text NOT NULL CONSTRAINT gateway_ledger_status_check CHECK (status IN ('approved', 'declined', 'pending', 'voided', 'refunded')),
    reason text,
    requests integer NOT NULL DEFAULT 1,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now(),
    CHECK ((kind = 'refund') = (charge_key IS NOT NULL))
  );
  CREATE INDEX IF NOT EXISTS gateway_ledger_order_id ON gateway_ledger (order_id);
  -- A charge is refunded once, in full, whatever key the refund comes with.
  CREATE UNIQUE INDEX IF NOT EXISTS gateway_ledger_one_refund ON gateway_ledger (charge_key) WHERE kind = 'refund';
  -- A table from before voids: its status check lacks 'voided'.
  DO $$ BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_constraint WHERE conname = 'gateway_ledger_status_check' AND pg_get_constraintdef(oid) LIKE '%voided%') THEN
      ALTER TABLE gateway_ledger DROP CONSTRAINT IF EXISTS gateway_ledger_status_check;
      ALTER TABLE gateway_ledger ADD CONSTRAINT gateway_ledger_status_check CHECK (status IN ('approved', 'declined', 'pending', 'voided', 'refunded'));
    END IF;
  END $$;
`;

/** Any number: serialises concurrent starts of several simulator replicas on one database. */
const SCHEMA_LOCK = 7_246_183;

/**
 * Creates the ledger's database when it does not exist (a laptop's PostgreSQL, where the
 * simulator may: Kubernetes and compose create it with its role) and its table, idempotently.
 */
export async function ensureLedger(databaseUrl: string): Promise<void> {
  const client = new Client({ connectionString: databaseUrl });
  try {
    await client.connect();
  } catch (err) {
    if ((err as { code?: string }).code !== '3D000') throw err; // 3D000: the database does not exist
    await createDatabase(databaseUrl);
    return ensureLedger(databaseUrl);
  }
  try {
    await client.query('BEGIN');
    await client.query('SELECT pg_advisory_xact_lock($1)', [SCHEMA_LOCK]);
    await client.query(TABLE);
    await client.query('COMMIT');
  } finally {
    await client.end().catch(() => undefined);
  }
}

async function createDatabase(databaseUrl: string): Promise<void> {
  const url = new URL(databaseUrl);
  const name = decodeURIComponent(url.pathname.slice(1));
  url.pathname = '/postgres';
  const admin = new Client({ connectionString: url.toString() });
  await admin.connect();
  try {
    await admin.query(`CREATE DATABASE "${name.replace(/"/g, '""')}"`);
  } catch (err) {
    // 42P04: another replica created it meanwhile.
    if ((err as { code?: string }).code !== '42P04') throw err;
  } finally {
    await admin.end().catch(() => undefined);
  }
}
