/**
 * `soar-edr incidents [--since 24h] [--verdict V] [--format table|csv|json]`: the incidents
 * recorded in the data directory's incidents.csv, filtered by time and verdict. The file is
 * read as a stream and every row written as soon as it is read, so a CSV of millions of
 * incidents is listed in flat memory.
 */
import { csvCell } from '../analysis/attempt-export';
import { constants, createReadStream, openSync } from 'node:fs';
import { Command } from 'commander';
import { parse as parseCsv } from 'csv-parse';
import { parseDuration } from '../pipeline/settings';
import { Verdict } from '../respond/incident';
import { safeText } from '../respond/safe-text';
import { fail, ok, Result } from '../result';
import { addOutputOptions, fileOutput, OutputFormat, stdoutOutput, StreamedOutput } from './output-format';
import { INCIDENTS_COLLECTION } from '../state/kv-state';
import type { KvDocument, KvQuery, KvResult, KvStoreClient } from '../store/kvstore-client';
import { isStateFailure, kvClientOrFailure, kvExitCode } from './kvstore-connection';
import { addConnectionOptions, CliIO, complain, ConnectionOptions, connectionRequested, REST_EXIT, safeDataLayout, systemReason, UNSAFE_DATA_DIR_EXIT } from './runtime';

/** AUTH and UNREACHABLE: splunkd's, with a connection (the KV store). */
export const INCIDENTS_EXIT = { OK: 0, USAGE: 2, AUTH: REST_EXIT.AUTH, UNREACHABLE: REST_EXIT.UNREACHABLE, FAILED: 5, UNSAFE_DATA_DIR: UNSAFE_DATA_DIR_EXIT } as const;

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


/**
 * The columns listed from the KV store's soar_incidents collection (what every cluster member
 * recorded): its fields, times as ISO 8601 like incidents.csv's. failure_count is not kept
 * there (the member's incidents.csv and TXT report have it); status, updated, rid and the
 * Discord message id are.
 */
export const KV_INCIDENT_LIST_COLUMNS = [
  { name: 'time', width: 24 },
  { name: 'incident_id', width: 26 },
  { name: 'src_ip', width: 15 },
  { name: 'verdict', width: 10 },
  { name: 'action', width: 11 },
  { name: 'status', width: 10 },
  { name: 'expires', width: 24 },
  { name: 'updated', width: 24 },
  { name: 'discord_message_id', width: 20 },
  { name: 'rid', width: 5 },
  { name: 'sid', width: 0 },
] as const;

export type IncidentColumns = readonly { readonly name: string; readonly width: number }[];

/** The KV store's query for a filter: time in epoch seconds, as soar_incidents stores it. */
export function kvIncidentQuery(filter: IncidentFilter): KvQuery {
  return {
    ...(filter.sinceMs === null ? {} : { time: { $gte: filter.sinceMs / 1000 } }),
    ...(filter.verdict === null ? {} : { verdict: filter.verdict }),
  };
}

const isoSeconds = (v: unknown): string => {
  if (typeof v !== 'number' || !Number.isFinite(v)) return '';
  const d = new Date(Math.round(v * 1000));
  return Number.isNaN(d.getTime()) ? '' : d.toISOString();
};
const fieldText = (v: unknown): string => (typeof v === 'string' ? v : typeof v === 'number' && Number.isFinite(v) ? String(v) : '');

/** A soar_incidents document as a row of KV_INCIDENT_LIST_COLUMNS. */
export function kvIncidentRow(doc: KvDocument): Record<string, string> {
  return {
    time: isoSeconds(doc.time),
    incident_id: fieldText(doc.incident_id),
    src_ip: fieldText(doc.src_ip),
    verdict: fieldText(doc.verdict),
    action: fieldText(doc.action),
    status: fieldText(doc.status),
    expires: isoSeconds(doc.expires),
    updated: isoSeconds(doc.updated),
    discord_message_id: fieldText(doc.discord_message_id),
    rid: fieldText(doc.rid),
    sid: fieldText(doc.sid),
  };
}

/** One format's pieces: the opening, one piece per row (the index says whether it is the first), the end. */
export function incidentRenderer(
  format: OutputFormat,
  columns: IncidentColumns = INCIDENT_LIST_COLUMNS,
): { head: string; row: (r: Readonly<Record<string, string | undefined>>, index: number) => string; tail: (rows: number) => string } {
  const names = columns.map((c) => c.name);
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
  const line = (cells: readonly string[]): string => cells.map((t, i) => t.padEnd(columns[i]!.width)).join('  ').trimEnd() + '\n';
  return {
    head: line(names),
    row: (r) => line(names.map((n) => safeText(value(r, n)))),
    tail: (rows) => (rows === 0 ? 'no incidents match\n' : ''),
  };
}

/** Rows asked per KV store query: below max_rows_per_query's default (50000), so a page is never cut by it. */
export const KV_PAGE_ROWS = 10_000;

