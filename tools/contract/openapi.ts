/**
 * docs/openapi.json: the HTTP API as an OpenAPI 3.1 document, generated from the routes each
 * app describes in `apps/<app>/src/openapi.ts` with the zod schemas its handlers validate with
 * and answer by (libs/http builds the operations), plus every service's dead-letter routes
 * (libs/service). Apps are found on disk, so a new app with an openapi.ts is in the document
 * without an edit here.
 */
import { existsSync, readdirSync } from 'node:fs';
import path from 'node:path';
import { createDocument } from 'zod-openapi';
import { BEARER_SCHEME, pathItems, type RouteDoc, type ServiceApi } from '@orderflow/http';
import { deadLetterRoutes } from '@orderflow/service';
import { byText, REPO_ROOT } from './asyncapi-services';

export const OPENAPI_FILE = path.join(REPO_ROOT, 'docs', 'openapi.json');

/** The viewer's sections, in reading order. */
const TAGS = [
  { name: 'Orders', description: 'Place, read, change and cancel orders (order service).' },
  { name: 'Customers', description: 'Block customers: their new orders are rejected (order service).' },
  { name: 'Stock', description: 'The catalog and its stock (inventory service).' },
  { name: 'Payments', description: "An order's charges and refunds (payment service)." },
  { name: 'Notifications', description: 'What customers were told (notification service).' },
  { name: 'Imports', description: 'Bulk imports of orders from CSV (import worker; progress: order service).' },
  { name: 'Dead letters', description: "Each service's parked messages: list, inspect, replay, discard." },
  { name: 'Operations', description: 'Summaries for operators: business metrics and the state of the system (order service).' },
];

const DESCRIPTION = `Orderflow's HTTP API, as served through the gateway. Generated from the services' own
schemas (\`npm run contract\`); docs/contract.md explains the conventions and the saga behind it.

Every route needs \`Authorization: Bearer <JWT>\` with a \`role\` of \`customer\` (acts for itself:
its \`sub\` is its customer id) or \`admin\`; an operation's security lists the roles it admits.
Every error is an RFC 7807 problem document (\`application/problem+json\`) whose \`code\` is
stable; each answer lists the codes it may carry.`;

/** Every app's `src/openapi.ts`, sorted by app. */
export function serviceApis(root = REPO_ROOT): ServiceApi[] {
  return readdirSync(path.join(root, 'apps'))
    .filter((app) => existsSync(path.join(root, 'apps', app, 'src', 'openapi.ts')))
    .sort(byText)
    .map((app) => {
      // Loaded by path, not imported, so that the list of apps is the directory's.
      const { openapi } = require(path.join(root, 'apps', app, 'src', 'openapi.ts')) as { openapi?: ServiceApi };
      if (!openapi || openapi.app !== app) throw new Error(`apps/${app}/src/openapi.ts must export openapi: ServiceApi with app '${app}'`);
      return openapi;
    });
}

/** Every public route: the apps' own and their dead-letter routes. */
export function publicRoutes(apis: readonly ServiceApi[] = serviceApis()): RouteDoc[] {
  const deadLetters = apis.map((a) => a.deadLetters).sort(byText);
  if (deadLetters.length === 0) throw new Error('no app describes its routes (apps/<app>/src/openapi.ts)');
  return [...apis.flatMap((a) => a.routes), ...deadLetterRoutes(deadLetters as [string, ...string[]])];
}

type Json = Record<string, unknown>;
const sortedKeys = (o: Json): Json => Object.fromEntries(Object.entries(o).sort(([a], [b]) => byText(a, b)));

export function openApiDocument(apis: readonly ServiceApi[] = serviceApis()): Json {
  const { version } = require(path.join(REPO_ROOT, 'package.json')) as { version: string };
  const doc = createDocument({
    openapi: '3.1.0',
    info: { title: 'Orderflow API', version, description: DESCRIPTION, license: { name: 'MIT', identifier: 'MIT' } },
    servers: [{ url: '/', description: 'The gateway: http://localhost:8080 under npm start and compose' }],
    tags: TAGS,
    paths: pathItems(publicRoutes(apis)),
    components: {
      securitySchemes: {
        [BEARER_SCHEME]: {
          type: 'http',
          scheme: 'bearer',
          bearerFormat: 'JWT',
          description: 'A JWT with sub, role (customer or admin), exp, iss and aud (docs/contract.md, "Conventions of every route"). Locally: npm run token -- --sub alice --role customer',
        },
      },
    },
  }) as unknown as Json;
  // Components come out in the order they were met: sort them, so the file changes only with the API.
  const components = doc.components as Record<string, Json> | undefined;
  if (components) doc.components = sortedKeys(Object.fromEntries(Object.entries(components).map(([kind, entries]) => [kind, sortedKeys(entries)])));
  return doc;
}

/** The file's content: pretty JSON, one trailing newline. */
export function renderOpenApi(doc: Json = openApiDocument()): string {
  return `${JSON.stringify(doc, null, 2)}\n`;
}
