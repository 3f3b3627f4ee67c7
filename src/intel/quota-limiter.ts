/**
 * One request budget per provider for the whole host: Splunk runs an action process per
 * alert result, many at once, and the CLI runs beside them; each asks here before it
 * spends a request. The state is a small JSON file per provider, read-modified-written
 * under an inter-process lock.
 *
 * Defaults are the free tiers: VirusTotal public API 4 requests per rolling minute and 500
 * per UTC day (its daily quota resets at 00:00 UTC); AbuseIPDB Standard 1,000 /check per
 * day and no per-minute limit (we count its day in UTC too; its own reset time comes back
 * in X-RateLimit-Reset on a 429, which the caller turns into a penalty). Premium keys
 * configure larger limits or none.
 *
 * A grant counts the request at once. A request that then never reached the provider
 * (refused, DNS, TLS handshake, connect timeout: nothing was written to a connection) gives
 * its slot back (`release`); one that was written has used the slot at the provider,
 * answered or not. A corrupt state file is started afresh (it can only come from outside
 * edits: every write replaces it atomically).
 */
import * as path from 'node:path';
import { readJsonIfExists, writeFileAtomic } from '../store/durable-file';
import { LockTimeoutError, withFileLock } from '../store/file-lock';
import { asJsonObject } from './json-fields';
import type { IntelProvider } from './lookup-cache';

export interface QuotaLimits {
  /** Requests per rolling 60 s; null for no per-minute limit. */
  readonly perMinute: number | null;
  /** Requests per UTC day; null for no daily limit. */
  readonly perDay: number | null;
}

export const DEFAULT_QUOTA_LIMITS: Readonly<Record<IntelProvider, QuotaLimits>> = Object.freeze({
  virustotal: { perMinute: 4, perDay: 500 },
  abuseipdb: { perMinute: null, perDay: 1000 },
});

/**
 * minute / day: the budget is spent until availableAtMs. penalty: a provider answered 429
 * and every process backs off until then. busy: the state file's lock was not obtained in
 * time (a hung disk or a stuck process); try again later.
 */
export type QuotaDenialReason = 'minute' | 'day' | 'penalty' | 'busy';

export type QuotaDecision =
  /** `atMs`: the grant's time as recorded, which `release` needs to give the slot back. */
  | { readonly granted: true; readonly minuteUsed: number; readonly dayUsed: number; readonly atMs: number }
  | { readonly granted: false; readonly reason: QuotaDenialReason; readonly availableAtMs: number };

export interface QuotaUsage {
  readonly minuteUsed: number;
  readonly dayUsed: number;
  /** UTC day the count belongs to, YYYY-MM-DD. */
  readonly day: string;
  readonly penaltyUntilMs: number;
  readonly limits: QuotaLimits;
}

export interface QuotaState {
  /** Grant times within the last minute, ascending. */
  minute: number[];
  day: string;
  dayCount: number;
  penaltyUntilMs: number;
}

const MINUTE_MS = 60_000;
const DAY_MS = 86_400_000;
/** No 429 tells us to wait more than a day; a larger value is a bad header or clock. */
export const MAX_PENALTY_MS = 25 * 60 * 60 * 1000;
const LOCK_TIMEOUT_MS = 5_000;
const BUSY_RETRY_MS = 1_000;
const FORMAT_VERSION = 1;

export function utcDay(ms: number): string {
  return new Date(ms).toISOString().slice(0, 10);
}

/** The next 00:00 UTC after `ms`. */
export function nextUtcMidnight(ms: number): number {
  return Math.floor(ms / DAY_MS) * DAY_MS + DAY_MS;
}

function fresh(nowMs: number): QuotaState {
  return { minute: [], day: utcDay(nowMs), dayCount: 0, penaltyUntilMs: 0 };
}

function isCount(v: unknown): v is number {
  return typeof v === 'number' && Number.isFinite(v) && v >= 0;
}

function parseState(value: unknown, nowMs: number): QuotaState {
  const o = asJsonObject(value);
  if (o === undefined || o.v !== FORMAT_VERSION || !Array.isArray(o.minute) || typeof o.day !== 'string' || !isCount(o.dayCount) || !isCount(o.penaltyUntilMs)) {
    return fresh(nowMs);
  }
  return { minute: o.minute.filter(isCount), day: o.day, dayCount: o.dayCount, penaltyUntilMs: o.penaltyUntilMs };
}

