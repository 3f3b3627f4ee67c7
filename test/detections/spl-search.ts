/**
 * The search-term language of the search command and of eventtypes.conf: field=value terms
 * (case-insensitive, * wildcards, CIDR values for addresses), field!=value, field IN (…), bare
 * words against _raw, AND (implicit) / OR / NOT and parentheses. earliest= / latest= are time
 * modifiers, returned apart from the filter.
 *
 * Precedence is the search command's, not eval's: NOT, then OR, then AND ("Boolean expressions"
 * in Splunk's Search Reference), so `a b OR c` is `a AND (b OR c)`. A macro that ORs whole base
 * searches therefore needs its own parentheses, as soar_auth_events has.
 */
import { cidrContains } from './spl-eval';

export type SearchExpr =
  | { readonly t: 'term'; readonly field: string; readonly op: '=' | '!=' | '<' | '>' | '<=' | '>='; readonly value: string }
  | { readonly t: 'in'; readonly field: string; readonly values: readonly string[] }
  | { readonly t: 'word'; readonly value: string }
  | { readonly t: 'and' | 'or'; readonly items: readonly SearchExpr[] }
  | { readonly t: 'not'; readonly e: SearchExpr }
  | { readonly t: 'all' };

export interface ParsedSearch {
  readonly filter: SearchExpr;
  /** earliest= / latest= as written (relative time specifiers) */
  readonly earliest: string | null;
  readonly latest: string | null;
}

export class SearchSyntaxError extends Error {}

/** Splits on whitespace and parentheses, keeping "quoted parts" (with \" escapes) inside a token. */
function tokenize(text: string): string[] {
  const out: string[] = [];
  let cur = '';
  let quoted = false;
  for (let i = 0; i < text.length; i++) {
    const ch = text[i]!;
    if (quoted) {
      cur += ch;
      if (ch === '\\' && i + 1 < text.length) cur += text[++i];
      else if (ch === '"') quoted = false;
      continue;
    }
    if (ch === '"') {
      quoted = true;
      cur += ch;
    } else if (/\s/.test(ch) || ch === '(' || ch === ')' || ch === ',') {
      if (cur !== '') out.push(cur);
      cur = '';
      if (ch === '(' || ch === ')' || ch === ',') out.push(ch);
    } else {
      cur += ch;
    }
  }
  if (quoted) throw new SearchSyntaxError(`unterminated quote in: ${text}`);
  if (cur !== '') out.push(cur);
  return out;
}

