/**
 * Reader for the results file splunkd hands an alert action: a gzip-compressed CSV
 * (CONTRACT.md §1.3), streamed row by row so a digest of any size runs in flat memory.
 */
import { closeSync, createReadStream, fstatSync, openSync, readFileSync, readSync } from 'node:fs';
import { createGunzip, gunzipSync } from 'node:zlib';
import { parse as parseCsv } from 'csv-parse';
import { parse as parseCsvSync } from 'csv-parse/sync';
import { fail, ok, Result } from '../result';
import { fieldMap } from './field-map';

export type FieldValue = string | readonly string[];
export type ResultFields = Readonly<Record<string, FieldValue>>;

export interface ResultRow {
  /** Result id (Common Action Model): the row's identity within the sid. */
  readonly rid: string;
  /** 0-based position in the file. */
  readonly index: number;
  readonly fields: ResultFields;
}

export type ResultsMode = 'per_result' | 'digest';

export interface ResultsLayout {
  readonly mode: ResultsMode;
  /** Per-result mode: the rid of the one result (result_id, or N of tmp_N.csv.gz). */
  readonly baseRid: string | undefined;
}

/**
 * Per-result alerts get `…/per_result_alert/tmp_<N>.csv.gz` (older splunkd) or a
 * `result_id` in the payload (newer splunkd); anything else is a digest.
 */
export function resultsLayout(resultsFile: string, resultId: string | undefined): ResultsLayout {
  const m = /(?:^|[\\/])per_result_alert[\\/]tmp_(\d+)\.[^\\/]*$/.exec(resultsFile);
  if (resultId !== undefined && resultId !== '') return { mode: 'per_result', baseRid: resultId };
  if (m) return { mode: 'per_result', baseRid: m[1] };
  return { mode: 'digest', baseRid: undefined };
}

export function ridFor(layout: ResultsLayout, index: number): string {
  if (layout.baseRid === undefined) return String(index);
  return index === 0 ? layout.baseRid : `${layout.baseRid}.${index}`;
}

/**
 * Decode a `__mv_<field>` cell: `$v1$;$v2$`, with `$$` standing for a literal `$`
 * (Splunk_SA_CIM cim_actions.parse_mv). Returns undefined when the cell is not in
 * that encoding, so the caller falls back to the plain column.
 */
export function decodeMultivalue(cell: string): string[] | undefined {
  if (cell === '') return [];
  const values: string[] = [];
  let i = 0;
  while (i < cell.length) {
    if (cell[i] !== '$') return undefined;
    i += 1;
    let value = '';
    for (;;) {
      if (i >= cell.length) return undefined;
      const ch = cell[i]!;
      if (ch === '$') {
        if (cell[i + 1] === '$') {
          value += '$';
          i += 2;
          continue;
        }
        i += 1;
        break;
      }
      value += ch;
      i += 1;
    }
    values.push(value);
    if (i < cell.length) {
      if (cell[i] !== ';') return undefined;
      i += 1;
    }
  }
  return values;
}

/** Build a row from a CSV header and record, folding `__mv_` columns into their fields. */
export function rowFields(header: readonly string[], record: readonly string[]): Record<string, FieldValue> {
  // Column names are data (a search can output a field named constructor or __proto__).
  const fields = fieldMap<FieldValue>();
  const mv: [string, string][] = [];
  for (let c = 0; c < header.length; c++) {
    const name = header[c]!;
    const cell = record[c] ?? '';
    if (name.startsWith('__mv_')) {
      if (cell !== '') mv.push([name.slice(5), cell]);
    } else {
      fields[name] = cell;
    }
  }
  for (const [name, cell] of mv) {
    const values = decodeMultivalue(cell);
    // Prefer the __mv_ column when it decodes (what Splunk's own library does).
    if (values !== undefined && values.length > 0) fields[name] = values.length === 1 ? values[0]! : values;
  }
  return fields;
}

export type ResultsErrorKind = 'missing' | 'unreadable' | 'not_gzip' | 'truncated' | 'empty' | 'no_rows' | 'csv';

export interface ReadSummary {
  readonly rows: number;
  readonly columns: readonly string[];
}

/** Splunk's CIM library allows 10 MB per field; a whole record may hold several. */
const MAX_RECORD_BYTES = 64 * 1024 * 1024;

/** A per-result file is a few hundred bytes: read it in one go, no stream machinery. */
const SMALL_FILE_BYTES = 256 * 1024;

