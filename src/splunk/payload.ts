/**
 * The stdin payload splunkd writes for a custom alert action (CONTRACT.md §1.2, §5):
 * JSON when payload_format = json (what we ship), XML when an admin switches it back.
 */
import { fail, ok, Result } from '../result';
import { fieldMap } from './field-map';

export interface AlertPayload {
  readonly app: string;
  readonly owner: string;
  readonly resultsFile: string;
  readonly resultsLink: string;
  readonly searchUri: string;
  readonly serverHost: string;
  readonly serverUri: string;
  readonly sessionKey: string;
  readonly sid: string;
  readonly searchName: string;
  /** Merged alert_actions.conf + savedsearches.conf params, `param.` prefix removed. */
  readonly configuration: Readonly<Record<string, string>>;
  /** The first result row (per-result mode: the row), multivalue fields as arrays. */
  readonly result: Readonly<Record<string, string | string[]>> | undefined;
  /** Newer splunkd, per-result alerts only. */
  readonly resultId: string | undefined;
}

export type PayloadErrorKind = 'empty' | 'syntax' | 'shape' | 'missing_key' | 'invalid_key';

/** Largest payload we accept; splunkd's are a few KB (the first result row is the bulk). */
export const MAX_PAYLOAD_BYTES = 32 * 1024 * 1024;

export type XmlParser = (text: string) => Promise<unknown>;

