/**
 * The gateway's web root (GATEWAY_WEB_ROOT in nginx/templates/gateway.conf.template): the files
 * nginx serves itself.
 *   api/openapi.json   docs/openapi.json, the HTTP contract (npm run contract writes it)
 *   api/docs/          Swagger UI from npm (swagger-ui-dist) showing it: offline, no CDN
 *   console/           the operator console's build
 * `npm run build:web` writes it to dist/web; npm start and the end-to-end system build it there
 * when it is missing or stale; the orderflow/gateway image (Dockerfile, target gateway) holds it.
 */
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';

const REPO_ROOT = path.resolve(__dirname, '../../..');

/** Where `npm run build:web`, npm start and the end-to-end system keep the web root. */
export const WEB_ROOT = path.join(REPO_ROOT, 'dist', 'web');

/** One part of the web root: what it is built from, and how. */
export interface WebPart {
  name: string;
  /** The files and directories it is built from: when their content changes, the web root is stale. */
  sources(): string[];
  /** Writes the part under `webRoot` (a fresh, empty directory). */
  build(webRoot: string): void | Promise<void>;
}

const swaggerUi = (): string => path.dirname(require.resolve('swagger-ui-dist/package.json'));
const OPENAPI_JSON = path.join(REPO_ROOT, 'docs', 'openapi.json');

// The viewer's page and start-up script, as files: the gateway's Content-Security-Policy for
// /api/docs/ allows scripts and styles from this origin only, nothing inline.
const VIEWER_HTML = `<!doctype html>
<html lang="en">
  <head>
    <meta charset="utf-8">
    <title>Orderflow API</title>
    <link rel="stylesheet" href="swagger-ui.css">
    <link rel="stylesheet" href="index.css">
    <link rel="icon" type="image/png" href="favicon-32x32.png" sizes="32x32">
  </head>
  <body>
    <div id="swagger-ui"></div>
    <script src="swagger-ui-bundle.js"></script>
    <script src="swagger-initializer.js"></script>
  </body>
</html>
`;
// validatorUrl null: Swagger UI would otherwise send the document to validator.swagger.io.
const VIEWER_INIT = `window.ui = SwaggerUIBundle({
  url: '../openapi.json',
  dom_id: '#swagger-ui',
  deepLinking: true,
  validatorUrl: null,
  presets: [SwaggerUIBundle.presets.apis],
  layout: 'BaseLayout',
});
`;
/** What the viewer takes from swagger-ui-dist (its licence and notice with it). */
const VIEWER_FILES: Record<string, string> = {
  'swagger-ui-bundle.js': 'swagger-ui-bundle.js',
  'swagger-ui-bundle.js.LICENSE.txt': 'swagger-ui-bundle.js.LICENSE.txt',
  'swagger-ui.css': 'swagger-ui.css',
  'index.css': 'index.css',
  'favicon-32x32.png': 'favicon-32x32.png',
  'LICENSE.txt': 'LICENSE',
  'NOTICE.txt': 'NOTICE',
};

/** The HTTP contract and its viewer, under api/. */
export const apiDocs: WebPart = {
  name: 'API document and viewer',
  sources: () => [OPENAPI_JSON, path.join(swaggerUi(), 'package.json'), __filename],
  build(webRoot) {
    const docs = path.join(webRoot, 'api', 'docs');
    fs.mkdirSync(docs, { recursive: true });
    fs.copyFileSync(OPENAPI_JSON, path.join(webRoot, 'api', 'openapi.json'));
    for (const [to, from] of Object.entries(VIEWER_FILES)) fs.copyFileSync(path.join(swaggerUi(), from), path.join(docs, to));
    fs.writeFileSync(path.join(docs, 'index.html'), VIEWER_HTML);
    fs.writeFileSync(path.join(docs, 'swagger-initializer.js'), VIEWER_INIT);
  },
};

const CONSOLE = path.join(REPO_ROOT, 'apps', 'console');

/**
 * The operator console (apps/console) under console/: Vite's build, in a child process (Vite is
 * an ES module; its config sets the base /console/ and fails a build over the JavaScript budget).
 */
