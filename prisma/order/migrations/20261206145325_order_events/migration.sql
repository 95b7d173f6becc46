-- The order's history becomes event-sourced (docs/architecture.md, "Order history"): every
-- change of an order is an event with a per-order sequence number, and the `orders` row is the
-- projection of its events. The status timeline was one row per change; the events replace it
-- (one event per change, same count), so the existing timelines are carried over as events.
-- The lines as placed stay in order_lines (the OrderPlaced event's lines, never updated); the
-- catalog's prices move to the order (`unit_prices`), the projection of the pricing events.

-- CreateEnum
CREATE TYPE "CustomerStatus" AS ENUM ('ACTIVE', 'BLOCKED');

-- AlterTable: a constant default is stored in the catalog (no table rewrite).
ALTER TABLE "orders" ADD COLUMN     "customer_email" TEXT,
ADD COLUMN     "customer_phone" TEXT,
ADD COLUMN     "shipping_address" TEXT,
ADD COLUMN     "unit_prices" DECIMAL(12,2)[],
ADD COLUMN     "version" INTEGER NOT NULL DEFAULT 1;

-- CreateTable
CREATE TABLE "order_events" (
    "order_id" UUID NOT NULL,
    "seq" INTEGER NOT NULL,
    "type" TEXT NOT NULL,
    "status" "OrderStatus" NOT NULL,
    "reason" TEXT,
    "data" JSONB,
    "at" TIMESTAMPTZ(3) NOT NULL,

    CONSTRAINT "order_events_pkey" PRIMARY KEY ("order_id","seq")
);

-- The timeline as events. The first change is the placement (with what the projection needs
-- of the order as it is now, so that folding the carried-over events gives the row back); the
-- others are typed from their status and reason, without data (the order's total stays). A
-- total is always written, null when the order had none (as the services write OrderPlaced).
INSERT INTO "order_events" ("order_id", "seq", "type", "status", "reason", "data", "at")
SELECT c.order_id, c.seq,
       CASE
         WHEN c.seq = 1 THEN 'OrderPlaced'
         WHEN c.status = 'STOCK_RESERVED' THEN 'StockReserved'
         WHEN c.status = 'CONFIRMED' THEN 'PaymentCompleted'
         WHEN c.status = 'REJECTED' AND c.reason LIKE 'stock released%' THEN 'StockReleased'
         WHEN c.status = 'REJECTED' THEN 'OrderRejected'
         WHEN c.reason LIKE 'stock released%' THEN 'StockReleased'
         WHEN c.reason LIKE 'payment of % refunded' THEN 'PaymentRefunded'
         WHEN c.reason LIKE 'payment failed%' THEN 'PaymentFailed'
         ELSE 'OrderCancelled'
       END,
       c.status, c.reason,
       CASE WHEN c.seq = 1 THEN jsonb_strip_nulls(jsonb_build_object(
         'customerId', o.customer_id, 'paymentMethod', o.payment_method,
         'importId', o.import_id, 'orderRef', o.order_ref, 'idempotencyKey', o.idempotency_key))
         || jsonb_build_object('total', o.total) END,
       c.at
  FROM (SELECT order_id, status, reason, at, row_number() OVER (PARTITION BY order_id ORDER BY id)::int AS seq
          FROM "order_status_changes") AS c
  JOIN "orders" AS o ON o.id = c.order_id;

UPDATE "orders" AS o SET "version" = e.n
  FROM (SELECT order_id, max(seq) AS n FROM "order_events" GROUP BY order_id) AS e
 WHERE o.id = e.order_id AND o."version" <> e.n;

-- DropTable
DROP TABLE "order_status_changes";

-- CreateTable: a customer's id compares bytes, like orders.customer_id.
CREATE TABLE "customers" (
    "id" TEXT COLLATE "C" NOT NULL,
    "status" "CustomerStatus" NOT NULL,
    "updated_at" TIMESTAMPTZ(3) NOT NULL,

    CONSTRAINT "customers_pkey" PRIMARY KEY ("id")
);
