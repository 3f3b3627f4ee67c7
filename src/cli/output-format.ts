/**
 * The analyst subcommands' shared output: `--format table|csv|json` and `--out FILE`.
 * Rendering is pure (rows and columns in, text out); writing is the one thin shell.
 * Every value may be attacker-controlled (usernames, report text), so the table makes
 * controls visible and the CSV neutralises spreadsheet formulas.
 */
import { closeSync, mkdirSync, openSync, renameSync, rmSync, writeSync } from 'node:fs';
import * as path from 'node:path';
import { Command, Option } from 'commander';
import { fail, ok, Result } from '../result';
import { safeCsvCell, safeText } from '../respond/safe-text';
import type { CliIO } from './runtime';
import { systemReason } from './runtime';

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
 * leaves half a file) or stdout. Pieces are written as they are rendered, waiting whenever
 * stdout is slower (a pipe): a pipe takes 64 KiB at a time, and a report written faster than
 * its reader reads it would otherwise sit in memory whole, in copies.
 */
export async function writeOutput(io: CliIO, out: string | undefined, text: string | Iterable<string>): Promise<Result<void, 'output-failed'>> {
  const opened = out === undefined ? ok(stdoutOutput(io.stdout)) : fileOutput(out);
  if (!opened.ok) return opened;
  const output = opened.value;
  try {
    for (const piece of typeof text === 'string' ? [text] : text) {
      output.write(piece);
      const waiting = output.waitForOutput();
      if (waiting !== null) await waiting;
    }
  } catch (e) {
    output.abort();
    return fail('output-failed', `cannot write ${out ?? 'to standard output'}: ${(e as Error).message}`);
  }
  return output.finish();
}

/** Text written piece by piece: the --attempts rows as they are read, or a large report. */
export interface StreamedOutput {
  write(text: string): void;
  /** A promise to wait for before reading more, or null when the output keeps up. */
  waitForOutput(): Promise<void> | null;
  /** Writes what is buffered and, for a file, puts it in place. */
  finish(): Promise<Result<void, 'output-failed'>>;
  /** Gives up: a file being written is removed. */
  abort(): void;
}

const FLUSH_CHARS = 64 * 1024;

/** Streamed output on stdout; a reader that goes away (`| head`) just ends the output. */
export function stdoutOutput(stdout: NodeJS.WritableStream): StreamedOutput {
  let parts: string[] = [];
  let chars = 0;
  let waiting: Promise<void> | null = null;
  let failure: Error | null = null;
  let closedByReader = false;
  const onError = (err: NodeJS.ErrnoException): void => {
    if (err.code === 'EPIPE') closedByReader = true;
    else failure = err;
  };
  stdout.on('error', onError);
  const flush = (): void => {
    if (chars === 0) return;
    const text = parts.join('');
    parts = [];
    chars = 0;
    if (closedByReader || failure !== null) return;
    if (!stdout.write(text) && waiting === null) {
      waiting = new Promise<void>((resolve) => {
        const done = (): void => {
          stdout.off('drain', done);
          stdout.off('error', done);
          waiting = null;
          resolve();
        };
        stdout.on('drain', done);
        stdout.on('error', done);
      });
    }
  };
  return {
    write(text: string): void {
      if (closedByReader) return;
      parts.push(text);
      chars += text.length;
      if (chars >= FLUSH_CHARS) flush();
    },
    waitForOutput: () => waiting,
    async finish(): Promise<Result<void, 'output-failed'>> {
      flush();
      if (waiting !== null) await waiting;
      stdout.off('error', onError);
      const err = failure as Error | null;
      return err === null ? ok(undefined) : fail('output-failed', `cannot write to standard output: ${err.message}`);
    },
    abort(): void {
      stdout.off('error', onError);
    },
  };
}

let tmpCounter = 0;

/** As for every --out, a missing folder is made. */
function openCreating(file: string): number {
  try {
    return openSync(file, 'w', 0o644);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
    mkdirSync(path.dirname(path.resolve(file)), { recursive: true });
    return openSync(file, 'w', 0o644);
  }
}

/**
 * Streamed output into FILE: written to a temporary file beside it with synchronous writes
 * (no buffering beyond one 64 KiB batch) and renamed over FILE at the end, so FILE is never
 * seen half-written.
 */
export function fileOutput(file: string): Result<StreamedOutput, 'output-failed'> {
  const tmp = `${file}.${process.pid}.${tmpCounter++}.tmp`;
  let fd: number;
  try {
    fd = openCreating(tmp);
  } catch (e) {
    return fail('output-failed', `cannot write ${file}: ${systemReason(e)}`);
  }
  let parts: string[] = [];
  let chars = 0;
  let failure: string | null = null;
  let open = true;
  const flush = (): void => {
    if (chars === 0 || failure !== null) return;
    const buf = Buffer.from(parts.join(''), 'utf8');
    parts = [];
    chars = 0;
    try {
      for (let off = 0; off < buf.length; ) off += writeSync(fd, buf, off);
    } catch (e) {
      failure = systemReason(e);
    }
  };
  const close = (): void => {
    if (!open) return;
    open = false;
    try {
      closeSync(fd);
    } catch (e) {
      failure ??= systemReason(e);
    }
  };
  return ok({
    write(text: string): void {
      parts.push(text);
      chars += text.length;
      if (chars >= FLUSH_CHARS) flush();
    },
    waitForOutput: () => null,
    finish(): Promise<Result<void, 'output-failed'>> {
      flush();
      close();
      if (failure === null) {
        try {
          renameSync(tmp, file);
          return Promise.resolve(ok(undefined));
        } catch (e) {
          failure = systemReason(e);
        }
      }
      rmSync(tmp, { force: true });
      return Promise.resolve(fail('output-failed', `cannot write ${file}: ${failure}`));
    },
    abort(): void {
      close();
      rmSync(tmp, { force: true });
    },
  });
}
