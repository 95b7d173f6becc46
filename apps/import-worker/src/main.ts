import { loadConfig } from '@orderflow/config';
import { runService } from '@orderflow/service';
import { importsApi } from './api';
import { importWorkerConfigSchema } from './config';
import { database } from './db';
import { importer } from './importer';
import { startSweeper } from './sweeper';
import { topology } from './topology';

const config = loadConfig(importWorkerConfigSchema(8085));

void runService({
  name: 'import-worker',
  config,
  topology,
  database,
  rawBodyTypes: ['text/csv'],
  routes: (deps) => importsApi({ sql: deps.sql, imports: importer({ ...deps, config }) }),
  // An upload streams for as long as the file takes: the gateway's 600 s bound applies, not Node's 300 s.
  requestTimeoutMs: 0,
  background: (deps) => {
    const stop = startSweeper({ ...deps, staleAfterS: config.IMPORT_STALE_AFTER_S, instanceId: config.INSTANCE_ID });
    return { stop: async () => stop() };
  },
});
