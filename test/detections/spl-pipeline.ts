/**
 * A search pipeline (macros already expanded) parsed into commands, run over events, and
 * linted for field flow. Only the commands the app's detections use are emulated: search,
 * where, eval, stats, eventstats, sort, table, fields; lookup and inputlookup (the app's KV
 * store lookups) are parsed and linted against the lookups' fields_list, not run;
 * makeresults and sendalert (the app's maintenance search) are parsed, linted and run as far as
 * the emulator can (sendalert passes its rows through: the action is not run). Anything
 * else is a parse error, so a
 * detection that starts using a new command has to be emulated (and thought about) first.
 */
import ipaddr from 'ipaddr.js';
import { Assignment, evaluate, EvalError, Expr, fieldRefs, functionNames, mv, parseAssignments, parseExpr, Scalar, toNumber, toText, Value } from './spl-eval';
import { matchSearch, ParsedSearch, parseSearch, resolveTime, searchFields, SearchSyntaxError } from './spl-search';

export interface Aggregation {
  readonly fn: string;
  readonly field: string | null;
  readonly as: string;
}

export type Command =
  | { readonly cmd: 'search'; readonly search: ParsedSearch; readonly text: string }
  | { readonly cmd: 'where'; readonly expr: Expr; readonly text: string }
  | { readonly cmd: 'eval'; readonly assignments: readonly Assignment[]; readonly text: string }
  | { readonly cmd: 'stats' | 'eventstats'; readonly aggs: readonly Aggregation[]; readonly by: readonly string[]; readonly text: string }
  | { readonly cmd: 'sort'; readonly limit: number; readonly keys: readonly { field: string; desc: boolean }[]; readonly text: string }
  | { readonly cmd: 'table'; readonly fields: readonly string[]; readonly text: string }
  | { readonly cmd: 'fields'; readonly mode: '+' | '-'; readonly fields: readonly string[]; readonly text: string }
  | { readonly cmd: 'lookup'; readonly table: string; readonly inputs: readonly FieldPair[]; readonly outputs: readonly FieldPair[] | null; readonly text: string }
  | { readonly cmd: 'inputlookup'; readonly table: string; readonly text: string }
  | { readonly cmd: 'makeresults'; readonly count: number; readonly text: string }
  /** `sendalert <action> (param.<name>=<value>)*` (searchbnf.conf [sendalert-command]); results_link/results_path are not emulated. */
  | { readonly cmd: 'sendalert'; readonly action: string; readonly params: ReadonlyMap<string, string>; readonly text: string };

/** `lookupField [AS eventField]` of a lookup command. */
export interface FieldPair {
  readonly lookupField: string;
  readonly eventField: string;
}

/** Lookup name → its fields (transforms.conf fields_list). */
export type LookupFields = ReadonlyMap<string, readonly string[]>;

export class PipelineError extends Error {}

/** Splits a search on | outside quotes, parentheses and brackets. */
export function splitPipeline(search: string): string[] {
  const out: string[] = [];
  let cur = '';
  let depth = 0;
  let quote: string | null = null;
  for (let i = 0; i < search.length; i++) {
    const ch = search[i]!;
    if (quote !== null) {
      cur += ch;
      if (ch === '\\' && quote === '"') cur += search[++i] ?? '';
      else if (ch === quote) quote = null;
      continue;
    }
    if (ch === '"' || ch === "'") quote = ch;
    else if (ch === '(' || ch === '[') depth++;
    else if (ch === ')' || ch === ']') depth--;
    if (ch === '[' && depth === 1) throw new PipelineError(`subsearches are not emulated: ${search}`);
    if (ch === '|' && depth === 0) {
      out.push(cur.trim());
      cur = '';
      continue;
    }
    cur += ch;
  }
  if (quote !== null) throw new PipelineError(`unterminated quote: ${search}`);
  out.push(cur.trim());
  return out;
}

const STATS_FUNCTIONS = new Set(['count', 'c', 'sum', 'dc', 'distinct_count', 'values', 'list', 'min', 'max', 'first', 'last', 'avg', 'mean', 'earliest', 'latest']);

