-- Checks the rows that existed before migration non_negative_checks (SHARE UPDATE EXCLUSIVE:
-- reads and writes go on meanwhile). Fails, naming the constraint, if a row breaks one: fix
-- that row and deploy again.
ALTER TABLE "payments" VALIDATE CONSTRAINT "payments_amount_non_negative";
