import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { debuglog } from 'node:util';
import { bindMigrationAwareSqlAdapterFactory, type ErrorRegistry } from '@prisma/driver-adapter-utils';
import type { SchemaContainer, SchemaEngine } from '@prisma/schema-engine-wasm/schema_engine_bg';
import { MigrationAdapterFactory } from './adapter';

export type { SchemaEngine } from '@prisma/schema-engine-wasm/schema_engine_bg';

type Glue = typeof import('@prisma/schema-engine-wasm/schema_engine_bg');

/** Engine log lines (JSON), shown with NODE_DEBUG=orderflow-migrate. */
const engineLog = debuglog('orderflow-migrate');

/**
 * The slice of the WebAssembly JS API used here: the repository's `lib` (ES2023, no DOM)
 * and @types/node 20 declare no WebAssembly types.
 */
interface WasmApi {
  compile(bytes: Uint8Array): Promise<WasmModule>;
  instantiate(module: WasmModule, imports: Record<string, WasmImports>): Promise<{ exports: Record<string, unknown> }>;
  Module: { imports(module: WasmModule): { module: string; name: string; kind: string }[] };
}
type WasmModule = { readonly __brand: 'WebAssembly.Module' };
type WasmImports = Record<string, unknown>;
const { WebAssembly: wasmApi } = globalThis as unknown as { WebAssembly: WasmApi };

let glue: Promise<Glue> | undefined;

/**
 * Path of the schema engine wasm that the `prisma` package ships: it is built from exactly
 * the engine commit that `prisma` pins (`@prisma/engines-version`), whereas the wasm inside
 * `@prisma/schema-engine-wasm` follows that package's own release.
 */
function prismaWasmPath(): string {
  return path.join(path.dirname(require.resolve('prisma/package.json')), 'build', 'schema_engine_bg.wasm');
}

/**
 * Defect 4: the engine arms a 10 s timer it never clears, so every process would linger
 * 10 s after its work. The wasm gets the glue's imports with a setTimeout whose timers are
 * unref()ed: they still fire while something else (a query) keeps the process alive.
 */
function unrefTimers(module: WasmModule, bindings: Glue): WasmImports {
  const imports: WasmImports = { ...bindings };
  const setTimeoutImports = wasmApi.Module.imports(module).filter((i) => i.name.startsWith('__wbg_setTimeout_'));
  if (setTimeoutImports.length === 0) {
    throw new Error('schema engine wasm imports no setTimeout any more: re-check the timer fix in engine.ts');
  }
  for (const { name } of setTimeoutImports) {
    imports[name] = (callback: () => void, ms: number) => setTimeout(callback, ms >>> 0).unref();
  }
  return imports;
}

/**
 * Loads the wasm-bindgen glue of `@prisma/schema-engine-wasm` (an ES module, hence the
 * dynamic import) and instantiates it with `prisma`'s wasm. Once per process: the glue
 * holds the instance in a module-level variable.
 */
function loadGlue(): Promise<Glue> {
  glue ??= (async () => {
    const bindings = await import('@prisma/schema-engine-wasm/schema_engine_bg');
    const module = await wasmApi.compile(await readFile(prismaWasmPath()));
    const instance = await wasmApi.instantiate(module, { './schema_engine_bg.js': unrefTimers(module, bindings) });
    bindings.__wbg_set_wasm(instance.exports);
    (instance.exports['__wbindgen_start'] as () => void)();
    return bindings;
  })();
  return glue;
}

/** Version (engine commit hash) of the schema engine wasm in use. */
export async function engineVersion(): Promise<string> {
  return (await loadGlue()).version();
}

/** What the engine rejects with: user-facing errors also carry a Prisma code (P3005, ...). */
interface EngineFailure {
  code?: string;
  message?: string;
}

/**
 * Turns an engine rejection into an Error with a readable message. A JS error thrown by
 * the adapter factory stays in the error registry; only "External error id#N" crosses the
 * wasm boundary, so it is replaced by the original message.
 */
function toError(thrown: unknown, registry: ErrorRegistry): Error {
  const { code, message = String(thrown) } = (thrown ?? {}) as EngineFailure;
  const text = message.replace(/External error id#(\d+)/g, (reference, id: string) => {
    const original = registry.consumeError(Number(id))?.error;
    return original instanceof Error ? original.message : reference;
  });
  if (thrown instanceof Error && !code && text === message) return thrown;
  return Object.assign(new Error(code ? `${code}: ${text}` : text, { cause: thrown }), { code });
}

/** Options for {@link withSchemaEngine}. */
export interface EngineOptions {
  /** PostgreSQL URL of the database the engine works on (must exist). */
  url: string;
  /** Prisma schema files, for commands that need the datamodel. */
  schemaFiles?: SchemaContainer[];
}

/**
 * Runs `work` with a wasm schema engine connected to `url` through `@prisma/adapter-pg`,
 * then frees the engine and closes every connection (and shadow database) it opened.
 */
export async function withSchemaEngine<T>(options: EngineOptions, work: (engine: SchemaEngine) => Promise<T>): Promise<T> {
  const { SchemaEngine } = await loadGlue();
  const factory = new MigrationAdapterFactory(options.url);
  const adapterFactory = bindMigrationAwareSqlAdapterFactory(factory);
  // `datamodels` must be undefined or non-empty.
  const datamodels = options.schemaFiles?.length
    ? options.schemaFiles.map((file): [string, string] => [file.path, file.content])
    : undefined;
  let engine: SchemaEngine | undefined;
  try {
    engine = await SchemaEngine.new({ datamodels }, (line: string) => engineLog('%s', line), adapterFactory);
    return await work(engine);
  } catch (thrown) {
    throw toError(thrown, adapterFactory.errorRegistry);
  } finally {
    engine?.free();
    await factory.close();
  }
}
