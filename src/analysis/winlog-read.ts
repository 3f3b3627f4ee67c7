/**
 * Streaming readers for Windows logon exports: Event XML (a sequence of <Event> elements, with
 * or without an <Events> root), CSV (header row), and JSON (one object per line, an array, or a
 * single pretty-printed object). None of them holds more than one record plus one input chunk,
 * so a 1 GB export is read in flat memory.
 */
import { Readable } from 'node:stream';
import { parse as parseCsv, Parser as CsvParser } from 'csv-parse';
import { Result, ok, fail } from '../result';
import { readText } from './log-stream';
import {
  FlatRecordColumns,
  WinLogonEvent,
  flatRecordColumns,
  hasLogonColumns,
  rawFromFlatRecord,
  toWinLogonEvent,
  winEventFromJson,
  winEventFromXml,
} from './winlog';

export type WinlogFormat = 'xml' | 'csv' | 'json';

export type WinlogReadError =
  | 'read_error'
  | 'gzip_error'
  | 'handler_error'
  | 'unknown_format'
  | 'csv_error'
  | 'csv_columns'
  | 'record_too_large';

export interface WinlogReadStats {
  readonly bytes: number;
  readonly gzip: boolean;
  readonly format: WinlogFormat;
  /** Records found (Event elements, CSV rows, JSON objects). */
  readonly records: number;
  /** Records that were 4624/4625 logon events and went to onEvent. */
  readonly logonEvents: number;
  /** Records that could not be read (bad JSON, broken CSV row, Event without EventID). */
  readonly malformed: number;
  /** The first malformed record's problem, for the user. */
  readonly firstProblem: string | null;
}

/** Guess the format from the first characters of the (decompressed) input. */
export function detectWinlogFormat(head: string): WinlogFormat | null {
  const s = head.replace(/^\ufeff/, '').replace(/^\s+/, '');
  if (s === '') return null;
  if (s.startsWith('<') || /^-\s*</.test(s)) return 'xml';
  if (s.startsWith('{') || s.startsWith('[')) return 'json';
  // A header row: at least two comma-separated names.
  if (/^[^\r\n,]+,[^\r\n]*/.test(s)) return 'csv';
  return null;
}

interface RecordSink {
  push(text: string): void;
  end(): void;
}

// Real records are a few KiB (the largest Windows event XML is well under 1 MiB); a bigger one
// means the input is not an export of separate events.
const MAX_RECORD_CHARS = 16 * 1024 * 1024;

class RecordTooLarge extends Error {}

/**
 * Finds each <Event ...>...</Event> element (any namespace prefix) in a stream of text. An
 * element larger than 16 MiB means the input is not an event export.
 */
export class EventXmlSplitter implements RecordSink {
  private static readonly START = /<(?:[\w.-]+:)?Event[\s>]/g;
  private static readonly END = /<\/(?:[\w.-]+:)?Event\s*>/g;
  /** Up to 64 characters that may begin a start tag cut by the chunk boundary. */
  private carry = '';
  private inEvent = false;
  // The open event's text so far, joined once when it closes (linear time for large events).
  private parts: string[] = [];
  private partsChars = 0;
  /** The open event's last characters, where an end tag cut by the boundary may begin. */
  private tail = '';

  constructor(private readonly onEvent: (xml: string) => void) {}

  push(piece: string): void {
    let text = piece;
    if (this.inEvent) {
      const hay = this.tail + text;
      EventXmlSplitter.END.lastIndex = 0;
      const e = EventXmlSplitter.END.exec(hay);
      if (e === null) {
        this.keep(text);
        this.tail = hay.slice(-16);
        return;
      }
      const endInText = e.index + e[0].length - this.tail.length;
      const xml = this.parts.join('') + text.slice(0, endInText);
      this.parts = [];
      this.partsChars = 0;
      this.inEvent = false;
      this.onEvent(xml);
      text = text.slice(endInText);
    }
    if (this.carry !== '') {
      text = this.carry + text;
      this.carry = '';
    }
    let from = 0;
    for (;;) {
      EventXmlSplitter.START.lastIndex = from;
      const s = EventXmlSplitter.START.exec(text);
      if (s === null) {
        const lt = text.lastIndexOf('<');
        if (lt >= from && text.length - lt < 64) this.carry = text.slice(lt);
        return;
      }
      EventXmlSplitter.END.lastIndex = s.index;
      const e = EventXmlSplitter.END.exec(text);
      if (e === null) {
        this.inEvent = true;
        this.keep(text.slice(s.index));
        this.tail = text.slice(-16);
        return;
      }
      const endAt = e.index + e[0].length;
      this.onEvent(text.slice(s.index, endAt));
      from = endAt;
    }
  }

