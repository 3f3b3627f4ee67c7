/**
 * The SPL eval expression language, as far as the app's props.conf EVAL- settings, macros and
 * saved searches use it: parse once, evaluate against an event or a result row, and list the
 * fields and functions an expression reads (for the search lint).
 *
 * Semantics follow the SPL reference (Splunk's SPL reference 10.2, eval functions): null propagates through
 * string and arithmetic operators, a comparison with null is false, multivalue comparisons are
 * true when any value matches, and a non-boolean where a boolean is needed is an error (Splunk
 * refuses such searches too).
 */
import ipaddr from 'ipaddr.js';
import { pcreReplacement, pcreToJs } from './pcre';

export type Scalar = string | number | boolean;
/** null, one value, or a multivalue (an array of two or more values). */
export type Value = null | Scalar | Scalar[];

export type Expr =
  | { readonly t: 'num'; readonly v: number }
  | { readonly t: 'str'; readonly v: string }
  | { readonly t: 'field'; readonly name: string }
  | { readonly t: 'call'; readonly name: string; readonly args: readonly Expr[] }
  | { readonly t: 'bin'; readonly op: string; readonly l: Expr; readonly r: Expr }
  | { readonly t: 'not'; readonly e: Expr }
  | { readonly t: 'neg'; readonly e: Expr };

export class EvalError extends Error {}

type Token =
  | { readonly k: 'num'; readonly v: number; readonly at: number }
  | { readonly k: 'str'; readonly v: string; readonly at: number }
  | { readonly k: 'field'; readonly v: string; readonly at: number }
  | { readonly k: 'id'; readonly v: string; readonly at: number }
  | { readonly k: 'op'; readonly v: string; readonly at: number };

const OPERATORS = ['==', '!=', '<=', '>=', '=', '<', '>', '+', '-', '*', '/', '%', '.', ',', '(', ')'];

export function tokenizeEval(text: string): Token[] {
  const out: Token[] = [];
  let i = 0;
  while (i < text.length) {
    const ch = text[i]!;
    if (/\s/.test(ch)) {
      i++;
      continue;
    }
    const at = i;
    if (/\d/.test(ch)) {
      const m = /^\d+(?:\.\d+)?(?:[eE][-+]?\d+)?/.exec(text.slice(i))!;
      out.push({ k: 'num', v: Number(m[0]), at });
      i += m[0].length;
      continue;
    }
    if (ch === '"') {
      // \" and \\ are escapes; any other backslash stays, so regexes like "\d" reach match() intact
      let v = '';
      i++;
      for (;;) {
        if (i >= text.length) throw new EvalError(`unterminated string at ${at}: ${text}`);
        const c = text[i]!;
        if (c === '\\' && (text[i + 1] === '"' || text[i + 1] === '\\')) {
          v += text[i + 1];
          i += 2;
          continue;
        }
        if (c === '"') break;
        v += c;
        i++;
      }
      i++;
      out.push({ k: 'str', v, at });
      continue;
    }
    if (ch === "'") {
      const end = text.indexOf("'", i + 1);
      if (end < 0) throw new EvalError(`unterminated field name at ${at}: ${text}`);
      out.push({ k: 'field', v: text.slice(i + 1, end), at });
      i = end + 1;
      continue;
    }
    const id = /^[A-Za-z_][A-Za-z0-9_]*/.exec(text.slice(i));
    if (id) {
      out.push({ k: 'id', v: id[0], at });
      i += id[0].length;
      continue;
    }
    const op = OPERATORS.find((o) => text.startsWith(o, i));
    if (op === undefined) throw new EvalError(`unexpected "${ch}" at ${at}: ${text}`);
    out.push({ k: 'op', v: op, at });
    i += op.length;
  }
  return out;
}

class Parser {
  private pos = 0;
  constructor(
    private readonly tokens: Token[],
    private readonly text: string,
  ) {}

