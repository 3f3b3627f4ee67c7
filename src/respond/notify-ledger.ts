/**
 * The re-notification window: an address already announced on Discord within the window
 * is recorded as an incident but not announced again, unless its verdict got worse
 * (SAFE < UNKNOWN < SUSPICIOUS < MALICIOUS, `verdictRank`). The window runs from the last
 * notification, so a persistent attacker is announced again once per window.
 *
 * One small JSON file per address in `ledger/notified/`, changed under a per-address lock:
 * many alert processes for the same address decide one at a time, so exactly one of them
 * notifies. Use `claimNotification` (decide and record in one locked step) in the pipeline;
 * `shouldNotify` / `markNotified` are the two halves for callers that decide elsewhere.
 */
import * as path from 'node:path';
import type { IpAddress } from '../address/ip-address';
import { fail, ok, Result } from '../result';
import { DataLayout } from '../store/data-dir';
import { readJsonIfExists, writeFileAtomic } from '../store/durable-file';
import { LockOptions, withFileLock } from '../store/file-lock';
import { verdictRank } from '../intel/verdict';
import { Verdict } from './incident';
import { guardStorage, StorageErrorKind } from './storage-failure';

export interface NotifiedRecord {
  readonly ip: string;
  readonly verdict: Verdict;
  /** Epoch ms of the last notification sent (the window's start). */
  readonly notifiedAtMs: number;
  readonly incidentId: string | null;
  /** Incidents of this address not announced since then. */
  readonly suppressed: number;
}

export interface NotifyDecision {
  readonly notify: boolean;
  /** For the log: "first notification", "verdict SUSPICIOUS → MALICIOUS", "notified 12 min ago as MALICIOUS". */
  readonly reason: string;
  readonly previous: NotifiedRecord | null;
}

export type NotifyLedgerErrorKind = StorageErrorKind | 'invalid_window';

const VERDICTS: readonly Verdict[] = ['SAFE', 'UNKNOWN', 'SUSPICIOUS', 'MALICIOUS'];

function addressFileBase(ip: IpAddress): string {
  // ':' is not allowed in Windows file names; '-' never occurs in an address.
  return ip.text.replace(/:/g, '-');
}

function recordFile(layout: DataLayout, base: string): string {
  return path.join(layout.ledger, 'notified', `${base}.json`);
}

function lockFile(layout: DataLayout, base: string): string {
  return path.join(layout.locks, `notified-${base}.lock`);
}

function readRecord(file: string): NotifiedRecord | null {
  const read = readJsonIfExists(file);
  if (read === undefined || 'corrupt' in read) return null;
  const r = read.value as Partial<NotifiedRecord> | null;
  if (r === null || typeof r !== 'object' || !VERDICTS.includes(r.verdict as Verdict) || !Number.isFinite(r.notifiedAtMs)) return null;
  return { ip: String(r.ip), verdict: r.verdict as Verdict, notifiedAtMs: Number(r.notifiedAtMs), incidentId: r.incidentId ?? null, suppressed: Number(r.suppressed) || 0 };
}

const MAX_CLOCK_SKEW_MS = 5 * 60 * 1000;

function minutesAgo(ms: number): string {
  const minutes = Math.max(0, Math.round(ms / 60_000));
  return minutes < 1 ? 'less than a minute ago' : `${minutes} min ago`;
}

/** The decision as a pure function of the previous record. */
export function decideNotification(previous: NotifiedRecord | null, verdict: Verdict, nowMs: number, windowSeconds: number): NotifyDecision {
  if (previous === null) return { notify: true, reason: 'first notification for this address', previous };
  const age = nowMs - previous.notifiedAtMs;
  // Callers read the clock before waiting for the ledger's lock, so a concurrent process may
  // have recorded a slightly later time: only a clock stepped far back voids the record.
  if (age >= windowSeconds * 1000 || age < -MAX_CLOCK_SKEW_MS) {
    return { notify: true, reason: `last notification ${minutesAgo(age)}, outside the ${windowSeconds} s window`, previous };
  }
  if (verdictRank(verdict) > verdictRank(previous.verdict)) {
    return { notify: true, reason: `verdict got worse: ${previous.verdict} → ${verdict}`, previous };
  }
  return { notify: false, reason: `already notified ${minutesAgo(age)} as ${previous.verdict}; within the ${windowSeconds} s window`, previous };
}

function checkedWindow(windowSeconds: number): Result<number, 'invalid_window'> {
  return Number.isFinite(windowSeconds) && windowSeconds >= 0
    ? ok(windowSeconds)
    : fail('invalid_window', `the re-notification window must be a number of seconds >= 0 (got ${windowSeconds})`);
}

/** Read-only: would an incident for `ip` with `verdict` be announced now? */
export function shouldNotify(layout: DataLayout, ip: IpAddress, verdict: Verdict, nowMs: number, windowSeconds: number): Result<NotifyDecision, NotifyLedgerErrorKind> {
  const base = addressFileBase(ip);
  const window = checkedWindow(windowSeconds);
  if (!window.ok) return window;
  return guardStorage<NotifyDecision, NotifyLedgerErrorKind>('reading the notification ledger', () =>
    ok(decideNotification(readRecord(recordFile(layout, base)), verdict, nowMs, window.value)));
}

/** Record that `ip` was announced with `verdict` at `nowMs`. */
export function markNotified(
  layout: DataLayout,
  ip: IpAddress,
  verdict: Verdict,
  nowMs: number,
  incidentId: string | null,
  options: { lock?: LockOptions } = {},
): Result<NotifiedRecord, NotifyLedgerErrorKind> {
  const base = addressFileBase(ip);
  return guardStorage<NotifiedRecord, NotifyLedgerErrorKind>('updating the notification ledger', () =>
    withFileLock(lockFile(layout, base), () => {
      const record: NotifiedRecord = { ip: ip.text, verdict, notifiedAtMs: nowMs, incidentId, suppressed: 0 };
      writeFileAtomic(recordFile(layout, base), JSON.stringify(record), { durable: false });
      return ok(record);
    }, options.lock));
}

/**
 * Decide and record in one locked step: when the decision is to notify, the address is
 * marked notified now (the notification is then either delivered or kept in the outbox);
 * otherwise the suppressed count goes up.
 */
export function claimNotification(
  layout: DataLayout,
  ip: IpAddress,
  verdict: Verdict,
  nowMs: number,
  windowSeconds: number,
  incidentId: string | null,
  options: { lock?: LockOptions } = {},
): Result<NotifyDecision, NotifyLedgerErrorKind> {
  const base = addressFileBase(ip);
  const window = checkedWindow(windowSeconds);
  if (!window.ok) return window;
  return guardStorage<NotifyDecision, NotifyLedgerErrorKind>('updating the notification ledger', () =>
    withFileLock(lockFile(layout, base), () => {
      const file = recordFile(layout, base);
      const previous = readRecord(file);
      const decision = decideNotification(previous, verdict, nowMs, window.value);
      const record: NotifiedRecord = decision.notify
        ? { ip: ip.text, verdict, notifiedAtMs: nowMs, incidentId, suppressed: 0 }
        : { ...(previous as NotifiedRecord), suppressed: (previous as NotifiedRecord).suppressed + 1 };
      writeFileAtomic(file, JSON.stringify(record), { durable: false });
      return ok(decision);
    }, options.lock));
}
