-- The W3C trace context of the transaction that wrote an outbox row, so the publish after
-- the commit (and the consumer in the next service) continues its trace. NULL while tracing is
-- off: the insert then leaves the column out. A nullable column without a default: no rewrite.
-- Still, the ALTER needs an ACCESS EXCLUSIVE lock, and while it waits for one (behind a relay
-- sweep holding rows until the broker confirms) every outbox insert queues behind it: it gives
-- up after 5 s instead. LOCAL: the script runs as one transaction, the setting ends with it. A
-- timeout fails the Job and records the migration as failed: mark it rolled back
-- (`prisma migrate resolve --rolled-back <name>`, or set `rolled_back_at` of its
-- `_prisma_migrations` row) and run the Job again.
SET LOCAL lock_timeout = '5s';
-- AlterTable
ALTER TABLE "outbox_events" ADD COLUMN     "trace_context" TEXT;
