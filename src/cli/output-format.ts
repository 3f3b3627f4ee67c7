/**
 * The analyst subcommands' shared output: `--format table|csv|json` and `--out FILE`.
 * Rendering is pure (rows and columns in, text out); writing is the one thin shell.
 * Every value may be attacker-controlled (usernames, report text), so the table makes
 * controls visible and the CSV neutralises spreadsheet formulas.
 */
import { Command, Option } from 'commander';
import { textBatches, writeFileAtomic } from '../store/durable-file';
import { fail, ok, Result } from '../result';
import { safeCsvCell, safeText } from '../respond/safe-text';
import type { CliIO } from './runtime';

export const OUTPUT_FORMATS = ['table', 'csv', 'json'] as const;
export type OutputFormat = (typeof OUTPUT_FORMATS)[number];

export type CellValue = string | number | boolean | null | undefined;

export interface Column<R> {
  /** Table heading and CSV header. */
  readonly header: string;
  /** JSON key (defaults to header). */
  readonly key?: string;
  readonly value: (row: R) => CellValue;
  /** Right-align in the table (numbers). */
  readonly numeric?: boolean;
}

/** Adds `--format` and `--out` to a subcommand. */
export function addOutputOptions(cmd: Command, defaultFormat: OutputFormat = 'table'): Command {
  return cmd
    .addOption(new Option('--format <format>', 'output format').choices([...OUTPUT_FORMATS]).default(defaultFormat))
    .option('--out <file>', 'write the output to FILE (replaced atomically) instead of stdout');
}

/**
 * 1234567 -> "1,234,567". Not toLocaleString('en-US'): the first call loads ICU's locale data,
 * 6-8 MB of resident memory for a thousands separator.
 */
export function groupedCount(n: number): string {
  if (!Number.isSafeInteger(n)) return String(n);
  const digits = String(Math.abs(n));
  let out = digits.slice(0, ((digits.length - 1) % 3) + 1);
  for (let i = out.length; i < digits.length; i += 3) out += `,${digits.slice(i, i + 3)}`;
  return n < 0 ? `-${out}` : out;
}

function cellText(v: CellValue): string {
  if (v === null || v === undefined) return '';
  return String(v);
}

/** Aligned columns for a terminal; long cells are cut to `maxCell` characters. */
export function renderTable<R>(columns: readonly Column<R>[], rows: readonly R[], maxCell = 60): string {
  const cells = rows.map((r) =>
    columns.map((c) => {
      const t = safeText(cellText(c.value(r)));
      return t.length > maxCell ? `${t.slice(0, maxCell - 1)}\u2026` : t;
    }),
  );
  const widths = columns.map((c, i) => Math.max(c.header.length, ...cells.map((row) => row[i].length)));
  const line = (row: readonly string[]): string =>
    row
      .map((t, i) => (columns[i].numeric ? t.padStart(widths[i]) : t.padEnd(widths[i])))
      .join('  ')
      .trimEnd();
  return [line(columns.map((c) => c.header)), line(widths.map((w) => '-'.repeat(w))), ...cells.map(line)].join('\n') + '\n';
}

const NEEDS_QUOTES = /[",\r\n]|^\s|\s$/;

function csvQuoted(text: string): string {
  return NEEDS_QUOTES.test(text) ? `"${text.replace(/"/g, '""')}"` : text;
}

/** RFC 4180 CSV with a header row; numbers and booleans verbatim, text made formula-safe. */
export function renderCsv<R>(columns: readonly Column<R>[], rows: readonly R[]): string {
  const out = [columns.map((c) => csvQuoted(c.header)).join(',')];
  for (const r of rows) {
    out.push(
      columns
        .map((c) => {
          const v = c.value(r);
          if (typeof v === 'number' || typeof v === 'boolean') return String(v);
          return csvQuoted(safeCsvCell(cellText(v)));
        })
        .join(','),
    );
  }
  return out.join('\r\n') + '\r\n';
}

/** One JSON document: an array of objects keyed by column key, values verbatim (JSON escapes them). */
export function renderJsonRows<R>(columns: readonly Column<R>[], rows: readonly R[]): string {
  const objects = rows.map((r) => {
    const o: Record<string, CellValue> = {};
    for (const c of columns) {
      const v = c.value(r);
      o[c.key ?? c.header] = v === undefined ? null : v;
    }
    return o;
  });
  return JSON.stringify(objects, null, 2) + '\n';
}

/**
 * The text of JSON.stringify(value, null, 2), piece by piece: arrays and objects are walked to
 * `depth` levels, and what is below is stringified an element at a time. A report listing
 * thousands of sources is then never a single multi-megabyte string (and its intermediate
 * copies) on top of the data it is made from.
 */
export function* jsonPieces(value: unknown, depth = 2, indent = ''): Generator<string> {
  const inner = `${indent}  `;
  if (depth > 0 && Array.isArray(value) && value.length > 0) {
    yield '[';
    for (let i = 0; i < value.length; i++) {
      yield `${i === 0 ? '' : ','}\n${inner}`;
      const v: unknown = value[i];
      yield* jsonPieces(v === undefined || typeof v === 'function' ? null : v, depth - 1, inner);
    }
    yield `\n${indent}]`;
    return;
  }
  if (depth > 0 && isPlainObject(value)) {
    // As JSON.stringify does: members that are undefined or functions are left out.
    const entries = Object.entries(value).filter(([, v]) => v !== undefined && typeof v !== 'function');
    if (entries.length > 0) {
      yield '{';
      for (let i = 0; i < entries.length; i++) {
        const [k, v] = entries[i]!;
        yield `${i === 0 ? '' : ','}\n${inner}${JSON.stringify(k)}: `;
        yield* jsonPieces(v, depth - 1, inner);
      }
      yield `\n${indent}}`;
      return;
    }
  }
  // JSON text has no raw line breaks inside strings, so every "\n" is a line of the layout.
  const text = JSON.stringify(value, null, 2);
  yield indent === '' ? text : text.replace(/\n/g, `\n${indent}`);
}

function isPlainObject(v: unknown): v is Record<string, unknown> {
  if (v === null || typeof v !== 'object') return false;
  const proto = Object.getPrototypeOf(v) as unknown;
  return (proto === Object.prototype || proto === null) && typeof (v as { toJSON?: unknown }).toJSON !== 'function';
}

export function renderRows<R>(format: OutputFormat, columns: readonly Column<R>[], rows: readonly R[]): string {
  if (format === 'csv') return renderCsv(columns, rows);
  if (format === 'json') return renderJsonRows(columns, rows);
  return renderTable(columns, rows);
}

/**
 * Writes the rendered output, whole or in pieces, to --out (atomically, so a re-run never
 * leaves half a file) or stdout.
 */
export function writeOutput(io: CliIO, out: string | undefined, text: string | Iterable<string>): Result<void, 'output-failed'> {
  if (out === undefined) {
    if (typeof text === 'string') io.stdout.write(text);
    else for (const batch of textBatches(text)) io.stdout.write(batch);
    return ok(undefined);
  }
  try {
    writeFileAtomic(out, text, { durable: false });
    return ok(undefined);
  } catch (e) {
    return fail('output-failed', `cannot write ${out}: ${(e as Error).message}`);
  }
}
