/**
 * Reading the Docker deployment the way Docker reads it, for the tests in this folder:
 * docker-compose.yml (YAML, `${VAR…}` interpolation), docker/Dockerfile (instructions, ARG
 * substitution, stages, COPY), .dockerignore (which paths reach the build context), and the
 * Compose Specification schema in test/fixtures/compose/.
 */
import { readFileSync } from 'node:fs';
import * as path from 'node:path';
import Ajv, { type ValidateFunction } from 'ajv';
import addFormats from 'ajv-formats';
import draft07 from 'ajv/dist/refs/json-schema-draft-07.json';
import YAML from 'yaml';
import { FIXTURES, REPO_ROOT } from '../support/paths';

export { REPO_ROOT };

export const COMPOSE_FILE = 'docker-compose.yml';
export const DOCKERFILE = 'docker/Dockerfile';
export const COMPOSE_SCHEMA = path.join(FIXTURES, 'compose', 'compose-spec.json');

export function repoFile(rel: string): string {
  return readFileSync(path.join(REPO_ROOT, rel), 'utf8');
}

// ------------------------------------------------------------------------------ YAML / schema

export type Json = null | boolean | number | string | Json[] | { [key: string]: Json };

/** YAML text → plain data; YAML syntax errors and warnings (e.g. duplicate keys) are thrown. */
export function parseYaml(text: string): Json {
  const doc = YAML.parseDocument(text, { uniqueKeys: true });
  const problems = [...doc.errors, ...doc.warnings];
  if (problems.length > 0) throw new Error(problems.map((p) => p.message).join('\n'));
  return doc.toJS({ maxAliasCount: 100 }) as Json;
}

/**
 * The Compose Specification validator. The schema declares `"$schema":
 * "https://json-schema.org/draft-07/schema"` — draft-07, named by its https address, which Ajv's
 * bundled draft-07 meta-schema (`http://json-schema.org/draft-07/schema#`) does not answer to —
 * so the same meta-schema is registered under that address too, and the schema itself is
 * checked against it. Strict about unknown keywords; its union types and untyped
 * `additionalProperties` are the schema's own style, so those strict checks are off.
 */
export function composeValidator(): ValidateFunction {
  const schema = JSON.parse(readFileSync(COMPOSE_SCHEMA, 'utf8')) as { $schema: string };
  const ajv = new Ajv({ allErrors: true, strictSchema: true, strictTypes: false, strictTuples: false, strictRequired: false, allowUnionTypes: true });
  addFormats(ajv);
  if (schema.$schema !== (draft07 as { $id: string }).$id) ajv.addMetaSchema({ ...draft07, $id: schema.$schema });
  return ajv.compile(schema);
}

// ------------------------------------------------------------------------------ interpolation

export type Env = Readonly<Record<string, string | undefined>>;

/**
 * Compose's variable interpolation of one string: `$$`, `$VAR`, `${VAR}`, `${VAR:-default}`,
 * `${VAR-default}`, `${VAR:?error}`, `${VAR?error}`, `${VAR:+alt}`, `${VAR+alt}`.
 * Returns the text, or the error message compose would stop with.
 */
export function interpolate(text: string, env: Env): { value: string } | { error: string } {
  let out = '';
  let i = 0;
  while (i < text.length) {
    const c = text[i]!;
    if (c !== '$') {
      out += c;
      i++;
      continue;
    }
    const next = text[i + 1];
    if (next === '$') {
      out += '$';
      i += 2;
      continue;
    }
    if (next === '{') {
      const close = text.indexOf('}', i + 2);
      if (close < 0) return { error: `unclosed \${ in ${JSON.stringify(text)}` };
      const body = text.slice(i + 2, close);
      const m = /^([A-Za-z_][A-Za-z0-9_]*)(?:(:?)([-?+])(.*))?$/s.exec(body);
      if (!m) return { error: `invalid interpolation \${${body}}` };
      const [, name, colon, op, arg = ''] = m as unknown as [string, string, string | undefined, string | undefined, string | undefined];
      const raw = env[name];
      const missing = colon === ':' ? raw === undefined || raw === '' : raw === undefined;
      if (op === undefined) out += raw ?? '';
      else if (op === '-') out += missing ? arg : raw!;
      else if (op === '?') {
        if (missing) return { error: `required variable ${name} is missing a value: ${arg}` };
        out += raw!;
      } else out += missing ? '' : arg;
      i = close + 1;
      continue;
    }
    const m = /^[A-Za-z_][A-Za-z0-9_]*/.exec(text.slice(i + 1));
    if (!m) return { error: `invalid interpolation at ${JSON.stringify(text.slice(i))}` };
    out += env[m[0]] ?? '';
    i += 1 + m[0].length;
  }
  return { value: out };
}

