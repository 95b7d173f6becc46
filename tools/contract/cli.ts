/**
 * `npm run contract`: writes the contract documents generated from the code, and the console's
 * API types generated from the OpenAPI document. A test checks each is fresh
 * (tools/contract/*.test.ts); `--check` exits 1 when one is stale instead.
 */
import { runGenerator, type GeneratedFile } from '../write-or-check';
import { ASYNCAPI_FILE, renderAsyncApi } from './asyncapi';
import { REPO_ROOT } from './asyncapi-services';
import { CONSOLE_TYPES_FILE, renderConsoleTypes } from './console-types';
import { OPENAPI_FILE, renderOpenApi } from './openapi';

/**
 * Every document, rendered from the code as it is now; the console's types from the OpenAPI
 * document rendered here, so one run leaves the two in step.
 */
async function renderDocuments(): Promise<GeneratedFile[]> {
  const openapi = renderOpenApi();
  return [
    { file: OPENAPI_FILE, content: openapi },
    { file: ASYNCAPI_FILE, content: renderAsyncApi() },
    { file: CONSOLE_TYPES_FILE, content: await renderConsoleTypes(openapi) },
  ];
}

if (require.main === module) runGenerator(renderDocuments, { root: REPO_ROOT, fix: 'npm run contract' });
