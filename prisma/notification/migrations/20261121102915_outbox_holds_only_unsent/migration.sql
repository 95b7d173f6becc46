/*
  Warnings:

  - You are about to drop the column `sent_at` on the `outbox_events` table. All the data in the column will be lost.

*/
-- Rows already published must not be published again: from now on the table holds only the
-- backlog, and the relay deletes a row once the broker confirmed it.
DELETE FROM "outbox_events" WHERE "sent_at" IS NOT NULL;

-- DropIndex
DROP INDEX "outbox_events_unsent_idx";

-- AlterTable
ALTER TABLE "outbox_events" DROP COLUMN "sent_at";
