-- CreateEnum
CREATE TYPE "ImportState" AS ENUM ('RECEIVING', 'PROCESSING', 'COMPLETED', 'FAILED');

-- CreateTable
CREATE TABLE "imports" (
    "id" UUID NOT NULL,
    "state" "ImportState" NOT NULL DEFAULT 'RECEIVING',
    "rows_read" INTEGER,
    "rows_accepted" INTEGER,
    "rows_rejected" INTEGER,
    "chunk_rows_read" INTEGER NOT NULL DEFAULT 0,
    "chunk_rows_accepted" INTEGER NOT NULL DEFAULT 0,
    "chunk_rows_rejected" INTEGER NOT NULL DEFAULT 0,
    "chunks_total" INTEGER,
    "chunks_applied" INTEGER NOT NULL DEFAULT 0,
    "orders_created" INTEGER NOT NULL DEFAULT 0,
    "orders_already_imported" INTEGER NOT NULL DEFAULT 0,
    "orders_confirmed" INTEGER NOT NULL DEFAULT 0,
    "orders_rejected" INTEGER NOT NULL DEFAULT 0,
    "orders_cancelled" INTEGER NOT NULL DEFAULT 0,
    "failure" TEXT,
    "bytes" BIGINT,
    "started_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "received_at" TIMESTAMPTZ(3),
    "completed_at" TIMESTAMPTZ(3),
    "failed_at" TIMESTAMPTZ(3),
    "updated_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "imports_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "import_chunks" (
    "import_id" UUID NOT NULL,
    "chunk_no" INTEGER NOT NULL,
    "orders" INTEGER NOT NULL,
    "applied_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "import_chunks_pkey" PRIMARY KEY ("import_id","chunk_no")
);
