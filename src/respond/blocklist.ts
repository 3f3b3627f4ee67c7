/**
 * The simulated blocklist, `blocklist.csv` (DESIGN.md §4): one row per address currently
 * blocked. Every change rewrites the whole (small) file atomically under the blocklist
 * lock, so readers never see half a file and concurrent actions never lose an entry.
 *
 * Repeat offenders get longer blocks: the n-th block of an address within the lookback
 * lasts baseSeconds · 2^(n-1), capped at maxSeconds. Because expired entries leave the
 * blocklist, the count of recent blocks lives on in the ledger (`block-history.json`),
 * rewritten under the same lock. A manual unblock clears the address's history too: an
 * analyst lifting a block says the block was wrong.
 *
 * An offence is one firing of a detection (its search id), not one result row: in per-result
 * mode splunkd starts one action process per row, all with the same sid, so the history keeps
 * the sids that already counted for an address and a block for one of them again does not
 * escalate (the file is blocklist.csv's companion, so blocklist.csv keeps its binding columns).
 *
 * Nothing here runs a command: it returns the exact commands a block would run.
 */
import * as path from 'node:path';
import { parse } from 'csv-parse/sync';
import { createObjectCsvStringifier } from 'csv-writer';
import { IpAddress, parseIpAddress } from '../address/ip-address';
import { fail, ok, Result } from '../result';
import { DataLayout } from '../store/data-dir';
import { readJsonIfExists, readTextIfExists, writeFileAtomic } from '../store/durable-file';
import { LockOptions, withFileLock } from '../store/file-lock';
import { Verdict } from './incident';
import { firewallCommands, firewallUnblockCommands } from './firewall-commands';
import { capLength, safeCsvCell, safeText } from './safe-text';
import { guardStorage, StorageErrorKind } from './storage-failure';

export const blocklistColumns = ['ip', 'first_seen', 'last_seen', 'expires', 'count', 'verdict', 'reason'] as const;

export interface BlockEntry {
  readonly address: IpAddress;
  /** Epoch ms of the first block still remembered, the latest block, and the expiry. */
  readonly firstSeenMs: number;
  readonly lastSeenMs: number;
  readonly expiresMs: number;
  /** How many times the address was blocked within the lookback (this block included). */
  readonly count: number;
  readonly verdict: string;
  readonly reason: string;
}

export interface BlockPolicy {
  readonly baseSeconds: number;
  readonly maxSeconds: number;
  /** An earlier block that expired longer ago than this no longer counts. Default 30 days. */
  readonly lookbackSeconds?: number;
}

export interface BlockResult {
  readonly entry: BlockEntry;
  /** Length of this block in seconds (after doubling and capping). */
  readonly durationSeconds: number;
  /** Whether an earlier block of this address counted (active, or expired within the lookback). */
  readonly repeat: boolean;
  /** What the block would run; never executed. */
  readonly commands: readonly string[];
}

export type BlocklistErrorKind =
  | StorageErrorKind
  | 'invalid_policy'
  | 'invalid_time'
  | 'corrupt_blocklist';

export interface BlocklistOptions {
  readonly lock?: LockOptions;
  /**
   * The offence this block is for: the search id of the alert firing. A block of the same
   * address for an offence that already counted keeps the count and the expiry it has (the
   * rows of one per-result firing are one offence). Without it every block counts.
   */
  readonly offence?: string;
}

const DEFAULT_LOOKBACK_SECONDS = 30 * 86_400;
const MAX_REASON_CHARS = 500;
/** Offences remembered per address (the latest ones); older ones have escalated long since. */
const MAX_OFFENCES_KEPT = 32;
/** A search id is about 60-120 characters; a longer one is kept by its first 256. */
const MAX_OFFENCE_CHARS = 256;

export function blocklistLockFile(layout: DataLayout): string {
  return path.join(layout.locks, 'blocklist.lock');
}

function historyFile(layout: DataLayout): string {
  return path.join(layout.ledger, 'block-history.json');
}

/**
 * Per address: how many recent blocks, when the latest one lapsed (or lapses), and the
 * offences (search ids) that counted, latest last.
 */
interface OffenceHistory {
  [ip: string]: { count: number; firstSeenMs: number; expiresMs: number; offences?: string[] };
}

function iso(ms: number): string {
  return new Date(ms).toISOString();
}

