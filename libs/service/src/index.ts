export { serviceConfigSchema, type ServiceConfig } from './config';
export { groupCommit } from './group-commit';
export { buildService, READY_OUTBOX_LAG, runService, type Service, type ServiceDefinition, type ServiceDeps } from './service';
export { checkQueues, cachedFor, queueMetrics, QUEUE_METRICS_CACHE_MS, QUEUE_READ_TIMEOUT_MS, type QueueReading, type QueueStat } from './queue-metrics';
export { TransactionScope, type Report } from './transaction-scope';
export { metricSet } from './metric-set';
export { deadLetterRoutes } from './dead-letters-openapi';
