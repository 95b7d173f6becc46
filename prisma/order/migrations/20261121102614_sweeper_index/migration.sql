-- DropIndex
DROP INDEX "orders_status_updated_at_idx";

-- CreateIndex
CREATE INDEX "orders_status_import_id_updated_at_idx" ON "orders"("status", "import_id", "updated_at");
