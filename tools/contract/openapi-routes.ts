/**
 * The routes the services really serve, where the gateway sends each public path, and the
 * routes docs/openapi.json names: what openapi-routes.unit.test.ts compares.
 */
import type { Express } from 'express';
import { BEARER_SCHEME, rolesAllowedBy } from '@orderflow/http';

export interface ServedRoute {
  app: string;
  method: string;
  /** Express syntax: `/api/orders/:id`. */
  path: string;
  /** The roles its `authenticate()` / `requireRole()` handlers let through, sorted; none: it has neither. */
  roles?: string[];
}

interface Layer {
  route?: { path: string | string[]; methods: Record<string, boolean>; stack: Array<{ handle: unknown; method?: string }> };
  handle: { stack?: Layer[] };
  rawPath?: unknown;
  slash?: boolean;
}

/** The roles that get through every auth handler of a route's method (each may narrow them). */
function rolesOf(stack: Array<{ handle: unknown; method?: string }>, method: string): string[] | undefined {
  const allowed = stack.filter((l) => !l.method || l.method === method).flatMap((l) => [rolesAllowedBy(l.handle) ?? []].filter((roles) => roles.length > 0));
  return allowed.length === 0 ? undefined : allowed.reduce((a, b) => a.filter((r) => b.includes(r))).slice().sort();
}

/** Every method and path an Express 5 app's router serves, nested routers included. */
export function routesOf(app: Express, name: string): ServedRoute[] {
  const walk = (stack: Layer[], prefix: string): ServedRoute[] =>
    stack.flatMap((layer) => {
      if (layer.route) {
        const paths = Array.isArray(layer.route.path) ? layer.route.path : [layer.route.path];
        const route = layer.route;
        return paths.flatMap((p) => Object.keys(route.methods).filter((m) => m !== '_all').map((m) => ({ app: name, method: m.toUpperCase(), path: `${prefix}${p}`, roles: rolesOf(route.stack, m) })));
      }
      if (!layer.handle.stack) return [];
      // A router mounted with app.use(router) has the path '/'; one under a prefix adds it.
      if (!layer.slash && typeof layer.rawPath !== 'string') throw new Error(`${name}: a router mounted under a pattern this test cannot read`);
      return walk(layer.handle.stack, layer.slash ? prefix : `${prefix}${layer.rawPath as string}`);
    });
  return walk((app as unknown as { router: { stack: Layer[] } }).router.stack, '');
}

/** A route whatever its parameters are called: `GET /api/orders/{}`. */
export const routeKey = (method: string, path: string): string => `${method.toUpperCase()} ${path.replace(/:[A-Za-z_]\w*|\{[^}]+\}/g, '{}')}`;

/** A path a client could send for an Express path (each parameter a plausible value). */
export const samplePath = (path: string): string => path.replace(/:[A-Za-z_]\w*/g, '0198a4b2-7c3d-7e4f-8a9b-0c1d2e3f4a5b');

interface Location {
  modifier: '' | '=' | '~' | '~*' | '^~';
  pattern: string;
  body: string;
}

