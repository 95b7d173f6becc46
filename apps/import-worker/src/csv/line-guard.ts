import { isUtf8 } from 'node:buffer';
import { Transform, type TransformCallback } from 'node:stream';
import { parse as parseLine } from 'csv-parse/sync';

/** A line the guard refused before the CSV parser could see it. */
export interface LineRejection {
  line: number;
  reason: string;
  /** The start of the line as text (at most RAW_EXCERPT bytes), for the errors report. */
  raw: string;
  /** The line's first field when it is readable (the orderRef the row claims). */
  ref: string | null;
}

/** The body is not CSV at all: the import fails (its first line is binary, endless or broken). */
export class NotCsvError extends Error {
  constructor(reason: string) {
    super(`the body is not a CSV file: ${reason}`);
    this.name = 'NotCsvError';
  }
}

const NL = 10;
const CR = 13;
const QUOTE = 34;
const NUL = 0;
const RAW_EXCERPT = 200;
/** A marker line stands for a refused line: NUL never reaches the parser otherwise. */
export const MARKER = '\u0000';

const QUOTE_REASONS: Record<string, string> = {
  CSV_QUOTE_NOT_CLOSED: 'unterminated quoted field (a field opens a quote the line never closes; fields cannot span lines)',
  CSV_INVALID_CLOSING_QUOTE: 'misplaced quote: a closing quote must be followed by a comma or the end of the line',
  INVALID_OPENING_QUOTE: 'misplaced quote: a quote inside a field that does not start with one',
};

/**
 * Splits the byte stream into lines and refuses, one line at a time, what would derail a
 * streaming CSV parser: lines longer than `maxLineBytes` (never held in memory: the guard
 * keeps an excerpt and skips to the next newline), binary data (NUL bytes, invalid UTF-8) and
 * broken quoting (an unterminated quote would otherwise swallow the rest of the file). A
 * refused line is replaced by a one-field marker line, so the parser's line numbers stay those
 * of the file and the rejection reaches the row handling in file order. Lines are passed on
 * as slices of the incoming buffers: the common case copies nothing.
 */
export class LineGuard extends Transform {
  /** Refused lines by line number, until the parser's record for the marker claims them. */
  readonly rejections = new Map<number, LineRejection>();
  bytes = 0;
  /** Lines completed so far (the number of the last one). */
  lines = 0;
  private carry: Buffer[] = [];
  private carryBytes = 0;
  /** The current line outgrew the limit: skipping to its end, keeping only an excerpt. */
  private overlong: { excerpt: Buffer; bytes: number } | null = null;
  private headerSeen = false;

  constructor(private readonly maxLineBytes: number) {
    super({ readableHighWaterMark: 256 * 1024, writableHighWaterMark: 256 * 1024 });
  }

  /** The rejection a marker record stands for (removed from the table). */
  claim(record: readonly string[]): LineRejection | undefined {
    const field = record[0];
    if (record.length !== 1 || field === undefined || field.charCodeAt(0) !== 0) return undefined;
    const line = Number(field.slice(1));
    const rejection = this.rejections.get(line);
    this.rejections.delete(line);
    return rejection;
  }

  override _transform(chunk: Buffer, _encoding: BufferEncoding, done: TransformCallback): void {
    try {
      this.bytes += chunk.length;
      const out: Buffer[] = [];
      const lastNl = chunk.lastIndexOf(NL);
      // Whole lines of this buffer are usually valid UTF-8 with neither quotes nor NULs:
      // then each is passed on without a look inside.
      const complete = lastNl === -1 ? chunk.subarray(0, 0) : chunk.subarray(0, lastNl + 1);
      const utf8 = isUtf8(complete);
      let nextQuote = complete.indexOf(QUOTE);
      let nextNul = complete.indexOf(NUL);
      let runStart = 0;
      let start = 0;
      for (let nl = chunk.indexOf(NL); nl !== -1; nl = chunk.indexOf(NL, start)) {
        this.lines++;
        if (this.carryBytes > 0 || this.overlong) {
          // The line began in an earlier buffer: judge it whole (at most maxLineBytes are held).
          const piece = chunk.subarray(start, nl + 1);
          const verdict = this.finishCarried(piece);
          out.push(verdict);
          runStart = nl + 1;
        } else {
          const hasQuote = nextQuote !== -1 && nextQuote < nl;
          const hasNul = nextNul !== -1 && nextNul < nl;
          const length = nl - start;
          if (hasQuote || hasNul || !utf8 || length > this.maxLineBytes || !this.headerSeen) {
            const line = chunk.subarray(start, nl + 1);
            const reason = this.judge(line, hasNul, hasQuote, !utf8);
            if (reason !== null) {
              if (runStart < start) out.push(chunk.subarray(runStart, start));
              out.push(this.refuse(line, reason));
              runStart = nl + 1;
            }
          }
        }
        start = nl + 1;
        if (nextQuote !== -1 && nextQuote < start) nextQuote = complete.indexOf(QUOTE, start);
        if (nextNul !== -1 && nextNul < start) nextNul = complete.indexOf(NUL, start);
      }
      if (runStart < start) out.push(chunk.subarray(runStart, start));
      if (start < chunk.length) this.hold(chunk.subarray(start));
      for (const b of out) this.push(b);
      done();
    } catch (err) {
      done(err as Error);
    }
  }

