/**
 * Reader for the results file splunkd hands an alert action: a gzip-compressed CSV
 * (CONTRACT.md §1.3), streamed row by row so a digest of any size runs in flat memory.
 *
 * The file is opened once, without blocking and without following a final symlink, and
 * accepted only when the opened descriptor is a regular file; everything after that
 * (reading, the spool copy) goes through that descriptor, never through the path again.
 * Its size is capped compressed and as streamed, so a FIFO, a device or a gzip bomb is a
 * prompt refusal rather than a hang or a memory blow-up.
 *
 * Records are split here (RFC 4180 quoting) and parsed by csv-parse a batch at a time: a
 * record over the per-record limit, or one csv-parse refuses, is skipped on its own, and
 * the records after it are read as usual. csv-parse's own skip_records_with_error does
 * not do that for CSV_MAX_RECORD_SIZE: it returns from the chunk being parsed, so the
 * rest of that chunk is dropped and every later chunk fails the same size check at its
 * first byte, losing every row after the long field.
 */
import { closeSync, constants, createReadStream, fstatSync, open, openSync, read, readSync, Stats } from 'node:fs';
import { createGunzip, gunzipSync } from 'node:zlib';
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

export type ResultsErrorKind =
  | 'missing'
  | 'unreadable'
  | 'symlink'
  | 'not_regular'
  | 'too_large'
  | 'too_large_uncompressed'
  | 'not_gzip'
  | 'truncated'
  | 'empty'
  | 'no_rows'
  | 'csv';

/** Splunk's CIM library allows 10 MB per field; a whole record may hold several. */
export const MAX_RECORD_BYTES = 64 * 1024 * 1024;
/** The most a results file may be on disk (a digest of a million rows is a few MB). */
export const MAX_RESULTS_COMPRESSED_BYTES = 1024 * 1024 * 1024;
/** The most a results file may expand to, counted as it streams: a gzip bomb stops here. */
export const MAX_RESULTS_UNCOMPRESSED_BYTES = 4 * 1024 * 1024 * 1024;

/** A per-result file is a few hundred bytes: read it in one go, no stream machinery. */
const SMALL_FILE_BYTES = 256 * 1024;
/** What the one-go path may expand to; a larger small file goes through the stream (and its caps). */
const SMALL_FILE_EXPANDED_BYTES = 16 * 1024 * 1024;
/** Records parsed per csv-parse call. */
const PARSE_BATCH_RECORDS = 256;

export interface ResultsLimits {
  readonly maxCompressedBytes: number;
  readonly maxUncompressedBytes: number;
  readonly maxRecordBytes: number;
}

export const DEFAULT_RESULTS_LIMITS: ResultsLimits = {
  maxCompressedBytes: MAX_RESULTS_COMPRESSED_BYTES,
  maxUncompressedBytes: MAX_RESULTS_UNCOMPRESSED_BYTES,
  maxRecordBytes: MAX_RECORD_BYTES,
};

/** An opened results file: read and copied through `fd` only. */
export interface ResultsSource {
  readonly path: string;
  readonly fd: number;
  /** Bytes on disk when opened. */
  readonly size: number;
  readonly gzipped: boolean;
}

function kindOf(st: Stats): string {
  if (st.isFIFO()) return 'a FIFO (named pipe)';
  if (st.isCharacterDevice()) return 'a character device';
  if (st.isBlockDevice()) return 'a block device';
  if (st.isDirectory()) return 'a directory';
  if (st.isSocket()) return 'a socket';
  return 'not a regular file';
}

function mib(bytes: number): string {
  return `${Math.round(bytes / (1024 * 1024))} MiB`;
}

/**
 * Open the results file for reading, or say why it is refused. O_NONBLOCK: opening a FIFO
 * must not wait for a writer (it is refused a moment later by fstat). O_NOFOLLOW: splunkd
 * writes results_file itself as a regular file inside the search's dispatch folder (and the
 * spool copy is ours), so a final symlink there was put in by someone else, e.g. pointing
 * at /dev/zero or another user's file; only the last component is checked, so a $SPLUNK_HOME
 * reached through a symlinked folder still works.
 */
