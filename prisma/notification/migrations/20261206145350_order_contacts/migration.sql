-- An email's subject line (null for an SMS), and each order's contact as the order service
-- last said it (order.created, order.updated): the recipients of its notifications.
-- AlterTable
ALTER TABLE "notifications" ADD COLUMN     "subject" TEXT;

-- CreateTable
CREATE TABLE "order_contacts" (
    "order_id" UUID NOT NULL,
    "customer_id" TEXT NOT NULL,
    "email" TEXT,
    "phone" TEXT,
    "shipping_address" TEXT,
    "as_of" TIMESTAMPTZ(3) NOT NULL,

    CONSTRAINT "order_contacts_pkey" PRIMARY KEY ("order_id")
);
