-- Checks the rows that existed before migration non_negative_checks (SHARE UPDATE EXCLUSIVE:
-- reads and writes go on meanwhile). Fails, naming the constraint, if a row breaks one: fix
-- that row and deploy again.
ALTER TABLE "order_lines" VALIDATE CONSTRAINT "order_lines_quantity_positive";
ALTER TABLE "order_lines" VALIDATE CONSTRAINT "order_lines_unit_price_non_negative";
ALTER TABLE "orders" VALIDATE CONSTRAINT "orders_total_non_negative";
