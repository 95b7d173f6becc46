import { ColumnTypeEnum } from '@prisma/driver-adapter-utils';
import { dropDatabase, ensureDatabase } from '../src';
import { MigrationAdapterFactory } from '../src/adapter';
import { ADMIN_URL, publicTables, query, uniqueDatabaseUrl } from './support/databases';

const sql = (text: string) => ({ sql: text, args: [], argTypes: [] });

describe('MigrationAdapterFactory (the adapter the schema engine gets)', () => {
  let url: string;
  let factory: MigrationAdapterFactory;
  beforeEach(async () => {
    url = uniqueDatabaseUrl('adapter');
    await ensureDatabase(url);
    factory = new MigrationAdapterFactory(url);
  });
  afterEach(async () => {
    await factory.close();
    await dropDatabase(url);
  });

  test('a query returning the internal "char" type (OID 18) yields a character instead of failing, also inside a transaction', async () => {
    const adapter = await factory.connect();
    const charQuery = sql("SELECT relkind, relname FROM pg_class WHERE relname = 'pg_class'");
    const result = await adapter.queryRaw(charQuery);
    expect(result.rows).toEqual([['r', 'pg_class']]);
    // As the native engine reads it: the describer reads a CHECK constraint's contype as a char.
    expect(result.columnTypes).toEqual([ColumnTypeEnum.Character, ColumnTypeEnum.Text]);
    const tx = await adapter.startTransaction();
    await expect(tx.queryRaw(charQuery)).resolves.toMatchObject({ rows: [['r', 'pg_class']], columnTypes: [ColumnTypeEnum.Character, ColumnTypeEnum.Text] });
    await tx.rollback();
  });

  test("executeScript keeps ';' inside a literal and a $$ body intact, and a failing statement at the end leaves nothing behind", async () => {
    const adapter = await factory.connect();
    const script = [
      'CREATE TABLE notes (id int PRIMARY KEY, body text NOT NULL);',
      "INSERT INTO notes VALUES (1, 'a;b -- not a comment');",
      'CREATE FUNCTION note_count() RETURNS bigint LANGUAGE plpgsql AS $$ BEGIN RETURN (SELECT count(*) FROM notes); END; $$;',
    ].join('\n');
    await expect(adapter.executeScript(`${script}\nSELECT 1/0;`)).rejects.toMatchObject({
      cause: { kind: 'postgres', code: '22012' },
    });
    expect(await publicTables(url)).toEqual([]);

    await adapter.executeScript(script);
    expect(await query(url, 'SELECT body, note_count() AS n FROM notes')).toEqual([{ body: 'a;b -- not a comment', n: '1' }]);
  });

  test('connectToShadowDb works on a new database of the same server (not the main one), dropped on dispose', async () => {
    const shadow = await factory.connectToShadowDb();
    const [[name]] = (await shadow.queryRaw(sql('SELECT current_database()'))).rows as [[string]];
    expect(name).toMatch(/^prisma_migrate_shadow_db_/);
    const listed = () => query(ADMIN_URL, 'SELECT 1 FROM pg_database WHERE datname = $1', [name]);
    expect(await listed()).toHaveLength(1);
    await shadow.dispose();
    expect(await listed()).toHaveLength(0);
  });
});
