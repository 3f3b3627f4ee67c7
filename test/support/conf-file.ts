/**
 * Splunk .conf reading for tests: stanzas, `key = value`, `#` comments, and values continued
 * with a trailing backslash. Keys before any stanza belong to the "default" stanza, as in splunkd.
 */
export interface ConfEntry {
  readonly key: string;
  readonly value: string;
  readonly line: number;
}

export interface ConfStanza {
  readonly name: string;
  readonly line: number;
  readonly entries: ConfEntry[];
}

export function parseConf(text: string): ConfStanza[] {
  const stanzas: ConfStanza[] = [{ name: 'default', line: 0, entries: [] }];
  const lines = text.split(/\r?\n/);
  for (let i = 0; i < lines.length; i++) {
    let line = lines[i]!;
    const lineNo = i + 1;
    while (line.endsWith('\\') && i + 1 < lines.length) {
      line = line.slice(0, -1) + '\n' + lines[++i]!;
    }
    const trimmed = line.trim();
    if (trimmed === '' || trimmed.startsWith('#')) continue;
    const stanza = /^\[(.*)\]$/.exec(trimmed);
    if (stanza) {
      stanzas.push({ name: stanza[1]!, line: lineNo, entries: [] });
      continue;
    }
    const eq = line.indexOf('=');
    if (eq < 0) throw new Error(`line ${lineNo}: neither a stanza, a comment nor key = value: ${trimmed}`);
    stanzas[stanzas.length - 1]!.entries.push({ key: line.slice(0, eq).trim(), value: line.slice(eq + 1).trim(), line: lineNo });
  }
  return stanzas.filter((s) => s.name !== 'default' || s.entries.length > 0);
}

export function stanzaMap(text: string): Map<string, Map<string, string>> {
  const out = new Map<string, Map<string, string>>();
  for (const s of parseConf(text)) {
    const m = out.get(s.name) ?? new Map<string, string>();
    for (const e of s.entries) m.set(e.key, e.value);
    out.set(s.name, m);
  }
  return out;
}
