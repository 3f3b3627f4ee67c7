/**
 * The search lint: one saved-search string in, every problem out — macros (defined, right
 * argument count, validation passing), commands and functions (present in Splunk's SPL
 * reference and emulated here), field flow (every field read is extracted or made earlier),
 * base search (every branch scoped to an index and a sourcetype or source, one of them the app's
 * own), and the result fields the soar_response pipeline reads.
 */
import { loadSplReference } from '../support/splunk-facts';
import { expandMacros, MacroDef } from './macros';
import { evaluate, parseExpr } from './spl-eval';
import { Command, lintPipeline, LookupFields, parsePipeline, PipelineError } from './spl-pipeline';
import { SearchExpr } from './spl-search';

export interface SplReference {
  readonly commands: ReadonlySet<string>;
  readonly evalFunctions: ReadonlySet<string>;
  readonly statsFunctions: ReadonlySet<string>;
}

/** Splunk's SPL reference (test/fixtures/splunk/spl-reference.json, generated from Splunk's docs). */
export function splReference(): SplReference {
  const facts = loadSplReference();
  const statsFunctions = new Set(facts.stats_functions);
  // the reference lists distinct_count and count; SPL also accepts their short names dc and c
  if (statsFunctions.has('distinct_count')) statsFunctions.add('dc');
  if (statsFunctions.has('count')) statsFunctions.add('c');
  return {
    commands: new Set(facts.commands),
    evalFunctions: new Set(facts.eval_functions),
    statsFunctions,
  };
}

export interface SearchLintOptions {
  readonly macros: ReadonlyMap<string, MacroDef>;
  /** fields events have at search time (extracted, aliased, calculated, default) */
  readonly available: ReadonlySet<string>;
  readonly reference: SplReference;
  /** fields the final table must hold */
  readonly requiredOutputs: readonly string[];
  readonly index: string;
  readonly sourcetype: string;
  /** the lookups transforms.conf defines, with their fields_list */
  readonly lookups?: LookupFields;
}

export interface SearchLint {
  readonly problems: string[];
  readonly expanded: string;
  readonly commands: Command[];
  readonly output: string[] | null;
}

/** Every event the expression matches has one of `fields` equal to a value (AND: one item does; OR: each branch does). */
function bounds(e: SearchExpr, fields: readonly string[], value?: string): boolean {
  if (e.t === 'term') return e.op === '=' && fields.includes(e.field) && (value === undefined || e.value === value) && !/^\*+$/.test(e.value);
  if (e.t === 'in') return value === undefined && fields.includes(e.field);
  if (e.t === 'and') return e.items.some((i) => bounds(i, fields, value));
  if (e.t === 'or') return e.items.every((i) => bounds(i, fields, value));
  return false;
}

/** Some part of the expression (reached through AND / OR, not NOT) selects exactly this index and sourcetype. */
function selects(e: SearchExpr, index: string, sourcetype: string): boolean {
  if (bounds(e, ['index'], index) && bounds(e, ['sourcetype'], sourcetype)) return true;
  return (e.t === 'and' || e.t === 'or') && e.items.some((i) => selects(i, index, sourcetype));
}

/**
 * The base search's scope: each branch names an index and a sourcetype or source (a scheduled
 * search over every index or every sourcetype would read far more than authentication events), and
 * one branch is the app's own data.
 */
export function baseSearchProblems(filter: SearchExpr, index: string, sourcetype: string): string[] {
  const out: string[] = [];
  if (!bounds(filter, ['index'])) out.push('every branch of the base search must name an index (index=..., not index=*)');
  if (!bounds(filter, ['sourcetype', 'source'])) out.push('every branch of the base search must name a sourcetype or source');
  if (!selects(filter, index, sourcetype)) out.push(`the base search must read index=${index} sourcetype=${sourcetype}`);
  return out;
}

