/**
 * What `soar-edr authlog` and `soar-edr winlog` print: the failed-login summary of the
 * analysis core (src/analysis/bruteforce.ts) as one JSON document, a CSV of the sources,
 * or a text report of aligned tables. Pure: summary in, text out. Every address and user
 * name here was typed by an attacker, so the table and the CSV go through output-format's
 * neutralising renderers and headings through safeText.
 */
import type { AuthLogCounts } from '../analysis/authlog';
import {
  BruteForceOptions,
  bruteForceOptions,
  type FailureSummary,
  type SourceReport,
  type SuccessAfterFailures,
  type UserCount,
} from '../analysis/bruteforce';
import type { CodeCount, LogonTypeCount, WinLogCounts } from '../analysis/winlog';
import { parseDuration } from '../pipeline/settings';
import { safeText } from '../respond/safe-text';
import { fail, ok, Result } from '../result';
import { CellValue, Column, groupedCount, jsonPieces, OutputFormat, renderCsv, renderTable } from './output-format';

/** One input file (or stdin) as it was read. */
export interface InputReport {
  /** The path as given, or "-" for stdin. */
  readonly name: string;
  readonly bytes: number;
  readonly gzip: boolean;
  /** Lines (auth.log) or records (Windows export) read. */
  readonly records: number;
  /** Why the input could not be read (fully); null when it was. */
  readonly error: string | null;
}

/** What a reputation lookup said about one address, as --enrich shows it next to a source. */
export interface SourceReputation {
  readonly verdict: string;
  readonly reason: string;
  /** The lookup's whole row as `soar-edr reputation --format json` prints it (without the target), for the JSON document. */
  readonly details?: Readonly<Record<string, CellValue>>;
}

/** How syslog lines, which have no year, got theirs: --year, or inferred from the time of reading. */
export type SyslogYear =
  | { readonly kind: 'given'; readonly year: number }
  /** Each line in the latest year that puts it at or before `latestMs` (a day after reading). */
  | { readonly kind: 'inferred'; readonly latestMs: number };

/** The parts of the report that only one of the two commands has. */
export type AnalysisDetails =
  | { readonly kind: 'authlog'; readonly counts: AuthLogCounts; readonly year: SyslogYear; readonly timeZone: string }
  | {
      readonly kind: 'winlog';
      readonly counts: WinLogCounts;
      readonly formats: readonly string[];
      readonly byReason: readonly CodeCount[];
      readonly byLogonType: readonly LogonTypeCount[];
      readonly byStatus: readonly CodeCount[];
      /** Records that could not be read (bad JSON, broken CSV row). */
      readonly malformed: number;
    };

export interface FailureReport {
  readonly inputs: readonly InputReport[];
  readonly failures: FailureSummary;
  readonly details: AnalysisDetails;
  /** Reputation per address, present when --enrich ran. */
  readonly reputation?: ReadonlyMap<string, SourceReputation>;
}

/** ISO 8601 UTC without milliseconds when they are zero; null for unknown times. */
export function isoTime(ms: number | null): string | null {
  if (ms === null || !Number.isFinite(ms)) return null;
  const iso = new Date(ms).toISOString();
  return iso.endsWith('.000Z') ? `${iso.slice(0, 19)}Z` : iso;
}

/** "45s", "10m", "1h30m", "2d": the window as a person would write it. */
export function formatSeconds(seconds: number): string {
  if (!Number.isFinite(seconds) || seconds <= 0) return `${seconds}s`;
  const parts: string[] = [];
  let rest = Math.round(seconds);
  for (const [unit, size] of [['d', 86_400], ['h', 3_600], ['m', 60]] as const) {
    if (rest >= size) {
      parts.push(`${Math.floor(rest / size)}${unit}`);
      rest %= size;
    }
  }
  if (rest > 0 || parts.length === 0) parts.push(`${rest}s`);
  return parts.join('');
}

function count(n: number): string {
  return groupedCount(n);
}

function plural(n: number, one: string, many = `${one}s`): string {
  return `${count(n)} ${n === 1 ? one : many}`;
}

/** "root (278), admin (3)": a source's most tried user names in one cell. */
export function userList(users: readonly UserCount[], capped = false): string {
  const list = users.map((u) => `${u.user} (${u.failures})`).join(', ');
  return capped ? `${list}, …` : list;
}

