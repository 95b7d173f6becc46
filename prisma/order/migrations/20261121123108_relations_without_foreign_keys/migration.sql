-- The order database keeps its relations in Prisma (relationMode = "prisma"): lines and
-- timeline rows are written only with their order, and orders are never deleted. Each
-- constraint cost a trigger, a lookup and a KEY SHARE lock on the order per child row.
-- DropForeignKey
ALTER TABLE "order_lines" DROP CONSTRAINT "order_lines_order_id_fkey";

-- DropForeignKey
ALTER TABLE "order_status_changes" DROP CONSTRAINT "order_status_changes_order_id_fkey";
