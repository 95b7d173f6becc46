-- A line orders at least one unit; prices and totals are never negative. NULL passes a CHECK,
-- so these hold as well for a unit_price or total the catalog has not set yet.
-- NOT VALID: adding the constraints takes the tables' exclusive lock only for a moment, without
-- scanning them; new and updated rows are checked from now on. The next migration validates
-- the existing rows in a transaction of its own, under a lock that lets reads and writes go on
-- (a migration is one transaction: a VALIDATE here would scan while holding the exclusive lock).
ALTER TABLE "order_lines" ADD CONSTRAINT "order_lines_quantity_positive" CHECK ("quantity" > 0) NOT VALID;
ALTER TABLE "order_lines" ADD CONSTRAINT "order_lines_unit_price_non_negative" CHECK ("unit_price" >= 0) NOT VALID;
ALTER TABLE "orders" ADD CONSTRAINT "orders_total_non_negative" CHECK ("total" >= 0) NOT VALID;
