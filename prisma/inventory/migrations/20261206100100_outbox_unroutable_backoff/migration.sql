-- An event the broker returns as unroutable (published mandatory, no queue bound to its
-- routing key) keeps its outbox row instead of being deleted as sent: the relay counts the
-- returns, waits a growing delay until next_attempt_at before publishing it again, and keeps
-- the broker's reason. Columns with a constant default or NULL: no table rewrite.
-- AlterTable
ALTER TABLE "outbox_events" ADD COLUMN     "attempts" INTEGER NOT NULL DEFAULT 0,
ADD COLUMN     "last_error" TEXT,
ADD COLUMN     "next_attempt_at" TIMESTAMPTZ(3);