export const operatorConsole: WebPart = {
  name: 'operator console',
  // The lock file too (an upgrade of Vite or Preact alone changes the bundle), and the tsconfig its own extends.
  sources: () => [
    ...['src', 'index.html', 'package.json', 'tsconfig.json', 'vite.config.mts'].map((f) => path.join(CONSOLE, f)),
    ...['package-lock.json', 'tsconfig.base.json'].map((f) => path.join(REPO_ROOT, f)),
  ],
  // Not spawnSync: npm start's event loop (its children's output, Ctrl-C) keeps running meanwhile.
  async build(webRoot) {
    const vite = path.join(path.dirname(require.resolve('vite/package.json')), 'bin', 'vite.js');
    const child = spawn(process.execPath, [vite, 'build', CONSOLE, '--outDir', path.join(webRoot, 'console'), '--emptyOutDir', '--logLevel', 'warn'], { stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
    const code = await new Promise<number | null>((resolve, reject) => child.on('error', reject).on('close', resolve));
    if (code !== 0) throw new Error(`the console's build failed:\n${output}`);
  },
};

/** Every part of the web root. */
export const WEB_PARTS: WebPart[] = [apiDocs, operatorConsole];

const DIGEST_FILE = '.sources.sha256';

/** Every file under `source` (a file, or a directory but its node_modules and dist), sorted. */
function filesOf(source: string): string[] {
  if (!fs.existsSync(source)) return [];
  if (!fs.statSync(source).isDirectory()) return [source];
  return fs
    .readdirSync(source, { withFileTypes: true })
    .filter((e) => e.name !== 'node_modules' && e.name !== 'dist')
    .flatMap((e) => filesOf(path.join(source, e.name)))
    .sort();
}

/** A digest of what the parts are built from: their names, and each source file's path and content. */
export function webDigest(parts: readonly WebPart[] = WEB_PARTS): string {
  const hash = createHash('sha256');
  for (const part of parts) {
    hash.update(`part ${part.name}\n`);
    for (const file of part.sources().flatMap(filesOf)) hash.update(`${path.relative(REPO_ROOT, file)}\n`).update(fs.readFileSync(file));
  }
  return hash.digest('hex');
}

const builtDigest = (webRoot: string): string | null => {
  try {
    return fs.readFileSync(path.join(webRoot, DIGEST_FILE), 'utf8').trim();
  } catch {
    return null;
  }
};

/**
 * Builds the web root into `outDir`: every part into a fresh directory beside it, which then
 * takes its place, so nginx never serves half a build (and two builds at once do not mix).
 */
export async function buildWeb(outDir: string = WEB_ROOT, parts: readonly WebPart[] = WEB_PARTS): Promise<void> {
  const digest = webDigest(parts);
  fs.mkdirSync(path.dirname(outDir), { recursive: true });
  const fresh = fs.mkdtempSync(`${outDir}.build-`);
  // mkdtemp makes it private (0700); nginx's workers run as another user when its master is root.
  fs.chmodSync(fresh, 0o755);
  const old = `${fresh}.old`;
  try {
    for (const part of parts) await part.build(fresh);
    fs.writeFileSync(path.join(fresh, DIGEST_FILE), `${digest}\n`);
    // Another build of the same sources finished first: swapping would only leave a gateway
    // that is serving it without files between the two renames.
    if (builtDigest(outDir) === digest) return;
    try {
      fs.renameSync(outDir, old);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
    }
    try {
      fs.renameSync(fresh, outDir);
    } catch (err) {
      // Put the previous one back, unless another build's took the place meanwhile.
      if (fs.existsSync(old) && !fs.existsSync(outDir)) fs.renameSync(old, outDir);
      throw err;
    }
  } catch (err) {
    // Another build put the same web root in place meanwhile: that one stands.
    if (builtDigest(outDir) !== digest) throw err;
  } finally {
    fs.rmSync(fresh, { recursive: true, force: true });
    fs.rmSync(old, { recursive: true, force: true });
  }
}

/** Builds the web root when it is missing or stale; says so. Returns whether it built. */
export async function ensureWeb(outDir: string = WEB_ROOT, say: (line: string) => void = () => undefined, parts: readonly WebPart[] = WEB_PARTS): Promise<boolean> {
  if (builtDigest(outDir) === webDigest(parts)) return false;
  say(`web root: building ${parts.map((p) => p.name).join(', ')} into ${path.relative(process.cwd(), outDir) || outDir}`);
  await buildWeb(outDir, parts);
  return true;
}

if (require.main === module) {
  const outDir = path.resolve(process.argv[2] ?? WEB_ROOT);
  buildWeb(outDir).then(
    () => console.log(`web root written: ${outDir}`),
    (err: Error) => {
      console.error(err.stack ?? err.message);
      process.exitCode = 1;
    },
  );
}