  atEnd(): boolean {
    return this.pos >= this.tokens.length;
  }
  peek(): Token | undefined {
    return this.tokens[this.pos];
  }
  isOp(v: string): boolean {
    const t = this.peek();
    return t !== undefined && t.k === 'op' && t.v === v;
  }
  isKeyword(v: string): boolean {
    const t = this.peek();
    return t !== undefined && t.k === 'id' && t.v === v;
  }
  take(): Token {
    const t = this.tokens[this.pos++];
    if (t === undefined) throw new EvalError(`unexpected end of expression: ${this.text}`);
    return t;
  }
  expectOp(v: string): void {
    const t = this.take();
    if (t.k !== 'op' || t.v !== v) throw new EvalError(`expected "${v}" at ${t.at}: ${this.text}`);
  }

  expr(): Expr {
    return this.binary(['OR'], () => this.binary(['XOR'], () => this.binary(['AND'], () => this.not())));
  }
  private binary(ops: string[], next: () => Expr): Expr {
    let l = next();
    while (ops.some((o) => this.isKeyword(o))) {
      const op = String(this.take().v);
      l = { t: 'bin', op, l, r: next() };
    }
    return l;
  }
  private not(): Expr {
    if (this.isKeyword('NOT')) {
      this.take();
      return { t: 'not', e: this.not() };
    }
    return this.comparison();
  }
  private comparison(): Expr {
    const l = this.additive();
    for (const op of ['==', '=', '!=', '<=', '>=', '<', '>']) {
      if (this.isOp(op)) {
        this.take();
        return { t: 'bin', op: op === '=' ? '==' : op, l, r: this.additive() };
      }
    }
    if (this.isKeyword('LIKE')) {
      this.take();
      return { t: 'call', name: 'like', args: [l, this.additive()] };
    }
    return l;
  }
  private additive(): Expr {
    let l = this.multiplicative();
    while (this.isOp('+') || this.isOp('-') || this.isOp('.')) {
      const op = String(this.take().v);
      l = { t: 'bin', op, l, r: this.multiplicative() };
    }
    return l;
  }
  private multiplicative(): Expr {
    let l = this.unary();
    while (this.isOp('*') || this.isOp('/') || this.isOp('%')) {
      const op = String(this.take().v);
      l = { t: 'bin', op, l, r: this.unary() };
    }
    return l;
  }
  private unary(): Expr {
    if (this.isOp('-')) {
      this.take();
      return { t: 'neg', e: this.unary() };
    }
    return this.primary();
  }
  private primary(): Expr {
    const t = this.take();
    if (t.k === 'num') return { t: 'num', v: t.v };
    if (t.k === 'str') return { t: 'str', v: t.v };
    if (t.k === 'field') return { t: 'field', name: t.v };
    if (t.k === 'op' && t.v === '(') {
      const e = this.expr();
      this.expectOp(')');
      return e;
    }
    if (t.k === 'id') {
      if (['AND', 'OR', 'XOR', 'NOT', 'LIKE'].includes(t.v)) throw new EvalError(`unexpected ${t.v} at ${t.at}: ${this.text}`);
      if (this.isOp('(')) {
        this.take();
        const args: Expr[] = [];
        if (!this.isOp(')')) {
          args.push(this.expr());
          while (this.isOp(',')) {
            this.take();
            args.push(this.expr());
          }
        }
        this.expectOp(')');
        return { t: 'call', name: t.v, args };
      }
      return { t: 'field', name: t.v };
    }
    throw new EvalError(`unexpected "${t.v}" at ${t.at}: ${this.text}`);
  }
}

export function parseExpr(text: string): Expr {
  const p = new Parser(tokenizeEval(text), text);
  const e = p.expr();
  if (!p.atEnd()) throw new EvalError(`unexpected "${String(p.peek()!.v)}" at ${p.peek()!.at}: ${text}`);
  return e;
}

export interface Assignment {
  readonly field: string;
  readonly expr: Expr;
}

/** The argument of the eval command: `a=expr, b=expr, ...` (later ones see earlier results). */
export function parseAssignments(text: string): Assignment[] {
  const p = new Parser(tokenizeEval(text), text);
  const out: Assignment[] = [];
  for (;;) {
    const name = p.take();
    if (name.k !== 'id' && name.k !== 'field') throw new EvalError(`expected a field name at ${name.at}: ${text}`);
    p.expectOp('=');
    out.push({ field: name.v, expr: p.expr() });
    if (p.atEnd()) return out;
    p.expectOp(',');
  }
}