/** The sources a table or CSV lists: the top sources and every brute-force candidate, most failures first. */
export function reportedSources(f: FailureSummary): SourceReport[] {
  const seen = new Set(f.topSources.map((s) => s.address));
  const extra = f.bruteForce.filter((s) => !seen.has(s.address));
  return [...f.topSources, ...extra].sort((a, b) => b.failures - a.failures || (a.address < b.address ? -1 : a.address > b.address ? 1 : 0));
}

/**
 * Columns of the per-source rows (the CSV output). With per-account counting (winlog) the
 * busiest window is one account's, and max_window_account names it.
 */
export function sourceColumns(perAccount: boolean, reputation?: ReadonlyMap<string, SourceReputation>): Column<SourceReport>[] {
  const cols: Column<SourceReport>[] = [
    { header: 'address', value: (s) => s.address },
    { header: 'scope', value: (s) => s.scope },
    { header: 'failures', value: (s) => s.failures, numeric: true },
    { header: 'max_in_window', value: (s) => s.maxInWindow, numeric: true },
    ...(perAccount ? [{ header: 'max_window_account', value: (s: SourceReport) => s.maxWindowAccount }] : []),
    { header: 'brute_force', value: (s) => s.isBruteForce },
    { header: 'window_start', value: (s) => isoTime(s.maxWindowStartMs) },
    { header: 'window_end', value: (s) => isoTime(s.maxWindowEndMs) },
    { header: 'first', value: (s) => isoTime(s.firstMs) },
    { header: 'last', value: (s) => isoTime(s.lastMs) },
    { header: 'users', value: (s) => (s.distinctUsersCapped ? `${s.distinctUsers}+` : s.distinctUsers), numeric: true },
    { header: 'successes', value: (s) => s.successes, numeric: true },
    { header: 'top_users', value: (s) => userList(s.topUsers, s.distinctUsersCapped) },
  ];
  if (reputation !== undefined) {
    cols.push(
      { header: 'verdict', value: (s) => reputation.get(s.address)?.verdict ?? null },
      { header: 'verdict_reason', value: (s) => reputation.get(s.address)?.reason ?? null },
    );
  }
  return cols;
}

/** Shorter columns for the terminal: the window's times are in the JSON and CSV. */
function tableSourceColumns(windowSeconds: number, reputation?: ReadonlyMap<string, SourceReputation>): Column<SourceReport>[] {
  const cols: Column<SourceReport>[] = [
    { header: 'address', value: (s) => s.address },
    { header: 'scope', value: (s) => s.scope },
    { header: 'failures', value: (s) => s.failures, numeric: true },
    { header: `max in ${formatSeconds(windowSeconds)}`, value: (s) => s.maxInWindow, numeric: true },
    { header: 'brute force', value: (s) => (s.isBruteForce ? 'yes' : '') },
    { header: 'first', value: (s) => isoTime(s.firstMs) },
    { header: 'last', value: (s) => isoTime(s.lastMs) },
  ];
  if (reputation !== undefined) {
    cols.push(
      { header: 'verdict', value: (s) => reputation.get(s.address)?.verdict ?? '' },
      { header: 'reason', value: (s) => reputation.get(s.address)?.reason ?? '' },
    );
  }
  cols.push({ header: 'top users', value: (s) => userList(s.topUsers.slice(0, 3), s.topUsers.length > 3 || s.distinctUsersCapped) });
  return cols;
}

const USER_COLUMNS: Column<UserCount>[] = [
  { header: 'user', value: (u) => u.user },
  { header: 'failures', value: (u) => u.failures, numeric: true },
];

const SUCCESS_COLUMNS: Column<SuccessAfterFailures>[] = [
  { header: 'address', value: (s) => s.address },
  { header: 'scope', value: (s) => s.scope },
  { header: 'user', value: (s) => s.user },
  { header: 'method', value: (s) => s.method },
  { header: 'time', value: (s) => isoTime(s.timeMs) },
  { header: 'failures before', value: (s) => s.failuresBefore, numeric: true },
  { header: 'last failure', value: (s) => isoTime(s.lastFailureMs) },
];

const CODE_COLUMNS: Column<CodeCount>[] = [
  { header: 'reason', value: (c) => c.reason },
  { header: 'code', value: (c) => c.code },
  { header: 'failures', value: (c) => c.count, numeric: true },
];

const LOGON_TYPE_COLUMNS: Column<LogonTypeCount>[] = [
  { header: 'logon type', value: (t) => (t.logonType === null ? 'none' : t.logonType), numeric: true },
  { header: 'name', value: (t) => t.name ?? '' },
  { header: 'failures', value: (t) => t.count, numeric: true },
];

