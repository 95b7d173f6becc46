/**
 * docs/openapi.json: what the code generates now, and a valid OpenAPI 3.1 document by a real
 * validator (@readme/openapi-parser: the 3.1 schema plus the rules it does not express, such as
 * unique operationIds and declared path parameters); the console's API types are what
 * openapi-typescript makes of it.
 */
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { compileErrors, validate } from '@readme/openapi-parser';
import type { OpenAPIV3_1 } from 'openapi-types';
import { CONSOLE_TYPES_FILE } from './console-types';
import { OPENAPI_FILE, openApiDocument, renderOpenApi } from './openapi';

/** The document, walked as plain JSON. */
type Json = Record<string, any>;

const generated = openApiDocument();
/** The validator dereferences what it is given: each call gets its own copy, never external files. */
const check = async (doc: Json) => {
  const result = await validate(structuredClone(doc) as OpenAPIV3_1.Document, { resolve: { external: false } });
  return { valid: result.valid, errors: result.valid ? '' : compileErrors(result) };
};

describe('docs/openapi.json', () => {
  it('is what the code generates now (if not: npm run contract, and commit the file)', () => {
    const committed = readFileSync(OPENAPI_FILE, 'utf8');
    expect({ fresh: committed === renderOpenApi(generated), fix: 'npm run contract' }).toEqual({ fresh: true, fix: 'npm run contract' });
  });

  it("the console's API types are what openapi-typescript makes of it (if not: npm run contract, and commit the file)", () => {
    // In a child process under tsx: openapi-typescript is an ES module, which jest cannot load.
    const rendered = execFileSync(process.execPath, [require.resolve('tsx/cli'), path.join(__dirname, 'console-types.ts')], { encoding: 'utf8' });
    const committed = readFileSync(CONSOLE_TYPES_FILE, 'utf8');
    expect({ fresh: committed === rendered, fix: 'npm run contract' }).toEqual({ fresh: true, fix: 'npm run contract' });
  });

  it('is a valid OpenAPI 3.1 document', async () => {
    expect(generated.openapi).toBe('3.1.0');
    expect(await check(generated)).toEqual({ valid: true, errors: '' });
  });

  it('the validator refuses a broken document (the check can fail)', async () => {
    const broken = structuredClone(generated);
    const [path] = Object.keys(broken.paths as Json);
    const op = Object.values((broken.paths as Json)[path!] as Json)[0] as Json;
    op.responses = { ok: 'yes' };
    expect((await check(broken)).valid).toBe(false);
  });

  it('every operation requires the bearer token and names the roles it admits', () => {
    const ops = Object.values(generated.paths as Json).flatMap((item) => Object.values(item as Json) as Json[]);
    expect(ops.length).toBeGreaterThan(15);
    const roles = ops.map((op) => (op.security as Json[] | undefined)?.[0]?.bearer as string[] | undefined);
    expect(roles.filter((r) => !r || r.length === 0 || r.some((x) => x !== 'customer' && x !== 'admin'))).toEqual([]);
    expect((generated.components as Json).securitySchemes.bearer).toMatchObject({ type: 'http', scheme: 'bearer', bearerFormat: 'JWT' });
  });

  it('every operation answers its errors as problem documents with their codes, 401 and 429 among them', () => {
    const components = generated.components as Json;
    const faults: string[] = [];
    for (const [path, item] of Object.entries(generated.paths as Json)) {
      for (const [method, op] of Object.entries(item as Json)) {
        const answers = (op as Json).responses as Json;
        const statuses = Object.keys(answers).map(Number);
        const where = `${method.toUpperCase()} ${path}`;
        if (!statuses.some((s) => s >= 200 && s < 300)) faults.push(`${where}: no success answer`);
        if (answers['401']?.$ref !== '#/components/responses/Unauthenticated') faults.push(`${where}: no 401`);
        if (answers['429']?.$ref !== '#/components/responses/RateLimited') faults.push(`${where}: no 429`);
        for (const status of statuses.filter((s) => s >= 400)) {
          const answer = (answers[status].$ref ? components.responses[answers[status].$ref.split('/').pop()] : answers[status]) as Json;
          const schema = answer.content?.['application/problem+json']?.schema as Json | undefined;
          if (schema?.allOf?.[0]?.$ref !== '#/components/schemas/Problem' || !(schema.allOf[1]?.properties?.code?.enum?.length > 0)) {
            faults.push(`${where} ${status}: not a problem document with its codes`);
          }
        }
      }
    }
    expect(faults).toEqual([]);
  });

  it('the CSV upload takes text/csv, and a 404 says which code', () => {
    const upload = (generated.paths as Json)['/api/imports'].post as Json;
    expect(Object.keys(upload.requestBody.content)).toEqual(['text/csv']);
    const order = (generated.paths as Json)['/api/orders/{id}'].get as Json;
    expect(order.responses['404'].content['application/problem+json'].schema.allOf[1].properties.code.enum).toEqual(['ORDER.NOT_FOUND']);
  });
});
