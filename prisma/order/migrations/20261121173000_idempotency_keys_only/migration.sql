-- Only orders placed with an Idempotency-Key have an entry in its unique index: an imported
-- order (and an API order without the header) has none, so a bulk import no longer writes a
-- (customer_id, NULL) entry per order. NULLs never conflicted, so uniqueness is unchanged;
-- ON CONFLICT names the predicate to use this index as its arbiter.
DROP INDEX "orders_customer_id_idempotency_key_key";
CREATE UNIQUE INDEX "orders_customer_id_idempotency_key_key" ON "orders"("customer_id", "idempotency_key") WHERE "idempotency_key" IS NOT NULL;