/** Fields an expression reads. */
export function fieldRefs(e: Expr, into: Set<string> = new Set()): Set<string> {
  switch (e.t) {
    case 'field':
      into.add(e.name);
      break;
    case 'call':
      e.args.forEach((a) => fieldRefs(a, into));
      break;
    case 'bin':
      fieldRefs(e.l, into);
      fieldRefs(e.r, into);
      break;
    case 'not':
    case 'neg':
      fieldRefs(e.e, into);
      break;
    default:
      break;
  }
  return into;
}

/** Functions an expression calls. */
export function functionNames(e: Expr, into: Set<string> = new Set()): Set<string> {
  if (e.t === 'call') {
    into.add(e.name);
    e.args.forEach((a) => functionNames(a, into));
  } else if (e.t === 'bin') {
    functionNames(e.l, into);
    functionNames(e.r, into);
  } else if (e.t === 'not' || e.t === 'neg') {
    functionNames(e.e, into);
  }
  return into;
}

export interface EvalContext {
  field(name: string): Value;
  /** now() of the search, epoch seconds */
  readonly now?: number;
}

const NUMERIC = /^\s*[-+]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][-+]?\d+)?\s*$/;

export function toNumber(v: Scalar | null): number | null {
  if (v === null || typeof v === 'boolean') return null;
  if (typeof v === 'number') return v;
  return NUMERIC.test(v) ? Number(v) : null;
}

export function toText(v: Scalar): string {
  return typeof v === 'string' ? v : String(v);
}

function values(v: Value): Scalar[] {
  return v === null ? [] : Array.isArray(v) ? v : [v];
}

function single(v: Value, what: string): Scalar | null {
  if (Array.isArray(v)) throw new EvalError(`${what} got a multivalue (${v.length} values)`);
  return v;
}

export function mv(list: Scalar[]): Value {
  return list.length === 0 ? null : list.length === 1 ? list[0]! : list;
}

function truth(v: Value, what: string): boolean {
  if (v === null) return false;
  if (typeof v === 'boolean') return v;
  throw new EvalError(`${what} needs a boolean, got ${JSON.stringify(v)}`);
}

function compare(op: string, a: Scalar, b: Scalar): boolean {
  const x = toNumber(a);
  const y = toNumber(b);
  if (x !== null && y !== null) {
    switch (op) {
      case '==':
        return x === y;
      case '!=':
        return x !== y;
      case '<':
        return x < y;
      case '>':
        return x > y;
      case '<=':
        return x <= y;
      default:
        return x >= y;
    }
  }
  const s = toText(a);
  const t = toText(b);
  switch (op) {
    case '==':
      return s === t;
    case '!=':
      return s !== t;
    case '<':
      return s < t;
    case '>':
      return s > t;
    case '<=':
      return s <= t;
    default:
      return s >= t;
  }
}

const regexCache = new Map<string, RegExp>();
function regex(pattern: string, global = false): RegExp {
  const key = `${global ? 'g' : '-'}${pattern}`;
  let re = regexCache.get(key);
  if (re === undefined) {
    const base = pcreToJs(pattern);
    re = new RegExp(base.source, base.flags + (global ? 'g' : ''));
    regexCache.set(key, re);
  }
  re.lastIndex = 0;
  return re;
}

function likeRegex(pattern: string): RegExp {
  let out = '^';
  for (const ch of pattern) out += ch === '%' ? '.*' : ch === '_' ? '.' : ch.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&');
  return new RegExp(`${out}$`, 's');
}

const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];
const pad = (n: number, w = 2) => String(n).padStart(w, '0');