function unquote(v: string): string {
  return v.length >= 2 && v.startsWith('"') && v.endsWith('"') ? v.slice(1, -1).replace(/\\(["\\])/g, '$1') : v;
}

const TERM = /^([A-Za-z_][\w.:]*)(!=|<=|>=|=|<|>)(.*)$/s;

export function parseSearch(text: string): ParsedSearch {
  const tokens = tokenize(text);
  let pos = 0;
  let earliest: string | null = null;
  let latest: string | null = null;
  const peek = () => tokens[pos];
  // AND (written or implicit) joins OR-groups; OR joins single terms
  const and = (): SearchExpr => {
    const items: SearchExpr[] = [];
    for (;;) {
      const tok = peek();
      if (tok === undefined || tok === ')') break;
      if (tok === 'AND') {
        pos++;
        continue;
      }
      if (tok === 'OR') throw new SearchSyntaxError(`OR without a term before it in: ${text}`);
      const item = or();
      if (item !== null) items.push(item);
    }
    if (items.length === 0) return { t: 'all' };
    return items.length === 1 ? items[0]! : { t: 'and', items };
  };
  const operand = (): SearchExpr => {
    const tok = peek();
    if (tok === undefined || tok === ')' || tok === 'AND' || tok === 'OR') throw new SearchSyntaxError(`OR without a term after it in: ${text}`);
    const item = unary();
    if (item === null) throw new SearchSyntaxError(`a time modifier cannot be an OR operand in: ${text}`);
    return item;
  };
  const or = (): SearchExpr | null => {
    const first = unary();
    if (peek() !== 'OR') return first;
    if (first === null) throw new SearchSyntaxError(`a time modifier cannot be an OR operand in: ${text}`);
    const items = [first];
    while (peek() === 'OR') {
      pos++;
      items.push(operand());
    }
    return { t: 'or', items };
  };
  const unary = (): SearchExpr | null => {
    const tok = tokens[pos++]!;
    if (tok === 'NOT') {
      const inner = unary();
      if (inner === null) throw new SearchSyntaxError(`NOT without a term in: ${text}`);
      return { t: 'not', e: inner };
    }
    if (tok === '(') {
      const inner = and();
      if (tokens[pos++] !== ')') throw new SearchSyntaxError(`missing ) in: ${text}`);
      return inner;
    }
    if (tok === ',' || tok === ')') throw new SearchSyntaxError(`unexpected "${tok}" in: ${text}`);
    if (peek() === 'IN' && /^[A-Za-z_][\w.:]*$/.test(tok)) {
      pos++;
      if (tokens[pos++] !== '(') throw new SearchSyntaxError(`IN needs a (list) in: ${text}`);
      const values: string[] = [];
      while (peek() !== ')') {
        const v = tokens[pos++];
        if (v === undefined) throw new SearchSyntaxError(`missing ) after IN in: ${text}`);
        if (v !== ',') values.push(unquote(v));
      }
      pos++;
      return { t: 'in', field: tok, values };
    }
    const m = TERM.exec(tok);
    if (m) {
      const field = m[1]!;
      const value = unquote(m[3]!);
      if (field === 'earliest' || field === 'latest') {
        if (m[2] !== '=') throw new SearchSyntaxError(`${field} takes =, in: ${text}`);
        if (field === 'earliest') earliest = value;
        else latest = value;
        return null;
      }
      return { t: 'term', field, op: m[2] as '=', value };
    }
    return { t: 'word', value: unquote(tok) };
  };
  const filter = and();
  if (pos !== tokens.length) throw new SearchSyntaxError(`unexpected "${tokens[pos]}" in: ${text}`);
  return { filter, earliest, latest };
}

/** Fields a search expression tests (bare words excluded). */
export function searchFields(e: SearchExpr, into: Set<string> = new Set()): Set<string> {
  switch (e.t) {
    case 'term':
    case 'in':
      into.add(e.field);
      break;
    case 'and':
    case 'or':
      e.items.forEach((i) => searchFields(i, into));
      break;
    case 'not':
      searchFields(e.e, into);
      break;
    default:
      break;
  }
  return into;
}

export function searchWords(e: SearchExpr, into: string[] = []): string[] {
  if (e.t === 'word') into.push(e.value);
  else if (e.t === 'and' || e.t === 'or') e.items.forEach((i) => searchWords(i, into));
  else if (e.t === 'not') searchWords(e.e, into);
  return into;
}

const wildcardCache = new Map<string, RegExp>();
function wildcard(value: string): RegExp {
  let re = wildcardCache.get(value);
  if (re === undefined) {
    re = new RegExp(`^${value.split('*').map((p) => p.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')).join('.*')}$`, 'is');
    wildcardCache.set(value, re);
  }
  return re;
}

const CIDR = /^(?:\d{1,3}(?:\.\d{1,3}){3}|[0-9A-Fa-f:]*:[0-9A-Fa-f:.]*)\/\d{1,3}$/;

function valueMatches(actual: string, wanted: string): boolean {
  if (CIDR.test(wanted)) return cidrContains(wanted, actual);
  return wildcard(wanted).test(actual);
}

/** An event or result row as the search command sees it: every field as its list of values. */
export type FieldLookup = (field: string) => readonly string[];

export function matchSearch(e: SearchExpr, get: FieldLookup): boolean {
  switch (e.t) {
    case 'all':
      return true;
    case 'and':
      return e.items.every((i) => matchSearch(i, get));
    case 'or':
      return e.items.some((i) => matchSearch(i, get));
    case 'not':
      return !matchSearch(e.e, get);
    case 'in': {
      const vs = get(e.field);
      return vs.some((v) => e.values.some((w) => valueMatches(v, w)));
    }
    case 'word': {
      const raw = get('_raw')[0] ?? '';
      return wildcard(`*${e.value}*`).test(raw);
    }
    case 'term': {
      const vs = get(e.field);
      if (e.op === '=') return vs.some((v) => valueMatches(v, e.value));
      if (e.op === '!=') return vs.length > 0 && !vs.some((v) => valueMatches(v, e.value));
      const w = Number(e.value);
      return vs.some((v) => {
        const x = Number(v);
        if (Number.isNaN(x) || Number.isNaN(w)) return false;
        return e.op === '<' ? x < w : e.op === '>' ? x > w : e.op === '<=' ? x <= w : x >= w;
      });
    }
  }
}

const UNIT_SECONDS: Record<string, number> = { s: 1, sec: 1, secs: 1, m: 60, min: 60, mins: 60, h: 3600, hr: 3600, hrs: 3600, d: 86400, day: 86400, days: 86400, w: 604800 };

function snap(t: number, unit: string): number {
  const s = UNIT_SECONDS[unit];
  if (s === undefined || s > 86400) throw new SearchSyntaxError(`snap to @${unit} is not emulated`);
  return Math.floor(t / s) * s;
}

/** A relative time specifier (now, -15m, -1h@h, @d) as epoch seconds, relative to `now`. */
export function resolveTime(spec: string, now: number): number {
  if (spec === 'now') return now;
  const m = /^(?:([-+])(\d+)([a-z]+))?(?:@([a-z]+))?$/.exec(spec);
  if (!m || (m[1] === undefined && m[4] === undefined)) throw new SearchSyntaxError(`time specifier ${spec} is not emulated`);
  let t = now;
  if (m[1] !== undefined) {
    const unit = UNIT_SECONDS[m[3]!];
    if (unit === undefined) throw new SearchSyntaxError(`time unit ${m[3]} is not emulated`);
    t += (m[1] === '-' ? -1 : 1) * Number(m[2]) * unit;
  }
  return m[4] !== undefined ? snap(t, m[4]) : t;
}