function fieldList(text: string): string[] {
  return text.split(/[\s,]+/).filter(Boolean);
}

function parseStats(cmd: 'stats' | 'eventstats', text: string): Command {
  const byAt = /\s+by\s+/i.exec(` ${text}`);
  const aggText = byAt ? ` ${text}`.slice(0, byAt.index).trim() : text.trim();
  const by = byAt ? fieldList(` ${text}`.slice(byAt.index + byAt[0].length)) : [];
  const aggs: Aggregation[] = [];
  const re = /\s*([A-Za-z_]+)(?:\(([^()]*)\))?(?:\s+as\s+([A-Za-z_][A-Za-z0-9_]*))?\s*(?:,|$|(?=\s))/iy;
  let pos = 0;
  while (pos < aggText.length) {
    re.lastIndex = pos;
    const m = re.exec(aggText);
    if (!m || m[0].length === 0) throw new PipelineError(`${cmd}: cannot read "${aggText.slice(pos)}"`);
    const fn = m[1]!.toLowerCase();
    if (!STATS_FUNCTIONS.has(fn)) throw new PipelineError(`${cmd}: ${fn}() is not emulated`);
    const field = m[2] === undefined || m[2].trim() === '' ? null : m[2].trim();
    if (field !== null && !/^[A-Za-z_][A-Za-z0-9_]*$/.test(field)) throw new PipelineError(`${cmd}: ${fn}(${field}) — only plain field names are emulated`);
    if (field === null && fn !== 'count' && fn !== 'c') throw new PipelineError(`${cmd}: ${fn} needs a field`);
    aggs.push({ fn, field, as: m[3] ?? (field === null ? fn : `${fn}(${field})`) });
    pos = re.lastIndex;
  }
  if (aggs.length === 0) throw new PipelineError(`${cmd} without an aggregation`);
  return { cmd, aggs, by, text };
}

function parseSort(text: string): Command {
  let limit = 10000;
  const tokens = fieldList(text);
  if (tokens.length > 0 && /^\d+$/.test(tokens[0]!)) limit = Number(tokens.shift()) || Number.POSITIVE_INFINITY;
  let sticky: boolean | null = null;
  const keys: { field: string; desc: boolean }[] = [];
  for (const t of tokens) {
    if (t === '-' || t === '+') {
      sticky = t === '-';
      continue;
    }
    const m = /^([-+]?)([A-Za-z_][A-Za-z0-9_]*)$/.exec(t);
    if (!m) throw new PipelineError(`sort: "${t}" is not emulated`);
    keys.push({ field: m[2]!, desc: m[1] === '-' ? true : m[1] === '+' ? false : (sticky ?? false) });
  }
  if (keys.length === 0) throw new PipelineError('sort without a field');
  return { cmd: 'sort', limit, keys, text };
}

const FIELD_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;

/** `a [AS b], c …` → pairs; AS is case-insensitive, commas optional. */
function fieldPairs(text: string, cmd: string): FieldPair[] {
  const tokens = fieldList(text);
  const pairs: FieldPair[] = [];
  for (let i = 0; i < tokens.length; i++) {
    const lookupField = tokens[i]!;
    let eventField = lookupField;
    if (tokens[i + 1]?.toLowerCase() === 'as') {
      eventField = tokens[i + 2] ?? '';
      i += 2;
    }
    if (!FIELD_NAME.test(lookupField) || !FIELD_NAME.test(eventField)) throw new PipelineError(`${cmd}: cannot read "${text}"`);
    pairs.push({ lookupField, eventField });
  }
  return pairs;
}

/** `lookup <table> <field> [AS <field>] … [OUTPUT|OUTPUTNEW <field> [AS <field>] …]` */
function parseLookup(args: string, segment: string): Command {
  const m = /^([A-Za-z_][A-Za-z0-9_]*)\s+([\s\S]*?)(?:\s+(?:OUTPUT|OUTPUTNEW)\s+([\s\S]*))?$/i.exec(args.trim());
  if (m === null) throw new PipelineError(`lookup: cannot read "${args}"`);
  const inputs = fieldPairs(m[2]!, 'lookup');
  if (inputs.length === 0) throw new PipelineError('lookup needs an input field');
  return { cmd: 'lookup', table: m[1]!, inputs, outputs: m[3] === undefined ? null : fieldPairs(m[3], 'lookup'), text: segment };
}