/** Interpolates every string in a parsed compose document (keys stay as written, as in compose). */
export function interpolateDocument(doc: Json, env: Env): { value: Json; errors: string[] } {
  const errors: string[] = [];
  const walk = (v: Json): Json => {
    if (typeof v === 'string') {
      const r = interpolate(v, env);
      if ('error' in r) {
        errors.push(r.error);
        return v;
      }
      return r.value;
    }
    if (Array.isArray(v)) return v.map(walk);
    if (v !== null && typeof v === 'object') return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, walk(x)]));
    return v;
  };
  return { value: walk(doc), errors };
}

/** Every variable a text refers to with `$VAR` or `${VAR…}` (not `$$`). */
export function variablesIn(text: string): Set<string> {
  const names = new Set<string>();
  for (const m of text.matchAll(/\$(\$|\{([A-Za-z_][A-Za-z0-9_]*)|([A-Za-z_][A-Za-z0-9_]*))/g)) {
    const name = m[2] ?? m[3];
    if (name !== undefined) names.add(name);
  }
  return names;
}

/** KEY=VALUE lines of a .env file (comments, blank lines and quotes handled as compose does). */
export function parseDotEnv(text: string): Map<string, string> {
  const out = new Map<string, string>();
  for (const raw of text.split(/\r?\n/)) {
    const line = raw.trim();
    if (line === '' || line.startsWith('#')) continue;
    const m = /^(?:export\s+)?([A-Za-z_][A-Za-z0-9_.-]*)\s*=\s*(.*)$/.exec(line);
    if (!m) throw new Error(`not a KEY=VALUE line: ${raw}`);
    let value = m[2]!;
    const quoted = /^(['"])(.*)\1$/.exec(value);
    if (quoted) value = quoted[2]!;
    else value = value.replace(/\s+#.*$/, '');
    out.set(m[1]!, value);
  }
  return out;
}

/** A compose `environment:` (map or KEY=VALUE list) as a map. */
export function environmentOf(service: Json): Map<string, string | null> {
  const env = (service as { environment?: Json }).environment;
  const out = new Map<string, string | null>();
  if (Array.isArray(env)) {
    for (const item of env) {
      const s = String(item);
      const eq = s.indexOf('=');
      out.set(eq < 0 ? s : s.slice(0, eq), eq < 0 ? null : s.slice(eq + 1));
    }
  } else if (env !== null && typeof env === 'object' && env !== undefined) {
    for (const [k, v] of Object.entries(env)) out.set(k, v === null ? null : String(v));
  }
  return out;
}

/** Short-syntax port `[HOST_IP:]HOST:CONTAINER[/PROTO]` → parts. */
export function parsePort(spec: string): { hostIp: string | null; published: number; target: number; protocol: string } {
  const [mapping, protocol = 'tcp'] = spec.split('/') as [string, string | undefined];
  const parts = mapping.split(':');
  if (parts.length < 2 || parts.length > 3) throw new Error(`not HOST:CONTAINER or IP:HOST:CONTAINER: ${spec}`);
  const target = Number(parts[parts.length - 1]);
  const published = Number(parts[parts.length - 2]);
  if (!Number.isInteger(target) || !Number.isInteger(published)) throw new Error(`ports must be numbers: ${spec}`);
  return { hostIp: parts.length === 3 ? parts[0]! : null, published, target, protocol };
}

// ------------------------------------------------------------------------------ Dockerfile

export interface Instruction {
  readonly keyword: string;
  /** the arguments with continuation lines joined (comment lines inside them removed) */
  readonly args: string;
  readonly line: number;
}

/** Instructions of a Dockerfile with the default `\` escape character. */
export function parseDockerfile(text: string): Instruction[] {
  const lines = text.split(/\r?\n/);
  const out: Instruction[] = [];
  for (let i = 0; i < lines.length; i++) {
    const first = lines[i]!;
    if (first.trim() === '' || first.trim().startsWith('#')) continue;
    const start = i + 1;
    let joined = first;
    while (/\\\s*$/.test(joined) && i + 1 < lines.length) {
      joined = joined.replace(/\\\s*$/, '');
      const next = lines[++i]!;
      if (next.trim().startsWith('#')) {
        joined += '\\';
        continue;
      }
      joined += '\n' + next;
    }
    const m = /^\s*(\S+)\s*(.*)$/s.exec(joined)!;
    out.push({ keyword: m[1]!.toUpperCase(), args: m[2]!.trim(), line: start });
  }
  return out;
}

/** `$VAR`, `${VAR}`, `${VAR:-default}` replaced from `vars` (Dockerfile ARG/ENV substitution). */
export function substitute(text: string, vars: ReadonlyMap<string, string>): string {
  return text.replace(/\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}|\$([A-Za-z_][A-Za-z0-9_]*)/g, (_m, braced: string | undefined, dflt: string | undefined, bare: string | undefined) => {
    const name = (braced ?? bare)!;
    return vars.get(name) ?? dflt ?? '';
  });
}

export interface CopyInstruction {
  readonly from: string | null;
  readonly flags: ReadonlyMap<string, string>;
  readonly sources: readonly string[];
  readonly dest: string;
  readonly line: number;
}

export interface Stage {
  readonly index: number;
  readonly name: string | null;
  /** the FROM image with ARGs substituted */
  readonly image: string;
  readonly instructions: readonly Instruction[];
  /** the stage's ARG and ENV values, in effect at its end */
  readonly vars: ReadonlyMap<string, string>;
  readonly env: ReadonlyMap<string, string>;
  readonly workdir: string;
  /** COPY instructions, arguments substituted, destinations absolute */
  readonly copies: readonly CopyInstruction[];
}

function splitWords(args: string): string[] {
  return args.split(/\s+/).filter((w) => w.length > 0);
}

/** `KEY=value KEY2="v 2"` (ENV/ARG syntax) → pairs; a lone `KEY` has no value. */
function keyValues(args: string): Array<[string, string | null]> {
  const out: Array<[string, string | null]> = [];
  const re = /([A-Za-z_][A-Za-z0-9_]*)(?:=("(?:[^"\\]|\\.)*"|'[^']*'|\S*))?/gy;
  let rest = args.trim();
  while (rest.length > 0) {
    re.lastIndex = 0;
    const m = re.exec(rest);
    if (!m) throw new Error(`cannot read ${JSON.stringify(rest)}`);
    let value = m[2] ?? null;
    if (value !== null && /^(["']).*\1$/s.test(value)) value = value.slice(1, -1);
    out.push([m[1]!, value]);
    rest = rest.slice(m[0].length).trim();
  }
  return out;
}

function copyOf(args: string, vars: ReadonlyMap<string, string>, workdir: string, line: number): CopyInstruction {
  const words = splitWords(substitute(args, vars));
  const flags = new Map<string, string>();
  while (words[0]?.startsWith('--')) {
    const [k, v = ''] = words.shift()!.slice(2).split('=', 2) as [string, string | undefined];
    flags.set(k, v);
  }
  let paths = words;
  const rest = words.join(' ');
  if (rest.startsWith('[')) paths = JSON.parse(rest) as string[];
  if (paths.length < 2) throw new Error(`COPY needs a source and a destination (line ${line})`);
  const dest = paths[paths.length - 1]!;
  const joined = dest.startsWith('/') ? dest : path.posix.join(workdir, dest);
  // a destination ending in "/" (or "." for WORKDIR) is a folder the sources go into
  const absolute = (dest.endsWith('/') || dest === '.') && !joined.endsWith('/') ? `${joined}/` : joined;
  return { from: flags.get('from') ?? null, flags, sources: paths.slice(0, -1), dest: absolute, line };
}

/** The Dockerfile's stages with ARGs resolved from their defaults (no --build-arg given). */
export function dockerfileStages(text: string): { globalArgs: ReadonlyMap<string, string>; stages: Stage[] } {
  const globalArgs = new Map<string, string>();
  const stages: Stage[] = [];
  let current: { index: number; name: string | null; image: string; instructions: Instruction[]; vars: Map<string, string>; env: Map<string, string>; workdir: string; copies: CopyInstruction[] } | null = null;
  for (const ins of parseDockerfile(text)) {
    if (ins.keyword === 'FROM') {
      const words = splitWords(ins.args).filter((w) => !w.startsWith('--'));
      const image = substitute(words[0]!, globalArgs);
      const name = words.length >= 3 && words[1]!.toUpperCase() === 'AS' ? words[2]! : null;
      const parent = stages.find((s) => s.name === image);
      current = {
        index: stages.length,
        name,
        image,
        instructions: [],
        vars: new Map(parent?.env ?? []),
        env: new Map(parent?.env ?? []),
        workdir: parent?.workdir ?? '/',
        copies: [],
      };
      stages.push(current);
      continue;
    }
    if (current === null) {
      if (ins.keyword === 'ARG') for (const [k, v] of keyValues(ins.args)) globalArgs.set(k, v ?? '');
      continue;
    }
    current.instructions.push(ins);
    if (ins.keyword === 'ARG') {
      // a stage's ARG without a value takes the global default
      for (const [k, v] of keyValues(ins.args)) current.vars.set(k, v !== null ? substitute(v, current.vars) : globalArgs.get(k) ?? '');
    } else if (ins.keyword === 'ENV') {
      for (const [k, v] of keyValues(ins.args)) {
        const value = substitute(v ?? '', current.vars);
        current.env.set(k, value);
        current.vars.set(k, value);
      }
    } else if (ins.keyword === 'WORKDIR') {
      const dir = substitute(ins.args, current.vars);
      current.workdir = dir.startsWith('/') ? dir : path.posix.join(current.workdir, dir);
    } else if (ins.keyword === 'COPY' || ins.keyword === 'ADD') {
      current.copies.push(copyOf(ins.args, current.vars, current.workdir, ins.line));
    }
  }
  return { globalArgs, stages };
}

/** An exec-form (JSON array) instruction argument, or null for shell form. */
export function execForm(args: string): string[] | null {
  if (!args.trim().startsWith('[')) return null;
  return JSON.parse(args) as string[];
}

// ------------------------------------------------------------------------------ .dockerignore

/** One .dockerignore rule as a regular expression over slash-separated context paths. */
function ignoreRule(pattern: string): { negate: boolean; re: RegExp } {
  let p = pattern.trim();
  const negate = p.startsWith('!');
  if (negate) p = p.slice(1).trim();
  p = path.posix.normalize(p).replace(/^\/+/, '').replace(/\/+$/, '');
  let re = '';
  for (let i = 0; i < p.length; i++) {
    const c = p[i]!;
    if (c === '*') {
      if (p[i + 1] === '*') {
        // "**" matches any number of directories (including none)
        const slash = p[i + 2] === '/';
        re += slash ? '(?:.*/)?' : '.*';
        i += slash ? 2 : 1;
      } else re += '[^/]*';
    } else if (c === '?') re += '[^/]';
    else if (c === '[') {
      const end = p.indexOf(']', i);
      re += p.slice(i, end + 1).replace(/^\[!/, '[^');
      i = end;
    } else if (c === '\\') re += '\\' + p[++i];
    else re += c.replace(/[.+^${}()|]/g, '\\$&');
  }
  return { negate, re: new RegExp(`^${re}$`) };
}

/**
 * Whether Docker leaves `rel` (a path relative to the context) out of the build context. As in
 * Docker's pattern matcher, a rule also matches a path when it matches one of its parent
 * folders, and the last matching rule decides.
 */
export function dockerIgnores(dockerignore: string, rel: string): boolean {
  const rules = dockerignore
    .split(/\r?\n/)
    .map((l) => l.trim())
    .filter((l) => l !== '' && !l.startsWith('#'))
    .map(ignoreRule);
  const parts = rel.split('/');
  const candidates = parts.map((_, i) => parts.slice(0, i + 1).join('/'));
  let excluded = false;
  for (const rule of rules) {
    if (candidates.some((c) => rule.re.test(c))) excluded = !rule.negate;
  }
  return excluded;
}