export function lintSearch(search: string, o: SearchLintOptions): SearchLint {
  const problems: string[] = [];
  const expansion = expandMacros(search, o.macros);
  problems.push(...expansion.problems.map((p) => `macro ${p.macro}: ${p.message}`));
  for (const call of expansion.calls) {
    const def = o.macros.get(call.key);
    if (def?.validation === undefined) continue;
    const bound = new Map(def.args.map((a, i) => [a, call.args[i] ?? null]));
    let ok: unknown;
    try {
      ok = evaluate(parseExpr(def.validation), { field: (n) => bound.get(n) ?? null });
    } catch (e) {
      ok = (e as Error).message;
    }
    if (ok !== true && ok !== null) problems.push(`macro ${def.name}(${call.args.join(',')}): validation ${def.validation} fails`);
  }
  let commands: Command[] = [];
  try {
    commands = parsePipeline(expansion.text);
  } catch (e) {
    if (!(e instanceof PipelineError)) throw e;
    problems.push(e.message);
    return { problems, expanded: expansion.text, commands, output: null };
  }
  const lint = lintPipeline(commands, o.available, o.lookups);
  problems.push(...lint.problems);
  for (const c of lint.commands) if (!o.reference.commands.has(c)) problems.push(`command ${c} is not in the SPL reference`);
  for (const f of lint.evalFunctions) if (!o.reference.evalFunctions.has(f)) problems.push(`eval function ${f}() is not in the SPL reference`);
  for (const f of lint.statsFunctions) if (!o.reference.statsFunctions.has(f)) problems.push(`stats function ${f}() is not in the SPL reference`);
  const base = commands[0];
  // | inputlookup reads a lookup, not an index: there is no base search to scope.
  if (base?.cmd === 'search') problems.push(...baseSearchProblems(base.search.filter, o.index, o.sourcetype));
  else if (base?.cmd !== 'inputlookup') problems.push('the search must start with a base search');
  if (lint.output === null) problems.push('the search must end with table (or fields) listing its result fields');
  else for (const f of o.requiredOutputs) if (!lint.output.includes(f)) problems.push(`the final ${commands[commands.length - 1]!.cmd} lacks ${f}, which the soar_response pipeline reads`);
  return { problems, expanded: expansion.text, commands, output: lint.output };
}

/** The alert action a search runs itself, and the params its alert_actions.conf stanza declares. */
export interface SentAlert {
  readonly name: string;
  readonly declaredParams: ReadonlySet<string>;
}

/**
 * The lint of a search that runs an alert action itself (`| makeresults | sendalert …`, the
 * maintenance search): macros, commands and functions in Splunk's reference, field flow, and a
 * final sendalert of `action` with declared params only. No base search and no result table:
 * its rows are not incidents.
 */
export function lintActionSearch(search: string, o: Pick<SearchLintOptions, 'macros' | 'available' | 'reference' | 'lookups'>, action: SentAlert): SearchLint & { params: ReadonlyMap<string, string> } {
  const problems: string[] = [];
  const expansion = expandMacros(search, o.macros);
  problems.push(...expansion.problems.map((p) => `macro ${p.macro}: ${p.message}`));
  let commands: Command[] = [];
  try {
    commands = parsePipeline(expansion.text);
  } catch (e) {
    if (!(e instanceof PipelineError)) throw e;
    return { problems: [...problems, e.message], expanded: expansion.text, commands, output: null, params: new Map() };
  }
  const lint = lintPipeline(commands, o.available, o.lookups);
  problems.push(...lint.problems);
  for (const c of lint.commands) if (!o.reference.commands.has(c)) problems.push(`command ${c} is not in the SPL reference`);
  for (const f of lint.evalFunctions) if (!o.reference.evalFunctions.has(f)) problems.push(`eval function ${f}() is not in the SPL reference`);
  for (const f of lint.statsFunctions) if (!o.reference.statsFunctions.has(f)) problems.push(`stats function ${f}() is not in the SPL reference`);
  const last = commands[commands.length - 1];
  if (last?.cmd !== 'sendalert') {
    problems.push(`the search must end with sendalert ${action.name}`);
    return { problems, expanded: expansion.text, commands, output: null, params: new Map() };
  }
  if (last.action !== action.name) problems.push(`${last.text}: sends alert action "${last.action}", not ${action.name}`);
  for (const p of last.params.keys()) if (!action.declaredParams.has(p)) problems.push(`${last.text}: param.${p} is not declared in alert_actions.conf [${action.name}]`);
  if (commands.some((c, i) => c.cmd === 'sendalert' && i !== commands.length - 1)) problems.push('sendalert must be the last command, once');
  return { problems, expanded: expansion.text, commands, output: null, params: last.params };
}
