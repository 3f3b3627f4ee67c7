/** Parses the alert action's stderr lines (`LEVEL key="value" …`) for assertions. */
export interface LogLine {
  readonly level: string;
  readonly fields: Record<string, string>;
  readonly raw: string;
}

const PAIR = /([A-Za-z_][A-Za-z0-9_]*)="((?:[^"\\]|\\.)*)"/g;

export function parseLogLines(stderr: string): LogLine[] {
  return stderr
    .split('\n')
    .filter((l) => l.trim() !== '')
    .map((raw) => {
      const level = raw.split(' ', 1)[0]!;
      const fields: Record<string, string> = {};
      for (const m of raw.matchAll(PAIR)) {
        fields[m[1]!] = m[2]!.replace(/\\(u[0-9a-f]{4}|.)/g, (_, e: string) =>
          e.length === 5 ? String.fromCharCode(parseInt(e.slice(1), 16)) : e === 'n' ? '\n' : e === 'r' ? '\r' : e === 't' ? '\t' : e,
        );
      }
      return { level, fields, raw };
    });
}

export function withSignature(lines: readonly LogLine[], signature: string): LogLine[] {
  return lines.filter((l) => l.fields.signature === signature);
}
