/**
 * `soar-edr incidents [--since 24h] [--verdict V] [--format table|csv|json]`: the incidents
 * recorded in the data directory's incidents.csv, filtered by time and verdict. The file is
 * read as a stream and every row written as soon as it is read, so a CSV of millions of
 * incidents is listed in flat memory.
 */
import { constants, createReadStream, openSync } from 'node:fs';
import { Command } from 'commander';
import { parse as parseCsv } from 'csv-parse';
import { parseDuration } from '../pipeline/settings';
import { Verdict } from '../respond/incident';
import { safeCsvCell, safeText } from '../respond/safe-text';
import { fail, ok, Result } from '../result';
import { addOutputOptions, fileOutput, OutputFormat, stdoutOutput, StreamedOutput } from './output-format';
import { CliIO, complain, safeDataLayout, systemReason, UNSAFE_DATA_DIR_EXIT } from './runtime';

export const INCIDENTS_EXIT = { OK: 0, USAGE: 2, FAILED: 5, UNSAFE_DATA_DIR: UNSAFE_DATA_DIR_EXIT } as const;

const VERDICTS: readonly Verdict[] = ['MALICIOUS', 'SUSPICIOUS', 'SAFE', 'UNKNOWN'];

/** The columns listed, in incidents.csv's names; the table pads each to a fixed width so it streams. */
export const INCIDENT_LIST_COLUMNS = [
  { name: 'time', width: 24 },
  { name: 'incident_id', width: 26 },
  { name: 'src_ip', width: 15 },
  { name: 'verdict', width: 10 },
  { name: 'action', width: 11 },
  { name: 'failure_count', width: 13 },
  { name: 'expires', width: 24 },
  { name: 'sid', width: 0 },
] as const;

export interface IncidentFilter {
  /** Epoch ms: only incidents at or after it (null: all). */
  readonly sinceMs: number | null;
  readonly verdict: Verdict | null;
}

export function parseIncidentFilter(opts: { since?: string; verdict?: string }, nowMs: number): Result<IncidentFilter, 'usage'> {
  let sinceMs: number | null = null;
  if (opts.since !== undefined) {
    const d = parseDuration(opts.since);
    if (!d.ok) return fail('usage', `--since: ${d.error.message}`);
    sinceMs = nowMs - d.value * 1000;
  }
  let verdict: Verdict | null = null;
  if (opts.verdict !== undefined) {
    const v = opts.verdict.trim().toUpperCase() as Verdict;
    if (!VERDICTS.includes(v)) return fail('usage', `--verdict must be one of ${VERDICTS.join(', ')}, not ${JSON.stringify(opts.verdict.slice(0, 40))}`);
    verdict = v;
  }
  return ok({ sinceMs, verdict });
}

/** Whether a row of incidents.csv passes the filter; a row whose time cannot be read never passes a --since. */
export function incidentMatches(row: Readonly<Record<string, string | undefined>>, filter: IncidentFilter): boolean {
  if (filter.verdict !== null && row.verdict !== filter.verdict) return false;
  if (filter.sinceMs !== null) {
    const t = Date.parse(row.time ?? '');
    if (!Number.isFinite(t) || t < filter.sinceMs) return false;
  }
  return true;
}

