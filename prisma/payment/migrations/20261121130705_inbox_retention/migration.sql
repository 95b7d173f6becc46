-- CreateIndex
CREATE INDEX "processed_events_processed_at_idx" ON "processed_events" USING BRIN ("processed_at");