/** Whether the report holds something to act on: the exit code's "findings". */
export function hasFindings(f: FailureSummary): boolean {
  return f.bruteForce.length > 0 || f.successAfterFailures.length > 0;
}

function sourceJson(s: SourceReport, reputation?: ReadonlyMap<string, SourceReputation>): Record<string, unknown> {
  const o: Record<string, unknown> = {
    address: s.address,
    scope: s.scope,
    public: s.isPublic,
    failures: s.failures,
    max_in_window: s.maxInWindow,
    max_window_account: s.maxWindowAccount,
    window_start: isoTime(s.maxWindowStartMs),
    window_end: isoTime(s.maxWindowEndMs),
    brute_force: s.isBruteForce,
    first: isoTime(s.firstMs),
    last: isoTime(s.lastMs),
    distinct_users: s.distinctUsers,
    distinct_users_capped: s.distinctUsersCapped,
    top_users: s.topUsers.map((u) => ({ user: u.user, failures: u.failures })),
    successes: s.successes,
  };
  if (reputation !== undefined) {
    const r = reputation.get(s.address);
    o.reputation = r === undefined ? null : (r.details ?? { verdict: r.verdict, reason: r.reason });
  }
  return o;
}

function detailsJson(d: AnalysisDetails): Record<string, unknown> {
  if (d.kind === 'authlog') {
    const c = d.counts;
    return {
      year: d.year.kind === 'given' ? d.year.year : null,
      years_inferred_up_to: d.year.kind === 'inferred' ? isoTime(d.year.latestMs) : null,
      time_zone: d.timeZone,
      lines: c.lines,
      event_lines: c.eventLines,
      failed_password_lines: c.failedPasswordLines,
      failed_by_method: c.failedByMethod,
      repeated_failed_lines: c.repeatedFailedLines,
      invalid_user_lines: c.invalidUserLines,
      pam_failures: c.pamFailures,
      legacy_pam_failures: c.legacyPamFailures,
      max_attempts_exceeded: c.maxAttemptsExceeded,
      preauth_disconnects: c.preauthDisconnects,
      accepted: c.accepted,
      untimed_events: c.untimedEvents,
    };
  }
  return {
    formats: d.formats,
    failure_events: d.counts.failures,
    success_events: d.counts.successes,
    untimed_events: d.counts.untimedEvents,
    malformed_records: d.malformed,
    by_reason: d.byReason.map((r) => ({ reason: r.reason, code: r.code === '' ? null : r.code, failures: r.count })),
    by_logon_type: d.byLogonType.map((t) => ({ logon_type: t.logonType, name: t.name, failures: t.count })),
    by_status: d.byStatus.map((s) => ({ status: s.code === '' ? null : s.code, reason: s.reason, failures: s.count })),
  };
}

/** The whole report as one JSON document (`--format json`), in pieces (see jsonPieces). */
function* failureReportJson(r: FailureReport): Generator<string> {
  const f = r.failures;
  const doc = {
    command: r.details.kind,
    inputs: r.inputs.map((i) => ({ name: i.name, bytes: i.bytes, gzip: i.gzip, records: i.records, error: i.error })),
    window_seconds: f.windowSeconds,
    threshold: f.threshold,
    per_account: f.perAccount,
    success_after: f.failuresBeforeSuccess,
    success_window_seconds: f.successWindowSeconds,
    totals: {
      failed_attempts: f.totalFailures,
      sources: f.distinctSources,
      without_source: f.failuresWithoutSource,
      users: f.distinctUsers,
      users_approximate: f.usersApproximate,
      successes: f.successes,
      brute_force_sources: f.bruteForce.length,
      success_after_failures: f.successAfterFailures.length + f.successAfterFailuresTruncated,
      out_of_order_events: f.outOfOrderEvents,
      first: isoTime(f.firstMs),
      last: isoTime(f.lastMs),
    },
    [r.details.kind]: detailsJson(r.details),
    top_sources: f.topSources.map((s) => sourceJson(s, r.reputation)),
    top_users: f.topUsers.map((u) => ({ user: u.user, failures: u.failures })),
    brute_force: f.bruteForce.map((s) => sourceJson(s, r.reputation)),
    success_after_failures: f.successAfterFailures.map((s) => ({
      address: s.address,
      scope: s.scope,
      public: s.isPublic,
      user: s.user,
      method: s.method,
      time: isoTime(s.timeMs),
      failures_before: s.failuresBefore,
      last_failure: isoTime(s.lastFailureMs),
    })),
    success_after_failures_truncated: f.successAfterFailuresTruncated,
  };
  yield* jsonPieces(doc);
  yield '\n';
}

