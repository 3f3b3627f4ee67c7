/**
 * Splunk's search-time field pipeline for one sourcetype, built from the app's props.conf,
 * transforms.conf, eventtypes.conf and tags.conf: timestamp, EXTRACT-, REPORT- (transforms with
 * named groups, FORMAT name::$n or $1::$2, SOURCE_KEY, MV_ADD), FIELDALIAS- (AS / ASNEW),
 * EVAL- (all side by side), then event types and tags — in that order, as props.conf.spec
 * describes. Regexes run through pcreToJs, so the conf text itself is what is tested.
 */
import type { ConfStanza } from '../support/conf-file';
import { groupNames, pcreToJs } from './pcre';
import { evaluate, Expr, fieldRefs, parseExpr, Scalar, toText, Value } from './spl-eval';
import { matchSearch, parseSearch, SearchExpr } from './spl-search';
import type { Row } from './spl-pipeline';

export type Fields = Map<string, string[]>;

interface Extraction {
  readonly source: string;
  readonly apply: (fields: Fields, conflicts: Conflict[]) => void;
  /** fields this extraction can create */
  readonly creates: readonly string[];
}

export interface Conflict {
  readonly field: string;
  readonly kept: string;
  readonly dropped: string;
  readonly by: string;
}

export interface TimestampRule {
  readonly prefix: RegExp;
  readonly lookahead: number;
}

export interface SearchTimeConfig {
  readonly timestamp: TimestampRule;
  readonly extractions: readonly Extraction[];
  readonly aliases: readonly { readonly from: string; readonly to: string; readonly mode: 'AS' | 'ASNEW'; readonly source: string }[];
  readonly evals: readonly { readonly field: string; readonly expr: Expr; readonly source: string }[];
  readonly eventtypes: readonly { readonly name: string; readonly search: SearchExpr }[];
  readonly tags: readonly { readonly field: string; readonly value: string; readonly tags: readonly string[] }[];
}

export const DEFAULT_FIELDS = ['_raw', '_time', 'index', 'sourcetype', 'source', 'host', 'eventtype', 'tag', 'linecount', 'splunk_server', 'punct'];

function entries(stanza: ConfStanza | undefined): Map<string, string> {
  return new Map((stanza?.entries ?? []).map((e) => [e.key, e.value]));
}

/** Adds a value unless the field already has one (MV_ADD = false), noting a differing value. */
function setField(fields: Fields, name: string, value: string, mvAdd: boolean, by: string, conflicts: Conflict[], keepEmpty = false): void {
  if (value === '' && !keepEmpty) return;
  const have = fields.get(name);
  if (have === undefined || have.length === 0) {
    fields.set(name, [value]);
  } else if (mvAdd) {
    have.push(value);
  } else if (have[0] !== value) {
    conflicts.push({ field: name, kept: have[0]!, dropped: value, by });
  }
}

function cleanKey(key: string): string {
  return key.replace(/[^A-Za-z0-9]/g, '_').replace(/^[_0-9]+/, '');
}

function regexExtraction(source: string, re: RegExp, from: string, mvAdd: boolean): Extraction {
  const names = groupNames(re);
  return {
    source,
    creates: names,
    apply(fields, conflicts) {
      for (const text of fields.get(from) ?? []) {
        const m = re.exec(text);
        if (!m?.groups) continue;
        for (const n of names) {
          const v = m.groups[n];
          if (v !== undefined) setField(fields, n, v, mvAdd, source, conflicts);
        }
      }
    },
  };
}