const NEEDS_QUOTES = /[",\r\n]|^\s|\s$/;
const csvCell = (text: string): string => {
  const safe = safeCsvCell(text);
  return NEEDS_QUOTES.test(safe) ? `"${safe.replace(/"/g, '""')}"` : safe;
};

/** One format's pieces: the opening, one piece per row (the index says whether it is the first), the end. */
export function incidentRenderer(format: OutputFormat): { head: string; row: (r: Readonly<Record<string, string | undefined>>, index: number) => string; tail: (rows: number) => string } {
  const names = INCIDENT_LIST_COLUMNS.map((c) => c.name);
  const value = (r: Readonly<Record<string, string | undefined>>, n: string): string => r[n] ?? '';
  if (format === 'csv') {
    return { head: names.join(',') + '\r\n', row: (r) => names.map((n) => csvCell(value(r, n))).join(',') + '\r\n', tail: () => '' };
  }
  if (format === 'json') {
    return {
      head: '[',
      row: (r, i) => `${i === 0 ? '' : ','}\n  ${JSON.stringify(Object.fromEntries(names.map((n) => [n, value(r, n)])))}`,
      tail: (rows) => (rows === 0 ? ']\n' : '\n]\n'),
    };
  }
  const line = (cells: readonly string[]): string => cells.map((t, i) => t.padEnd(INCIDENT_LIST_COLUMNS[i]!.width)).join('  ').trimEnd() + '\n';
  return {
    head: line(names),
    row: (r) => line(names.map((n) => safeText(value(r, n)))),
    tail: (rows) => (rows === 0 ? 'no incidents match\n' : ''),
  };
}

export function incidentsCommand(io: CliIO): Command {
  const cmd = new Command('incidents')
    .description("list the incidents recorded in the data directory's incidents.csv")
    .option('--since <duration>', 'only incidents of the last DURATION, e.g. 90m, 24h, 7d (default: all)')
    .option('--verdict <verdict>', `only incidents with this verdict: ${VERDICTS.join(', ')}`);
  addOutputOptions(cmd, 'table');
  cmd.addHelpText(
    'after',
    `
Columns: ${INCIDENT_LIST_COLUMNS.map((c) => c.name).join(', ')} (the TXT report under reports/ holds
the rest). incidents.csv is read as a stream: any size lists in flat memory. CSV output is
formula-safe (a cell starting with = + - @ is prefixed with ').

Exit codes:
  0  listed (also when nothing matches, or nothing was recorded yet)
  2  usage: a bad --since, --verdict or --format
  5  incidents.csv or --out could not be read or written
  7  the data directory is unsafe (writable by others, another owner, a link): nothing done`,
  );
  cmd.action(async (opts: { since?: string; verdict?: string; format: OutputFormat; out?: string }) => {
    const filter = parseIncidentFilter(opts, Date.now());
    if (!filter.ok) {
      complain(io, filter.error.message);
      return io.setExitCode(INCIDENTS_EXIT.USAGE);
    }
    const data = safeDataLayout(io);
    if (data === undefined) return;
    const file = data.layout.incidents;
    let fd: number | null = null;
    try {
      fd = openSync(file, constants.O_RDONLY | constants.O_NOFOLLOW);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'ENOENT') {
        complain(io, `cannot read ${file}: ${systemReason(e)}`);
        return io.setExitCode(INCIDENTS_EXIT.FAILED);
      }
    }
    const opened = opts.out === undefined ? ok<StreamedOutput>(stdoutOutput(io.stdout)) : fileOutput(opts.out);
    if (!opened.ok) {
      complain(io, opened.error.message);
      return io.setExitCode(INCIDENTS_EXIT.FAILED);
    }
    const out = opened.value;
    const render = incidentRenderer(opts.format);
    let rows = 0;
    try {
      out.write(render.head);
      if (fd !== null) {
        // Columns by the file's own header: files of older versions have fewer columns at the end.
        const parser = createReadStream('', { fd }).pipe(parseCsv({ columns: true, relax_column_count: true, skip_empty_lines: true, bom: true }));
        for await (const record of parser as AsyncIterable<Record<string, string>>) {
          if (!incidentMatches(record, filter.value)) continue;
          out.write(render.row(record, rows));
          rows += 1;
          const waiting = out.waitForOutput();
          if (waiting !== null) await waiting;
        }
      }
      out.write(render.tail(rows));
    } catch (e) {
      out.abort();
      complain(io, `cannot list ${file}: ${(e as Error).message}`);
      return io.setExitCode(INCIDENTS_EXIT.FAILED);
    }
    const finished = await out.finish();
    if (!finished.ok) {
      complain(io, finished.error.message);
      return io.setExitCode(INCIDENTS_EXIT.FAILED);
    }
    io.setExitCode(INCIDENTS_EXIT.OK);
  });
  return cmd;
}