function inputsLine(inputs: readonly InputReport[], unit: string): string {
  const records = inputs.reduce((n, i) => n + i.records, 0);
  const names = inputs.length === 1 ? safeText(inputs[0]!.name === '-' ? 'stdin' : inputs[0]!.name) : plural(inputs.length, 'input');
  return `${names}: ${plural(records, unit)}`;
}

function authlogLines(d: Extract<AnalysisDetails, { kind: 'authlog' }>): string[] {
  const c = d.counts;
  const methods = Object.entries(c.failedByMethod)
    .map(([m, n]) => `${safeText(m || 'unknown')} ${count(n)}`)
    .join(', ');
  const lines = [
    `Failed by method: ${methods || 'none'}${c.legacyPamFailures > 0 ? `; old sshd(pam_unix) authentication failures ${count(c.legacyPamFailures)}` : ''}`,
    `Other sshd events: ${count(c.invalidUserLines)} invalid user, ${count(c.pamFailures)} PAM failures, ${count(c.maxAttemptsExceeded)} max attempts exceeded, ${count(c.preauthDisconnects)} preauth disconnects, ${count(c.accepted)} accepted`,
    `Syslog times ${yearText(d.year)}, zone ${d.timeZone}${c.untimedEvents > 0 ? `; ${count(c.untimedEvents)} events without a readable time` : ''}`,
  ];
  return lines;
}

function yearText(y: SyslogYear): string {
  return y.kind === 'given' ? `read from year ${y.year} (--year)` : `placed in the year that puts them at or before ${isoTime(y.latestMs) ?? 'unknown'}`;
}

function section(title: string, body: string): string {
  return `\n${title}\n${body}`;
}

/** The text report (`--format table`). */
export function failureReportTable(r: FailureReport): string {
  const f = r.failures;
  const d = r.details;
  const window = formatSeconds(f.windowSeconds);
  const head: string[] = [
    `${inputsLine(r.inputs, d.kind === 'authlog' ? 'line' : 'record')}, ${plural(f.totalFailures, 'failed attempt')} from ${plural(f.distinctSources, 'source')}` +
      `${f.failuresWithoutSource > 0 ? ` (${count(f.failuresWithoutSource)} without a source)` : ''}, ${plural(f.distinctUsers, 'user name')}${f.usersApproximate ? ' (approximate)' : ''}, ${plural(f.successes, 'successful logon')}`,
    `Time range: ${isoTime(f.firstMs) ?? 'unknown'} to ${isoTime(f.lastMs) ?? 'unknown'}; window ${window}, threshold ${count(f.threshold)}${f.perAccount ? ' per account' : ''}`,
  ];
  if (d.kind === 'authlog') head.push(...authlogLines(d));
  else {
    head.push(`Formats: ${d.formats.join(', ') || 'none'}; ${plural(d.counts.failures, '4625 event')}, ${plural(d.counts.successes, '4624 event')}${d.malformed > 0 ? `, ${plural(d.malformed, 'unreadable record')}` : ''}`);
  }
  if (f.outOfOrderEvents > 0) head.push(`Note: ${plural(f.outOfOrderEvents, 'event')} earlier than the one before from the same source (give rotated files oldest first)`);
  for (const i of r.inputs) if (i.error !== null) head.push(`Not read completely: ${safeText(i.name)}: ${safeText(i.error)}`);

  let out = head.join('\n') + '\n';
  out += section(
    `Top sources (${count(f.topSources.length)} of ${count(f.distinctSources)})`,
    f.topSources.length === 0 ? '(none)\n' : renderTable(tableSourceColumns(f.windowSeconds, r.reputation), f.topSources),
  );
  out += section(`Top user names (${count(f.topUsers.length)} of ${count(f.distinctUsers)})`, f.topUsers.length === 0 ? '(none)\n' : renderTable(USER_COLUMNS, f.topUsers));
  if (d.kind === 'winlog') {
    out += section('Failures by reason (SubStatus, else Status)', d.byReason.length === 0 ? '(none)\n' : renderTable(CODE_COLUMNS, d.byReason));
    out += section('Failures by logon type', d.byLogonType.length === 0 ? '(none)\n' : renderTable(LOGON_TYPE_COLUMNS, d.byLogonType));
  }
  const bf = f.bruteForce;
  out += section(
    `Brute-force candidates: ${count(bf.length)} (more than ${count(f.threshold)} failures${f.perAccount ? ' against one account' : ''} within ${window})`,
    bf.length === 0
      ? '(none)\n'
      : renderTable(
          [
            { header: 'address', value: (s: SourceReport) => s.address },
            { header: 'scope', value: (s: SourceReport) => s.scope },
            { header: `max in ${window}`, value: (s: SourceReport) => s.maxInWindow, numeric: true },
            ...(f.perAccount ? [{ header: 'account', value: (s: SourceReport) => s.maxWindowAccount }] : []),
            { header: 'window start', value: (s: SourceReport) => isoTime(s.maxWindowStartMs) },
            { header: 'window end', value: (s: SourceReport) => isoTime(s.maxWindowEndMs) },
            { header: 'failures', value: (s: SourceReport) => s.failures, numeric: true },
            ...(r.reputation !== undefined
              ? [
                  { header: 'verdict', value: (s: SourceReport) => r.reputation!.get(s.address)?.verdict ?? '' },
                  { header: 'reason', value: (s: SourceReport) => r.reputation!.get(s.address)?.reason ?? '' },
                ]
              : []),
          ],
          bf,
        ),
  );
  const saf = f.successAfterFailures;
  out += section(
    `Success after failures: ${count(saf.length + f.successAfterFailuresTruncated)} (more than ${count(f.failuresBeforeSuccess)} failures within ${formatSeconds(f.successWindowSeconds)} before)`,
    saf.length === 0 ? '(none)\n' : renderTable(SUCCESS_COLUMNS, saf),
  );
  return out;
}