/** A transforms.conf stanza as a search-time extraction. */
function transformExtraction(name: string, t: Map<string, string>): Extraction {
  const source = `transforms.conf [${name}]`;
  const regexText = t.get('REGEX');
  if (regexText === undefined) throw new Error(`${source} has no REGEX`);
  const re = pcreToJs(regexText);
  const from = t.get('SOURCE_KEY') ?? '_raw';
  if (from.startsWith('field:') || from.startsWith('fields:')) throw new Error(`${source}: SOURCE_KEY ${from} is not emulated`);
  const mvAdd = /^(1|true)$/i.test(t.get('MV_ADD') ?? 'false');
  const keepEmpty = /^(1|true)$/i.test(t.get('KEEP_EMPTY_VALS') ?? 'false');
  const clean = !/^(0|false)$/i.test(t.get('CLEAN_KEYS') ?? 'true');
  const format = t.get('FORMAT');
  if (format === undefined) return regexExtraction(source, re, from, mvAdd);
  const pairs = format.trim().split(/\s+/).map((p) => {
    const [k, v] = p.split('::');
    if (k === undefined || v === undefined) throw new Error(`${source}: FORMAT "${p}" is not name::value`);
    return { k, v };
  });
  const dynamic = pairs.some((p) => /^\$\d+$/.test(p.k));
  const group = (m: RegExpExecArray, ref: string): string | undefined => (/^\$\d+$/.test(ref) ? m[Number(ref.slice(1))] : ref);
  // $1::$2 names come from the data; the lint needs them up front: the literal alternatives of group 1
  const creates = dynamic ? firstGroupAlternatives(regexText) : pairs.map((p) => p.k);
  const global = new RegExp(re.source, re.flags.includes('g') ? re.flags : `${re.flags}g`);
  return {
    source,
    creates,
    apply(fields, conflicts) {
      for (const text of fields.get(from) ?? []) {
        if (dynamic) {
          global.lastIndex = 0;
          for (const m of text.matchAll(global)) {
            for (const p of pairs) {
              const k = group(m, p.k);
              const v = group(m, p.v);
              if (k !== undefined && v !== undefined) setField(fields, clean ? cleanKey(k) : k, v, mvAdd, source, conflicts, keepEmpty);
            }
          }
        } else {
          const m = re.exec(text);
          if (!m) continue;
          for (const p of pairs) {
            const v = group(m, p.v);
            if (v !== undefined) setField(fields, p.k, v, mvAdd, source, conflicts, keepEmpty);
          }
        }
      }
    },
  };
}

/** "(a|b|c)" of the first capturing group, as ["a", "b", "c"]; [] when it is not a list of names. */
function firstGroupAlternatives(regexText: string): string[] {
  for (let i = 0; i < regexText.length; i++) {
    const ch = regexText[i];
    if (ch === '\\') {
      i++;
      continue;
    }
    if (ch === '(' && regexText[i + 1] !== '?') {
      const end = regexText.indexOf(')', i);
      const body = regexText.slice(i + 1, end);
      return /^[A-Za-z0-9_|]+$/.test(body) ? body.split('|') : [];
    }
  }
  return [];
}

function classesOf(props: Map<string, string>, prefix: string): [string, string][] {
  // splunkd applies a kind of setting in the ASCII order of its class names
  return [...props].filter(([k]) => k.startsWith(prefix)).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
}

