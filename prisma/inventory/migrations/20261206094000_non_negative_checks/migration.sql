-- Stock and prices are never negative and a reservation holds at least one unit, whatever code
-- writes the row (the saga's UPDATEs also guard in their WHERE clause; this is the last line).
-- NOT VALID: adding the constraints takes the tables' exclusive lock only for a moment, without
-- scanning them; new and updated rows are checked from now on. The next migration validates
-- the existing rows in a transaction of its own, under a lock that lets reads and writes go on
-- (a migration is one transaction: a VALIDATE here would scan while holding the exclusive lock).
ALTER TABLE "products" ADD CONSTRAINT "products_available_non_negative" CHECK ("available" >= 0) NOT VALID;
ALTER TABLE "products" ADD CONSTRAINT "products_reserved_non_negative" CHECK ("reserved" >= 0) NOT VALID;
ALTER TABLE "products" ADD CONSTRAINT "products_price_non_negative" CHECK ("price" >= 0) NOT VALID;
ALTER TABLE "reservations" ADD CONSTRAINT "reservations_quantity_positive" CHECK ("quantity" > 0) NOT VALID;