/** strftime in UTC (the app's props.conf sets TZ = UTC; the tests run searches as a UTC user). */
export function strftimeUtc(epochSeconds: number, format: string): string {
  const d = new Date(epochSeconds * 1000);
  return format.replace(/%(:{0,3}z|[A-Za-z%])/g, (_, spec: string) => {
    switch (spec) {
      case 'Y':
        return String(d.getUTCFullYear());
      case 'y':
        return pad(d.getUTCFullYear() % 100);
      case 'm':
        return pad(d.getUTCMonth() + 1);
      case 'd':
        return pad(d.getUTCDate());
      case 'e':
        return String(d.getUTCDate()).padStart(2, ' ');
      case 'b':
        return MONTHS[d.getUTCMonth()]!;
      case 'H':
        return pad(d.getUTCHours());
      case 'M':
        return pad(d.getUTCMinutes());
      case 'S':
        return pad(d.getUTCSeconds());
      case 'F':
        return `${d.getUTCFullYear()}-${pad(d.getUTCMonth() + 1)}-${pad(d.getUTCDate())}`;
      case 'T':
        return `${pad(d.getUTCHours())}:${pad(d.getUTCMinutes())}:${pad(d.getUTCSeconds())}`;
      case 'z':
        return '+0000';
      case ':z':
        return '+00:00';
      case 'Z':
        return 'UTC';
      case 's':
        return String(Math.floor(epochSeconds));
      case '%':
        return '%';
      default:
        throw new EvalError(`strftime: %${spec} is not emulated`);
    }
  });
}

function ipv4ToInt(ip: string): number | null {
  const m = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/.exec(ip);
  if (!m) return null;
  const parts = m.slice(1).map(Number);
  if (parts.some((p) => p > 255)) return null;
  return ((parts[0]! << 24) | (parts[1]! << 16) | (parts[2]! << 8) | parts[3]!) >>> 0;
}

function intToIpv4(n: number): string {
  return [n >>> 24, (n >>> 16) & 255, (n >>> 8) & 255, n & 255].join('.');
}

export function cidrContains(cidr: string, ip: string): boolean {
  try {
    const [net, bits] = ipaddr.parseCIDR(cidr);
    const addr = ipaddr.parse(ip);
    return addr.kind() === net.kind() && addr.match(net, bits);
  } catch {
    return false;
  }
}

type Fn = (args: readonly Expr[], ctx: EvalContext) => Value;

function arity(name: string, args: readonly Expr[], min: number, max = min): void {
  if (args.length < min || args.length > max) throw new EvalError(`${name}() takes ${min === max ? min : `${min}-${max}`} arguments, got ${args.length}`);
}

