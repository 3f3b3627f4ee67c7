/**
 * Splunk regexes (PCRE2) as JavaScript RegExps, so the app's extractions can run in tests.
 * Only constructs with the same meaning in both engines are translated; anything JavaScript would
 * read differently (possessive quantifiers, atomic groups, \A \z \Z, \Q…\E, POSIX classes,
 * recursion, conditionals, inline flags past the start) is refused with the reason, so a conf
 * regex that passes here means the same thing in Splunk.
 */
export interface PcreOptions {
  /** Splunk prepends (?ms) to EXTRACT- regexes (props.conf.spec); REPORT transforms get no flags. */
  readonly extract?: boolean;
}

export class PcreError extends Error {}

const LEADING_FLAGS = /^\(\?([imsx]+)\)/;

export function pcreToJs(pattern: string, options: PcreOptions = {}): RegExp {
  const flags = new Set<string>(options.extract ? ['m', 's'] : []);
  let body = pattern;
  const lead = LEADING_FLAGS.exec(body);
  if (lead) {
    for (const f of lead[1]!) {
      if (f === 'x') throw new PcreError(`${pattern}: extended mode (?x) has no JavaScript equivalent`);
      flags.add(f);
    }
    body = body.slice(lead[0].length);
  }
  let out = '';
  let inClass = false;
  for (let i = 0; i < body.length; i++) {
    const ch = body[i]!;
    const next = body[i + 1];
    if (ch === '\\') {
      if (next === undefined) throw new PcreError(`${pattern}: ends with a lone backslash`);
      if (!inClass && 'AzZG'.includes(next)) throw new PcreError(`${pattern}: \\${next} has no JavaScript equivalent (use ^ or $)`);
      if ('QEhHKRX'.includes(next)) throw new PcreError(`${pattern}: \\${next} has no JavaScript equivalent`);
      out += ch + next;
      i++;
      continue;
    }
    if (inClass) {
      if (ch === '[' && next === ':') throw new PcreError(`${pattern}: POSIX classes like [:alpha:] have no JavaScript equivalent`);
      if (ch === ']') inClass = false;
      out += ch;
      continue;
    }
    if (ch === '[') {
      inClass = true;
      out += ch;
      // a ] right after [ or [^ is a literal in PCRE but closes an empty class in JavaScript
      if (body[i + 1] === '^') {
        out += '^';
        i++;
      }
      if (body[i + 1] === ']') {
        out += '\\]';
        i++;
      }
      continue;
    }
    if (ch === '(' && next === '?') {
      const rest = body.slice(i + 2);
      const named = /^P?<([A-Za-z_][A-Za-z0-9_]{0,31})>/.exec(rest);
      if (named && !rest.startsWith('<=') && !rest.startsWith('<!')) {
        out += `(?<${named[1]}>`;
        i += 1 + named[0].length;
        continue;
      }
      const backref = /^P=([A-Za-z_][A-Za-z0-9_]*)\)/.exec(rest);
      if (backref) {
        out += `\\k<${backref[1]}>`;
        i += 1 + backref[0].length;
        continue;
      }
      if (/^(:|=|!|<=|<!)/.test(rest)) {
        out += '(?';
        i += 1;
        continue;
      }
      throw new PcreError(`${pattern}: group (?${rest.slice(0, 3)}… has no JavaScript equivalent`);
    }
    if ((ch === '+' || ch === '*' || ch === '?' || ch === '}') && next === '+') {
      throw new PcreError(`${pattern}: possessive quantifier ${ch}+ has no JavaScript equivalent`);
    }
    out += ch;
  }
  if (inClass) throw new PcreError(`${pattern}: unterminated character class`);
  try {
    return new RegExp(out, [...flags].sort().join(''));
  } catch (e) {
    throw new PcreError(`${pattern}: ${(e as Error).message}`);
  }
}

/** Named groups of a regex in order of appearance (nested ones included). */
export function groupNames(re: RegExp): string[] {
  return [...re.source.matchAll(/\(\?<([A-Za-z_][A-Za-z0-9_]*)>/g)].map((m) => m[1]!);
}

/**
 * PCRE replacement text ("\1", "$1") as a JavaScript replacement string, as Splunk's
 * eval replace() and rex sed use it: \<n> is a group, "$" otherwise literal.
 */
export function pcreReplacement(text: string): string {
  let out = '';
  for (let i = 0; i < text.length; i++) {
    const ch = text[i]!;
    if (ch === '\\' && /\d/.test(text[i + 1] ?? '')) {
      out += `$${text[i + 1]}`;
      i++;
    } else if (ch === '$') {
      out += '$$';
    } else {
      out += ch;
    }
  }
  return out;
}
