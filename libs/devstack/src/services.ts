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
}

/**
 * The import worker's V8 heap: a small young generation and a capped old one. A streaming
 * upload allocates fast and keeps little (a confirm window of chunks, a few MB), and V8 let
 * the heap grow with the garbage: peak RSS over a 2M-row upload 179 MB with the defaults.
 */
export const IMPORT_WORKER_NODE_OPTIONS = '--max-semi-space-size=4 --max-old-space-size=96';

export const SERVICES: readonly ServiceSpec[] = [
  { app: 'order-service', port: 8081, database: 'order' },
  { app: 'inventory-service', port: 8082, database: 'inventory' },
  { app: 'payment-service', port: 8083, database: 'payment' },
  { app: 'notification-service', port: 8084, database: 'notification' },
  { app: 'import-worker', port: 8085, database: 'import-worker', nodeOptions: IMPORT_WORKER_NODE_OPTIONS },
];

export const GATEWAY_PORT = 8080;
export const MANAGEMENT_UI_PORT = 15672;
