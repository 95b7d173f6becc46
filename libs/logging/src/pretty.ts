/**
 * The human-readable line of `LOG_FORMAT=pretty` (what `npm start` shows): time, level,
 * message, the correlation ids, then the other fields as `key=value`; a stack (or any
 * multi-line value) follows on its own indented lines. Containers keep the JSON lines.
 */

const ANSI = { reset: '\x1b[0m', bold: '\x1b[1m', dim: '\x1b[2m', red: '\x1b[31m', green: '\x1b[32m', yellow: '\x1b[33m', cyan: '\x1b[36m', magenta: '\x1b[35m' } as const;

const LEVEL_COLORS: Record<string, string> = {
  error: ANSI.red + ANSI.bold,
  warn: ANSI.yellow,
  info: ANSI.green,
  http: ANSI.cyan,
  verbose: ANSI.magenta,
  debug: ANSI.dim,
  silly: ANSI.dim,
};

/** Shown right after the message, in this order: what ties a line to one order's saga. */
const CONTEXT_FIELDS = ['correlationId', 'requestId', 'causationId', 'eventId'] as const;
/** Said by the line's layout (time, level, message) or by the process prefix (service). */
const LAYOUT_FIELDS = new Set(['timestamp', 'level', 'message', 'service']);

export interface PrettyOptions {
  /** ANSI colours: the level, errors in red, the fields dimmed. */
  color: boolean;
}

/** `HH:MM:SS.mmm` in local time: a terminal is read by someone in their own time zone. */
function timeOf(timestamp: unknown): string {
  const date = typeof timestamp === 'string' ? new Date(timestamp) : new Date();
  const pad = (n: number, width = 2): string => String(n).padStart(width, '0');
  return `${pad(date.getHours())}:${pad(date.getMinutes())}:${pad(date.getSeconds())}.${pad(date.getMilliseconds(), 3)}`;
}

function valueText(value: unknown): string {
  if (typeof value === 'string') return /^[^\s"=]+$/.test(value) ? value : JSON.stringify(value);
  if (value instanceof Error) return JSON.stringify(value.message);
  return JSON.stringify(value) ?? String(value);
}

/** One log record (winston's `info`, symbols aside) as a readable line, plus its stack if any. */
export function formatPretty(info: Record<string, unknown>, options: PrettyOptions): string {
  const paint = (code: string, text: string): string => (options.color ? `${code}${text}${ANSI.reset}` : text);
  const level = String(info.level ?? 'info');
  const levelColor = LEVEL_COLORS[level] ?? '';
  const message = typeof info.message === 'string' ? info.message : valueText(info.message);

  const fields: string[] = [];
  const blocks: string[] = [];
  const add = (key: string, value: unknown): void => {
    if (value === undefined) return;
    // A stack or other multi-line text is unreadable on one line: it goes below, indented.
    const text = value instanceof Error ? (value.stack ?? value.message) : value;
    if (typeof text === 'string' && text.includes('\n')) blocks.push(text.replace(/^/gm, '    '));
    else fields.push(`${key}=${valueText(text)}`);
  };
  for (const key of CONTEXT_FIELDS) add(key, info[key]);
  for (const [key, value] of Object.entries(info)) {
    if (!LAYOUT_FIELDS.has(key) && !(CONTEXT_FIELDS as readonly string[]).includes(key)) add(key, value);
  }

  const head = [
    paint(ANSI.dim, timeOf(info.timestamp)),
    paint(levelColor, level.toUpperCase().padEnd(5)),
    level === 'error' ? paint(ANSI.red + ANSI.bold, message) : message,
    ...(fields.length > 0 ? [paint(ANSI.dim, fields.join(' '))] : []),
  ].join(' ');
  const tail = blocks.map((b) => (level === 'error' ? paint(ANSI.red, b) : paint(ANSI.dim, b)));
  return [head, ...tail].join('\n');
}

/**
 * Whether to colour: a terminal, or `FORCE_COLOR` (a parent that pipes our output to its own
 * terminal, as `npm start` does); never with `NO_COLOR` (https://no-color.org).
 */
export function wantsColor(env: NodeJS.ProcessEnv = process.env, isTty: boolean = process.stdout.isTTY === true): boolean {
  if (env.NO_COLOR !== undefined && env.NO_COLOR !== '') return false;
  if (env.FORCE_COLOR !== undefined) return !['0', 'false'].includes(env.FORCE_COLOR);
  return isTty;
}