function checkedPolicy(policy: BlockPolicy): Result<Required<BlockPolicy>, 'invalid_policy'> {
  const { baseSeconds, maxSeconds } = policy;
  const lookbackSeconds = policy.lookbackSeconds ?? DEFAULT_LOOKBACK_SECONDS;
  const whole = (n: number): boolean => Number.isSafeInteger(n) && n > 0;
  if (!whole(baseSeconds) || !whole(maxSeconds) || !Number.isSafeInteger(lookbackSeconds) || lookbackSeconds < 0 || baseSeconds > maxSeconds) {
    return fail(
      'invalid_policy',
      `block durations must be whole seconds with 0 < base <= max and lookback >= 0 (got base=${baseSeconds}, max=${maxSeconds}, lookback=${lookbackSeconds})`,
    );
  }
  return ok({ baseSeconds, maxSeconds, lookbackSeconds });
}

/** Length of the `count`-th block: base doubled per repeat, capped. */
export function blockDurationSeconds(count: number, policy: Pick<BlockPolicy, 'baseSeconds' | 'maxSeconds'>): number {
  const doublings = Math.max(0, count - 1);
  // 2^53 overflows long before any sane cap; stop doubling once past the cap.
  if (doublings >= 53) return policy.maxSeconds;
  return Math.min(policy.baseSeconds * 2 ** doublings, policy.maxSeconds);
}

const stringifier = createObjectCsvStringifier({ header: blocklistColumns.map((c) => ({ id: c, title: c })) });

export function blocklistCsv(entries: readonly BlockEntry[]): string {
  const rows = entries.map((e) => {
    const raw: Record<(typeof blocklistColumns)[number], string> = {
      ip: e.address.text,
      first_seen: iso(e.firstSeenMs),
      last_seen: iso(e.lastSeenMs),
      expires: iso(e.expiresMs),
      count: String(e.count),
      verdict: e.verdict,
      reason: capLength(e.reason, MAX_REASON_CHARS),
    };
    const safe = {} as Record<string, string>;
    for (const column of blocklistColumns) safe[column] = safeCsvCell(raw[column]);
    return safe;
  });
  return (stringifier.getHeaderString() ?? '') + (rows.length > 0 ? stringifier.stringifyRecords(rows) : '');
}

/** Parse blocklist.csv text; any row that is not a valid entry makes the whole file suspect. */
export function parseBlocklistCsv(text: string, file = 'blocklist.csv'): Result<BlockEntry[], 'corrupt_blocklist'> {
  let rows: Record<string, string>[];
  try {
    rows = parse(text, { columns: true, skip_empty_lines: true }) as Record<string, string>[];
  } catch (e) {
    return fail('corrupt_blocklist', `${file} is not valid CSV (${(e as Error).message}); fix or remove it`);
  }
  const entries: BlockEntry[] = [];
  for (const [i, row] of rows.entries()) {
    // The file is an edge too: its addresses go through the same parser as an alert's.
    const address = parseIpAddress(row.ip ?? '');
    const firstSeenMs = Date.parse(row.first_seen ?? '');
    const lastSeenMs = Date.parse(row.last_seen ?? '');
    const expiresMs = Date.parse(row.expires ?? '');
    const count = Number(row.count);
    if (!address.ok || !Number.isFinite(firstSeenMs) || !Number.isFinite(lastSeenMs) || !Number.isFinite(expiresMs) || !Number.isSafeInteger(count) || count < 1) {
      return fail('corrupt_blocklist', `${file} row ${i + 2} is not a valid block entry (ip, times or count); fix or remove it`);
    }
    entries.push({
      address: address.value,
      firstSeenMs,
      lastSeenMs,
      expiresMs,
      count,
      verdict: row.verdict ?? '',
      reason: row.reason ?? '',
    });
  }
  return ok(entries);
}

function readEntries(layout: DataLayout): Result<BlockEntry[], 'corrupt_blocklist'> {
  const text = readTextIfExists(layout.blocklist);
  return text === undefined ? ok([]) : parseBlocklistCsv(text, layout.blocklist);
}

function readHistory(layout: DataLayout): OffenceHistory {
  const read = readJsonIfExists(historyFile(layout));
  // A lost history only shortens the next block; it must not stop blocking.
  if (read === undefined || 'corrupt' in read || read.value === null || typeof read.value !== 'object') return Object.create(null) as OffenceHistory;
  return Object.assign(Object.create(null) as OffenceHistory, read.value);
}

function offencesOf(h: OffenceHistory[string] | undefined): string[] {
  return Array.isArray(h?.offences) ? h.offences.filter((o): o is string => typeof o === 'string') : [];
}

