export { createApp, type AppOptions } from './app';
export { createMetricsRegistry } from './metrics';
export type { DetailOnRequest, Liveness, LivenessCheck, ReadinessCheck } from './probes';
export { HttpError, problemSchema, type Problem } from './problem';
export { BEARER_SCHEME, operationOf, pathItems, timestamp, type Answer, type RouteDoc, type ServiceApi } from './openapi';
export {
  authenticate,
  requireRole,
  rolesAllowedBy,
  principalOf,
  createTokenVerifier,
  signToken,
  durationSeconds,
  readPublicKey,
  readPrivateKey,
  publicKeyAlgorithm,
  weakSecretReason,
  DEV_JWT_SECRET,
  DEFAULT_JWT_ISSUER,
  DEFAULT_JWT_AUDIENCE,
  DEFAULT_JWT_CLOCK_TOLERANCE_S,
  MIN_PRODUCTION_SECRET_BYTES,
  ROLES,
  type JwtAlgorithm,
  type JwtOptions,
  type Principal,
  type Role,
  type TokenOptions,
  type TokenVerifier,
} from './auth';
export { validate, type FieldError } from './validate';