export function parseCommand(segment: string, first: boolean): Command {
  const m = /^([A-Za-z_]+)\b\s*([\s\S]*)$/.exec(segment);
  const name = m?.[1] ?? '';
  const args = m?.[2] ?? '';
  const wrap = <T>(f: () => T): T => {
    try {
      return f();
    } catch (e) {
      if (e instanceof EvalError || e instanceof SearchSyntaxError) throw new PipelineError(`${name}: ${e.message}`);
      throw e;
    }
  };
  if (first && name !== 'search') return wrap(() => ({ cmd: 'search', search: parseSearch(segment), text: segment }));
  switch (name) {
    case 'search':
      return wrap(() => ({ cmd: 'search', search: parseSearch(args), text: segment }));
    case 'where':
      return wrap(() => ({ cmd: 'where', expr: parseExpr(args), text: segment }));
    case 'eval':
      return wrap(() => ({ cmd: 'eval', assignments: parseAssignments(args), text: segment }));
    case 'stats':
    case 'eventstats':
      return { ...parseStats(name, args), text: segment };
    case 'sort':
      return { ...parseSort(args), text: segment };
    case 'table':
      return { cmd: 'table', fields: fieldList(args), text: segment };
    case 'fields': {
      const mode = args.trimStart().startsWith('-') ? '-' : '+';
      return { cmd: 'fields', mode, fields: fieldList(args.trim().replace(/^[-+]\s*/, '')), text: segment };
    }
    case 'lookup':
      return parseLookup(args, segment);
    case 'inputlookup': {
      const table = args.trim();
      if (!FIELD_NAME.test(table)) throw new PipelineError(`inputlookup: only "inputlookup <table>" is emulated: ${segment}`);
      return { cmd: 'inputlookup', table, text: segment };
    }
    case 'makeresults': {
      const count = /^\s*(?:count\s*=\s*(\d+))?\s*$/.exec(args);
      if (count === null) throw new PipelineError(`makeresults: only "makeresults [count=<n>]" is emulated: ${segment}`);
      return { cmd: 'makeresults', count: count[1] === undefined ? 1 : Number(count[1]), text: segment };
    }
    case 'sendalert':
      return parseSendalert(args, segment);
    default:
      throw new PipelineError(`command "${name}" is not emulated: ${segment}`);
  }
}

/** sendalert <alert_action_name> (param.<param-name>=<value>)*, values bare or double-quoted. */
function parseSendalert(args: string, segment: string): Command {
  const m = /^\s*([A-Za-z_][A-Za-z0-9_]*)([\s\S]*)$/.exec(args);
  if (m === null) throw new PipelineError(`sendalert needs an alert action name: ${segment}`);
  const params = new Map<string, string>();
  let rest = m[2]!;
  for (;;) {
    rest = rest.trimStart();
    if (rest === '') break;
    const p = /^param\.([A-Za-z_][A-Za-z0-9_]*)=(?:"((?:[^"\\]|\\.)*)"|([^\s"]+))/.exec(rest);
    if (p === null) throw new PipelineError(`sendalert: only param.<name>=<value> arguments are emulated, not "${rest.split(/\s/)[0]}": ${segment}`);
    if (params.has(p[1]!)) throw new PipelineError(`sendalert: param.${p[1]} given twice: ${segment}`);
    params.set(p[1]!, p[2] !== undefined ? p[2].replace(/\\(.)/g, '$1') : p[3]!);
    rest = rest.slice(p[0].length);
  }
  return { cmd: 'sendalert', action: m[1]!, params, text: segment };
}

export function parsePipeline(search: string): Command[] {
  // A search starting with "|" starts with a generating command (inputlookup, makeresults), not a base search.
  const generating = /^\s*\|/.test(search);
  const segments = splitPipeline(generating ? search.replace(/^\s*\|/, '') : search);
  const commands = segments.map((s, i) => parseCommand(s, i === 0 && !generating));
  if (generating && commands[0]?.cmd !== 'inputlookup' && commands[0]?.cmd !== 'makeresults') throw new PipelineError(`only inputlookup and makeresults are emulated as generating commands: ${search}`);
  return commands;
}

