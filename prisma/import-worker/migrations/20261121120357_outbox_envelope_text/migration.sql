-- The relay only sends the envelope, as the text it was written as. As jsonb, every outbox
-- row was parsed into jsonb and its TOAST compressed with pglz: for a bulk event (~100 KB,
-- an import chunk's orders) that cost ≈ 3 ms of PostgreSQL CPU per hop. Text with lz4 costs
-- a tenth of it; rows still unsent keep their JSON text.
-- AlterTable
ALTER TABLE "outbox_events" ALTER COLUMN "envelope" SET DATA TYPE TEXT USING "envelope"::text;
ALTER TABLE "outbox_events" ALTER COLUMN "envelope" SET COMPRESSION lz4;
