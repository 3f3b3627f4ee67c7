/**
 * One row per failed attempt for `--csv` / `--json` output, the same columns for auth.log and
 * Windows events, rendered line by line so a caller can stream them as they are read.
 * User names come from attackers: CSV cells are quoted as needed and made spreadsheet-safe
 * (safeCsvCell: formula guard in every piece of a cell, controls made visible, length cap).
 */
import { safeCsvCell } from '../respond/safe-text';
import { AuthEvent } from './authlog';
import { WinLogonEvent } from './winlog';

export interface FailedAttemptRow {
  /** ISO 8601 UTC, or "" when the log line had no readable time. */
  readonly time: string;
  /** "sshd" (Failed <method>), "pam" (old sshd(pam_unix) tag), or "4625". */
  readonly source: 'sshd' | 'pam' | '4625';
  /** Syslog host or Windows computer. */
  readonly host: string;
  readonly address: string;
  /** null when the line names no account ("" is a real, empty user name). */
  readonly user: string | null;
  readonly invalidUser: boolean;
  /** sshd method ("password", ...) or Windows logon type name ("Network", ...). */
  readonly method: string;
  /** Windows failure reason ("bad password", ...); "invalid user" for sshd unknown accounts. */
  readonly reason: string;
  readonly port: number | null;
  /** Attempts the row stands for ("message repeated N times"). */
  readonly count: number;
}

export const FAILED_ATTEMPT_COLUMNS = [
  'time',
  'source',
  'host',
  'address',
  'user',
  'invalid_user',
  'method',
  'reason',
  'port',
  'count',
] as const;

function isoOrEmpty(ms: number): string {
  return Number.isFinite(ms) ? new Date(ms).toISOString() : '';
}

export function attemptFromAuthEvent(ev: AuthEvent): FailedAttemptRow {
  return {
    time: isoOrEmpty(ev.timeMs),
    source: ev.kind === 'pam_failure' ? 'pam' : 'sshd',
    host: ev.host,
    address: ev.address ?? '',
    user: ev.user,
    invalidUser: ev.invalidUser,
    method: ev.method ?? '',
    reason: ev.invalidUser ? 'invalid user' : '',
    port: ev.port,
    count: ev.count,
  };
}

export function attemptFromWinEvent(ev: WinLogonEvent): FailedAttemptRow {
  return {
    time: isoOrEmpty(ev.timeMs),
    source: '4625',
    host: ev.computer ?? '',
    address: ev.address ?? '',
    user: ev.user,
    invalidUser: ev.subStatus === '0xc0000064',
    method: ev.logonTypeName ?? (ev.logonType === null ? '' : String(ev.logonType)),
    reason: ev.reason,
    port: ev.port,
    count: 1,
  };
}

const NEEDS_QUOTES = /[",\r\n]|^\s|\s$/;

/** One CSV cell (RFC 4180 quoting), made spreadsheet-safe by the app's one rule (safeCsvCell). */
export function csvCell(value: string): string {
  const v = safeCsvCell(value);
  return NEEDS_QUOTES.test(v) ? `"${v.replace(/"/g, '""')}"` : v;
}

/** The header line, without a line break. */
export function failedAttemptCsvHeader(): string {
  return FAILED_ATTEMPT_COLUMNS.join(',');
}

/** One CSV line, without a line break. */
export function failedAttemptCsvLine(row: FailedAttemptRow): string {
  return [
    row.time,
    row.source,
    row.host,
    row.address,
    row.user ?? '',
    row.invalidUser ? 'true' : 'false',
    row.method,
    row.reason,
    row.port === null ? '' : String(row.port),
    String(row.count),
  ]
    .map(csvCell)
    .join(',');
}

/** One JSON object (for JSON Lines output), values verbatim, without a line break. */
export function failedAttemptJsonLine(row: FailedAttemptRow): string {
  return JSON.stringify({
    time: row.time === '' ? null : row.time,
    source: row.source,
    host: row.host === '' ? null : row.host,
    address: row.address === '' ? null : row.address,
    user: row.user,
    invalid_user: row.invalidUser,
    method: row.method === '' ? null : row.method,
    reason: row.reason === '' ? null : row.reason,
    port: row.port,
    count: row.count,
  });
}