const FUNCTIONS: Record<string, Fn> = {
  if(args, ctx) {
    arity('if', args, 3);
    return truth(evaluate(args[0]!, ctx), 'if()') ? evaluate(args[1]!, ctx) : evaluate(args[2]!, ctx);
  },
  case(args, ctx) {
    if (args.length % 2 !== 0 || args.length === 0) throw new EvalError('case() takes condition/value pairs');
    for (let i = 0; i < args.length; i += 2) if (truth(evaluate(args[i]!, ctx), 'case()')) return evaluate(args[i + 1]!, ctx);
    return null;
  },
  coalesce(args, ctx) {
    for (const a of args) {
      const v = evaluate(a, ctx);
      if (v !== null) return v;
    }
    return null;
  },
  isnull: (args, ctx) => (arity('isnull', args, 1), evaluate(args[0]!, ctx) === null),
  isnotnull: (args, ctx) => (arity('isnotnull', args, 1), evaluate(args[0]!, ctx) !== null),
  null: (args) => (arity('null', args, 0), null),
  true: (args) => (arity('true', args, 0), true),
  false: (args) => (arity('false', args, 0), false),
  now: (args, ctx) => {
    arity('now', args, 0);
    if (ctx.now === undefined) throw new EvalError('now() outside a search');
    return ctx.now;
  },
  match(args, ctx) {
    arity('match', args, 2);
    const re = single(evaluate(args[1]!, ctx), 'match() regex');
    if (re === null) throw new EvalError('match() needs a regex');
    const list = values(evaluate(args[0]!, ctx));
    if (list.length === 0) return null;
    return list.some((v) => regex(toText(re)).test(toText(v)));
  },
  like(args, ctx) {
    arity('like', args, 2);
    const pattern = single(evaluate(args[1]!, ctx), 'like() pattern');
    const v = single(evaluate(args[0]!, ctx), 'like()');
    if (v === null || pattern === null) return null;
    return likeRegex(toText(pattern)).test(toText(v));
  },
  in(args, ctx) {
    if (args.length < 2) throw new EvalError('in() takes a value and a list');
    const list = values(evaluate(args[0]!, ctx));
    if (list.length === 0) return null;
    const options = args.slice(1).flatMap((a) => values(evaluate(a, ctx)).map(toText));
    return list.some((v) => options.includes(toText(v)));
  },
  lower: (args, ctx) => mapText('lower', args, ctx, (s) => s.toLowerCase()),
  upper: (args, ctx) => mapText('upper', args, ctx, (s) => s.toUpperCase()),
  len(args, ctx) {
    arity('len', args, 1);
    const v = single(evaluate(args[0]!, ctx), 'len()');
    return v === null ? null : toText(v).length;
  },
  substr(args, ctx) {
    arity('substr', args, 2, 3);
    const v = single(evaluate(args[0]!, ctx), 'substr()');
    const start = toNumber(single(evaluate(args[1]!, ctx), 'substr() start'));
    const length = args.length === 3 ? toNumber(single(evaluate(args[2]!, ctx), 'substr() length')) : null;
    if (v === null || start === null) return null;
    const s = toText(v);
    const from = start > 0 ? start - 1 : Math.max(0, s.length + start);
    return length === null ? s.slice(from) : s.slice(from, from + Math.max(0, length));
  },
  replace(args, ctx) {
    arity('replace', args, 3);
    const re = single(evaluate(args[1]!, ctx), 'replace() regex');
    const rep = single(evaluate(args[2]!, ctx), 'replace() replacement');
    if (re === null || rep === null) throw new EvalError('replace() needs a regex and a replacement');
    return mapText('replace', args.slice(0, 1), ctx, (s) => s.replace(regex(toText(re), true), pcreReplacement(toText(rep))));
  },
  tonumber(args, ctx) {
    arity('tonumber', args, 1, 2);
    const v = single(evaluate(args[0]!, ctx), 'tonumber()');
    if (v === null) return null;
    if (args.length === 2) {
      const base = toNumber(single(evaluate(args[1]!, ctx), 'tonumber() base'));
      const s = toText(v).trim();
      if (base === null || !new RegExp(`^[${'0123456789abcdefghijklmnopqrstuvwxyz'.slice(0, base)}]+$`, 'i').test(s)) return null;
      return Number.parseInt(s, base);
    }
    return toNumber(v);
  },
  tostring(args, ctx) {
    arity('tostring', args, 1);
    const v = single(evaluate(args[0]!, ctx), 'tostring()');
    return v === null ? null : toText(v);
  },
  round(args, ctx) {
    arity('round', args, 1, 2);
    const x = toNumber(single(evaluate(args[0]!, ctx), 'round()'));
    const digits = args.length === 2 ? toNumber(single(evaluate(args[1]!, ctx), 'round() digits')) ?? 0 : 0;
    if (x === null) return null;
    const f = 10 ** digits;
    return Math.round(x * f) / f;
  },
  strftime(args, ctx) {
    arity('strftime', args, 2);
    const t = toNumber(single(evaluate(args[0]!, ctx), 'strftime() time'));
    const f = single(evaluate(args[1]!, ctx), 'strftime() format');
    if (t === null || f === null) return null;
    return strftimeUtc(t, toText(f));
  },
  ipmask(args, ctx) {
    arity('ipmask', args, 2);
    const mask = single(evaluate(args[0]!, ctx), 'ipmask() mask');
    const ip = single(evaluate(args[1]!, ctx), 'ipmask() ip');
    if (mask === null || ip === null) return null;
    const m = ipv4ToInt(toText(mask));
    const a = ipv4ToInt(toText(ip));
    if (m === null) throw new EvalError(`ipmask(): ${toText(mask)} is not an IPv4 mask`);
    return a === null ? null : intToIpv4((a & m) >>> 0);
  },
  cidrmatch(args, ctx) {
    arity('cidrmatch', args, 2);
    const cidr = single(evaluate(args[0]!, ctx), 'cidrmatch() cidr');
    const ip = single(evaluate(args[1]!, ctx), 'cidrmatch() ip');
    if (cidr === null || ip === null) return null;
    return cidrContains(toText(cidr), toText(ip));
  },
  split(args, ctx) {
    arity('split', args, 2);
    const v = single(evaluate(args[0]!, ctx), 'split()');
    const d = single(evaluate(args[1]!, ctx), 'split() delimiter');
    if (v === null || d === null) return null;
    return mv(toText(v).split(toText(d)));
  },
  mvcount(args, ctx) {
    arity('mvcount', args, 1);
    const list = values(evaluate(args[0]!, ctx));
    return list.length === 0 ? null : list.length;
  },
  mvindex(args, ctx) {
    arity('mvindex', args, 2, 3);
    const list = values(evaluate(args[0]!, ctx));
    const norm = (i: number) => (i < 0 ? list.length + i : i);
    const start = toNumber(single(evaluate(args[1]!, ctx), 'mvindex() start'));
    if (start === null) return null;
    const end = args.length === 3 ? toNumber(single(evaluate(args[2]!, ctx), 'mvindex() end')) : start;
    if (end === null) return null;
    return mv(list.slice(norm(start), norm(end) + 1));
  },
  mvappend: (args, ctx) => mv(args.flatMap((a) => values(evaluate(a, ctx)))),
  mvjoin(args, ctx) {
    arity('mvjoin', args, 2);
    const list = values(evaluate(args[0]!, ctx));
    const d = single(evaluate(args[1]!, ctx), 'mvjoin() delimiter');
    return list.length === 0 || d === null ? null : list.map(toText).join(toText(d));
  },
  mvdedup(args, ctx) {
    arity('mvdedup', args, 1);
    return mv([...new Set(values(evaluate(args[0]!, ctx)))]);
  },
  min: (args, ctx) => extreme(args, ctx, (a, b) => compare('<', a, b)),
  max: (args, ctx) => extreme(args, ctx, (a, b) => compare('>', a, b)),
};