  override _flush(done: TransformCallback): void {
    try {
      if (this.carryBytes > 0 || this.overlong) {
        this.lines++;
        this.push(this.finishCarried(Buffer.alloc(0)));
      }
      if (!this.headerSeen) throw new NotCsvError('it is empty (the header line is missing)');
      done();
    } catch (err) {
      done(err as Error);
    }
  }

  /** Keeps the start of a line that continues in the next buffer; past the limit, only an excerpt. */
  private hold(piece: Buffer): void {
    if (this.overlong) {
      this.overlong.bytes += piece.length;
      return;
    }
    if (this.carryBytes + piece.length > this.maxLineBytes + 2) {
      const excerpt = Buffer.concat([...this.carry, piece]).subarray(0, RAW_EXCERPT);
      this.overlong = { excerpt: Buffer.from(excerpt), bytes: this.carryBytes + piece.length };
      this.carry = [];
      this.carryBytes = 0;
      return;
    }
    // Copied: the incoming buffer may be reused by its producer.
    this.carry.push(Buffer.from(piece));
    this.carryBytes += piece.length;
  }

  private finishCarried(piece: Buffer): Buffer {
    if (this.overlong) {
      const { excerpt, bytes } = this.overlong;
      this.overlong = null;
      const total = bytes + contentLength(piece);
      return this.refuse(excerpt, this.tooLong(total), piece);
    }
    const line = Buffer.concat([...this.carry, piece]);
    this.carry = [];
    this.carryBytes = 0;
    const reason = this.judge(line, line.indexOf(NUL) !== -1, line.indexOf(QUOTE) !== -1, !isUtf8(line));
    return reason === null ? line : this.refuse(line, reason);
  }

  /** Why this line cannot go to the parser, or null. The first non-blank line must be sound. */
  private judge(line: Buffer, hasNul: boolean, hasQuote: boolean, checkUtf8: boolean): string | null {
    const content = contentLength(line);
    if (!this.headerSeen && content === 0) return null;
    let reason: string | null = null;
    if (content > this.maxLineBytes) reason = this.tooLong(content);
    else if (hasNul) reason = 'binary data (a NUL byte) in the line';
    else if (checkUtf8 && !isUtf8(line)) reason = 'the line is not UTF-8 text';
    else if (hasQuote) reason = quotingError(line);
    if (!this.headerSeen) {
      this.headerSeen = true;
      if (reason !== null) throw new NotCsvError(`line ${this.lines}: ${reason}`);
    }
    return reason;
  }

  private tooLong(bytes: number): string {
    return `the line is ${bytes} bytes long; the limit is ${this.maxLineBytes}`;
  }

  /** Records the rejection and returns the marker line that takes the line's place. */
  private refuse(line: Buffer, reason: string, ending: Buffer = line): Buffer {
    if (!this.headerSeen) {
      this.headerSeen = true;
      throw new NotCsvError(`line ${this.lines}: ${reason}`);
    }
    const excerpt = line.subarray(0, Math.min(RAW_EXCERPT, contentLength(line)));
    const raw = excerpt.toString('utf8').replace(/\u0000/g, '\uFFFD');
    this.rejections.set(this.lines, { line: this.lines, reason, raw, ref: firstField(raw) });
    const crlf = ending.length >= 2 && ending[ending.length - 2] === CR && ending[ending.length - 1] === NL;
    const eol = ending.length > 0 && ending[ending.length - 1] === NL ? (crlf ? '\r\n' : '\n') : '';
    return Buffer.from(`${MARKER}${this.lines}${eol}`);
  }
}

/** Bytes of the line without its line ending. */
function contentLength(line: Buffer): number {
  let n = line.length;
  if (n > 0 && line[n - 1] === NL) n--;
  if (n > 0 && line[n - 1] === CR) n--;
  return n;
}

/** A line with quotes is checked by csv-parse itself; null when it parses. */
function quotingError(line: Buffer): string | null {
  try {
    parseLine(line, { relax_column_count: true, record_delimiter: ['\r\n', '\n'] });
    return null;
  } catch (err) {
    const code = (err as { code?: string }).code ?? '';
    return QUOTE_REASONS[code] ?? `not parseable as CSV: ${(err as Error).message}`;
  }
}

/** The first field of a refused line, when it plainly is one (the orderRef the row claims). */
function firstField(raw: string): string | null {
  const comma = raw.indexOf(',');
  if (comma <= 0) return null;
  const field = raw.slice(0, comma).trim().replace(/^"(.*)"$/, '$1');
  return field.length > 0 && field.length <= 100 && !/[\u0000-\u001f"\uFFFD]/.test(field) ? field : null;
}