/** The records of a small file, or undefined to fall back to the streaming reader (which reports the fault precisely). */
function readSmallFile(path: string, gzipped: boolean): string[][] | undefined {
  try {
    const raw = readFileSync(path);
    const text = gzipped ? gunzipSync(raw).toString('utf8') : raw.toString('utf8');
    return parseCsvSync(text, { bom: true, relax_column_count: true, max_record_size: MAX_RECORD_BYTES }) as string[][];
  } catch {
    return undefined;
  }
}

async function deliverAll(
  records: string[][],
  layout: ResultsLayout,
  onRow: (row: ResultRow) => Promise<void> | void,
  path: string,
): Promise<Result<ReadSummary, ResultsErrorKind>> {
  const header = records[0];
  if (header === undefined) return fail('empty', `results_file ${path} holds no CSV header: expected at least a header row`);
  let rows = 0;
  for (let i = 1; i < records.length; i++) {
    const record = records[i]!;
    if (record.length === 1 && record[0] === '' && header.length > 1) continue;
    await onRow({ rid: ridFor(layout, rows), index: rows, fields: rowFields(header, record) });
    rows += 1;
  }
  if (rows === 0) return fail('no_rows', `results_file ${path} has a header but no result rows`);
  return ok({ rows, columns: header });
}

/**
 * Stream every row of the results file into `onRow`, in order, awaiting each (so the
 * consumer applies backpressure). Rows read before a fault (a truncated gzip, a broken
 * CSV record) have already been delivered when the error is returned: nothing good is
 * dropped because something later is bad.
 */
export async function readResultsFile(
  path: string,
  layout: ResultsLayout,
  onRow: (row: ResultRow) => Promise<void> | void,
): Promise<Result<ReadSummary, ResultsErrorKind>> {
  let head: Buffer;
  let size: number;
  try {
    const fd = openSync(path, 'r');
    try {
      head = Buffer.alloc(2);
      head = head.subarray(0, readSync(fd, head, 0, 2, 0));
      size = fstatSync(fd).size;
    } finally {
      closeSync(fd);
    }
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') return fail('missing', `results_file ${path} does not exist (the search artifacts may have expired: check the action's ttl)`);
    return fail('unreadable', `results_file ${path} cannot be read (${code ?? (e as Error).message}): check that the splunk user can read the dispatch directory`);
  }
  if (head.length === 0) return fail('empty', `results_file ${path} is empty (0 bytes): expected a gzip-compressed CSV`);
  const gzipped = head[0] === 0x1f && head[1] === 0x8b;
  if (!gzipped && /\.gz$/i.test(path)) {
    return fail('not_gzip', `results_file ${path} is not gzip-compressed although its name ends in .gz`);
  }

  if (size <= SMALL_FILE_BYTES) {
    const small = readSmallFile(path, gzipped);
    if (small !== undefined) return deliverAll(small, layout, onRow, path);
  }

  const source = createReadStream(path);
  const parser = parseCsv({ bom: true, relax_column_count: true, max_record_size: MAX_RECORD_BYTES });
  let streamError: Error | undefined;
  const onError = (e: Error): void => {
    streamError ??= e;
    // Stop the parser without flushing a half-read final record.
    parser.destroy();
  };
  source.on('error', onError);
  if (gzipped) {
    const gunzip = createGunzip();
    gunzip.on('error', onError);
    source.pipe(gunzip).pipe(parser);
  } else {
    source.pipe(parser);
  }

  let header: string[] | undefined;
  let rows = 0;
  try {
    for await (const record of parser as AsyncIterable<string[]>) {
      if (header === undefined) {
        header = record;
        continue;
      }
      if (record.length === 1 && record[0] === '' && header.length > 1) continue;
      await onRow({ rid: ridFor(layout, rows), index: rows, fields: rowFields(header, record) });
      rows += 1;
    }
  } catch (e) {
    streamError ??= e as Error;
  } finally {
    source.destroy();
  }
  if (streamError !== undefined) {
    const msg = streamError.message;
    const code = (streamError as NodeJS.ErrnoException).code ?? '';
    if (code.startsWith('Z_') || /unexpected end of file|incorrect header|invalid/i.test(msg) && !code.startsWith('CSV_')) {
      return fail('truncated', `results_file ${path} is truncated or corrupt (${msg}) after ${rows} row(s); those rows were handled`);
    }
    if (code.startsWith('CSV_')) return fail('csv', `results_file ${path} has a malformed CSV record after ${rows} row(s): ${msg}`);
    return fail('unreadable', `results_file ${path} could not be read after ${rows} row(s): ${msg}`);
  }
  if (header === undefined) return fail('empty', `results_file ${path} holds no CSV header: expected at least a header row`);
  if (rows === 0) return fail('no_rows', `results_file ${path} has a header but no result rows`);
  return ok({ rows, columns: header });
}