export function buildSearchTime(
  sourcetype: string,
  conf: { props: readonly ConfStanza[]; transforms: readonly ConfStanza[]; eventtypes: readonly ConfStanza[]; tags: readonly ConfStanza[] },
): SearchTimeConfig {
  const props = entries(conf.props.find((s) => s.name === sourcetype));
  if (props.size === 0) throw new Error(`props.conf has no [${sourcetype}]`);
  const transforms = new Map(conf.transforms.map((s) => [s.name, entries(s)]));
  const extractions: Extraction[] = [];
  for (const [key, value] of classesOf(props, 'EXTRACT-')) {
    const inField = /^(.*) in ([A-Za-z0-9_]+)$/s.exec(value);
    const re = pcreToJs(inField ? inField[1]! : value, { extract: true });
    extractions.push(regexExtraction(`props.conf ${key}`, re, inField ? inField[2]! : '_raw', false));
  }
  for (const [key, value] of classesOf(props, 'REPORT-')) {
    for (const name of value.split(',').map((s) => s.trim())) {
      const t = transforms.get(name);
      if (t === undefined) throw new Error(`props.conf ${key} names [${name}], which transforms.conf lacks`);
      extractions.push(transformExtraction(name, t));
    }
  }
  const aliases: { from: string; to: string; mode: 'AS' | 'ASNEW'; source: string }[] = [];
  for (const [key, value] of classesOf(props, 'FIELDALIAS-')) {
    const tokens = value.trim().split(/\s+/);
    if (tokens.length % 3 !== 0) throw new Error(`props.conf ${key}: expected "orig AS|ASNEW new" triples`);
    for (let i = 0; i < tokens.length; i += 3) {
      const mode = tokens[i + 1]!.toUpperCase();
      if (mode !== 'AS' && mode !== 'ASNEW') throw new Error(`props.conf ${key}: "${tokens[i + 1]}" is neither AS nor ASNEW`);
      aliases.push({ from: tokens[i]!, to: tokens[i + 2]!, mode, source: `props.conf ${key}` });
    }
  }
  const evals = classesOf(props, 'EVAL-').map(([key, value]) => ({ field: key.slice(5), expr: parseExpr(value), source: `props.conf ${key}` }));
  const prefixText = props.get('TIME_PREFIX') ?? '';
  const eventtypes = conf.eventtypes
    .filter((s) => entries(s).get('disabled') !== '1')
    .map((s) => {
      const search = entries(s).get('search');
      if (search === undefined) throw new Error(`eventtypes.conf [${s.name}] has no search`);
      if (/[|[]/.test(search)) throw new Error(`eventtypes.conf [${s.name}]: an event type cannot use a pipe or a subsearch`);
      const parsed = parseSearch(search);
      if (parsed.earliest !== null || parsed.latest !== null) throw new Error(`eventtypes.conf [${s.name}]: no time modifiers in an event type`);
      return { name: s.name, search: parsed.filter };
    });
  const tags = conf.tags.map((s) => {
    const eq = s.name.indexOf('=');
    if (eq <= 0) throw new Error(`tags.conf [${s.name}] is not [field=value]`);
    return {
      field: s.name.slice(0, eq),
      value: decodeURIComponent(s.name.slice(eq + 1)),
      tags: s.entries.filter((e) => e.value === 'enabled').map((e) => e.key),
    };
  });
  return {
    timestamp: { prefix: pcreToJs(prefixText === '' ? '^' : prefixText.startsWith('^') ? prefixText : `^(?:.*?)${prefixText}`), lookahead: Number(props.get('MAX_TIMESTAMP_LOOKAHEAD') ?? '128') },
    extractions,
    aliases,
    evals,
    eventtypes,
    tags,
  };
}

/** Every field the pipeline can create, with where it comes from (for the lint). */
export function knownFields(st: SearchTimeConfig): Map<string, string> {
  const out = new Map<string, string>(DEFAULT_FIELDS.map((f) => [f, 'default field']));
  for (const x of st.extractions) for (const f of x.creates) if (!out.has(f)) out.set(f, x.source);
  for (const a of st.aliases) if (!out.has(a.to)) out.set(a.to, a.source);
  for (const e of st.evals) if (!out.has(e.field)) out.set(e.field, e.source);
  return out;
}

/** Fields the EVAL- and FIELDALIAS- settings read that nothing creates (a typo there fails silently in Splunk). */
export function danglingReferences(st: SearchTimeConfig): string[] {
  const known = knownFields(st);
  const out: string[] = [];
  for (const e of st.evals) for (const f of fieldRefs(e.expr)) if (!known.has(f)) out.push(`${e.source} reads "${f}"`);
  for (const a of st.aliases) if (!known.has(a.from)) out.push(`${a.source} aliases "${a.from}"`);
  return out;
}

const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];
const ISO = /^(\d{4})-(\d\d)-(\d\d)[ T](\d\d):(\d\d):(\d\d)(?:[.,](\d+))?(Z|[+-]\d\d:?\d\d)?/;
const SYSLOG = /^([A-Z][a-z]{2}) ([ \d]\d) (\d\d):(\d\d):(\d\d)/;

export interface Stamp {
  readonly epochSeconds: number;
  /** characters after TIME_PREFIX the stamp occupies (must fit MAX_TIMESTAMP_LOOKAHEAD) */
  readonly length: number;
}

/**
 * The three stamp shapes of the app's formats, read after TIME_PREFIX in the zone of TZ (UTC)
 * unless the stamp names one. Syslog stamps have no year: `year` stands in for Splunk's
 * inference. This emulates what datetime.xml recognises for these shapes, nothing more.
 */