export function openResultsFile(path: string, limits: ResultsLimits = DEFAULT_RESULTS_LIMITS): Result<ResultsSource, ResultsErrorKind> {
  let fd: number;
  try {
    fd = openSync(path, constants.O_RDONLY | (constants.O_NONBLOCK ?? 0) | (constants.O_NOFOLLOW ?? 0));
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') return fail('missing', `results_file ${path} does not exist (the search artifacts may have expired: check the action's ttl)`);
    if (code === 'ELOOP') return fail('symlink', `results_file ${path} is a symbolic link: splunkd writes the results file itself in the dispatch folder, so it is refused`);
    if (code === 'ENXIO') return fail('not_regular', `results_file ${path} is a socket, not a regular file: refused`);
    if (code === 'EISDIR') return fail('not_regular', `results_file ${path} is a directory, not a regular file: refused`);
    return fail('unreadable', `results_file ${path} cannot be read (${code ?? (e as Error).message}): check that the splunk user can read the dispatch directory`);
  }
  const refuse = <K extends ResultsErrorKind>(kind: K, message: string) => {
    closeSync(fd);
    return fail(kind, message);
  };
  let st: Stats;
  let head: Buffer;
  try {
    st = fstatSync(fd);
    if (!st.isFile()) return refuse('not_regular', `results_file ${path} is ${kindOf(st)}, not a regular file: refused`);
    if (st.size > limits.maxCompressedBytes) {
      return refuse('too_large', `results_file ${path} is ${st.size} bytes, over the limit of ${mib(limits.maxCompressedBytes)} for one results file: refused`);
    }
    head = Buffer.alloc(2);
    head = head.subarray(0, readSync(fd, head, 0, 2, 0));
  } catch (e) {
    return refuse('unreadable', `results_file ${path} cannot be read (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`);
  }
  if (head.length === 0) return refuse('empty', `results_file ${path} is empty (0 bytes): expected a gzip-compressed CSV`);
  const gzipped = head[0] === 0x1f && head[1] === 0x8b;
  if (!gzipped && /\.gz$/i.test(path)) return refuse('not_gzip', `results_file ${path} is not gzip-compressed although its name ends in .gz`);
  return ok({ path, fd, size: st.size, gzipped });
}

export function closeResultsFile(source: ResultsSource): void {
  try {
    closeSync(source.fd);
  } catch {
    // Already closed: nothing to release.
  }
}

/** A record the reader skipped: over the per-record limit, or not valid CSV. */
export interface MalformedRecord {
  /** The row index it takes (rids after it stay what they would have been). */
  readonly index: number;
  readonly rid: string;
  /** 1-based line of the file where the record starts. */
  readonly line: number;
  readonly bytes: number;
  readonly reason: 'too_large' | 'csv';
  readonly message: string;
}

export interface ReadOptions {
  /** Rows before this index are counted but not parsed or delivered (a spool resumes here). */
  readonly fromIndex?: number;
  readonly onMalformed?: (record: MalformedRecord) => void;
  readonly limits?: ResultsLimits;
}

/** What onRow may answer: 'stop' = this row was not handled; the rest is only counted. */
export type RowAnswer = void | 'stop';

export interface ReadSummary {
  /** Rows delivered to onRow (and handled). */
  readonly rows: number;
  readonly columns: readonly string[];
  /** Records skipped as malformed (each took a row index). */
  readonly malformed: number;
  /** Row indexes in the whole file (rows and malformed records). */
  readonly indexes: number;
  /** The index of the first row not handled because onRow said 'stop'. */
  readonly stoppedAt: number | undefined;
}

/** One record as split from the byte stream: its bytes (no record delimiter), or only its size when over the limit. */
interface SplitRecord {
  readonly bytes: Buffer | undefined;
  readonly size: number;
  readonly line: number;
}

/**
 * Splits a CSV byte stream into records the way RFC 4180 quoting does (a `"` toggles
 * quoting; `""` toggles twice), counting lines. A record over `maxRecordBytes` is not kept
 * in memory: only its size and line are reported.
 */
class RecordSplitter {
  private inQuotes = false;
  private parts: Buffer[] = [];
  private partsSize = 0;
  private oversized = false;
  private line = 1;
  private recordLine = 1;

  constructor(private readonly maxRecordBytes: number) {}

  /** Records completed by this chunk, in order. */
  push(chunk: Buffer, out: SplitRecord[]): void {
    const len = chunk.length;
    let start = 0;
    let i = 0;
    let nextQuote = -2;
    let nextNl = -2;
    while (i < len) {
      if (nextQuote !== -1 && nextQuote < i) nextQuote = chunk.indexOf(0x22, i);
      // Both positions only move forward (each search starts past the last), so a chunk is
      // scanned in linear time whatever it holds (a run of quotes, a line without an end).
      if (nextNl !== -1 && nextNl < i) nextNl = chunk.indexOf(0x0a, i);
      if (this.inQuotes) {
        const end = nextQuote === -1 ? len : nextQuote;
        // Newlines inside a quoted field: not record ends, but lines all the same.
        while (nextNl !== -1 && nextNl < end) {
          this.line += 1;
          nextNl = chunk.indexOf(0x0a, nextNl + 1);
        }
        if (nextQuote === -1) {
          i = len;
        } else {
          this.inQuotes = false;
          i = nextQuote + 1;
        }
        continue;
      }
      if (nextNl !== -1 && (nextQuote === -1 || nextNl < nextQuote)) {
        this.finish(chunk, start, nextNl, out);
        this.line += 1;
        this.recordLine = this.line;
        i = start = nextNl + 1;
      } else if (nextQuote !== -1) {
        this.inQuotes = true;
        i = nextQuote + 1;
      } else {
        i = len;
      }
    }
    this.keep(chunk, start, len);
  }

  /** The last record when the stream ended without a record delimiter. */
  end(out: SplitRecord[]): void {
    if (this.partsSize > 0 || this.oversized || this.inQuotes) this.finish(Buffer.alloc(0), 0, 0, out);
  }

  private keep(chunk: Buffer, from: number, to: number): void {
    if (to <= from) return;
    this.partsSize += to - from;
    if (this.oversized) return;
    if (this.partsSize > this.maxRecordBytes) {
      this.oversized = true;
      this.parts = [];
      return;
    }
    this.parts.push(chunk.subarray(from, to));
  }

  private finish(chunk: Buffer, from: number, to: number, out: SplitRecord[]): void {
    this.keep(chunk, from, to);
    let size = this.partsSize;
    let bytes: Buffer | undefined;
    if (!this.oversized) {
      bytes = this.parts.length === 1 ? this.parts[0]! : Buffer.concat(this.parts, size);
      // A CRLF record delimiter: the CR is not part of the record.
      if (bytes.length > 0 && bytes[bytes.length - 1] === 0x0d) bytes = bytes.subarray(0, bytes.length - 1);
      size = bytes.length;
    }
    out.push({ bytes, size, line: this.recordLine });
    this.parts = [];
    this.partsSize = 0;
    this.oversized = false;
    this.inQuotes = false;
  }
}

const CSV_OPTIONS = { relax_column_count: true, record_delimiter: '\n' } as const;

/** Each record's fields, or the reason csv-parse refused it. Batched: one csv-parse call for many records. */
function parseRecords(batch: readonly Buffer[]): (string[] | { error: string })[] {
  if (batch.length > 1) {
    try {
      const parsed = parseCsvSync(Buffer.concat(batch.flatMap((b, i) => (i === 0 ? [b] : [NEWLINE, b]))).toString('utf8'), CSV_OPTIONS) as string[][];
      if (parsed.length === batch.length) return parsed;
    } catch {
      // One of them is malformed: parse them one by one to find it.
    }
  }
  return batch.map((b) => {
    try {
      const parsed = parseCsvSync(b.toString('utf8'), CSV_OPTIONS) as string[][];
      if (parsed.length === 1) return parsed[0]!;
      if (parsed.length === 0) return [''];
      return { error: `csv-parse read ${parsed.length} records where the quoting says one` };
    } catch (e) {
      return { error: (e as Error).message };
    }
  });
}
const NEWLINE = Buffer.from('\n');

/**
 * Stream every row of an opened results file into `onRow`, in order, awaiting each (so the
 * consumer applies backpressure). Rows read before a fault (a truncated gzip, a cap) have
 * already been delivered when the error is returned: nothing good is dropped because
 * something later is bad. A malformed record is reported to onMalformed and skipped.
 * When onRow answers 'stop', no further row is delivered; the rest of the file is still
 * read to count its rows (`indexes`).
 */
export async function readResults(
  source: ResultsSource,
  layout: ResultsLayout,
  onRow: (row: ResultRow) => Promise<RowAnswer> | RowAnswer,
  options: ReadOptions = {},
): Promise<Result<ReadSummary, ResultsErrorKind>> {
  const { path } = source;
  const limits = options.limits ?? DEFAULT_RESULTS_LIMITS;
  const fromIndex = options.fromIndex ?? 0;
  const splitter = new RecordSplitter(limits.maxRecordBytes);
  let header: string[] | undefined;
  let next = 0;
  let rows = 0;
  let malformed = 0;
  let stoppedAt: number | undefined;
  let batch: { bytes: Buffer; index: number; line: number }[] = [];
  let headerFault: string | undefined;

  const deliver = async (): Promise<void> => {
    if (batch.length === 0) return;
    const items = batch;
    batch = [];
    const parsed = parseRecords(items.map((b) => b.bytes));
    for (let k = 0; k < items.length; k++) {
      const { index } = items[k]!;
      const record = parsed[k]!;
      if (stoppedAt !== undefined) return;
      if (!Array.isArray(record)) {
        malformed += 1;
        const { line, bytes } = items[k]!;
        options.onMalformed?.({ index, rid: ridFor(layout, index), line, bytes: bytes.length, reason: 'csv', message: `record ${index} (line ${line}) is not valid CSV: ${record.error}` });
        continue;
      }
      const answer = await onRow({ rid: ridFor(layout, index), index, fields: rowFields(header!, record) });
      if (answer === 'stop') stoppedAt = index;
      else rows += 1;
    }
  };

  const take = async (records: SplitRecord[]): Promise<void> => {
    for (const r of records) {
      if (header === undefined) {
        if (r.bytes === undefined) {
          headerFault = `its header record (line ${r.line}) is ${r.size} bytes, over the per-record limit of ${mib(limits.maxRecordBytes)}`;
          return;
        }
        const bytes = r.bytes[0] === 0xef && r.bytes[1] === 0xbb && r.bytes[2] === 0xbf ? r.bytes.subarray(3) : r.bytes;
        const parsed = parseRecords([bytes])[0]!;
        if (!Array.isArray(parsed)) {
          headerFault = `its header record (line ${r.line}) is not valid CSV: ${parsed.error}`;
          return;
        }
        header = parsed;
        continue;
      }
      // A blank line is no row (unless the file has a single column, where it is an empty value).
      if (r.size === 0 && r.bytes !== undefined && header.length > 1) continue;
      const index = next++;
      if (index < fromIndex || stoppedAt !== undefined) continue;
      if (r.bytes === undefined) {
        await deliver();
        if (stoppedAt !== undefined) continue;
        malformed += 1;
        options.onMalformed?.({
          index,
          rid: ridFor(layout, index),
          line: r.line,
          bytes: r.size,
          reason: 'too_large',
          message: `record ${index} (line ${r.line}) is ${r.size} bytes, over the per-record limit of ${mib(limits.maxRecordBytes)}`,
        });
        continue;
      }
      batch.push({ bytes: r.bytes, index, line: r.line });
      if (batch.length >= PARSE_BATCH_RECORDS) await deliver();
    }
  };

  const summary = (): Result<ReadSummary, ResultsErrorKind> => {
    if (headerFault !== undefined) return fail('csv', `results_file ${path} cannot be read: ${headerFault}`);
    if (header === undefined) return fail('empty', `results_file ${path} holds no CSV header: expected at least a header row`);
    if (next === 0) return fail('no_rows', `results_file ${path} has a header but no result rows`);
    return ok({ rows, columns: header, malformed, indexes: next, stoppedAt });
  };

  // A per-result file: read in one go, no stream machinery.
  if (source.size <= SMALL_FILE_BYTES) {
    const small = readSmall(source, Math.min(SMALL_FILE_EXPANDED_BYTES, limits.maxUncompressedBytes));
    if (small !== undefined) {
      const out: SplitRecord[] = [];
      splitter.push(small, out);
      splitter.end(out);
      await take(out);
      await deliver();
      return summary();
    }
  }

  // The descriptor stays open for the spool copy: a stream closes its fd on destroy even
  // with autoClose false, so its close is a no-op here (closeResultsFile closes it).
  const stream = createReadStream('', { fd: source.fd, start: 0, fs: { open, read, close: (_fd: number, cb: (e: null) => void) => cb(null) } });
  let fault: Result<never, ResultsErrorKind> | undefined;
  let streamError: Error | undefined;
  let compressed = 0;
  const grewTooLarge = () =>
    fail('too_large', `results_file ${path} grew past the limit of ${mib(limits.maxCompressedBytes)} for one results file while it was read: refused after ${rows} row(s); those rows were handled`);
  const gunzip = source.gzipped ? createGunzip({ chunkSize: 64 * 1024 }) : undefined;
  const body = gunzip ? stream.pipe(gunzip) : stream;
  if (gunzip) {
    // Piped: a second 'data' listener sees the same chunks. (A plain file is counted in the loop.)
    stream.on('data', (chunk: string | Buffer) => {
      compressed += chunk.length;
      if (compressed > limits.maxCompressedBytes && fault === undefined) {
        fault = grewTooLarge();
        stream.destroy();
        gunzip.destroy();
      }
    });
  }
  const onError = (e: Error): void => {
    streamError ??= e;
    body.destroy();
  };
  stream.on('error', onError);
  gunzip?.on('error', onError);
  let uncompressed = 0;
  const out: SplitRecord[] = [];
  try {
    for await (const chunk of body as AsyncIterable<Buffer>) {
      if (!gunzip && uncompressed + chunk.length > limits.maxCompressedBytes) {
        fault = grewTooLarge();
        break;
      }
      if (uncompressed + chunk.length > limits.maxUncompressedBytes) {
        // The records that end within the cap are still handled.
        splitter.push(chunk.subarray(0, limits.maxUncompressedBytes - uncompressed), out);
        await take(out);
        await deliver();
        fault = fail('too_large_uncompressed', `results_file ${path} expands to more than ${mib(limits.maxUncompressedBytes)}, the limit for one results file (a gzip bomb?): refused after ${rows} row(s); those rows were handled`);
        break;
      }
      uncompressed += chunk.length;
      splitter.push(chunk, out);
      if (out.length > 0) {
        await take(out);
        out.length = 0;
      }
      if (headerFault !== undefined) break;
    }
  } catch (e) {
    streamError ??= e as Error;
  } finally {
    stream.destroy();
    gunzip?.destroy();
  }
  if (fault !== undefined) {
    await deliver();
    return fault;
  }
  if (streamError !== undefined) {
    // Complete records before the fault are handled; the half record at the cut is not.
    await deliver();
    const msg = streamError.message;
    const code = (streamError as NodeJS.ErrnoException).code ?? '';
    if (code.startsWith('Z_') || /unexpected end of file|incorrect header|invalid/i.test(msg)) {
      return fail('truncated', `results_file ${path} is truncated or corrupt (${msg}) after ${rows} row(s); those rows were handled`);
    }
    return fail('unreadable', `results_file ${path} could not be read after ${rows} row(s): ${msg}`);
  }
  if (headerFault === undefined) {
    splitter.end(out);
    await take(out);
  }
  await deliver();
  return summary();
}

/** The whole small file, expanded; undefined to take the streaming path (which applies the caps and reports faults precisely). */
function readSmall(source: ResultsSource, maxExpanded: number): Buffer | undefined {
  try {
    const raw = Buffer.alloc(source.size);
    let off = 0;
    while (off < raw.length) {
      const n = readSync(source.fd, raw, off, raw.length - off, off);
      if (n === 0) break;
      off += n;
    }
    // Grew since fstat: the stream counts it against the cap.
    if (off !== raw.length || readSync(source.fd, Buffer.alloc(1), 0, 1, off) !== 0) return undefined;
    if (!source.gzipped) return raw.length <= maxExpanded ? raw : undefined;
    return gunzipSync(raw, { maxOutputLength: maxExpanded });
  } catch {
    return undefined;
  }
}

/** Open, read, close: for callers that need no spool copy. */
export async function readResultsFile(
  path: string,
  layout: ResultsLayout,
  onRow: (row: ResultRow) => Promise<RowAnswer> | RowAnswer,
  options: ReadOptions = {},
): Promise<Result<ReadSummary, ResultsErrorKind>> {
  const opened = openResultsFile(path, options.limits);
  if (!opened.ok) return opened;
  try {
    return await readResults(opened.value, layout, onRow, options);
  } finally {
    closeResultsFile(opened.value);
  }
}
