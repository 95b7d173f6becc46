-- DropIndex
DROP INDEX "reservations_product_id_idx";
