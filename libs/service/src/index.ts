export { serviceConfigSchema, type ServiceConfig } from './config';
export { buildService, runService, type Service, type ServiceDefinition, type ServiceDeps } from './service';
