/** The generators' one write-or-check step (npm run contract, k8s/tools/generate.ts), on real files. */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { writeOrCheck } from './write-or-check';

describe('writeOrCheck', () => {
  let root: string;
  beforeEach(() => {
    root = fs.mkdtempSync(path.join(os.tmpdir(), 'orderflow-generated-'));
    fs.writeFileSync(path.join(root, 'fresh.txt'), 'same\n');
    fs.writeFileSync(path.join(root, 'stale.txt'), 'old\n');
  });
  afterEach(() => fs.rmSync(root, { recursive: true, force: true }));

  const files = () => [
    { file: path.join(root, 'fresh.txt'), content: 'same\n' },
    { file: path.join(root, 'stale.txt'), content: 'new\n' },
    { file: path.join(root, 'missing.txt'), content: 'born\n' },
  ];

  it('checking, names each stale or missing file with the command that fixes it, and writes nothing', () => {
    const out: string[] = [];
    const err: string[] = [];
    const stale = writeOrCheck(files(), { check: true, root, fix: 'npm run contract', out: (l) => out.push(l), err: (l) => err.push(l) });
    expect(stale).toBe(2);
    expect(out).toEqual(['fresh.txt: up to date']);
    expect(err).toEqual(['stale.txt: stale (run: npm run contract)', 'missing.txt: stale (run: npm run contract)']);
    expect(fs.readFileSync(path.join(root, 'stale.txt'), 'utf8')).toBe('old\n');
    expect(fs.existsSync(path.join(root, 'missing.txt'))).toBe(false);
  });

  it('writing, rewrites only what changed; a check afterwards finds nothing stale', () => {
    const out: string[] = [];
    const before = fs.statSync(path.join(root, 'fresh.txt')).mtimeMs;
    expect(writeOrCheck(files(), { check: false, root, fix: 'x', out: (l) => out.push(l) })).toBe(0);
    expect(out).toEqual(['fresh.txt: up to date', 'stale.txt: written', 'missing.txt: written']);
    expect(fs.statSync(path.join(root, 'fresh.txt')).mtimeMs).toBe(before);
    expect(fs.readFileSync(path.join(root, 'missing.txt'), 'utf8')).toBe('born\n');
    expect(writeOrCheck(files(), { check: true, root, fix: 'x', out: () => undefined })).toBe(0);
  });
});
