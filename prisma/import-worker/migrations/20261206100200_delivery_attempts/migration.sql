-- Deliveries of an event that ended without an outcome (its process died while handling it):
-- a consumer counts them here when the event is redelivered, before running its handler
-- again, and parks the event after MAX_DELIVERIES. Only redeliveries write a row; it is
-- deleted when the event is handled or parked, and the inbox retention prunes the rest.
-- CreateTable
CREATE TABLE "delivery_attempts" (
    "consumer" TEXT NOT NULL,
    "event_id" UUID NOT NULL,
    "deliveries" INTEGER NOT NULL DEFAULT 1,
    "last_delivered_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "delivery_attempts_pkey" PRIMARY KEY ("consumer","event_id")
);
