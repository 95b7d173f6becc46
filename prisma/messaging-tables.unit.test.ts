import fs from 'node:fs';
import path from 'node:path';

// Every database embeds the messaging tables (outbox, inbox) exactly as libs/messaging
// defines them: the relay and the subscribe loop run raw SQL against those names.
const root = path.resolve(__dirname, '..');
const canonical = fs.readFileSync(path.join(root, 'libs/messaging/prisma/messaging.prisma'), 'utf8').trim();
const schemas = [
  ...fs.readdirSync(path.join(root, 'prisma')).map((d) => path.join(root, 'prisma', d, 'schema.prisma')),
  ...fs.readdirSync(path.join(root, 'libs')).map((d) => path.join(root, 'libs', d, 'test/prisma/schema.prisma')),
].filter((f) => fs.existsSync(f));

describe('messaging tables in every schema', () => {
  it('finds the five service schemas', () => {
    const services = schemas.filter((s) => s.startsWith(path.join(root, 'prisma')));
    expect(services.map((s) => path.basename(path.dirname(s))).sort()).toEqual([
      'import-worker',
      'inventory',
      'notification',
      'order',
      'payment',
    ]);
  });

  it.each(schemas.map((s) => [path.relative(root, s)]))('%s embeds libs/messaging/prisma/messaging.prisma verbatim', (file) => {
    expect(fs.readFileSync(path.join(root, file), 'utf8')).toContain(canonical);
  });
});
