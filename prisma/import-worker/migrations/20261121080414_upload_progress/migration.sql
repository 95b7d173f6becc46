-- AlterTable
ALTER TABLE "import_jobs" ADD COLUMN     "bytes" BIGINT NOT NULL DEFAULT 0,
ADD COLUMN     "chunks" INTEGER NOT NULL DEFAULT 0,
ADD COLUMN     "heartbeat_at" TIMESTAMPTZ(3),
ADD COLUMN     "instance_id" TEXT,
ADD COLUMN     "last_line" INTEGER NOT NULL DEFAULT 0;

-- CreateIndex
CREATE INDEX "import_jobs_state_heartbeat_at_idx" ON "import_jobs"("state", "heartbeat_at");
