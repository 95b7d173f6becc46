// Child-process entry of callInChild (see child.ts): runs one exported library function
// with JSON arguments and prints its JSON result. Errors: message on stderr, exit code 1.
import * as lib from '../../src';

const [name, json] = process.argv.slice(2);

(async () => {
  const fn = (lib as unknown as Record<string, (...args: unknown[]) => unknown>)[name ?? ''];
  if (typeof fn !== 'function') throw new Error(`No exported function ${name}`);
  const result = await fn(...(JSON.parse(json ?? '[]') as unknown[]));
  process.stdout.write(JSON.stringify(result ?? null));
})().catch((error: unknown) => {
  process.stderr.write(error instanceof Error ? error.message : String(error));
  process.exitCode = 1;
});
