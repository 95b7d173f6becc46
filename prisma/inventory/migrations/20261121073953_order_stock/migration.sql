-- CreateEnum
CREATE TYPE "OrderStockStatus" AS ENUM ('NEW', 'RESERVED', 'FAILED', 'RELEASED', 'CANCELLED');

-- CreateTable
CREATE TABLE "order_stock" (
    "order_id" UUID NOT NULL,
    "status" "OrderStockStatus" NOT NULL,
    "reason" TEXT,
    "created_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "updated_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "order_stock_pkey" PRIMARY KEY ("order_id")
);