/**
 * The pure step: forget what is outside the windows at `nowMs`, then grant or deny.
 * Grant times more than a minute in the future (the clock stepped back) are dropped so a
 * clock change cannot block a provider for hours.
 */
export function decideQuota(state: QuotaState, limits: QuotaLimits, nowMs: number): { state: QuotaState; decision: QuotaDecision } {
  const today = utcDay(nowMs);
  const minute = state.minute.filter((t) => t > nowMs - MINUTE_MS && t <= nowMs + MINUTE_MS).sort((a, b) => a - b);
  const dayCount = state.day === today ? state.dayCount : 0;
  const penaltyUntilMs = state.penaltyUntilMs > nowMs + MAX_PENALTY_MS ? nowMs + MAX_PENALTY_MS : state.penaltyUntilMs;
  const current: QuotaState = { minute, day: today, dayCount, penaltyUntilMs };

  const blocks: { reason: QuotaDenialReason; at: number }[] = [];
  if (penaltyUntilMs > nowMs) blocks.push({ reason: 'penalty', at: penaltyUntilMs });
  if (limits.perDay !== null && dayCount >= limits.perDay) blocks.push({ reason: 'day', at: nextUtcMidnight(nowMs) });
  if (limits.perMinute !== null && minute.length >= limits.perMinute) {
    // The slot frees when the grant that is perMinute back from the newest leaves the window.
    blocks.push({ reason: 'minute', at: minute[minute.length - limits.perMinute] + MINUTE_MS });
  }
  if (blocks.length > 0) {
    const last = blocks.reduce((a, b) => (b.at > a.at ? b : a));
    return { state: current, decision: { granted: false, reason: last.reason, availableAtMs: last.at } };
  }
  const granted: QuotaState = { ...current, minute: [...minute, nowMs], dayCount: dayCount + 1 };
  return { state: granted, decision: { granted: true, minuteUsed: granted.minute.length, dayUsed: granted.dayCount, atMs: nowMs } };
}

/**
 * The pure step of giving back the slot granted at `grantedAtMs`: that grant's time leaves
 * the minute window (one of them, when several processes were granted in the same
 * millisecond) and the day count drops by one if the grant was counted in the state's day.
 * A grant already out of the window, or from another day, changes only what it still
 * counts in; nothing goes below zero.
 */
export function releaseQuota(state: QuotaState, grantedAtMs: number): QuotaState {
  const at = state.minute.indexOf(grantedAtMs);
  const minute = at < 0 ? state.minute : [...state.minute.slice(0, at), ...state.minute.slice(at + 1)];
  const dayCount = state.day === utcDay(grantedAtMs) ? Math.max(0, state.dayCount - 1) : state.dayCount;
  return { ...state, minute, dayCount };
}

export class QuotaLimiter {
  private readonly limits: Readonly<Record<IntelProvider, QuotaLimits>>;
  private readonly released = new WeakSet<object>();

  /**
   * `dir` is dataLayout(root).quota. `lockTimeoutMs` bounds the wait for the state file's
   * lock (default 5 s); past it the answer is a 'busy' denial, never a hang.
   */
  constructor(readonly dir: string, limits: Partial<Record<IntelProvider, QuotaLimits>> = {}, private readonly lockTimeoutMs = LOCK_TIMEOUT_MS) {
    this.limits = { ...DEFAULT_QUOTA_LIMITS, ...limits };
  }

  limitsFor(provider: IntelProvider): QuotaLimits {
    return this.limits[provider];
  }

  private stateFile(provider: IntelProvider): string {
    return path.join(this.dir, `${provider}.json`);
  }