/** The locations of the template's server block (nested ones are internal error pages, left out). */
function serverLocations(template: string): Location[] {
  const start = template.search(/^server\s*\{/m);
  if (start < 0) throw new Error('the gateway template has no server block');
  const text = template.slice(template.indexOf('{', start) + 1);
  const locations: Location[] = [];
  let depth = 0;
  let current: { head: string; from: number } | null = null;
  let statement = '';
  for (let i = 0; i < text.length && depth >= 0; i++) {
    const c = text[i]!;
    if (c === '#') {
      i = text.indexOf('\n', i);
      if (i < 0) break;
      continue;
    }
    if (c === "'" || c === '"') {
      const end = text.indexOf(c, i + 1);
      statement += text.slice(i, end + 1);
      i = end;
      continue;
    }
    if (c === '{') {
      if (depth === 0 && /^\s*location\b/.test(statement)) current = { head: statement.trim(), from: i + 1 };
      depth++;
      statement = '';
    } else if (c === '}') {
      depth--;
      if (depth === 0 && current) {
        const [, modifier = '', pattern = ''] = /^location\s+(?:(=|~\*|~|\^~)\s+)?(\S+)$/.exec(current.head) ?? [];
        locations.push({ modifier: modifier as Location['modifier'], pattern, body: text.slice(current.from, i) });
        current = null;
      }
      statement = '';
    } else if (c === ';') statement = '';
    else statement += c;
  }
  return locations;
}

/** Where the gateway sends a request: to an app, to its own web root, or it answers itself. */
export type Target = { app: string } | { web: true } | { gateway: string };

/** The template's maps of the request line (`map "$request_method $uri" $name { … }`), as functions of it. */
function requestMaps(template: string): Map<string, (method: string, uri: string) => string> {
  const maps = new Map<string, (method: string, uri: string) => string>();
  for (const [, source = '', name = '', body = ''] of template.matchAll(/^map\s+("[^"]*"|\S+)\s+\$(\w+)\s*\{([^}]*)\}/gm)) {
    const entries = [...body.matchAll(/^\s*("[^"]*"|\S+)\s+("[^"]*"|\S+);/gm)].map(([, key = '', value = '']) => [key.replace(/^"|"$/g, ''), value.replace(/^"|"$/g, '')] as const);
    maps.set(name, (method, uri) => {
      const input = source.replace(/^"|"$/g, '').replace('$request_method', method).replace('$uri', uri);
      const hit = entries.find(([key]) => key !== 'default' && (key.startsWith('~') ? new RegExp(key.replace(/^~\*?/, ''), key.startsWith('~*') ? 'i' : '').test(input) : key === input));
      return (hit ?? entries.find(([key]) => key === 'default'))?.[1] ?? '';
    });
  }
  return maps;
}

/**
 * Routes a path as nginx does (exact match, else the longest prefix unless a regex matches
 * first, `^~` stopping the regexes); `upstreamApps` maps the template's upstream variables to apps.
 */
export function gatewayRouter(template: string, upstreamApps: Record<string, string>): (method: string, uri: string) => Target {
  const upstreams = new Map([...template.matchAll(/upstream\s+(\w+)\s*\{[^}]*?server\s+\$\{([A-Z_]+)\}/g)].map((m) => [m[1]!, m[2]!]));
  const maps = requestMaps(template);
  const locations = serverLocations(template);
  const targetOf = (l: Location, method: string, uri: string): Target => {
    const named = /proxy_pass\s+http:\/\/(\$?\w+)\s*;/.exec(l.body)?.[1];
    // An upstream chosen by a map of the request (`proxy_pass http://$name`).
    const upstream = named?.startsWith('$') ? maps.get(named.slice(1))?.(method, uri) : named;
    if (upstream) {
      const app = upstreamApps[upstreams.get(upstream) ?? ''];
      if (!app) throw new Error(`location ${l.pattern}: upstream ${upstream} names no app`);
      return { app };
    }
    if (/\broot\s/.test(l.body)) return { web: true };
    return { gateway: `location ${l.modifier} ${l.pattern}`.replace(/\s+/g, ' ') };
  };
  return (method, uri) => {
    const exact = locations.find((l) => l.modifier === '=' && l.pattern === uri);
    if (exact) return targetOf(exact, method, uri);
    const prefix = locations
      .filter((l) => (l.modifier === '' || l.modifier === '^~') && uri.startsWith(l.pattern))
      .sort((a, b) => b.pattern.length - a.pattern.length)[0];
    if (prefix?.modifier !== '^~') {
      const regex = locations.find((l) => (l.modifier === '~' || l.modifier === '~*') && new RegExp(l.pattern, l.modifier === '~*' ? 'i' : '').test(uri));
      if (regex) return targetOf(regex, method, uri);
    }
    if (!prefix) throw new Error(`no location of the gateway matches ${uri}`);
    return targetOf(prefix, method, uri);
  };
}

type Json = Record<string, any>;

/**
 * Every operation the document names, by route key (a path parameter with an enum expanded
 * to each value), with the roles its bearer requirement names, sorted (none: no such requirement).
 */
export function documentedOperations(doc: Json): Map<string, string[] | undefined> {
  const operations = new Map<string, string[] | undefined>();
  for (const [path, item] of Object.entries(doc.paths as Json)) {
    for (const [method, op] of Object.entries(item as Json)) {
      let paths = [path];
      for (const p of ((op as Json).parameters ?? []) as Json[]) {
        const values = p.in === 'path' ? (p.schema?.enum as string[] | undefined) : undefined;
        if (values) paths = paths.flatMap((x) => values.map((v) => x.replace(`{${p.name as string}}`, v)));
      }
      const bearer = ((op as Json).security as Json[] | undefined)?.find((s) => BEARER_SCHEME in s)?.[BEARER_SCHEME] as string[] | undefined;
      for (const x of paths) operations.set(routeKey(method, x), bearer && [...bearer].sort());
    }
  }
  return operations;
}

/** Every route the document names, a path parameter with an enum expanded to each value. */
export const documentedRoutes = (doc: Json): string[] => [...documentedOperations(doc).keys()].sort();

/** The documented routes whose roles differ from those their handlers let through. */
export function roleMismatches(served: readonly ServedRoute[], doc: Json): Array<{ route: string; served: string; documented: string }> {
  const documented = documentedOperations(doc);
  const show = (roles: string[] | undefined, none: string): string => (roles ? roles.join(', ') : none);
  return served
    .map((r) => ({ key: routeKey(r.method, r.path), r }))
    .filter(({ key }) => documented.has(key))
    .map(({ key, r }) => ({ route: `${r.method} ${r.path} (${r.app})`, served: show(r.roles, 'no authenticate() or requireRole()'), documented: show(documented.get(key), 'no bearer requirement') }))
    .filter((m) => m.served !== m.documented);
}
