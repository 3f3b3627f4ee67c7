/**
 * Search macro expansion as splunkd does it: `name` uses stanza [name], `name(a,b)` uses
 * [name(2)] with $arg$ replaced by the arguments in the order of its args setting, recursively.
 * Every problem (unknown macro, wrong argument count, args not matching the stanza, an
 * undeclared $arg$, a cycle) is reported instead of thrown, so the lint can list them all.
 */
import type { ConfStanza } from '../support/conf-file';

export interface MacroDef {
  readonly name: string;
  readonly arity: number;
  readonly args: readonly string[];
  readonly definition: string;
  readonly iseval: boolean;
  readonly validation?: string;
}

export interface MacroProblem {
  readonly macro: string;
  readonly message: string;
}

export function macroDefs(stanzas: readonly ConfStanza[]): { defs: Map<string, MacroDef>; problems: MacroProblem[] } {
  const defs = new Map<string, MacroDef>();
  const problems: MacroProblem[] = [];
  for (const s of stanzas) {
    const m = /^([A-Za-z0-9_-]+)(?:\((\d+)\))?$/.exec(s.name);
    if (!m) {
      problems.push({ macro: s.name, message: `[${s.name}] is not a macro stanza name (name or name(N))` });
      continue;
    }
    const get = (k: string) => s.entries.find((e) => e.key === k)?.value;
    const arity = m[2] === undefined ? 0 : Number(m[2]);
    const args = (get('args') ?? '').split(',').map((a) => a.trim()).filter(Boolean);
    const definition = get('definition');
    if (definition === undefined) problems.push({ macro: s.name, message: 'has no definition' });
    if (args.length !== arity) problems.push({ macro: s.name, message: `declares ${args.length} args (${args.join(', ')}) but its name says ${arity}` });
    if (new Set(args).size !== args.length) problems.push({ macro: s.name, message: 'repeats an argument name' });
    for (const a of args) if (!/^[A-Za-z0-9_-]+$/.test(a)) problems.push({ macro: s.name, message: `argument name "${a}" may only hold letters, digits, _ and -` });
    for (const used of (definition ?? '').matchAll(/\$([A-Za-z0-9_-]+)\$/g)) {
      if (!args.includes(used[1]!)) problems.push({ macro: s.name, message: `uses $${used[1]}$, which is not one of its args` });
    }
    for (const a of args) if (!(definition ?? '').includes(`$${a}$`)) problems.push({ macro: s.name, message: `never uses its argument ${a}` });
    defs.set(`${m[1]}/${arity}`, { name: m[1]!, arity, args, definition: definition ?? '', iseval: get('iseval') === 'true', validation: get('validation') });
  }
  return { defs, problems };
}

/** Splits macro arguments on commas outside quotes and parentheses. */
export function splitMacroArgs(text: string): string[] {
  const out: string[] = [];
  let cur = '';
  let depth = 0;
  let quoted = false;
  for (let i = 0; i < text.length; i++) {
    const ch = text[i]!;
    if (quoted) {
      cur += ch;
      if (ch === '\\') cur += text[++i] ?? '';
      else if (ch === '"') quoted = false;
    } else if (ch === '"') {
      quoted = true;
      cur += ch;
    } else if (ch === '(') {
      depth++;
      cur += ch;
    } else if (ch === ')') {
      depth--;
      cur += ch;
    } else if (ch === ',' && depth === 0) {
      out.push(cur);
      cur = '';
    } else {
      cur += ch;
    }
  }
  out.push(cur);
  return out;
}

export interface Expansion {
  readonly text: string;
  readonly problems: MacroProblem[];
  /** every macro call met, as name/arity, in order */
  readonly used: string[];
  /** each call's arguments, for validation */
  readonly calls: { readonly key: string; readonly args: readonly string[] }[];
}

export function expandMacros(search: string, defs: ReadonlyMap<string, MacroDef>): Expansion {
  const problems: MacroProblem[] = [];
  const used: string[] = [];
  const calls: { key: string; args: string[] }[] = [];
  const expand = (text: string, stack: string[]): string =>
    text.replace(/`([^`]*)`/g, (whole, inner: string) => {
      const m = /^\s*([A-Za-z0-9_-]+)\s*(?:\(([\s\S]*)\))?\s*$/.exec(inner);
      if (!m) {
        problems.push({ macro: inner, message: `\`${inner}\` is not a macro call` });
        return whole;
      }
      const args = m[2] === undefined ? [] : splitMacroArgs(m[2]);
      const key = `${m[1]}/${args.length}`;
      used.push(key);
      calls.push({ key, args });
      const def = defs.get(key);
      if (def === undefined) {
        const others = [...defs.values()].filter((d) => d.name === m[1]).map((d) => d.arity);
        problems.push({
          macro: m[1]!,
          message: others.length > 0 ? `called with ${args.length} argument(s), defined with ${others.join(' or ')}` : 'is not defined in macros.conf',
        });
        return whole;
      }
      if (stack.includes(key)) {
        problems.push({ macro: m[1]!, message: `expands into itself (${[...stack, key].join(' -> ')})` });
        return whole;
      }
      if (def.iseval) {
        problems.push({ macro: m[1]!, message: 'iseval macros are not emulated' });
        return whole;
      }
      let body = def.definition;
      def.args.forEach((a, i) => {
        body = body.split(`$${a}$`).join(args[i]!);
      });
      return expand(body, [...stack, key]);
    });
  const text = expand(search, []);
  return { text, problems, used, calls };
}