  private update<T>(provider: IntelProvider, nowMs: number, step: (state: QuotaState) => { state: QuotaState; result: T }): T | undefined {
    const file = this.stateFile(provider);
    try {
      return withFileLock(path.join(this.dir, `${provider}.lock`), () => {
        const read = readJsonIfExists(file);
        const before = read !== undefined && 'value' in read ? parseState(read.value, nowMs) : fresh(nowMs);
        const { state, result } = step(before);
        const text = JSON.stringify({ v: FORMAT_VERSION, ...state });
        // Denials usually change nothing: skip the write (and its fsync) then.
        if (read === undefined || !('value' in read) || text !== JSON.stringify(read.value)) writeFileAtomic(file, text, { durable: false });
        return result;
      }, { timeoutMs: this.lockTimeoutMs });
    } catch (e) {
      if (e instanceof LockTimeoutError) return undefined;
      throw e;
    }
  }

  /** Take one request slot now, or say why not and when the earliest slot frees. */
  tryAcquire(provider: IntelProvider, nowMs: number): QuotaDecision {
    const decision = this.update(provider, nowMs, (state) => {
      const step = decideQuota(state, this.limits[provider], nowMs);
      return { state: step.state, result: step.decision };
    });
    return decision ?? { granted: false, reason: 'busy', availableAtMs: nowMs + BUSY_RETRY_MS };
  }

  /**
   * Take a slot, waiting for it only when it frees before `deadlineMs`; otherwise return the
   * denial at once (a daily limit or a long penalty never makes a run wait). Waiters wake
   * with a little jitter so they do not all retry in the same millisecond.
   */
  async acquireBefore(
    provider: IntelProvider,
    deadlineMs: number,
    sleep: (ms: number) => Promise<void>,
    now: () => number,
    random: () => number = Math.random,
  ): Promise<QuotaDecision> {
    for (;;) {
      const t = now();
      const decision = this.tryAcquire(provider, t);
      if (decision.granted) return decision;
      const wakeAt = decision.availableAtMs + Math.floor(random() * 50);
      if (wakeAt >= deadlineMs) return decision;
      await sleep(Math.max(1, wakeAt - t));
    }
  }

  /**
   * Give back a slot whose request never reached the provider. Each grant is given back at
   * most once through this limiter (a second call does nothing and returns false); the
   * state is changed under the same lock as grants, so other processes see it at once.
   * false also when the lock was not obtained (the slot then stays spent: the safe side).
   */
  release(provider: IntelProvider, grant: Extract<QuotaDecision, { granted: true }>, nowMs: number): boolean {
    if (this.released.has(grant)) return false;
    const done = this.update(provider, nowMs, (state) => ({ state: releaseQuota(state, grant.atMs), result: true }));
    if (done === true) this.released.add(grant);
    return done === true;
  }

  /**
   * After a real 429: deny every process until `untilMs` (Retry-After, X-RateLimit-Reset,
   * or the caller's guess). Never shortens a longer penalty; capped at 25 h from `nowMs`.
   */
  penalize(provider: IntelProvider, untilMs: number, nowMs: number = Date.now()): boolean {
    const until = Math.min(untilMs, nowMs + MAX_PENALTY_MS);
    const done = this.update(provider, nowMs, (state) => ({
      state: { ...state, penaltyUntilMs: Math.max(state.penaltyUntilMs, until) },
      result: true,
    }));
    return done === true;
  }

  /**
   * The shared state as it is on disk (grant times, day count, penalty), for estimating when
   * later requests can go out (decideQuota on a copy); does not consume anything.
   */
  snapshot(provider: IntelProvider, nowMs: number): QuotaState {
    const read = readJsonIfExists(this.stateFile(provider));
    return read !== undefined && 'value' in read ? parseState(read.value, nowMs) : fresh(nowMs);
  }

  /** What is used at `nowMs` (for `soar-edr` status lines); does not consume anything. */
  usage(provider: IntelProvider, nowMs: number): QuotaUsage {
    const read = readJsonIfExists(this.stateFile(provider));
    const state = read !== undefined && 'value' in read ? parseState(read.value, nowMs) : fresh(nowMs);
    const today = utcDay(nowMs);
    return {
      minuteUsed: state.minute.filter((t) => t > nowMs - MINUTE_MS && t <= nowMs + MINUTE_MS).length,
      dayUsed: state.day === today ? state.dayCount : 0,
      day: today,
      penaltyUntilMs: state.penaltyUntilMs,
      limits: this.limits[provider],
    };
  }
}
