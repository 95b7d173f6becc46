import { ConfigError, parseConfig, vars, z } from '../src';

const schema = z.object({
  DATABASE_URL: vars.postgresUrl(),
  AMQP_URL: vars.amqpUrl(),
  PORT: vars.port(8081),
  RETRY_DELAYS_MS: vars.delays('1000,5000'),
});

describe('config', () => {
  it('when every variable is valid, it returns typed values with defaults applied', () => {
    const config = parseConfig(schema, { DATABASE_URL: 'postgresql://postgres@127.0.0.1:5432/x', PORT: '9000' });
    expect(config).toEqual({
      DATABASE_URL: 'postgresql://postgres@127.0.0.1:5432/x',
      AMQP_URL: 'amqp://guest:guest@127.0.0.1:5672',
      PORT: 9000,
      RETRY_DELAYS_MS: [1000, 5000],
    });
  });

  it('when variables are missing or bad, the error names each of them', () => {
    let error: unknown;
    try {
      parseConfig(schema, { PORT: 'abc', AMQP_URL: 'http://x', RETRY_DELAYS_MS: '10,-1' });
    } catch (err) {
      error = err;
    }
    expect(error).toBeInstanceOf(ConfigError);
    const names = (error as ConfigError).problems.map((p) => p.variable).sort();
    expect(names).toEqual(['AMQP_URL', 'DATABASE_URL', 'PORT', 'RETRY_DELAYS_MS']);
    expect((error as ConfigError).message).toMatch(/DATABASE_URL: is required but not set/);
  });

  it('a variable that is set but of the wrong type is reported as invalid, not as missing', () => {
    let error: unknown;
    try {
      parseConfig(schema, { DATABASE_URL: 'postgresql://postgres@127.0.0.1:5432/x', PORT: 'eighty' });
    } catch (err) {
      error = err;
    }
    expect(error).toBeInstanceOf(ConfigError);
    expect((error as ConfigError).problems).toEqual([{ variable: 'PORT', message: expect.not.stringContaining('not set') }]);
  });
});
