/**
 * Files generated from the code and committed beside it (the contract documents, k8s/'s derived
 * files): a generator writes those whose content changed, or with `--check` only names them and
 * exits 1, so CI fails on a stale one instead of rewriting it.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';

export interface GeneratedFile {
  file: string;
  content: string;
}

export interface WriteOrCheckOptions {
  check: boolean;
  /** File names are printed relative to it. */
  root: string;
  /** The command that regenerates the files, named for a stale one. */
  fix: string;
  out?: (line: string) => void;
  err?: (line: string) => void;
}

const read = (file: string): string | null => {
  try {
    return readFileSync(file, 'utf8');
  } catch {
    return null;
  }
};

/** Writes each file whose content differs (or, checking, reports it); returns how many were stale when checking. */
export function writeOrCheck(files: readonly GeneratedFile[], o: WriteOrCheckOptions): number {
  const out = o.out ?? ((line: string) => console.log(line));
  const err = o.err ?? ((line: string) => console.error(line));
  let stale = 0;
  for (const { file, content } of files) {
    const name = path.relative(o.root, file);
    if (read(file) === content) {
      out(`${name}: up to date`);
    } else if (o.check) {
      stale++;
      err(`${name}: stale (run: ${o.fix})`);
    } else {
      writeFileSync(file, content);
      out(`${name}: written`);
    }
  }
  return stale;
}

/** A generator's command line: `--check` or write; the exit code is 1 when a file is stale or generating fails. */
export function runGenerator(generate: () => Promise<GeneratedFile[]>, o: Omit<WriteOrCheckOptions, 'check'>, argv: readonly string[] = process.argv): void {
  generate().then(
    (files) => {
      process.exitCode = writeOrCheck(files, { ...o, check: argv.includes('--check') }) === 0 ? 0 : 1;
    },
    (error: Error) => {
      console.error(error.stack ?? error.message);
      process.exitCode = 1;
    },
  );
}
