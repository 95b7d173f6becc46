import { ConfigError, parseConfig, vars, z } from '../src';

const schema = z.object({ AMQP_URLS: vars.amqpUrls().optional() });

const problemsOf = (env: Record<string, string>): ConfigError['problems'] => {
  try {
    parseConfig(schema, env);
  } catch (err) {
    if (err instanceof ConfigError) return err.problems;
    throw err;
  }
  return [];
};

describe('AMQP_URLS, the nodes of a cluster', () => {
  it('is a list of URLs, comma-separated, blanks around them ignored', () => {
    expect(parseConfig(schema, { AMQP_URLS: 'amqp://g:g@127.0.0.1:5681, amqp://g:g@127.0.0.1:5682,amqps://g:g@h3:5671' })).toEqual({
      AMQP_URLS: ['amqp://g:g@127.0.0.1:5681', 'amqp://g:g@127.0.0.1:5682', 'amqps://g:g@h3:5671'],
    });
    expect(parseConfig(schema, {})).toEqual({ AMQP_URLS: undefined });
  });

  it('names the variable and the position of a bad entry, without echoing it (URLs carry passwords)', () => {
    const problems = problemsOf({ AMQP_URLS: 'amqp://g:g@a:5681,http://user:secret@b:80' });
    expect(problems).toEqual([{ variable: 'AMQP_URLS', message: 'entry 2 of 2 is not an amqp:// or amqps:// URL' }]);
    expect(JSON.stringify(problems)).not.toContain('secret');
  });

  it('refuses an empty list', () => {
    expect(problemsOf({ AMQP_URLS: ' , ' })).toEqual([{ variable: 'AMQP_URLS', message: 'must list at least one amqp:// or amqps:// URL' }]);
  });
});
