export { serviceConfigSchema, type ServiceConfig } from './config';
export { groupCommit } from './group-commit';
export { buildService, runService, type Service, type ServiceDefinition, type ServiceDeps } from './service';
