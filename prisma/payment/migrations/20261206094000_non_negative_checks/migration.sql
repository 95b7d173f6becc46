-- An amount is never negative: a refund is its own row (type REFUND) with a positive amount.
-- NOT VALID: adding the constraint takes the table's exclusive lock only for a moment, without
-- scanning it; new and updated rows are checked from now on. The next migration validates the
-- existing rows in a transaction of its own, under a lock that lets reads and writes go on
-- (a migration is one transaction: a VALIDATE here would scan while holding the exclusive lock).
ALTER TABLE "payments" ADD CONSTRAINT "payments_amount_non_negative" CHECK ("amount" >= 0) NOT VALID;
