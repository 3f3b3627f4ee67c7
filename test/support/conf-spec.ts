/**
 * Checks .conf files against Splunk's own .spec files: every stanza must be one the spec
 * declares (placeholders like [<spec>] or [tcp://<remote server>:<port>] match any name of that
 * shape), and every key must be declared for that stanza, globally in the spec, or in the app's
 * README/<conf>.spec. Declared keys with placeholders (EXTRACT-<class>, param.<name>,
 * action.<action_name>.<parameter>) match any key of that shape.
 */
import { ConfStanza } from './conf-file';

export interface SpecSection {
  /** null: the settings before the first stanza (global settings). */
  readonly stanza: RegExp | null;
  readonly stanzaText: string | null;
  readonly keys: RegExp[];
}

function placeholderRegex(text: string): RegExp {
  let out = '';
  for (let i = 0; i < text.length; i++) {
    const ch = text[i]!;
    if (ch === '<') {
      const end = text.indexOf('>', i);
      if (end > i) {
        out += '.+';
        i = end;
        continue;
      }
    }
    out += ch.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&');
  }
  return new RegExp(`^${out}$`);
}

/** A spec file's sections as written: the stanza header text (null before the first) and its key names. */
export interface SpecSectionText {
  readonly stanza: string | null;
  readonly keys: readonly string[];
}

/**
 * The stanzas and key names a .spec file declares. Lines starting with '#', '*' or white space are
 * documentation; `[...]` opens a stanza; `name = ...` declares a key (placeholders kept as written).
 */
export function readSpecSections(text: string): SpecSectionText[] {
  const sections: { stanza: string | null; keys: string[] }[] = [{ stanza: null, keys: [] }];
  for (const raw of text.split(/\r?\n/)) {
    if (raw.startsWith('#') || raw.startsWith('*') || raw.startsWith(' ') || raw.startsWith('\t')) continue;
    const stanza = /^\[(.*)\]\s*$/.exec(raw);
    if (stanza) {
      sections.push({ stanza: stanza[1]!, keys: [] });
      continue;
    }
    const key = /^([^\s=#[][^=]*?)\s*=/.exec(raw);
    if (key) {
      const keys = sections[sections.length - 1]!.keys;
      const name = key[1]!.trim();
      if (!keys.includes(name)) keys.push(name);
    }
  }
  return sections;
}

/** Sections as matchers: placeholders (<spec>, <class>) match any text of that shape. */
export function compileSpec(sections: readonly SpecSectionText[]): SpecSection[] {
  return sections.map((s) => ({
    // [splunktcp://[<remote server>]:<port>]: an optional part written in brackets.
    stanza: s.stanza === null ? null : placeholderRegex(s.stanza.replace(/\[(<[^>]+>)\]/g, '$1')),
    stanzaText: s.stanza,
    keys: s.keys.map(placeholderRegex),
  }));
}

export function parseSpec(text: string): SpecSection[] {
  return compileSpec(readSpecSections(text));
}

export interface SpecProblem {
  readonly file: string;
  readonly line: number;
  readonly message: string;
}

export function checkConf(file: string, stanzas: readonly ConfStanza[], specs: readonly SpecSection[][], options: { anyStanza?: boolean } = {}): SpecProblem[] {
  const sections = specs.flat();
  const problems: SpecProblem[] = [];
  for (const s of stanzas) {
    const matching = sections.filter((sec) => sec.stanza !== null && sec.stanza.test(s.name));
    const hasStanzas = sections.some((sec) => sec.stanza !== null);
    if (!options.anyStanza && hasStanzas && s.name !== 'default' && matching.length === 0) {
      problems.push({ file, line: s.line, message: `unknown stanza [${s.name}]` });
      continue;
    }
    const candidates = options.anyStanza || !hasStanzas ? sections : [...sections.filter((sec) => sec.stanza === null || sec.stanzaText === 'default'), ...matching];
    for (const e of s.entries) {
      if (!candidates.some((sec) => sec.keys.some((k) => k.test(e.key)))) {
        problems.push({ file, line: e.line, message: `key "${e.key}" in [${s.name}] is not in the spec` });
      }
    }
  }
  return problems;
}