/** A result row: field name -> value (multivalues as arrays). */
export type Row = Map<string, Value>;

function rowValues(row: Row, field: string): Scalar[] {
  const v = row.get(field);
  return v === undefined || v === null ? [] : Array.isArray(v) ? v : [v];
}

function rowContext(row: Row, now: number) {
  return { now, field: (name: string): Value => row.get(name) ?? null };
}

function numericOrText(values: readonly Scalar[]): { numeric: boolean } {
  return { numeric: values.every((v) => toNumber(v) !== null) };
}

function ipKey(v: string): bigint | null {
  if (!ipaddr.isValid(v)) return null;
  const a = ipaddr.parse(v);
  const bytes = a.kind() === 'ipv4' ? [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, ...a.toByteArray()] : a.toByteArray();
  return bytes.reduce((acc, b) => (acc << 8n) | BigInt(b), 0n);
}

/** Splunk's sort collation: numbers numerically, addresses as addresses, else text. */
export function collate(a: Scalar | undefined, b: Scalar | undefined): number {
  if (a === undefined || b === undefined) return a === b ? 0 : a === undefined ? -1 : 1;
  const x = toNumber(a);
  const y = toNumber(b);
  if (x !== null && y !== null) return x - y;
  const s = toText(a);
  const t = toText(b);
  const ia = ipKey(s);
  const ib = ipKey(t);
  if (ia !== null && ib !== null) return ia < ib ? -1 : ia > ib ? 1 : 0;
  return s < t ? -1 : s > t ? 1 : 0;
}

function aggregate(agg: Aggregation, rows: readonly Row[]): Value {
  if (agg.field === null) return rows.length;
  const all = rows.flatMap((r) => rowValues(r, agg.field!));
  switch (agg.fn) {
    case 'count':
    case 'c':
      return all.length;
    case 'sum': {
      const nums = all.map(toNumber).filter((n): n is number => n !== null);
      return nums.length === 0 ? null : nums.reduce((s, n) => s + n, 0);
    }
    case 'avg':
    case 'mean': {
      const nums = all.map(toNumber).filter((n): n is number => n !== null);
      return nums.length === 0 ? null : nums.reduce((s, n) => s + n, 0) / nums.length;
    }
    case 'dc':
    case 'distinct_count':
      return new Set(all.map(toText)).size;
    case 'values':
      return mv([...new Set(all.map(toText))].sort());
    case 'list':
      return mv(all.slice(0, 100));
    case 'min':
    case 'max': {
      if (all.length === 0) return null;
      const { numeric } = numericOrText(all);
      const sorted = [...all].sort((a, b) => (numeric ? toNumber(a)! - toNumber(b)! : toText(a) < toText(b) ? -1 : toText(a) > toText(b) ? 1 : 0));
      const pick = agg.fn === 'min' ? sorted[0]! : sorted[sorted.length - 1]!;
      return numeric ? toNumber(pick) : pick;
    }
    case 'first':
    case 'last': {
      const withValue = rows.filter((r) => rowValues(r, agg.field!).length > 0);
      const r = agg.fn === 'first' ? withValue[0] : withValue[withValue.length - 1];
      return r === undefined ? null : (r.get(agg.field) ?? null);
    }
    case 'earliest':
    case 'latest': {
      const withValue = rows.filter((r) => rowValues(r, agg.field!).length > 0 && typeof r.get('_time') === 'number');
      if (withValue.length === 0) return null;
      withValue.sort((p, q) => (p.get('_time') as number) - (q.get('_time') as number));
      return (agg.fn === 'earliest' ? withValue[0] : withValue[withValue.length - 1])!.get(agg.field) ?? null;
    }
    default:
      throw new PipelineError(`${agg.fn} is not emulated`);
  }
}