function prunedHistory(history: OffenceHistory, nowMs: number, lookbackMs: number): OffenceHistory {
  const kept = Object.create(null) as OffenceHistory;
  for (const [ip, h] of Object.entries(history)) {
    const counts = historyInLookback(h, nowMs, lookbackMs / 1000);
    if (counts) kept[ip] = counts;
  }
  return kept;
}

function validTime(nowMs: number): Result<number, 'invalid_time'> {
  return Number.isSafeInteger(nowMs) && nowMs >= 0 ? ok(nowMs) : fail('invalid_time', `now must be whole epoch milliseconds (got ${nowMs})`);
}

/** A block's inputs checked once, for either store: the policy whole, the time valid (the address is parsed already). */
export function checkedBlockInput(policy: BlockPolicy, nowMs: number): Result<Required<BlockPolicy>, 'invalid_policy' | 'invalid_time'> {
  const checked = checkedPolicy(policy);
  if (!checked.ok) return checked;
  const now = validTime(nowMs);
  if (!now.ok) return now;
  return checked;
}

/** The history entry if it still counts at `nowMs` (its block lapsed within the lookback). */
export function historyInLookback(h: BlockHistory | undefined, nowMs: number, lookbackSeconds: number): BlockHistory | undefined {
  return h && Number.isFinite(h.expiresMs) && nowMs - h.expiresMs <= lookbackSeconds * 1000 ? h : undefined;
}

/** What lifting a block of `ip` would run (the exact rule, expiry included, when the block is known). */
export function unblockCommands(ip: IpAddress, removed: BlockEntry | null): Result<readonly string[], 'invalid_time'> {
  const commands = firewallUnblockCommands(ip, removed === null ? undefined : Math.floor(removed.expiresMs / 1000));
  return commands.ok ? commands : fail('invalid_time', commands.error.message);
}

/**
 * Block `ip` (allowlist and private-address decisions are the caller's)
 * and return the entry with the commands the block would run.
 */
export function blockAddress(
  layout: DataLayout,
  ip: IpAddress,
  verdict: Verdict,
  reason: string,
  nowMs: number,
  policy: BlockPolicy,
  options: BlocklistOptions = {},
): Result<BlockResult, BlocklistErrorKind> {
  const input = checkedBlockInput(policy, nowMs);
  if (!input.ok) return input;
  const checked = input.value;
  return guardStorage<BlockResult, BlocklistErrorKind>('updating the blocklist', () =>
    withFileLock(blocklistLockFile(layout), () => {
      const read = readEntries(layout);
      if (!read.ok) return read;
      const entries = read.value;
      const history = prunedHistory(readHistory(layout), nowMs, checked.lookbackSeconds * 1000);
      const step = nextBlock(entries.find((e) => e.address.text === ip.text), history[ip.text], ip, verdict, reason, nowMs, checked, options.offence);
      if (!step.ok) return step;
      if (step.value.changed === undefined) return ok(step.value.result);
      history[ip.text] = step.value.changed.history;
      // History first: a crash between the two writes shortens a later block, never loses this one.
      writeFileAtomic(historyFile(layout), JSON.stringify(history));
      writeFileAtomic(layout.blocklist, blocklistCsv([...entries.filter((e) => e.address.text !== ip.text), step.value.result.entry]));
      return ok(step.value.result);
    }, options.lock),
  );
}

/** What an address's history holds: recent blocks, when the latest lapses, the offences that counted. */
export type BlockHistory = OffenceHistory[string];

/**
 * The pure step of a block (both stores take it): from the address's block in force (if any)
 * and its history within the lookback, the block after this offence — or, for an offence that
 * already counted while its block runs, the block as it is (`changed` undefined).
 */
