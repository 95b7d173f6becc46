-- The catalog sets the price: an order placed (or imported) without a price on a line has no
-- unit price for that line and no total until inventory prices it at reservation. Dropping
-- NOT NULL only changes the catalog: no table rewrite, no scan.
-- AlterTable
ALTER TABLE "orders" ALTER COLUMN "total" DROP NOT NULL;

-- AlterTable
ALTER TABLE "order_lines" ALTER COLUMN "unit_price" DROP NOT NULL;