/** Groups rows by the by-fields (a row lacking one is left out; a multivalue splits the row). */
function groups(rows: readonly Row[], by: readonly string[]): { key: Scalar[]; rows: Row[] }[] {
  const map = new Map<string, { key: Scalar[]; rows: Row[] }>();
  for (const row of rows) {
    let combos: Scalar[][] = [[]];
    for (const f of by) {
      const vs = rowValues(row, f);
      combos = combos.flatMap((c) => vs.map((v) => [...c, v]));
    }
    for (const key of combos) {
      const k = JSON.stringify(key.map(toText));
      let g = map.get(k);
      if (g === undefined) map.set(k, (g = { key, rows: [] }));
      g.rows.push(row);
    }
  }
  return [...map.values()].sort((a, b) => {
    for (let i = 0; i < by.length; i++) {
      const c = collate(a.key[i], b.key[i]);
      if (c !== 0) return c;
    }
    return 0;
  });
}

export interface RunOptions {
  /** epoch seconds the search runs at (now(), latest=now) */
  readonly now: number;
}

export function runPipeline(commands: readonly Command[], events: readonly Row[], options: RunOptions): Row[] {
  let rows: Row[] = [...events];
  const { now } = options;
  commands.forEach((c, i) => {
    switch (c.cmd) {
      case 'search': {
        const lookup = (row: Row) => (f: string) => rowValues(row, f).map(toText);
        let earliest = Number.NEGATIVE_INFINITY;
        let latest = Number.POSITIVE_INFINITY;
        if (i === 0) {
          if (c.search.earliest !== null) earliest = resolveTime(c.search.earliest, now);
          if (c.search.latest !== null) latest = resolveTime(c.search.latest, now);
        } else if (c.search.earliest !== null || c.search.latest !== null) {
          throw new PipelineError('time modifiers after the first command are not emulated');
        }
        rows = rows.filter((r) => {
          const t = r.get('_time');
          if (i === 0 && (typeof t !== 'number' || t < earliest || t >= latest)) return false;
          return matchSearch(c.search.filter, lookup(r));
        });
        break;
      }
      case 'where':
        rows = rows.filter((r) => {
          const v = evaluate(c.expr, rowContext(r, now));
          if (v !== null && typeof v !== 'boolean') throw new PipelineError(`where: ${c.text} is not a condition`);
          return v === true;
        });
        break;
      case 'eval':
        rows = rows.map((r) => {
          const out = new Map(r);
          for (const a of c.assignments) {
            const v = evaluate(a.expr, rowContext(out, now));
            if (v === null) out.delete(a.field);
            else out.set(a.field, v);
          }
          return out;
        });
        break;
      case 'stats':
        rows = groups(rows, c.by).map((g) => {
          const out: Row = new Map();
          c.by.forEach((f, k) => out.set(f, g.key[k]!));
          for (const a of c.aggs) {
            const v = aggregate(a, g.rows);
            if (v !== null) out.set(a.as, v);
          }
          return out;
        });
        break;
      case 'eventstats': {
        const results = new Map<Row, Row>();
        for (const g of groups(rows, c.by)) {
          const values = c.aggs.map((a) => [a.as, aggregate(a, g.rows)] as const);
          for (const r of g.rows) {
            const out = new Map(r);
            for (const [k, v] of values) if (v !== null) out.set(k, v);
            results.set(r, out);
          }
        }
        rows = rows.map((r) => results.get(r) ?? r);
        break;
      }
      case 'sort':
        rows = [...rows]
          .sort((a, b) => {
            for (const k of c.keys) {
              const d = collate(rowValues(a, k.field)[0], rowValues(b, k.field)[0]);
              if (d !== 0) return k.desc ? -d : d;
            }
            return 0;
          })
          .slice(0, c.limit);
        break;
      case 'table':
        rows = rows.map((r) => new Map(c.fields.filter((f) => r.has(f)).map((f) => [f, r.get(f)!])));
        break;
      case 'lookup':
      case 'inputlookup':
        throw new PipelineError(`${c.cmd} is linted, not run: the emulator has no KV store`);
      case 'makeresults':
        rows = Array.from({ length: c.count }, () => new Map<string, Value>([['_time', now]]));
        break;
      case 'sendalert':
        // The action runs outside the search; its rows go on unchanged.
        break;
      case 'fields':
        rows = rows.map((r) =>
          c.mode === '-' ? new Map([...r].filter(([k]) => !c.fields.includes(k))) : new Map([...r].filter(([k]) => c.fields.includes(k) || k.startsWith('_'))),
        );
        break;
    }
  });
  return rows;
}

