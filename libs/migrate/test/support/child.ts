import { execFile } from 'node:child_process';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { promisify } from 'node:util';
import type * as lib from '../../src';

const run = promisify(execFile);

type Lib = typeof lib;
type FunctionName = { [K in keyof Lib]: Lib[K] extends (...args: never[]) => unknown ? K : never }[keyof Lib];
type Fn<K extends FunctionName> = Lib[K] extends (...args: infer A) => infer R ? { args: A; result: Awaited<R> } : never;

/**
 * Calls a library function in a child node process (tsx loader). Needed for everything that
 * touches the wasm schema engine: its glue is an ES module, which Jest's CommonJS module
 * system refuses to load without --experimental-vm-modules. Arguments and result go
 * through JSON. Rejects with the child's error message.
 */
export async function callInChild<K extends FunctionName>(name: K, ...args: Fn<K>['args']): Promise<Fn<K>['result']> {
  const tsx = pathToFileURL(require.resolve('tsx')).href;
  const script = path.join(__dirname, 'child-main.ts');
  try {
    const { stdout } = await run(process.execPath, ['--import', tsx, script, name, JSON.stringify(args)], {
      env: process.env,
    });
    return JSON.parse(stdout) as Fn<K>['result'];
  } catch (error) {
    const { stderr } = error as { stderr?: string };
    throw new Error(stderr || (error as Error).message);
  }
}
