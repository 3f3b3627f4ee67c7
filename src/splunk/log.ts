/**
 * Splunk-style logging for the alert action: stderr only (splunkd copies it into
 * splunkd.log under component=sendmodalert), one event per line, starting with a level
 * Splunk recognises, followed by key="value" pairs in the Common Action Model style
 * (CONTRACT.md §8) so `| rex`/KV extraction works without configuration.
 */
export type LogLevel = 'DEBUG' | 'INFO' | 'WARN' | 'ERROR' | 'FATAL';

const LEVEL_ORDER: Record<LogLevel, number> = { DEBUG: 10, INFO: 20, WARN: 30, ERROR: 40, FATAL: 50 };

export type LogFields = Record<string, string | number | boolean | undefined | null>;

/** Longest value written for one key; attacker-controlled strings can be megabytes. */
export const MAX_LOG_VALUE = 512;

export function parseLogLevel(text: string | undefined): LogLevel | undefined {
  const upper = (text ?? '').trim().toUpperCase();
  if (upper === 'WARNING') return 'WARN';
  return upper in LEVEL_ORDER ? (upper as LogLevel) : undefined;
}

/**
 * Quote a value for a key="value" pair: backslash and quote escaped, control and bidi
 * characters made visible so a crafted username cannot forge a second log line or
 * reorder what an analyst reads, and long values cut with a note of the full length.
 */
const NEEDS_ESCAPE =
  // eslint-disable-next-line no-control-regex
  /[\\"\u0000-\u001f\u007f-\u009f\u2028\u2029\u202a-\u202e\u2066-\u2069\uD800-\uDFFF]/;
const ESCAPED =
  // eslint-disable-next-line no-control-regex
  /[\\"\u0000-\u001f\u007f-\u009f\u2028\u2029\u202a-\u202e\u2066-\u2069]|[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/g;

function escapeChar(ch: string): string {
  if (ch === '\\') return '\\\\';
  if (ch === '"') return '\\"';
  if (ch === '\n') return '\\n';
  if (ch === '\r') return '\\r';
  if (ch === '\t') return '\\t';
  return `\\u${ch.charCodeAt(0).toString(16).padStart(4, '0')}`;
}

/**
 * Quote a value for a key="value" pair: backslash and quote escaped, control and bidi
 * characters made visible so a crafted username cannot forge a second log line or
 * reorder what an analyst reads, and long values cut with a note of the full length.
 */
export function quoteLogValue(value: string): string {
  // Most values need nothing: one test, no copy (a digest run formats millions of them).
  if (value.length <= MAX_LOG_VALUE && !NEEDS_ESCAPE.test(value)) return `"${value}"`;
  let text = value;
  let suffix = '';
  if (text.length > MAX_LOG_VALUE) {
    suffix = `…(${text.length} chars)`;
    text = text.slice(0, MAX_LOG_VALUE);
    // Never end on half a surrogate pair.
    if (/[\uD800-\uDBFF]$/.test(text)) text = text.slice(0, -1);
  }
  return `"${text.replace(ESCAPED, escapeChar)}${suffix}"`;
}

const KEY_PATTERN = /^[A-Za-z_][A-Za-z0-9_]*$/;
const checkedKeys = new Set<string>();

/** ` key="value"` for each non-empty field, in order. */
function formatFields(fields: LogFields): string {
  let out = '';
  for (const key in fields) {
    const value = fields[key];
    if (value === undefined || value === null || value === '') continue;
    if (!checkedKeys.has(key)) {
      // Keys come from our code, never from data; a bad one is a programming error.
      if (!KEY_PATTERN.test(key)) throw new Error(`invalid log key: ${key}`);
      checkedKeys.add(key);
    }
    out += ` ${key}=${quoteLogValue(typeof value === 'string' ? value : String(value))}`;
  }
  return out;
}

export function formatLogLine(level: LogLevel, fields: LogFields): string {
  return level + formatFields(fields);
}

export interface Logger {
  log(level: LogLevel, signature: string, fields?: LogFields): void;
  debug(signature: string, fields?: LogFields): void;
  info(signature: string, fields?: LogFields): void;
  warn(signature: string, fields?: LogFields): void;
  error(signature: string, fields?: LogFields): void;
  fatal(signature: string, fields?: LogFields): void;
  /** A logger whose lines carry these fields too (e.g. rid for one row). */
  child(fields: LogFields): Logger;
  /** Values that must never appear in a log line (API keys, webhook URLs, session keys). */
  redact(secret: string | undefined): void;
  flush(): void;
}

interface LoggerState {
  readonly write: (text: string) => void;
  readonly threshold: number;
  readonly secrets: Set<string>;
  buffer: string[];
  bufferedChars: number;
}

/** Lines are batched (a digest run can log 100,000 rows) and flushed on WARN and above. */
const FLUSH_CHARS = 64 * 1024;

export function createLogger(
  write: (text: string) => void,
  options: { level?: LogLevel; base?: LogFields } = {},
): Logger {
  const state: LoggerState = {
    write,
    threshold: LEVEL_ORDER[options.level ?? 'INFO'],
    secrets: new Set(),
    buffer: [],
    bufferedChars: 0,
  };
  return makeLogger(state, formatFields(options.base ?? {}));
}

/** `prefix` is the already formatted base fields: computed once, not per line. */
function makeLogger(state: LoggerState, prefix: string): Logger {
  const flush = (): void => {
    if (state.buffer.length === 0) return;
    const text = state.buffer.join('');
    state.buffer = [];
    state.bufferedChars = 0;
    state.write(text);
  };
  const log = (level: LogLevel, signature: string, fields: LogFields = {}): void => {
    if (LEVEL_ORDER[level] < state.threshold) return;
    let line = `${level}${prefix} signature=${quoteLogValue(signature)}${formatFields(fields)}`;
    for (const secret of state.secrets) {
      if (line.includes(secret)) line = line.split(secret).join('********');
    }
    state.buffer.push(line + '\n');
    state.bufferedChars += line.length + 1;
    if (LEVEL_ORDER[level] >= LEVEL_ORDER.WARN || state.bufferedChars >= FLUSH_CHARS) flush();
  };
  return {
    log,
    debug: (s, f) => log('DEBUG', s, f),
    info: (s, f) => log('INFO', s, f),
    warn: (s, f) => log('WARN', s, f),
    error: (s, f) => log('ERROR', s, f),
    fatal: (s, f) => log('FATAL', s, f),
    child: (fields) => makeLogger(state, prefix + formatFields(fields)),
    redact: (secret) => {
      // Short strings would blank out ordinary words; real keys and URLs are long.
      if (secret && secret.length >= 8) {
        state.secrets.add(secret);
        // The quoted form escapes \ and "; redact that spelling as well.
        const quoted = quoteLogValue(secret).slice(1, -1);
        if (quoted !== secret) state.secrets.add(quoted);
      }
    },
    flush,
  };
}