export interface LintResult {
  readonly problems: string[];
  /** the fields of the final table / fields command, null when the search ends otherwise */
  readonly output: string[] | null;
  readonly commands: string[];
  readonly evalFunctions: string[];
  readonly statsFunctions: string[];
}

/**
 * Field flow: every field a command reads must be extracted (available at the start) or made
 * by an earlier command; stats replaces the field set with its by-fields and outputs.
 */
export function lintPipeline(commands: readonly Command[], available: ReadonlySet<string>, lookups: LookupFields = new Map()): LintResult {
  const problems: string[] = [];
  let have = new Set(available);
  let output: string[] | null = null;
  const evalFunctions = new Set<string>();
  const statsFunctions = new Set<string>();
  const need = (fields: Iterable<string>, where: string) => {
    for (const f of fields) if (!have.has(f)) problems.push(`${where}: field "${f}" is neither extracted nor made by an earlier command`);
  };
  for (const c of commands) {
    output = null;
    switch (c.cmd) {
      case 'search':
        need(searchFields(c.search.filter), c.text);
        break;
      case 'where':
        need(fieldRefs(c.expr), c.text);
        functionNames(c.expr, evalFunctions);
        break;
      case 'eval':
        for (const a of c.assignments) {
          need(fieldRefs(a.expr), c.text);
          functionNames(a.expr, evalFunctions);
          have.add(a.field);
        }
        break;
      case 'stats':
      case 'eventstats': {
        need([...c.aggs.flatMap((a) => (a.field === null ? [] : [a.field])), ...c.by], c.text);
        c.aggs.forEach((a) => statsFunctions.add(a.fn));
        const made = [...c.by, ...c.aggs.map((a) => a.as)];
        have = c.cmd === 'stats' ? new Set(made) : new Set([...have, ...made]);
        break;
      }
      case 'sort':
        need(c.keys.map((k) => k.field), c.text);
        break;
      case 'table':
        need(c.fields, c.text);
        have = new Set(c.fields);
        output = [...c.fields];
        break;
      case 'inputlookup': {
        const fields = lookups.get(c.table);
        if (fields === undefined) problems.push(`${c.text}: no lookup "${c.table}" is defined`);
        if (c !== commands[0]) problems.push(`${c.text}: inputlookup must be the first command (| inputlookup …)`);
        have = new Set(fields ?? []);
        break;
      }
      case 'lookup': {
        const fields = lookups.get(c.table);
        if (fields === undefined) {
          problems.push(`${c.text}: no lookup "${c.table}" is defined`);
          break;
        }
        for (const p of [...c.inputs, ...(c.outputs ?? [])]) {
          if (!fields.includes(p.lookupField)) problems.push(`${c.text}: lookup ${c.table} has no field "${p.lookupField}" (fields_list: ${fields.join(', ')})`);
        }
        need(c.inputs.map((p) => p.eventField), c.text);
        const inputFields = new Set(c.inputs.map((p) => p.lookupField));
        // Without OUTPUT, every lookup field but the inputs (and _key) is added.
        const outputs = c.outputs ?? fields.filter((f) => !inputFields.has(f) && f !== '_key').map((f) => ({ lookupField: f, eventField: f }));
        for (const p of outputs) have.add(p.eventField);
        break;
      }
      case 'makeresults':
        if (c !== commands[0]) problems.push(`${c.text}: makeresults must be the first command (| makeresults …)`);
        have = new Set(['_time']);
        break;
      case 'sendalert':
        break;
      case 'fields':
        if (c.mode === '-') {
          c.fields.forEach((f) => have.delete(f));
        } else {
          need(c.fields, c.text);
          have = new Set(c.fields);
          output = [...c.fields];
        }
        break;
    }
  }
  return { problems, output, commands: commands.map((c) => c.cmd), evalFunctions: [...evalFunctions], statsFunctions: [...statsFunctions] };
}
