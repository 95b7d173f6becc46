/**
 * Every example request in README.md is one docs/openapi.json describes: the operation
 * exists, its path, query and JSON body are valid by the document's schemas, and the example
 * sends a token where the operation requires one, with a role the operation admits.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { REPO_ROOT } from './asyncapi-services';
import { OPENAPI_FILE } from './openapi';
import { checkExample, readmeExamples } from './readme-examples';

const doc = JSON.parse(readFileSync(OPENAPI_FILE, 'utf8')) as Record<string, unknown>;
const readme = readFileSync(path.join(REPO_ROOT, 'README.md'), 'utf8');
const examples = readmeExamples(readme);

describe('the example requests of README.md', () => {
  it('are found: the tour places, reads, changes and cancels an order, restocks, blocks, and handles dead letters', () => {
    const seen = examples.map((e) => `${e.method} ${e.path.replace(/[0-9a-f-]{36}/, '{id}')}`);
    expect(seen).toEqual(
      expect.arrayContaining([
        'GET /api/inventory',
        'POST /api/orders',
        'GET /api/orders/{id}',
        'PATCH /api/orders/{id}',
        'POST /api/orders/{id}/cancel',
        'PUT /api/customers/mallory',
        'POST /api/inventory/PROD-002/adjustments',
        'POST /api/dead-letters/inventory/discard',
        'POST /api/dead-letters/notification/discard',
      ]),
    );
    expect(examples.filter((e) => e.body !== undefined).length).toBeGreaterThanOrEqual(5);
  });

  it.each(examples.map((e) => [`${e.method} ${e.path}${Object.keys(e.query).length ? `?${new URLSearchParams(e.query)}` : ''} (line ${e.line})`, e] as const))('%s is valid by docs/openapi.json', (_name, example) => {
    expect(checkExample(doc, example)).toEqual([]);
  });

  it('a request the document does not describe is refused (the check can fail)', () => {
    const block = [
      '```sh',
      'TOKEN=$(npm run -s token -- --sub alice --role customer)',
      'ADMIN=$(npm run -s token -- --sub ops --role admin)',
      `curl -s localhost:8080/api/orders -H "Authorization: Bearer $TOKEN" -d '{"items":[{"productId":"PROD-002","quantity":0}]}'`,
      `curl -s localhost:8080/api/inventory/PROD-002/adjustments -H "Authorization: Bearer $TOKEN" -d '{"delta":1,"reason":"x"}'`,
      'curl -s "localhost:8080/api/payments?order=1" -H "Authorization: Bearer $TOKEN"',
      'curl -s -X DELETE localhost:8080/api/orders/$ORDER',
      'for s in inventory nowhere; do',
      `  curl -s -X POST localhost:8080/api/dead-letters/$s/replay -H "Authorization: Bearer $ADMIN" -d '{"all":true}'`,
      'done',
      '```',
    ].join('\n');
    const faults = readmeExamples(block).map((e) => checkExample(doc, e).map((f) => f.replace(/ \(README\.md:\d+\)/, '')));
    expect(faults).toEqual([
      expect.arrayContaining(['POST /api/orders: body /items/0/quantity must be >= 1']),
      ['POST /api/inventory/PROD-002/adjustments: a customer token: the operation admits admin'],
      ['GET /api/payments: query orderId: required', 'GET /api/payments: query order: not a parameter'],
      [`DELETE /api/orders/0198a4b2-7c3d-7e4f-8a9b-0c1d2e3f4a5b: no such operation`],
      [],
      [expect.stringMatching(/^POST \/api\/dead-letters\/nowhere\/replay: path service: .*allowed values/)],
    ]);
  });

  it("reads every fenced block and curl's other ways to send a method and a body; a protected route without a token is refused", () => {
    const block = [
      'A block in any language, or none:',
      '```',
      `curl -s --request PATCH localhost:8080/api/orders/$ORDER -H "Authorization: Bearer $TOKEN" --data-raw '{"customerPhone":"1"}'`,
      `curl -s localhost:8080/api/orders --header 'authorization: Bearer x' --json '{"items":[{"productId":"PROD-002","quantity":1}]}'`,
      'curl -s http://127.0.0.1:8080/api/orders/$ORDER --data-binary "{\\"reason\\":\\"x\\"}" -XDELETE -H "Authorization: Bearer x"',
      'curl -s localhost:8080/api/inventory',
      'curl -s localhost:8080/api/orders -H "Authorization: Bearer x" -d @order.json',
      '```',
    ].join('\n');
    const requests = readmeExamples(block);
    expect(requests.map((r) => [r.method, r.path.replace(/[0-9a-f-]{36}/, '{id}'), r.body, r.authorized])).toEqual([
      ['PATCH', '/api/orders/{id}', { customerPhone: '1' }, true],
      ['POST', '/api/orders', { items: [{ productId: 'PROD-002', quantity: 1 }] }, true],
      ['DELETE', '/api/orders/{id}', { reason: 'x' }, true],
      ['GET', '/api/inventory', undefined, false],
      ['POST', '/api/orders', undefined, true],
    ]);
    const faults = requests.map((e) => checkExample(doc, e).map((f) => f.replace(/ \(README\.md:\d+\)/, '')));
    expect(faults[0]).toEqual(expect.arrayContaining([expect.stringMatching(/^PATCH \/api\/orders\/\S+: body \/customerPhone must NOT have fewer than 5 characters$/)]));
    expect(faults[1]).toEqual([]);
    expect(faults[2]).toEqual([expect.stringMatching(/no such operation$/)]);
    expect(faults[3]).toEqual(['GET /api/inventory: sends no Authorization header: the operation requires a bearer token']);
    // A body from a file is not read: nothing to check, and not "sends no body".
    expect(faults[4]).toEqual([]);
  });
});
