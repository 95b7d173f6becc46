/**
 * The example requests of README.md (its `curl … localhost:8080/api/…` lines, in any fenced
 * block) read as requests, and checked against docs/openapi.json: the operation exists, the
 * path and query parameters and the JSON body are valid by its schemas (ajv, JSON Schema
 * 2020-12), the example sends a bearer token where the operation requires one, and that token
 * has a role the operation admits.
 */
import Ajv2020 from 'ajv/dist/2020';
import addFormats from 'ajv-formats';

export interface ExampleRequest {
  /** The line of README.md it starts on. */
  line: number;
  method: string;
  path: string;
  query: Record<string, string>;
  body?: unknown;
  /** The body is read from a file (`-d @file`, `--data-binary @file`): not checked. */
  bodyFromFile?: boolean;
  /** Whether it sends an Authorization header. */
  authorized: boolean;
  /** The role of the token it sends (from the shell variable's `npm run token` line), if known. */
  role?: string;
}

type Json = Record<string, any>;

/** A value the examples' shell variables stand for: `$ORDER` is an order id. */
const SAMPLE_ID = '0198a4b2-7c3d-7e4f-8a9b-0c1d2e3f4a5b';

/** curl's options that send a body (each makes the request a POST unless -X says otherwise). */
const DATA = /\s(?:-d|--data|--data-raw|--data-binary|--json)(?:\s+|=)(?:'([^']*)'|"((?:[^"\\]|\\.)*)"|(\S+))/;
const METHOD = /\s(?:-X\s*|--request(?:\s+|=))["']?([A-Z]+)/;
const AUTHORIZATION = /\s(?:-H|--header)(?:\s+|=)["']?authorization:\s*\S|\s--oauth2-bearer\s/i;

/** The body a curl sends: JSON text, or a file it names (`@file`). */
function bodyOf(text: string): { body?: unknown; bodyFromFile?: boolean; sends: boolean } {
  const m = DATA.exec(text);
  if (!m) return { sends: false };
  const value = m[1] ?? m[2]?.replace(/\\(.)/g, '$1') ?? m[3] ?? '';
  return value.startsWith('@') ? { bodyFromFile: true, sends: true } : { body: JSON.parse(value) as unknown, sends: true };
}

/**
 * Every curl against the gateway's /api in the README's fenced blocks, continuation lines
 * joined; a loop (`for s in a b; do … done`) gives one request per value; other shell
 * variables in a path stand for an id.
 */
export function readmeExamples(readme: string): ExampleRequest[] {
  const roles = new Map([...readme.matchAll(/^(\w+)=\$\(npm run -s token -- [^)]*--role (\w+)\)/gm)].map((m) => [m[1]!, m[2]!]));
  const lines = readme.split('\n');
  const requests: ExampleRequest[] = [];
  let inFence = false;
  let loop: { name: string; values: string[] } | null = null;
  for (let i = 0; i < lines.length; i++) {
    const start = i;
    let text = lines[i]!;
    if (/^\s*```/.test(text)) {
      inFence = !inFence;
      continue;
    }
    if (!inFence) continue;
    while (text.endsWith('\\') && i + 1 < lines.length) text = `${text.slice(0, -1)} ${lines[++i]!.trim()}`;
    const forLoop = /^\s*for (\w+) in ([^;]+); do\s*$/.exec(text);
    if (forLoop) loop = { name: forLoop[1]!, values: forLoop[2]!.trim().split(/\s+/) };
    if (/^\s*done\b/.test(text)) loop = null;
    const url = /["']?(?:https?:\/\/)?(?:localhost|127\.0\.0\.1):8080(\/api\/[^\s"']*)["']?/.exec(text)?.[1];
    if (!/\bcurl\b/.test(text) || !url) continue;
    const { sends, ...body } = bodyOf(text);
    const method = METHOD.exec(text)?.[1] ?? (sends ? 'POST' : 'GET');
    const tokenVar = /Authorization: Bearer \$(\w+)/.exec(text)?.[1];
    const role = tokenVar ? roles.get(tokenVar) : undefined;
    for (const value of loop && url.includes(`$${loop.name}`) ? loop.values : [undefined]) {
      const concrete = (value === undefined ? url : url.replaceAll(`$${loop!.name}`, value)).replace(/\$\{?\w+\}?/g, SAMPLE_ID);
      const [path = '', search = ''] = concrete.split('?');
      requests.push({
        line: start + 1,
        method,
        path,
        query: Object.fromEntries(new URLSearchParams(search)),
        ...body,
        authorized: AUTHORIZATION.test(text),
        ...(role ? { role } : {}),
      });
    }
  }
  return requests;
}

/** A query value as a client sends it: text, read as a number or boolean when the schema wants one. */
const queryValue = (text: string, schema: Json): unknown => {
  const types = ([] as unknown[]).concat(schema.type ?? []);
  if ((types.includes('integer') || types.includes('number')) && /^-?\d+(\.\d+)?$/.test(text)) return Number(text);
  if (types.includes('boolean') && /^(true|false)$/.test(text)) return text === 'true';
  return text;
};

/** One validator per document: its components are what the operations' schemas refer to. */
const validators = new WeakMap<Json, Ajv2020>();
function validatorOf(doc: Json): Ajv2020 {
  let ajv = validators.get(doc);
  if (!ajv) {
    ajv = new Ajv2020({ strict: false, allErrors: true });
    addFormats(ajv);
    ajv.addSchema({ $id: 'openapi.json', components: doc.components }, 'openapi.json');
    validators.set(doc, ajv);
  }
  return ajv;
}

/** What is wrong with `request` by the document: nothing is an empty list. */
export function checkExample(doc: Json, request: ExampleRequest): string[] {
  const ajv = validatorOf(doc);
  const valid = (schema: Json, value: unknown): string[] => {
    // An operation's schema refers to the components as `#/components/…`: of the document, not of itself.
    const check = ajv.compile(JSON.parse(JSON.stringify(schema).replaceAll('"#/components/', '"openapi.json#/components/')) as Json);
    return check(value) ? [] : (check.errors ?? []).map((e) => `${e.instancePath || '(root)'} ${e.message ?? ''}`);
  };
  const segments = request.path.split('/');
  const faults: string[] = [];
  const matches = Object.entries(doc.paths as Json).filter(([template]) => {
    const parts = template.split('/');
    return parts.length === segments.length && parts.every((p, i) => p.startsWith('{') || p === segments[i]);
  });
  const found = matches
    .map(([template, item]) => ({ template, op: (item as Json)[request.method.toLowerCase()] as Json | undefined }))
    .filter((m) => m.op)
    // A literal segment wins over a parameter (`/replay` over `/{parkedId}`), as routers match.
    .sort((a, b) => (b.template.match(/\/[^{/][^/]*/g)?.length ?? 0) - (a.template.match(/\/[^{/][^/]*/g)?.length ?? 0))[0];
  if (!found?.op) return [`${request.method} ${request.path}: no such operation`];
  const { template, op } = found;
  const parameters = (op.parameters ?? []) as Json[];
  template.split('/').forEach((part, i) => {
    const name = /^\{(.+)\}$/.exec(part)?.[1];
    const param = parameters.find((p) => p.in === 'path' && p.name === name);
    if (name && param) faults.push(...valid(param.schema as Json, decodeURIComponent(segments[i]!)).map((f) => `path ${name}: ${f}`));
  });
  for (const p of parameters.filter((x) => x.in === 'query')) {
    const text = request.query[p.name as string];
    if (text === undefined) {
      if (p.required) faults.push(`query ${p.name as string}: required`);
    } else faults.push(...valid(p.schema as Json, queryValue(text, p.schema as Json)).map((f) => `query ${p.name as string}: ${f}`));
  }
  for (const name of Object.keys(request.query)) if (!parameters.some((p) => p.in === 'query' && p.name === name)) faults.push(`query ${name}: not a parameter`);
  const bodySchema = op.requestBody?.content?.['application/json']?.schema as Json | undefined;
  if (request.body !== undefined) {
    if (!bodySchema) faults.push('sends a JSON body the operation does not take');
    else faults.push(...valid(bodySchema, request.body).map((f) => `body ${f}`));
  } else if (op.requestBody?.required && bodySchema && !request.bodyFromFile) faults.push('sends no body');
  const security = (op.security ?? doc.security ?? []) as Json[];
  const admitted = security.flatMap((s) => Object.values(s) as string[][]).flat();
  // Required unless one of the alternatives is the empty requirement `{}`.
  if (security.length > 0 && !security.some((s) => Object.keys(s).length === 0) && !request.authorized) faults.push('sends no Authorization header: the operation requires a bearer token');
  if (request.role && !admitted.includes(request.role)) faults.push(`a ${request.role} token: the operation admits ${admitted.join(', ')}`);
  return faults.map((f) => `${request.method} ${request.path} (README.md:${request.line}): ${f}`);
}
