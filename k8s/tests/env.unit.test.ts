/**
 * Every variable a service requires at start (its zod schema: neither optional nor
 * defaulted) is provided by its Kubernetes manifests and by the compose file, and the whole
 * environment each one gets passes the service's own schema, as `loadConfig` would check it.
 */
import { defaultRetryDelays } from '../tools/rabbitmq-definitions';
import { PROCESSES, SERVICES, appDeployment, buildArg, compose, composeEnv, configSchemaOf, containerEnv, requiredVariables, serviceOf, type ComposeService } from './support';

const withoutSecrets = (env: Record<string, string>): string => Object.keys(env).sort().join(', ');

describe('the required variables, derived from the code', () => {
  // JWT_SECRET is one of three ways to verify tokens (a public key or a JWKS URL are the others),
  // so no single one is required alone; the schema refuses a service with none (below).
  it('are at least DATABASE_URL for every service', () => {
    for (const spec of SERVICES) expect(requiredVariables(spec)).toEqual(expect.arrayContaining(['DATABASE_URL']));
  });
});

describe.each(PROCESSES.map((p) => [p.name, p] as const))('%s environment', (app, processSpec) => {
  const spec = { ...serviceOf(processSpec), port: processSpec.port };
  const required = requiredVariables(spec);
  const schema = configSchemaOf(spec);
  /** The compose service of this process: named after it, built from its service's code. */
  const composed = (): ComposeService | undefined => {
    const service = compose().services[app];
    return service && service.command === undefined && buildArg(service, 'APP') === processSpec.app ? service : undefined;
  };

  it('Kubernetes: the Deployment provides every required variable, and the service\'s schema accepts the result', () => {
    const env = containerEnv(appDeployment(app).container);
    expect(required.filter((name) => !(name in env))).toEqual([]);
    const parsed = schema.safeParse(env);
    expect({ ok: parsed.success, error: parsed.error, got: withoutSecrets(env) }).toMatchObject({ ok: true });
    expect(env.DATABASE_URL).toMatch(/^postgresql:\/\/[^:]+:[^@]+@postgres:5432\/orderflow_/);
    expect(env.AMQP_URL).toMatch(/^amqp:\/\/[^:]+:[^@]+@rabbitmq:5672$/);
  });

  it('compose: the service provides every required variable, and the service\'s schema accepts the result', () => {
    const service = composed();
    expect(service).toBeDefined();
    const env = composeEnv(service ?? {});
    expect(required.filter((name) => !(name in env))).toEqual([]);
    const parsed = schema.safeParse(env);
    expect({ ok: parsed.success, error: parsed.error, got: withoutSecrets(env) }).toMatchObject({ ok: true });
    expect(env.PORT).toBe(String(spec.port));
    expect(env.LANES ?? 'all').toBe(processSpec.lanes ?? 'all');
  });

  it('Kubernetes and compose run it with the NODE_OPTIONS npm start gives it', () => {
    const service = composed();
    expect(containerEnv(appDeployment(app).container).NODE_OPTIONS).toBe(spec.nodeOptions);
    expect(composeEnv(service ?? {}).NODE_OPTIONS).toBe(spec.nodeOptions);
  });

  it('neither sets another retry ladder than the one the broker definitions declare', () => {
    const k8s = containerEnv(appDeployment(app).container).RETRY_DELAYS_MS;
    const service = composed();
    const local = composeEnv(service ?? {}).RETRY_DELAYS_MS;
    for (const value of [k8s, local]) {
      if (value !== undefined) expect(value.split(',').map(Number)).toEqual(defaultRetryDelays());
    }
  });
});

describe('a missing variable is caught', () => {
  it('the schema check fails without JWT_SECRET (the check can fail)', () => {
    const spec = SERVICES[0];
    if (!spec) throw new Error('no services');
    const env = containerEnv(appDeployment(spec.app).container);
    delete env.JWT_SECRET;
    expect(configSchemaOf(spec).safeParse(env).success).toBe(false);
  });
});
