// Used by the official Prisma CLI (`npx prisma migrate deploy --config prisma/order/prisma.config.ts`)
// where the native engine can be downloaded; offline, `npm run db:migrate` applies the same files.
import { defineConfig } from 'prisma/config';

export default defineConfig({
  schema: 'schema.prisma',
  migrations: { path: 'migrations' },
  datasource: { url: process.env.DATABASE_URL ?? 'postgresql://postgres@127.0.0.1:5432/orderflow_order' },
});
