export { createApp, type AppOptions } from './app';
export { createMetricsRegistry } from './metrics';
export type { Liveness, LivenessCheck, ReadinessCheck } from './probes';
export { HttpError, type Problem } from './problem';
export {
  authenticate,
  requireRole,
  principalOf,
  signToken,
  DEV_JWT_SECRET,
  ROLES,
  type Principal,
  type Role,
} from './auth';
export { validate, type FieldError } from './validate';