function extreme(args: readonly Expr[], ctx: EvalContext, better: (a: Scalar, b: Scalar) => boolean): Value {
  let best: Scalar | null = null;
  for (const v of args.flatMap((a) => values(evaluate(a, ctx)))) if (best === null || better(v, best)) best = v;
  return best;
}

function mapText(name: string, args: readonly Expr[], ctx: EvalContext, f: (s: string) => string): Value {
  arity(name, args, 1);
  const v = evaluate(args[0]!, ctx);
  return v === null ? null : Array.isArray(v) ? v.map((x) => f(toText(x))) : f(toText(v));
}

export function evaluate(e: Expr, ctx: EvalContext): Value {
  switch (e.t) {
    case 'num':
      return e.v;
    case 'str':
      return e.v;
    case 'field':
      return ctx.field(e.name);
    case 'call': {
      const f = FUNCTIONS[e.name];
      if (f === undefined) throw new EvalError(`${e.name}() is not emulated`);
      return f(e.args, ctx);
    }
    case 'not': {
      const v = evaluate(e.e, ctx);
      return v === null ? null : !truth(v, 'NOT');
    }
    case 'neg': {
      const x = toNumber(single(evaluate(e.e, ctx), 'unary -'));
      return x === null ? null : -x;
    }
    case 'bin':
      return binary(e.op, e.l, e.r, ctx);
  }
}

function binary(op: string, le: Expr, re: Expr, ctx: EvalContext): Value {
  if (op === 'AND') {
    return truth(evaluate(le, ctx), 'AND') && truth(evaluate(re, ctx), 'AND');
  }
  if (op === 'OR') {
    return truth(evaluate(le, ctx), 'OR') || truth(evaluate(re, ctx), 'OR');
  }
  if (op === 'XOR') return truth(evaluate(le, ctx), 'XOR') !== truth(evaluate(re, ctx), 'XOR');
  const l = evaluate(le, ctx);
  const r = evaluate(re, ctx);
  if (['==', '!=', '<', '>', '<=', '>='].includes(op)) {
    if (l === null || r === null) return false;
    const ls = values(l);
    const rs = values(r);
    return ls.some((a) => rs.some((b) => compare(op, a, b)));
  }
  const a = single(l, `operator ${op}`);
  const b = single(r, `operator ${op}`);
  if (a === null || b === null) return null;
  if (op === '.') return toText(a) + toText(b);
  const x = toNumber(a);
  const y = toNumber(b);
  if (op === '+' && (x === null || y === null)) return typeof a === 'string' && typeof b === 'string' ? a + b : null;
  if (x === null || y === null) return null;
  switch (op) {
    case '+':
      return x + y;
    case '-':
      return x - y;
    case '*':
      return x * y;
    case '/':
      return y === 0 ? null : x / y;
    default:
      return y === 0 ? null : x % y;
  }
}
