export { serviceConfigSchema, type ServiceConfig } from './config';
export { prismaDatabase } from './database';
export { groupCommit } from './group-commit';
export { buildService, runService, sessionOptions, type Service, type ServiceDefinition, type ServiceDeps, type SessionTimeouts } from './service';
