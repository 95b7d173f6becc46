-- CreateIndex
-- CONCURRENTLY: the running version keeps appending to order_events while the index is built (a
-- plain CREATE INDEX would hold back every saga step and placement until it ends). It must be the
-- migration's only statement: a one-statement script runs outside a transaction block. If the
-- build fails, PostgreSQL leaves an invalid index of this name behind: drop it before the
-- migration is run again (docs/operations.md, "Upgrades and migrations").
CREATE INDEX CONCURRENTLY IF NOT EXISTS "order_events_at_idx" ON "order_events" USING BRIN ("at");
