-- DropIndex
DROP INDEX "orders_status_import_id_updated_at_idx";

-- CreateTable
CREATE TABLE "order_deadlines" (
    "order_id" UUID NOT NULL,
    "imported" BOOLEAN NOT NULL,
    "since" TIMESTAMPTZ(3) NOT NULL,

    CONSTRAINT "order_deadlines_pkey" PRIMARY KEY ("order_id")
);

-- CreateIndex
CREATE INDEX "order_deadlines_imported_since_idx" ON "order_deadlines"("imported", "since");

-- A status change writes status and updated_at, which no index holds now: it can be a HOT
-- update if the order's page has room for the new row version. An imported chunk's orders
-- are written together and each changes once more (PENDING → CONFIRMED in one write), so
-- half of each new page is left free (existing pages keep their rows).
ALTER TABLE "orders" SET (fillfactor = 50);

-- The orders open now get their deadline row.
INSERT INTO "order_deadlines" ("order_id", "imported", "since")
SELECT "id", "import_id" IS NOT NULL, "updated_at" FROM "orders" WHERE "status" IN ('PENDING', 'STOCK_RESERVED');