export function nextBlock(
  current: BlockEntry | undefined,
  past: BlockHistory | undefined,
  address: IpAddress,
  verdict: Verdict,
  reason: string,
  nowMs: number,
  policy: Required<BlockPolicy>,
  offenceIn: string | undefined,
): Result<{ result: BlockResult; changed?: { history: BlockHistory } }, 'invalid_time'> {
  const { baseSeconds, maxSeconds } = policy;
  // Whole seconds: the firewall commands and the CSV speak in seconds.
  const nowSec = Math.floor(nowMs / 1000);
  const offence = offenceIn === undefined ? undefined : offenceIn.slice(0, MAX_OFFENCE_CHARS);
  const counted = offence !== undefined && offencesOf(past).includes(offence);
  const previousCount = current?.count ?? past?.count ?? 0;
  // The same offence again (another row of the same firing) does not count again.
  const count = counted && previousCount > 0 ? previousCount : previousCount + 1;
  const durationSeconds = blockDurationSeconds(count, { baseSeconds, maxSeconds });
  const newExpiresSec = nowSec + durationSeconds;
  // The same offence while its block runs changes nothing; a repeat never shortens a running block.
  const sameOffenceRunning = counted && current !== undefined && current.expiresMs > nowSec * 1000;
  const currentExpiresSec = current === undefined ? undefined : Math.floor(current.expiresMs / 1000);
  const expiresSec = currentExpiresSec === undefined ? newExpiresSec : sameOffenceRunning ? currentExpiresSec : Math.max(newExpiresSec, currentExpiresSec);
  const commands = firewallCommands(address, { nowEpochSec: nowSec, expiresEpochSec: expiresSec });
  if (!commands.ok) return fail('invalid_time', commands.error.message);
  if (sameOffenceRunning) {
    return ok({ result: { entry: current, durationSeconds, repeat: count > 1, commands: commands.value } });
  }
  const entry: BlockEntry = {
    address,
    firstSeenMs: current?.firstSeenMs ?? past?.firstSeenMs ?? nowSec * 1000,
    lastSeenMs: nowSec * 1000,
    expiresMs: expiresSec * 1000,
    count,
    verdict,
    reason: safeText(reason),
  };
  const offences = offence === undefined || counted ? offencesOf(past) : [...offencesOf(past), offence].slice(-MAX_OFFENCES_KEPT);
  const history: BlockHistory = { count, firstSeenMs: entry.firstSeenMs, expiresMs: entry.expiresMs, ...(offences.length > 0 ? { offences } : {}) };
  return ok({ result: { entry, durationSeconds, repeat: count > 1, commands: commands.value }, changed: { history } });
}

export interface UnblockResult {
  /** The entry removed, or null when the address was not blocked. */
  readonly removed: BlockEntry | null;
  /** What lifting the block would run (iptables deletes by the exact rule, expiry included). */
  readonly commands: readonly string[];
}

/** Lift the block of `ip` (the CLI's `soar-edr unblock`) and forget its offence history. */
export function unblockAddress(layout: DataLayout, ip: IpAddress, options: BlocklistOptions = {}): Result<UnblockResult, BlocklistErrorKind> {
  return guardStorage<UnblockResult, BlocklistErrorKind>('updating the blocklist', () =>
    withFileLock(blocklistLockFile(layout), () => {
      const read = readEntries(layout);
      if (!read.ok) return read;
      const removed = read.value.find((e) => e.address.text === ip.text) ?? null;
      const history = readHistory(layout);
      if (history[ip.text] !== undefined) {
        delete history[ip.text];
        writeFileAtomic(historyFile(layout), JSON.stringify(history));
      }
      if (removed !== null) writeFileAtomic(layout.blocklist, blocklistCsv(read.value.filter((e) => e.address.text !== ip.text)));
      const commands = unblockCommands(ip, removed);
      return commands.ok ? ok({ removed, commands: commands.value }) : commands;
    }, options.lock),
  );
}

/** Remove every entry whose expiry has passed; their count stays in the history for the lookback. */
export function purgeExpired(layout: DataLayout, nowMs: number, options: BlocklistOptions = {}): Result<BlockEntry[], BlocklistErrorKind> {
  const now = validTime(nowMs);
  if (!now.ok) return now;
  return guardStorage<BlockEntry[], BlocklistErrorKind>('purging the blocklist', () =>
    withFileLock(blocklistLockFile(layout), () => {
      const read = readEntries(layout);
      if (!read.ok) return read;
      const expired = read.value.filter((e) => e.expiresMs <= nowMs);
      if (expired.length > 0) writeFileAtomic(layout.blocklist, blocklistCsv(read.value.filter((e) => e.expiresMs > nowMs)));
      return ok(expired);
    }, options.lock),
  );
}

/** Blocks in force at `nowMs` (no lock: the file is only ever replaced whole). */
export function listBlocks(layout: DataLayout, nowMs: number): Result<BlockEntry[], BlocklistErrorKind> {
  return guardStorage<BlockEntry[], BlocklistErrorKind>('reading the blocklist', () => {
    const read = readEntries(layout);
    if (!read.ok) return read;
    return ok(read.value.filter((e) => e.expiresMs > nowMs));
  });
}
