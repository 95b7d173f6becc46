/**
 * @orderflow/migrate: Prisma client generation and migrations without the native schema
 * engine (which cannot be downloaded here). Migrations run on Prisma's wasm schema engine
 * through @prisma/adapter-pg, in Prisma's standard layout and `_prisma_migrations` table,
 * so the official `prisma migrate deploy` treats the databases as its own.
 */
export { listDatabases, urlEnvVar, type DatabaseInfo } from './discover';
export { ensureDatabase, dropDatabase, cloneDatabase, withDatabaseName, databaseName } from './databases';
export {
  applyMigrations,
  createMigration,
  readMigrationsList,
  type ApplyMigrationsInput,
  type CreateMigrationInput,
} from './migrations';
export { generateClients, type GeneratedClient } from './generate';
export { engineVersion } from './engine';