  private keep(text: string): void {
    this.parts.push(text);
    this.partsChars += text.length;
    if (this.partsChars > MAX_RECORD_CHARS) throw new RecordTooLarge('an <Event> element exceeds 16 MiB');
  }

  end(): void {
    this.carry = '';
    this.parts = [];
    this.partsChars = 0;
    this.inEvent = false;
  }
}

/**
 * Emits the text of every JSON object at the top level (NDJSON, concatenated, or a single
 * object) or directly inside a top-level array. Tracks strings and escapes, so braces inside
 * values do not confuse it.
 */
export class JsonObjectSplitter implements RecordSink {
  private depth = 0;
  private inString = false;
  private escaped = false;
  private inObject = false;
  private objectDepth = 0;
  // Text of the current object from earlier pieces; joined once, when the object closes, so a
  // large object costs linear time.
  private parts: string[] = [];
  private partsChars = 0;

  constructor(private readonly onObject: (json: string) => void) {}

  push(text: string): void {
    let start = this.inObject ? 0 : -1;
    const n = text.length;
    let i = 0;
    while (i < n) {
      const c = text.charCodeAt(i);
      if (this.inString) {
        if (this.escaped) this.escaped = false;
        else if (c === 92 /* \ */) this.escaped = true;
        else if (c === 34 /* " */) this.inString = false;
        else {
          // Jump to the next quote or backslash: most string characters need no look.
          const q = text.indexOf('"', i);
          const b = text.indexOf('\\', i);
          const next = q < 0 ? b : b < 0 ? q : Math.min(q, b);
          i = next < 0 ? n : next;
          continue;
        }
        i += 1;
        continue;
      }
      if (c === 34) {
        this.inString = true;
      } else if (c === 123 /* { */ || c === 91 /* [ */) {
        // An object at the top level, or directly inside a top-level array.
        if (c === 123 && !this.inObject && this.depth <= 1) {
          this.inObject = true;
          this.objectDepth = this.depth;
          start = i;
        }
        this.depth += 1;
      } else if (c === 125 /* } */ || c === 93 /* ] */) {
        this.depth = Math.max(0, this.depth - 1);
        if (c === 125 && this.inObject && this.depth === this.objectDepth) {
          const piece = text.slice(start, i + 1);
          const json = this.parts.length === 0 ? piece : this.parts.join('') + piece;
          this.parts = [];
          this.partsChars = 0;
          this.inObject = false;
          start = -1;
          this.onObject(json);
        }
      }
      i += 1;
    }
    if (this.inObject) {
      const piece = start > 0 ? text.slice(start) : text;
      this.parts.push(piece);
      this.partsChars += piece.length;
      if (this.partsChars > MAX_RECORD_CHARS) throw new RecordTooLarge('a JSON object exceeds 16 MiB');
    }
  }

  end(): void {
    this.parts = [];
    this.partsChars = 0;
  }
}

class Counters {
  records = 0;
  logonEvents = 0;
  malformed = 0;
  firstProblem: string | null = null;
  problem(what: string): void {
    this.malformed += 1;
    if (this.firstProblem === null) this.firstProblem = what;
  }
}

function xmlSink(counters: Counters, onEvent: (ev: WinLogonEvent) => void): RecordSink {
  return new EventXmlSplitter((xml) => {
    counters.records += 1;
    if (!/<(?:[\w.-]+:)?EventID\b/.test(xml)) {
      counters.problem(`record ${counters.records}: <Event> without <EventID>`);
      return;
    }
    const ev = winEventFromXml(xml);
    if (ev !== null) {
      counters.logonEvents += 1;
      onEvent(ev);
    }
  });
}

function jsonSink(counters: Counters, onEvent: (ev: WinLogonEvent) => void): RecordSink {
  return new JsonObjectSplitter((text) => {
    counters.records += 1;
    let value: unknown;
    try {
      value = JSON.parse(text);
    } catch (err) {
      counters.problem(`record ${counters.records}: ${(err as Error).message}`);
      return;
    }
    const ev = winEventFromJson(value);
    if (ev !== null) {
      counters.logonEvents += 1;
      onEvent(ev);
    }
  });
}

class CsvSink implements RecordSink {
  private readonly parser: CsvParser;
  private cols: FlatRecordColumns | null = null;
  private failure: Error | null = null;
  readonly done: Promise<void>;

