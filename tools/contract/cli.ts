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

/** A document of the contract: where it is committed and how it is written from the code. */
export interface ContractDocument {
  file: string;
  render: () => string | Promise<string>;
}

/** Every document `npm run contract` writes. */
export const DOCUMENTS: ContractDocument[] = [
  { file: OPENAPI_FILE, render: () => renderOpenApi() },
  { file: ASYNCAPI_FILE, render: () => renderAsyncApi() },
  // From the document as written just above, so one run leaves the two in step.
  { file: CONSOLE_TYPES_FILE, render: () => renderConsoleTypes(renderOpenApi()) },
];

/** Every document, rendered from the code as it is now. */
export async function renderDocuments(): Promise<GeneratedFile[]> {
  const files: GeneratedFile[] = [];
  for (const { file, render } of DOCUMENTS) files.push({ file, content: await render() });
  return files;
}

if (require.main === module) runGenerator(renderDocuments, { root: REPO_ROOT, fix: 'npm run contract' });
