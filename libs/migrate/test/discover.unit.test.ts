import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { listDatabases, urlEnvVar } from '../src';
import { removeTempDirs, repoRoot, tempDir } from './support/files';

describe('listDatabases', () => {
  test('finds the five service schemas with the default URLs of their prisma.config.ts', () => {
    const services = listDatabases(repoRoot).filter((db) => !db.name.endsWith('-test'));
    expect(services.map((db) => [db.name, db.defaultUrl])).toEqual([
      ['import-worker', 'postgresql://postgres@127.0.0.1:5432/orderflow_import'],
      ['inventory', 'postgresql://postgres@127.0.0.1:5432/orderflow_inventory'],
      ['notification', 'postgresql://postgres@127.0.0.1:5432/orderflow_notification'],
      ['order', 'postgresql://postgres@127.0.0.1:5432/orderflow_order'],
      ['payment', 'postgresql://postgres@127.0.0.1:5432/orderflow_payment'],
    ]);
    const order = services.find((db) => db.name === 'order');
    expect(order?.schemaPath).toBe(path.join(repoRoot, 'prisma/order/schema.prisma'));
    expect(order?.migrationsDir).toBe(path.join(repoRoot, 'prisma/order/migrations'));
  });

  test('treats libs/<lib>/test/prisma/schema.prisma as database <lib>-test on orderflow_test_<lib>', async () => {
    const root = await tempDir('discover');
    await mkdir(path.join(root, 'libs/queue-kit/test/prisma'), { recursive: true });
    await writeFile(path.join(root, 'libs/queue-kit/test/prisma/schema.prisma'), '');
    await mkdir(path.join(root, 'libs/no-schema/test'), { recursive: true });
    expect(listDatabases(root)).toEqual([
      {
        name: 'queue-kit-test',
        schemaPath: path.join(root, 'libs/queue-kit/test/prisma/schema.prisma'),
        migrationsDir: path.join(root, 'libs/queue-kit/test/prisma/migrations'),
        defaultUrl: 'postgresql://postgres@127.0.0.1:5432/orderflow_test_queue_kit',
      },
    ]);
  });
});

describe('urlEnvVar', () => {
  test.each([
    ['order', 'ORDER_DATABASE_URL'],
    ['import-worker', 'IMPORT_WORKER_DATABASE_URL'],
    ['messaging-test', 'MESSAGING_TEST_DATABASE_URL'],
  ])('maps database %s to environment variable %s', (name, variable) => {
    expect(urlEnvVar(name)).toBe(variable);
  });
});

afterAll(removeTempDirs);
