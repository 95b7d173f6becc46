-- The product's version is its HTTP ETag: a PUT replaces a product only if the version it read
-- is still current (If-Match). Every UPDATE of the row bumps it — PUTs, adjustments and the
-- saga's reservations and releases — in a trigger, so no writer can forget to and the saga's
-- statements stay as they are. Adding a column with a constant default rewrites no rows.
ALTER TABLE "products" ADD COLUMN     "version" INTEGER NOT NULL DEFAULT 1;

CREATE FUNCTION "products_next_version"() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  NEW.version := OLD.version + 1;
  RETURN NEW;
END
$$;

CREATE TRIGGER "products_next_version" BEFORE UPDATE ON "products"
  FOR EACH ROW EXECUTE FUNCTION "products_next_version"();

-- The audit trail of admins' relative stock changes. product_id compares bytes like
-- products.id (collation "C", migration identifier_collation_c). A new, empty table: its
-- CHECK constraints need no NOT VALID step.
CREATE TABLE "stock_adjustments" (
    "id" BIGSERIAL NOT NULL,
    "product_id" TEXT COLLATE "C" NOT NULL,
    "delta" INTEGER NOT NULL,
    "reason" TEXT NOT NULL,
    "adjusted_by" TEXT NOT NULL,
    "available_after" INTEGER NOT NULL,
    "idempotency_key" TEXT,
    "created_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "stock_adjustments_pkey" PRIMARY KEY ("id"),
    CONSTRAINT "stock_adjustments_delta_non_zero" CHECK ("delta" <> 0),
    CONSTRAINT "stock_adjustments_available_after_non_negative" CHECK ("available_after" >= 0)
);

-- CreateIndex
CREATE UNIQUE INDEX "stock_adjustments_product_id_idempotency_key_key" ON "stock_adjustments"("product_id", "idempotency_key");