  constructor(counters: Counters, onEvent: (ev: WinLogonEvent) => void) {
    this.parser = parseCsv({
      bom: true,
      columns: (header: string[]) => {
        const cols = flatRecordColumns(header);
        if (!hasLogonColumns(cols)) {
          throw new Error(
            `the CSV header has no source address or account column (looked for IpAddress, Source_Network_Address, TargetUserName, Account_Name, Message; found: ${header.join(', ')})`,
          );
        }
        this.cols = cols;
        return header;
      },
      relax_column_count: true,
      relax_quotes: true,
      skip_empty_lines: true,
      skip_records_with_error: true,
      // Records are handled here and dropped (null), so the parser never buffers them.
      on_record: (record: Record<string, string>) => {
        counters.records += 1;
        const ev = toWinLogonEvent(rawFromFlatRecord(record, this.cols!));
        if (ev !== null) {
          counters.logonEvents += 1;
          onEvent(ev);
        }
        return null;
      },
    });
    this.parser.on('skip', (err: Error) => counters.problem(err.message));
    this.done = new Promise((resolve) => {
      this.parser.on('error', (err: Error) => {
        this.failure = err;
        resolve();
      });
      this.parser.on('end', () => resolve());
    });
    this.parser.resume();
  }

  push(text: string): void {
    if (this.failure !== null) throw this.failure;
    this.parser.write(text);
    if (this.failure !== null) throw this.failure;
  }

  end(): void {
    this.parser.end();
  }

  get error(): Error | null {
    return this.failure;
  }
}

/**
 * Reads a plain or gzip-compressed Windows logon export and calls onEvent for each 4625/4624.
 * `format` 'auto' decides from the first characters.
 */
export async function readWinlog(
  input: Readable,
  format: WinlogFormat | 'auto',
  onEvent: (ev: WinLogonEvent) => void,
): Promise<Result<WinlogReadStats, WinlogReadError>> {
  const counters = new Counters();
  let chosen: WinlogFormat | null = format === 'auto' ? null : format;
  let sink: RecordSink | null = null;
  let csv: CsvSink | null = null;
  let head = '';
  let opened: WinlogFormat | null = null;
  const open = (f: WinlogFormat): RecordSink => {
    opened = f;
    if (f === 'csv') {
      csv = new CsvSink(counters, onEvent);
      return csv;
    }
    return f === 'xml' ? xmlSink(counters, onEvent) : jsonSink(counters, onEvent);
  };
  let stopped: Result<never, WinlogReadError> | null = null;

  const read = await readText(input, (text) => {
    if (sink === null) {
      if (chosen === null) {
        head += text;
        // Wait for the first line (or enough text) before guessing.
        if (!/[\r\n]/.test(head) && head.length < 4096) return;
        chosen = detectWinlogFormat(head);
        if (chosen === null) {
          stopped = fail('unknown_format', 'input is neither Event XML, JSON nor a CSV with a header row');
          throw new Error(stopped.error.message);
        }
        text = head;
        head = '';
      }
      sink = open(chosen);
    }
    try {
      sink.push(text);
    } catch (err) {
      stopped = classifyStop(err);
      throw err;
    }
  });
  if (stopped !== null) return stopped;
  if (!read.ok) return read;

  if (sink === null) {
    // Input shorter than one line: decide now.
    chosen = chosen ?? detectWinlogFormat(head);
    if (chosen === null) {
      if (head.trim() === '') return ok({ ...read.value, format: format === 'auto' ? 'xml' : format, records: 0, logonEvents: 0, malformed: 0, firstProblem: null });
      return fail('unknown_format', 'input is neither Event XML, JSON nor a CSV with a header row');
    }
    sink = open(chosen);
    try {
      if (head !== '') sink.push(head);
    } catch (err) {
      return classifyStop(err);
    }
  }
  try {
    sink.end();
  } catch (err) {
    return classifyStop(err);
  }
  const csvSink = csv as CsvSink | null;
  if (csvSink !== null) {
    await csvSink.done;
    if (csvSink.error !== null) return classifyStop(csvSink.error);
  }
  const usedFormat = opened as WinlogFormat | null;
  if (usedFormat === null) return fail('unknown_format', 'input format could not be determined');
  return ok({
    ...read.value,
    format: usedFormat,
    records: counters.records,
    logonEvents: counters.logonEvents,
    malformed: counters.malformed,
    firstProblem: counters.firstProblem,
  });
}

function classifyStop(err: unknown): Result<never, WinlogReadError> {
  if (err instanceof RecordTooLarge) return fail('record_too_large', `${err.message}: is this really an event export?`);
  const e = err as Error & { code?: string };
  if (typeof e.message === 'string' && e.message.startsWith('the CSV header')) return fail('csv_columns', e.message);
  if (typeof e.code === 'string' && e.code.startsWith('CSV_')) return fail('csv_error', `CSV could not be parsed: ${e.message}`);
  return fail('handler_error', `processing the input failed: ${e instanceof Error ? e.message : String(err)}`);
}
