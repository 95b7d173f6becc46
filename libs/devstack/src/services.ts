/** The processes of the system, their ports (docs/operations.md, "Ports") and their databases. */
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
 * 10 leaves the bulk lane a tenth of a core's weight against checkout under full load rather
 * than nothing (at 19 it all but stops while checkout is busy); the runs that chose it
 * (bench:import) are in docs/performance.md.
 */
export const BULK_NICE = 10;

/**
 * The import worker's V8 heap: a small young generation and a capped old one. A streaming
 * upload allocates fast and keeps little (a confirm window of chunks), and with the defaults
 * V8 let the heap grow with the garbage.
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

/**
 * The payment gateway simulator (apps/payment-gateway): the card payment provider the payment
 * service calls over HTTP. Not one of our services — no broker, no migrations, not behind
 * Nginx, not in the manifests' service template — but a process of the system all the same,
 * started first, on the port after the bulk lanes, with a database of its own (its ledger,
 * `<prefix>_payment_gateway`, created by the simulator itself).
 */
export const PAYMENT_GATEWAY = { app: 'payment-gateway', port: 8090, database: 'payment_gateway' } as const;

export const GATEWAY_PORT = 8080;
export const MANAGEMENT_UI_PORT = 15672;

/** The first process's port; the others keep their offsets from it when a test moves it. */
export const BASE_PORT = 8081;

/** Consecutive ports the processes take from the base port: 8081…8090 (the simulator's last). */
export const SYSTEM_PORTS = Math.max(PAYMENT_GATEWAY.port, ...PROCESSES.map((p) => p.port)) - BASE_PORT + 1;