export function readStamp(raw: string, rule: TimestampRule, year: number): Stamp | null {
  const p = rule.prefix.exec(raw);
  if (!p || p.index !== 0) return null;
  const text = raw.slice(p[0].length);
  let m = ISO.exec(text);
  if (m) {
    const frac = m[7] === undefined ? 0 : Number(`0.${m[7]}`);
    let t = Date.UTC(Number(m[1]), Number(m[2]) - 1, Number(m[3]), Number(m[4]), Number(m[5]), Number(m[6])) / 1000 + frac;
    const zone = m[8];
    if (zone !== undefined && zone !== 'Z') {
      const z = /^([+-])(\d\d):?(\d\d)$/.exec(zone)!;
      t -= (z[1] === '-' ? -1 : 1) * (Number(z[2]) * 3600 + Number(z[3]) * 60);
    }
    return { epochSeconds: t, length: m[0].length };
  }
  m = SYSLOG.exec(text);
  if (m) {
    const month = MONTHS.indexOf(m[1]!);
    if (month < 0) return null;
    return { epochSeconds: Date.UTC(year, month, Number(m[2]!.trim()), Number(m[3]), Number(m[4]), Number(m[5])) / 1000, length: m[0].length };
  }
  return null;
}

export interface SearchTimeEvent {
  readonly fields: Fields;
  readonly conflicts: Conflict[];
  readonly stamp: Stamp | null;
}

export interface EventMeta {
  readonly index: string;
  readonly sourcetype: string;
  readonly source: string;
  readonly host: string;
  /** year for syslog stamps */
  readonly year: number;
}

export function toValue(list: readonly string[] | undefined): Value {
  return list === undefined || list.length === 0 ? null : list.length === 1 ? list[0]! : [...list];
}

function fromValue(v: Value): string[] {
  return v === null ? [] : Array.isArray(v) ? v.map(valueText) : [valueText(v)];
}

function valueText(v: Scalar): string {
  return typeof v === 'boolean' ? (v ? 'true' : 'false') : toText(v);
}

export function searchTimeEvent(st: SearchTimeConfig, raw: string, meta: EventMeta): SearchTimeEvent {
  const fields: Fields = new Map([
    ['_raw', [raw]],
    ['index', [meta.index]],
    ['sourcetype', [meta.sourcetype]],
    ['source', [meta.source]],
    ['host', [meta.host]],
  ]);
  const conflicts: Conflict[] = [];
  const stamp = readStamp(raw, st.timestamp, meta.year);
  if (stamp !== null) fields.set('_time', [String(stamp.epochSeconds)]);
  for (const x of st.extractions) x.apply(fields, conflicts);
  for (const a of st.aliases) {
    const from = fields.get(a.from);
    if (a.mode === 'AS') {
      if (from !== undefined && from.length > 0) fields.set(a.to, [...from]);
      else fields.delete(a.to);
    } else if (from !== undefined && from.length > 0 && !fields.has(a.to)) {
      fields.set(a.to, [...from]);
    }
  }
  // calculated fields see the fields as they were before any EVAL-
  const snapshot = new Map(fields);
  const ctx = { field: (name: string) => toValue(snapshot.get(name)) };
  const results = st.evals.map((e) => [e.field, evaluate(e.expr, ctx)] as const);
  for (const [field, v] of results) {
    if (v === null) fields.delete(field);
    else fields.set(field, fromValue(v));
  }
  const lookup = (f: string) => fields.get(f) ?? [];
  const types = st.eventtypes.filter((t) => matchSearch(t.search, lookup)).map((t) => t.name);
  if (types.length > 0) fields.set('eventtype', types);
  const tags = new Set<string>();
  for (const t of st.tags) if ((fields.get(t.field) ?? []).includes(t.value)) t.tags.forEach((x) => tags.add(x));
  if (tags.size > 0) fields.set('tag', [...tags].sort());
  return { fields, conflicts, stamp };
}

/** The event as a result row for the search emulator (_time as a number). */
export function eventRow(ev: SearchTimeEvent): Row {
  const row: Row = new Map();
  for (const [k, v] of ev.fields) row.set(k, toValue(v));
  if (ev.stamp !== null) row.set('_time', ev.stamp.epochSeconds);
  return row;
}
