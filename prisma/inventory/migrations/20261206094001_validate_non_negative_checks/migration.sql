-- Checks the rows that existed before migration non_negative_checks (SHARE UPDATE EXCLUSIVE:
-- reads and writes go on meanwhile). Fails, naming the constraint, if a row breaks one: fix
-- that row and deploy again.
ALTER TABLE "products" VALIDATE CONSTRAINT "products_available_non_negative";
ALTER TABLE "products" VALIDATE CONSTRAINT "products_reserved_non_negative";
ALTER TABLE "products" VALIDATE CONSTRAINT "products_price_non_negative";
ALTER TABLE "reservations" VALIDATE CONSTRAINT "reservations_quantity_positive";