/** The report in the chosen format: the text report, the sources as CSV, or the JSON document. */
export function renderFailureReport(format: OutputFormat, r: FailureReport): string {
  return [...failureReportPieces(format, r)].join('');
}

/** renderFailureReport's text in pieces, for writing a large JSON report without holding it whole. */
export function* failureReportPieces(format: OutputFormat, r: FailureReport): Generator<string> {
  if (format === 'json') yield* failureReportJson(r);
  else if (format === 'csv') yield renderCsv(sourceColumns(r.failures.perAccount, r.reputation), reportedSources(r.failures));
  else yield failureReportTable(r);
}

// ------------------------------------------------------------------------------ options

/** The window and threshold options as typed (authlog and winlog share them). */
export interface FailureOptionText {
  readonly threshold: string;
  readonly window: string;
  readonly successAfter: string;
  readonly successWindow: string;
  readonly top: string;
}

/** Options as a person would type them: the defaults the commands show in --help. */
export function failureOptionText(o: BruteForceOptions): FailureOptionText {
  return {
    threshold: String(o.threshold),
    window: formatSeconds(o.windowSeconds),
    successAfter: String(o.failuresBeforeSuccess),
    successWindow: formatSeconds(o.successWindowSeconds),
    top: String(o.topN),
  };
}

function wholeNumber(text: string, option: string, least: number): Result<number, 'usage'> {
  const t = text.trim();
  if (!/^\d{1,9}$/.test(t) || Number(t) < least) return fail('usage', `--${option} must be a whole number of at least ${least}, not ${JSON.stringify(text.slice(0, 40))}`);
  return ok(Number(t));
}

function seconds(text: string, option: string): Result<number, 'usage'> {
  const d = parseDuration(text);
  if (!d.ok) return fail('usage', `--${option}: ${d.error.message}`);
  if (d.value <= 0) return fail('usage', `--${option} must be longer than 0 seconds`);
  return d;
}

/**
 * --threshold, --window (90, 90s, 10m, 1h, 1d), --success-after, --success-window and --top as
 * the core's options, over `base` (the command's detection, which decides per-account counting).
 */
export function parseFailureOptions(text: FailureOptionText, base: BruteForceOptions): Result<BruteForceOptions, 'usage'> {
  // "More than 0" is a meaningful threshold: every failure counts.
  const threshold = wholeNumber(text.threshold, 'threshold', 0);
  if (!threshold.ok) return threshold;
  const window = seconds(text.window, 'window');
  if (!window.ok) return window;
  const successAfter = wholeNumber(text.successAfter, 'success-after', 0);
  if (!successAfter.ok) return successAfter;
  const successWindow = seconds(text.successWindow, 'success-window');
  if (!successWindow.ok) return successWindow;
  const top = wholeNumber(text.top, 'top', 1);
  if (!top.ok) return top;
  const options = bruteForceOptions(
    {
      threshold: threshold.value,
      windowSeconds: window.value,
      failuresBeforeSuccess: successAfter.value,
      successWindowSeconds: successWindow.value,
      topN: top.value,
    },
    base,
  );
  return options.ok ? options : fail('usage', options.error.message);
}
