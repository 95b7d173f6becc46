/** Building the gateway's web root (web.ts) on real files: when it is stale, and two builds at once. */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { buildWeb, operatorConsole, webDigest, type WebPart } from '../src/web';

const LOCK_FILE = path.resolve(__dirname, '../../../package-lock.json');

describe('the web root build', () => {
  let dir: string;
  let source: string;
  beforeEach(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'orderflow-web-build-'));
    source = path.join(dir, 'source.txt');
    fs.writeFileSync(source, 'v1');
  });
  afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

  /** A part built from `source` whose build waits until `release` is called. */
  function gatedPart(): { part: WebPart; release: () => void; started: Promise<void> } {
    let release!: () => void;
    let started!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    const begun = new Promise<void>((r) => (started = r));
    const part: WebPart = {
      name: 'fake',
      sources: () => [source],
      async build(webRoot) {
        started();
        await gate;
        fs.writeFileSync(path.join(webRoot, 'page.html'), fs.readFileSync(source));
      },
    };
    return { part, release, started: begun };
  }

  it('two builds of the same sources at once: the second leaves the first one in place, the web root stays in place throughout', async () => {
    const out = path.join(dir, 'web');
    const first = gatedPart();
    const second = gatedPart();
    const one = buildWeb(out, [first.part]);
    const two = buildWeb(out, [second.part]);
    await Promise.all([first.started, second.started]);
    first.release();
    await one;
    // Swapping it for an identical one would leave a serving gateway without files between two renames.
    const inPlace = fs.statSync(out).ino;
    second.release();
    await two;
    expect(fs.statSync(out).ino).toBe(inPlace);
    expect(fs.readFileSync(path.join(out, 'page.html'), 'utf8')).toBe('v1');
    expect(fs.readdirSync(dir).sort()).toEqual(['source.txt', 'web']);
  });

  it('a build of changed sources replaces the web root', async () => {
    const out = path.join(dir, 'web');
    const part: WebPart = { name: 'fake', sources: () => [source], build: (root) => fs.writeFileSync(path.join(root, 'page.html'), fs.readFileSync(source)) };
    await buildWeb(out, [part]);
    fs.writeFileSync(source, 'v2');
    await buildWeb(out, [part]);
    expect(fs.readFileSync(path.join(out, 'page.html'), 'utf8')).toBe('v2');
    expect(fs.readFileSync(path.join(out, '.sources.sha256'), 'utf8').trim()).toBe(webDigest([part]));
    // Readable by nginx's workers, which run as another user than a root master.
    expect(fs.statSync(out).mode & 0o755).toBe(0o755);
  });

  it("the console is rebuilt when the lock file changes (an upgrade of Vite or Preact alone)", () => {
    expect(operatorConsole.sources()).toContain(LOCK_FILE);
  });
});