export async function parsePayload(
  text: string,
  parseXml: XmlParser,
): Promise<Result<AlertPayload, PayloadErrorKind>> {
  const trimmed = text.replace(/^\uFEFF/, '').trim();
  if (trimmed === '') {
    return fail('empty', 'stdin was empty: splunkd passes the alert payload on stdin (payload_format = json)');
  }
  if (trimmed.startsWith('<')) {
    let doc: unknown;
    try {
      doc = await parseXml(trimmed);
    } catch (e) {
      return fail('syntax', `stdin is not well-formed XML: ${(e as Error).message.split('\n')[0]}`);
    }
    return validatePayload(xmlToPlain(doc));
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(trimmed);
  } catch (e) {
    return fail('syntax', `stdin is not JSON (${(e as Error).message}); set payload_format = json in alert_actions.conf`);
  }
  return validatePayload(parsed);
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function optionalString(obj: Record<string, unknown>, key: string): Result<string, 'invalid_key'> {
  const v = obj[key];
  if (v === undefined || v === null) return ok('');
  if (typeof v === 'string') return ok(v);
  if (typeof v === 'number' || typeof v === 'boolean') return ok(String(v));
  return fail('invalid_key', `payload key "${key}" must be a string, got ${Array.isArray(v) ? 'array' : typeof v}`);
}

export function validatePayload(doc: unknown): Result<AlertPayload, PayloadErrorKind> {
  if (!isRecord(doc)) {
    return fail('shape', `payload must be a JSON object, got ${Array.isArray(doc) ? 'an array' : typeof doc}`);
  }
  const strings: Record<string, string> = {};
  for (const key of ['app', 'owner', 'results_file', 'results_link', 'search_uri', 'server_host', 'server_uri', 'session_key', 'sid', 'search_name', 'result_id']) {
    const r = optionalString(doc, key);
    if (!r.ok) return r;
    strings[key] = r.value;
  }
  if (!strings.results_file) {
    return fail('missing_key', 'payload has no "results_file": is this action run by splunkd (sendalert), with forceCsvResults = auto?');
  }
  if (!strings.results_file.startsWith('/') && !/^[A-Za-z]:[\\/]/.test(strings.results_file)) {
    return fail('invalid_key', `payload "results_file" must be an absolute path, got ${JSON.stringify(strings.results_file.slice(0, 200))}`);
  }
  if (!strings.sid) {
    return fail('missing_key', 'payload has no "sid": every incident is keyed by the search id');
  }
  if (strings.server_uri && !/^https?:\/\/[^\s/]+(:\d+)?\/?$/.test(strings.server_uri)) {
    return fail('invalid_key', `payload "server_uri" is not a management URI like https://127.0.0.1:8089: ${JSON.stringify(strings.server_uri.slice(0, 200))}`);
  }
  // Param names and result field names are data: kept in maps without a prototype.
  const configuration = fieldMap<string>();
  const rawConfig = doc.configuration;
  if (rawConfig !== undefined && rawConfig !== null) {
    if (!isRecord(rawConfig)) return fail('invalid_key', 'payload "configuration" must be an object of param name to string value');
    for (const [k, v] of Object.entries(rawConfig)) {
      if (typeof v === 'string') configuration[k] = v;
      else if (typeof v === 'number' || typeof v === 'boolean') configuration[k] = String(v);
      else if (v === null) configuration[k] = '';
      else return fail('invalid_key', `payload configuration param "${k}" must be a string`);
    }
  }
  let result: Record<string, string | string[]> | undefined;
  const rawResult = doc.result;
  if (rawResult !== undefined && rawResult !== null) {
    if (!isRecord(rawResult)) return fail('invalid_key', 'payload "result" must be an object (the first result row)');
    result = fieldMap<string | string[]>();
    for (const [k, v] of Object.entries(rawResult)) {
      if (Array.isArray(v)) result[k] = v.map((x) => (x === null || x === undefined ? '' : String(x)));
      else if (v === null || v === undefined) result[k] = '';
      else if (typeof v === 'object') result[k] = JSON.stringify(v);
      else result[k] = String(v);
    }
  }
  return ok({
    app: strings.app,
    owner: strings.owner,
    resultsFile: strings.results_file,
    resultsLink: strings.results_link,
    searchUri: strings.search_uri,
    serverHost: strings.server_host,
    serverUri: strings.server_uri,
    sessionKey: strings.session_key,
    sid: strings.sid,
    searchName: strings.search_name,
    configuration,
    result,
    resultId: strings.result_id || undefined,
  });
}

/**
 * The XML payload's exact shape is not established (CONTRACT.md §9). We accept the
 * layout splunkd uses for modular-input configuration — <configuration><stanza
 * name="…"><param name="k">v</param> — and plain child elements, so either works.
 */
function xmlToPlain(doc: unknown): unknown {
  if (!isRecord(doc)) return doc;
  const rootKey = Object.keys(doc)[0];
  const root = rootKey === undefined ? undefined : doc[rootKey];
  if (!isRecord(root)) return root ?? {};
  const out = fieldMap<unknown>();
  for (const [key, value] of Object.entries(root)) {
    if (key === '$') continue;
    if (key === 'configuration') out.configuration = xmlParams(value);
    else if (key === 'result') out.result = xmlResult(value);
    else out[key] = xmlText(value);
  }
  return out;
}

function xmlText(node: unknown): string {
  const first = Array.isArray(node) ? node[0] : node;
  if (typeof first === 'string') return first;
  if (isRecord(first) && typeof first._ === 'string') return first._;
  return '';
}

function xmlParams(node: unknown): Record<string, string> {
  const out = fieldMap<string>();
  const first = Array.isArray(node) ? node[0] : node;
  if (!isRecord(first)) return out;
  const stanzas = Array.isArray(first.stanza) ? first.stanza : [first];
  for (const stanza of stanzas) {
    if (!isRecord(stanza)) continue;
    for (const [key, value] of Object.entries(stanza)) {
      if (key === '$') continue;
      if (key === 'param' && Array.isArray(value)) {
        for (const p of value) {
          if (isRecord(p) && isRecord(p.$) && typeof p.$.name === 'string') out[p.$.name] = typeof p._ === 'string' ? p._ : '';
          else if (typeof p === 'string') continue;
        }
      } else {
        out[key] = xmlText(value);
      }
    }
  }
  return out;
}

function xmlResult(node: unknown): Record<string, string | string[]> {
  const out = fieldMap<string | string[]>();
  const first = Array.isArray(node) ? node[0] : node;
  if (!isRecord(first)) return out;
  for (const [key, value] of Object.entries(first)) {
    if (key === '$') continue;
    if (key === 'field' && Array.isArray(value)) {
      // <field k="name"><value><text>v</text></value>…</field>, as in splunkd's results XML.
      for (const f of value) {
        if (!isRecord(f) || !isRecord(f.$)) continue;
        const name = String(f.$.k ?? f.$.name ?? '');
        if (!name) continue;
        const values = Array.isArray(f.value) ? f.value.map((v: unknown) => (isRecord(v) ? xmlText(v.text) : xmlText(v))) : [xmlText(f)];
        out[name] = values.length === 1 ? values[0]! : values;
      }
    } else if (Array.isArray(value) && value.length > 1) {
      out[key] = value.map((v) => xmlText([v]));
    } else {
      out[key] = xmlText(value);
    }
  }
  return out;
}

/** A key naming splunkd's session key however it is spelled: session_key, sessionKey, SESSION-KEY, … */
function isSessionKeyName(name: string): boolean {
  return name.replace(/[-_\s]/g, '').toLowerCase() === 'sessionkey';
}

/** Blank every session key in a parsed JSON value; returns the keys' values (to scrub elsewhere too). */
function blankSessionKeys(node: unknown, found: Set<string>): void {
  if (Array.isArray(node)) {
    for (const item of node) blankSessionKeys(item, found);
    return;
  }
  if (!isRecord(node)) return;
  for (const key of Object.keys(node)) {
    const value = node[key];
    if (isSessionKeyName(key)) {
      if (typeof value === 'string' && value !== '') found.add(value);
      node[key] = '';
    } else {
      blankSessionKeys(value, found);
    }
  }
}

/** Replace every occurrence of the keys' values in the strings of a parsed value (a key echoed in another field). */
function scrubValues(node: unknown, secrets: ReadonlySet<string>): unknown {
  if (typeof node === 'string') {
    let out = node;
    for (const secret of secrets) if (secret.length >= 8 && out.includes(secret)) out = out.split(secret).join('');
    return out;
  }
  if (Array.isArray(node)) return node.map((x) => scrubValues(x, secrets));
  if (!isRecord(node)) return node;
  for (const key of Object.keys(node)) node[key] = scrubValues(node[key], secrets);
  return node;
}

/** One character of a JSON key, written plainly or as a \uXXXX escape (either case of hex digits). */
function jsonKeyChar(ch: string): string {
  const code = ch.charCodeAt(0).toString(16).padStart(4, '0');
  const hex = [...code].map((d) => (/[a-f]/.test(d) ? `[${d}${d.toUpperCase()}]` : d)).join('');
  const plain = /[a-z]/i.test(ch) ? `[${ch.toLowerCase()}${ch.toUpperCase()}]` : ch.replace(/[.*+?^${}()|[\]\\-]/g, '\\$&');
  return `(?:${plain}|\\\\u${hex})`;
}

/** `"session_key"` (and `sessionkey`, `session-key`) as JSON text may spell it, escapes included. */
const JSON_SESSION_KEY = new RegExp(
  `("${[...'session'].map(jsonKeyChar).join('')}(?:${jsonKeyChar('_')}|${jsonKeyChar('-')})?${[...'key'].map(jsonKeyChar).join('')}"\\s*:\\s*)(?:"(?:[^"\\\\]|\\\\.)*(?:"|$)|[^,}\\]\\s]+)`,
  'g',
);
/** An XML element named session_key (any prefix, attributes, case), up to its end tag or the end of the text. */
const XML_SESSION_KEY = /(<(?:[\w.-]+:)?session[_-]?key\b[^>]*>)[\s\S]*?(?:(<\/(?:[\w.-]+:)?session[_-]?key\s*>)|$)/gi;
/** `<param name="session_key">…</param>` and the like. */
const XML_NAMED_SESSION_KEY = /(<([\w.:-]+)\b[^>]*\bname\s*=\s*["']session[_-]?key["'][^>]*>)[\s\S]*?(?:(<\/\2\s*>)|$)/gi;

/**
 * The payload as text with splunkd's session key blanked, for keeping it on disk (a dead
 * letter): the key is a live credential until the session expires.
 *
 * The work is done on the parsed payload, not on its text, so no spelling slips through
 * (`"session\u005fkey"` is the same key to a JSON parser): JSON text is parsed, every
 * session key in it blanked (and its value removed wherever else it appears), and the
 * result written back as JSON. An XML payload that parsed (`parsed`) is kept as the JSON
 * form of what was read from it. Only text that does not parse at all falls back to text
 * rules, which also match unicode-escaped JSON keys and XML elements with attributes.
 */
export function redactPayloadSecrets(text: string, parsed?: AlertPayload): string {
  const trimmed = text.replace(/^\uFEFF/, '').trim();
  if (!trimmed.startsWith('<')) {
    let doc: unknown;
    try {
      doc = JSON.parse(trimmed);
    } catch {
      doc = undefined;
    }
    if (doc !== undefined) {
      const found = new Set<string>();
      blankSessionKeys(doc, found);
      return JSON.stringify(found.size > 0 ? scrubValues(doc, found) : doc);
    }
  } else if (parsed !== undefined) {
    const doc: Record<string, unknown> = {
      app: parsed.app,
      owner: parsed.owner,
      results_file: parsed.resultsFile,
      results_link: parsed.resultsLink,
      search_uri: parsed.searchUri,
      server_host: parsed.serverHost,
      server_uri: parsed.serverUri,
      session_key: '',
      sid: parsed.sid,
      search_name: parsed.searchName,
      configuration: { ...parsed.configuration },
      ...(parsed.result !== undefined ? { result: { ...parsed.result } } : {}),
      ...(parsed.resultId !== undefined ? { result_id: parsed.resultId } : {}),
    };
    const found = new Set<string>(parsed.sessionKey ? [parsed.sessionKey] : []);
    blankSessionKeys(doc, found);
    return JSON.stringify(scrubValues(doc, found));
  }
  return text
    .replace(JSON_SESSION_KEY, (_m, head: string) => `${head}""`)
    .replace(XML_SESSION_KEY, (_m, open: string, close: string | undefined) => `${open}${close ?? ''}`)
    .replace(XML_NAMED_SESSION_KEY, (_m, open: string, _name: string, close: string | undefined) => `${open}${close ?? ''}`);
}