const KV_FIELDS = ['incident_id', 'sid', 'rid', 'time', 'updated', 'src_ip', 'verdict', 'status', 'action', 'expires', 'discord_message_id'] as const;

/**
 * The soar_incidents documents a filter matches, oldest first, a page at a time (limit/skip).
 * The listing ends at the first empty page, not a short one: a splunkd whose
 * max_rows_per_query is below the page size answers short pages that are not the last.
 */
export async function* kvIncidentPages(kv: KvStoreClient, filter: IncidentFilter, pageRows = KV_PAGE_ROWS): AsyncGenerator<KvResult<KvDocument[]>> {
  const query = kvIncidentQuery(filter);
  for (let skip = 0; ; ) {
    const page = await kv.query(INCIDENTS_COLLECTION, { query, fields: [...KV_FIELDS], sort: [{ field: 'time' }, { field: '_key' }], limit: pageRows, skip });
    if (!page.ok || page.value.length === 0) {
      if (!page.ok) yield page;
      return;
    }
    yield page;
    skip += page.value.length;
  }
}

export function incidentsCommand(io: CliIO): Command {
  const cmd = new Command('incidents')
    .description("list the incidents recorded in the data directory's incidents.csv, or in the KV store with a connection option")
    .option('--since <duration>', 'only incidents of the last DURATION, e.g. 90m, 24h, 7d (default: all)')
    .option('--verdict <verdict>', `only incidents with this verdict: ${VERDICTS.join(', ')}`);
  addOutputOptions(cmd, 'table');
  addConnectionOptions(cmd, io.env);
  cmd.addHelpText(
    'after',
    `
Without a connection option: this host's incidents.csv. Columns:
  ${INCIDENT_LIST_COLUMNS.map((c) => c.name).join(', ')}
(the TXT report under reports/ holds the rest). incidents.csv is read as a stream: any size
lists in flat memory.
With a connection option (--host, --port, --scheme, --user, --password, or SPLUNK_HOST /
SPLUNK_PASSWORD): the KV store's soar_incidents collection, what every member of a search
head cluster recorded, read ${KV_PAGE_ROWS} at a time. Columns:
  ${KV_INCIDENT_LIST_COLUMNS.map((c) => c.name).join(', ')}
CSV output is formula-safe (a cell starting with = + - @ is prefixed with ').

Exit codes:
  0  listed (also when nothing matches, or nothing was recorded yet)
  2  usage: a bad --since, --verdict or --format; with a connection: no Splunk password,
     an unreadable --ca-file
  3  splunkd refused the credentials or the KV store refused the user
  4  splunkd unreachable, or its TLS certificate not trusted (nothing was sent)
  5  incidents.csv or --out could not be read or written, or the KV store failed
  7  the data directory is unsafe (writable by others, another owner, a link): nothing done`,
  );
  cmd.action(async (opts: ConnectionOptions & { since?: string; verdict?: string; format: OutputFormat; out?: string }) => {
    const filter = parseIncidentFilter(opts, Date.now());
    if (!filter.ok) {
      complain(io, filter.error.message);
      return io.setExitCode(INCIDENTS_EXIT.USAGE);
    }
    const data = safeDataLayout(io);
    if (data === undefined) return;
    if (connectionRequested(cmd, io.env)) return io.setExitCode(await listFromKvStore(io, opts, filter.value));
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

/** The listing from the KV store's soar_incidents; the exit code. */
async function listFromKvStore(io: CliIO, opts: ConnectionOptions & { format: OutputFormat; out?: string }, filter: IncidentFilter): Promise<number> {
  const kv = await kvClientOrFailure(opts, io);
  if (isStateFailure(kv)) {
    complain(io, kv.message);
    return kv.exitCode;
  }
  try {
    const opened = opts.out === undefined ? ok<StreamedOutput>(stdoutOutput(io.stdout)) : fileOutput(opts.out);
    if (!opened.ok) {
      complain(io, opened.error.message);
      return INCIDENTS_EXIT.FAILED;
    }
    const out = opened.value;
    const render = incidentRenderer(opts.format, KV_INCIDENT_LIST_COLUMNS);
    let rows = 0;
    out.write(render.head);
    for await (const page of kvIncidentPages(kv, filter)) {
      if (!page.ok) {
        out.abort();
        complain(io, page.error.message);
        return kvExitCode(page.error.kind);
      }
      for (const doc of page.value) {
        out.write(render.row(kvIncidentRow(doc), rows));
        rows += 1;
      }
      const waiting = out.waitForOutput();
      if (waiting !== null) await waiting;
    }
    out.write(render.tail(rows));
    const finished = await out.finish();
    if (!finished.ok) {
      complain(io, finished.error.message);
      return INCIDENTS_EXIT.FAILED;
    }
    return INCIDENTS_EXIT.OK;
  } finally {
    kv.close();
  }
}
