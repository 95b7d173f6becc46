/** The processes of the system, their ports (DESIGN.md, "Ports") and their databases. */
export interface ServiceSpec {
  /** Folder under apps/. */
  app: string;
  port: number;
  /** Database name in prisma/ (the migrate lib's name). */
  database: string;
  /**
   * NODE_OPTIONS the process runs with everywhere (npm start, compose, Kubernetes); the
   * manifests are checked against it.
   */
  nodeOptions?: string;
  /**
   * The service's bulk lane (the queues of imports) runs as a second process, `<app>-bulk`,
   * on this port (probes and metrics), at a lower CPU priority; the first process then
   * consumes the interactive queues only (LANES).
   */
  bulk?: { port: number };
}

/** One process of the system: a service, or the bulk lane of one. */
export interface ProcessSpec {
  name: string;
  /** Folder under apps/. */
  app: string;
  port: number;
  database: string;
  nodeOptions?: string;
  lanes?: 'interactive' | 'bulk';
  nice?: number;
}

/**
 * Niceness of the bulk processes: checkout and the upload being received get the CPU first.
 * Measured on 2 cores, a 2M-row import with checkout at 20/s (bench:import; one run each):
 *   nice 5   upload accepted 21.9 s, every order terminal 146.7 s, checkout p99 185 ms
 *   nice 10  17.9 s, 150.9 s, 196 ms
 *   nice 19  18.9 s, 146.5 s, 138 ms (the bulk lane all but stops while checkout is busy)
 * (One process per service, before the split: 37.7 s, 171.7 s, 786 ms.) 10 leaves the bulk
 * lane a tenth of a core's weight against checkout under full load rather than nothing.
 */
export const BULK_NICE = 10;

/**
 * The import worker's V8 heap: a small young generation and a capped old one. A streaming
 * upload allocates fast and keeps little (a confirm window of chunks, a few MB), and V8 let
 * the heap grow with the garbage: peak RSS over a 2M-row upload 179 MB with the defaults.
 */
export const IMPORT_WORKER_NODE_OPTIONS = '--max-semi-space-size=8 --max-old-space-size=96';

export const SERVICES: readonly ServiceSpec[] = [
  { app: 'order-service', port: 8081, database: 'order', bulk: { port: 8086 } },
  { app: 'inventory-service', port: 8082, database: 'inventory', bulk: { port: 8087 } },
  { app: 'payment-service', port: 8083, database: 'payment', bulk: { port: 8088 } },
  { app: 'notification-service', port: 8084, database: 'notification', bulk: { port: 8089 } },
  { app: 'import-worker', port: 8085, database: 'import-worker', nodeOptions: IMPORT_WORKER_NODE_OPTIONS },
];

/** Every process `npm start` runs: each service, and the bulk lane of those that have one. */
export const PROCESSES: readonly ProcessSpec[] = SERVICES.flatMap((s): ProcessSpec[] => {
  const main: ProcessSpec = { name: s.app, app: s.app, port: s.port, database: s.database, nodeOptions: s.nodeOptions };
  if (!s.bulk) return [main];
  return [
    { ...main, lanes: 'interactive' },
    { ...main, name: `${s.app}-bulk`, port: s.bulk.port, lanes: 'bulk', nice: BULK_NICE },
  ];
});

export const GATEWAY_PORT = 8080;
export const MANAGEMENT_UI_PORT = 15672;

/** The first process's port; the others keep their offsets from it when a test moves it. */
export const BASE_PORT = 8081;

/** Consecutive ports the processes take from the base port: 8081…8089. */
export const SYSTEM_PORTS = Math.max(...PROCESSES.map((p) => p.port)) - BASE_PORT + 1;
