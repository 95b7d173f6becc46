/** The processes of the system, their ports (DESIGN.md, "Ports") and their databases. */
export interface ServiceSpec {
  /** Folder under apps/. */
  app: string;
  port: number;
  /** Database name in prisma/ (the migrate lib's name). */
  database: string;
}

export const SERVICES: readonly ServiceSpec[] = [
  { app: 'order-service', port: 8081, database: 'order' },
  { app: 'inventory-service', port: 8082, database: 'inventory' },
  { app: 'payment-service', port: 8083, database: 'payment' },
  { app: 'notification-service', port: 8084, database: 'notification' },
  { app: 'import-worker', port: 8085, database: 'import-worker' },
];

export const GATEWAY_PORT = 8080;
export const MANAGEMENT_UI_PORT = 15672;
