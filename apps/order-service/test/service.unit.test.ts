import { parseConfig } from '@orderflow/config';
import { serviceEnv } from '@orderflow/testkit';
import { orderConfigSchema } from '../src/config';
import { orderService } from '../src/service';

// The integration tests build the service without its deadline sweeper (test/support.ts): this
// is what says the wiring main.ts runs still has it.
describe('the order service as main.ts runs it', () => {
  const config = parseConfig(orderConfigSchema(0), serviceEnv({ DATABASE_URL: 'postgresql://postgres@127.0.0.1:5432/unused' }));

  it('runs the deadline sweeper in the background; a test can leave it out', () => {
    expect(orderService(config).background).toEqual(expect.any(Function));
    expect(orderService(config, { sweeper: false }).background).toBeUndefined();
  });
});
