/**
 * Incremental failed-login aggregation shared by the auth.log and Windows 4625 analyses:
 * totals, top sources and user names, the busiest sliding window per source (brute-force
 * candidates) and successful logons that follow failures.
 *
 * Memory stays flat on large inputs: per source only counters, a capped user table and the
 * timestamps inside one window are kept; per-attempt records are never stored.
 */
import { Result, ok, fail } from '../result';
import { AddressScope, classifyAddress } from './address-scope';

export interface BruteForceOptions {
  /** Width of the sliding window, seconds (> 0). */
  readonly windowSeconds: number;
  /** A source is a brute-force candidate when some window holds at least this many failures. */
  readonly threshold: number;
  /** A success is reported when its source had at least this many failures before it. */
  readonly minFailuresBeforeSuccess: number;
  /** How many sources / user names the top lists hold. */
  readonly topN: number;
}

export const DEFAULT_BRUTE_FORCE_OPTIONS: BruteForceOptions = {
  windowSeconds: 60,
  threshold: 10,
  minFailuresBeforeSuccess: 5,
  topN: 10,
};

export type BruteForceOptionError = 'invalid_option';

/** Fills defaults and rejects values the window logic cannot work with. */
export function bruteForceOptions(
  given: Partial<BruteForceOptions> = {},
): Result<BruteForceOptions, BruteForceOptionError> {
  const merged = { ...DEFAULT_BRUTE_FORCE_OPTIONS, ...dropUndefined(given) };
  if (!Number.isFinite(merged.windowSeconds) || merged.windowSeconds <= 0) {
    return fail('invalid_option', `window must be a number of seconds greater than 0 (got ${String(given.windowSeconds)})`);
  }
  for (const key of ['threshold', 'minFailuresBeforeSuccess', 'topN'] as const) {
    const v = merged[key];
    if (!Number.isInteger(v) || v < 1) {
      return fail('invalid_option', `${key} must be a whole number of at least 1 (got ${String(given[key])})`);
    }
  }
  return ok(merged);
}

function dropUndefined<T extends object>(o: T): Partial<T> {
  const out: Partial<T> = {};
  for (const [k, v] of Object.entries(o)) if (v !== undefined) (out as Record<string, unknown>)[k] = v;
  return out;
}

/**
 * Regex captures and slices share memory with the line (and the 64 KiB chunk it came from).
 * Keys kept for the whole run are copied so they do not pin those chunks.
 */
export function detachString(s: string): string {
  return s.length < 13 ? s : Buffer.from(s, 'utf8').toString('utf8');
}

/** Removes a[0, n) by moving the rest down; the backing store is reused (V8 trims it when it is mostly empty). */
function dropFront(a: number[], n: number): void {
  const keep = a.length - n;
  for (let i = 0; i < keep; i++) a[i] = a[i + n]!;
  a.length = keep;
}

/** Largest number of weighted events within any window of `windowMs`, fed in time order. */
export class SlidingWindowMax {
  private times: number[] = [];
  /** Weights of `times`, allocated at the first weight other than 1 (most sources never have one). */
  private counts: number[] | null = null;
  private head = 0;
  private inWindow = 0;
  private last = -Infinity;
  max = 0;
  maxStartMs = NaN;
  maxEndMs = NaN;
  /**
   * Events that arrived earlier than the one before them. A small step back is counted at the
   * later time; a jump back by a window or more starts a new segment (windows never span it).
   */
  outOfOrder = 0;

  constructor(private readonly windowMs: number) {}

  add(timeMs: number, count: number): void {
    let t = timeMs;
    if (t < this.last) {
      this.outOfOrder += 1;
      if (t <= this.last - this.windowMs) {
        // A jump back by more than a window (files concatenated out of order, a clock reset):
        // start a new segment. Clamping instead would pile every later event into one window
        // and grow the queue without bound.
        this.times = [];
        this.counts = null;
        this.head = 0;
        this.inWindow = 0;
      } else {
        t = this.last;
      }
    }
    this.last = t;
    if (this.counts === null && count !== 1) this.counts = this.times.map(() => 1);
    this.times.push(t);
    if (this.counts !== null) this.counts.push(count);
    this.inWindow += count;
    // An event stays in the window while it is less than windowMs older than the newest.
    const cutoff = t - this.windowMs;
    const counts = this.counts;
    while (this.times[this.head]! <= cutoff) {
      this.inWindow -= counts === null ? 1 : counts[this.head]!;
      this.head += 1;
    }
    if (this.inWindow > this.max) {
      this.max = this.inWindow;
      this.maxStartMs = this.times[this.head]!;
      this.maxEndMs = t;
    }
    // Compact once the expired prefix is at least half the queue: amortised O(1) per event,
    // and a source's queue holds at most about twice the events of its current window instead of
    // every timestamp of a source that attacks slowly through the whole file.
    // In place: new arrays per compaction lived long enough to be promoted and then became
    // old-generation garbage (tens of MB over a 1 GB log).
    if (this.head >= 16 && this.head * 2 >= this.times.length) {
      dropFront(this.times, this.head);
      if (counts !== null) dropFront(counts, this.head);
      this.head = 0;
    }
  }
}

/** A counted key; the record holds the key so callers can share the table's copy of it. */
interface Tally {
  readonly key: string;
  count: number;
}

/**
 * Exact counts while fewer than `capacity` distinct keys are seen; beyond that the table is
 * pruned to the largest `capacity` entries whenever it doubles, so counts become lower bounds
 * (flagged by `approximate`). Keeps a dictionary attack over millions of names in bounded memory.
 */
export class BoundedCounter {
  private readonly counts = new Map<string, Tally>();
  approximate = false;
  /** Largest count ever dropped by pruning: any key's true count may exceed its kept count by this much. */
  maxDropped = 0;
  private distinctSeen = 0;

  constructor(private readonly capacity: number) {}

  /**
   * Counts `n` more for `key` and returns the table's own copy of the key (detached from the
   * line it came from), so other tables can keep that one string instead of a copy each.
   */
  add(key: string, n: number): string {
    const tally = this.counts.get(key);
    if (tally !== undefined) {
      tally.count += n;
      return tally.key;
    }
    const kept = detachString(key);
    this.counts.set(kept, { key: kept, count: n });
    this.distinctSeen += 1;
    if (this.counts.size > this.capacity * 2) this.prune();
    return kept;
  }

  private prune(): void {
    const tallies = [...this.counts.values()].sort((a, b) => b.count - a.count);
    for (let i = this.capacity; i < tallies.length; i++) {
      const { key, count } = tallies[i]!;
      this.counts.delete(key);
      if (count > this.maxDropped) this.maxDropped = count;
    }
    this.approximate = true;
  }

  /** Distinct keys seen; an upper bound once pruning has happened (a key may be counted again). */
  get distinct(): number {
    return this.approximate ? this.distinctSeen : this.counts.size;
  }

  top(n: number): { key: string; count: number }[] {
    return [...this.counts.values()]
      .sort((a, b) => b.count - a.count || compareText(a.key, b.key))
      .slice(0, n)
      .map(({ key, count }) => ({ key, count }));
  }
}

const USERS_PER_SOURCE = 64;
const TRACKED_USERS = 100_000;
const SUCCESS_RECORDS = 1_000;

class SourceStats {
  failures = 0;
  firstMs = NaN;
  lastMs = NaN;
  successes = 0;
  lastFailureMs = NaN;
  /**
   * The user names tried and their failure counts, flat: [name, count, name, count, ...].
   * Most sources try a few names: with 14,600 sources (the 1 GiB benchmark log) a Map each
   * was 8 of the 25 MB live at the end, these arrays are under half of that, and sharing the
   * global counter's strings took the names from 4.4 to 2.6 MB.
   */
  readonly users: (string | number)[] = [];
  /** Index in `users` of the last name counted: attacks repeat one name line after line. */
  lastUserAt = 0;
  usersOverflow = false;
  readonly window: SlidingWindowMax;
  constructor(windowMs: number) {
    this.window = new SlidingWindowMax(windowMs);
  }

  /** Counts `count` failures for `user` (a string safe to keep: the global counter's copy). */
  addUser(user: string, count: number): void {
    const users = this.users;
    let at = this.lastUserAt;
    if (users[at] !== user) {
      at = -1;
      for (let i = 0; i < users.length; i += 2) {
        if (users[i] === user) {
          at = i;
          break;
        }
      }
      if (at < 0) {
        if (users.length >= USERS_PER_SOURCE * 2) {
          this.usersOverflow = true;
          return;
        }
        at = users.length;
        users.push(user, 0);
      }
      this.lastUserAt = at;
    }
    users[at + 1] = (users[at + 1] as number) + count;
  }

  get distinctUsers(): number {
    return this.users.length / 2;
  }

  topUsers(n: number): UserCount[] {
    const list: UserCount[] = [];
    for (let i = 0; i < this.users.length; i += 2) list.push({ user: this.users[i] as string, failures: this.users[i + 1] as number });
    return list.sort((a, b) => b.failures - a.failures || compareText(a.user, b.user)).slice(0, n);
  }
}

export interface UserCount {
  readonly user: string;
  readonly failures: number;
}

export interface SourceReport {
  readonly address: string;
  readonly scope: AddressScope;
  readonly isPublic: boolean;
  readonly failures: number;
  readonly firstMs: number | null;
  readonly lastMs: number | null;
  /** Most failures inside any window of `windowSeconds`, and that window's first/last event. */
  readonly maxInWindow: number;
  readonly maxWindowStartMs: number | null;
  readonly maxWindowEndMs: number | null;
  /** maxInWindow reached the threshold. */
  readonly isBruteForce: boolean;
  readonly distinctUsers: number;
  /** True when more than 64 distinct names were tried: `distinctUsers` is then a floor. */
  readonly distinctUsersCapped: boolean;
  readonly topUsers: readonly UserCount[];
  readonly successes: number;
}

export interface SuccessAfterFailures {
  readonly address: string;
  readonly scope: AddressScope;
  readonly isPublic: boolean;
  readonly user: string | null;
  readonly method: string | null;
  readonly timeMs: number | null;
  readonly failuresBefore: number;
  readonly lastFailureMs: number | null;
}

export interface FailureSummary {
  readonly windowSeconds: number;
  readonly threshold: number;
  readonly totalFailures: number;
  readonly distinctSources: number;
  readonly failuresWithoutSource: number;
  readonly firstMs: number | null;
  readonly lastMs: number | null;
  readonly topSources: readonly SourceReport[];
  readonly topUsers: readonly UserCount[];
  readonly distinctUsers: number;
  /** True once more than 100,000 distinct user names were seen; top user counts are then lower bounds. */
  readonly usersApproximate: boolean;
  /** Every source whose busiest window reached the threshold, busiest first. */
  readonly bruteForce: readonly SourceReport[];
  readonly successes: number;
  readonly successAfterFailures: readonly SuccessAfterFailures[];
  /** More qualifying successes than the 1,000 kept in `successAfterFailures`. */
  readonly successAfterFailuresTruncated: number;
  /** Events whose time was earlier than the previous one from the same source. */
  readonly outOfOrderEvents: number;
}

function finite(ms: number): number | null {
  return Number.isFinite(ms) ? ms : null;
}

export class FailureAggregator {
  private readonly sources = new Map<string, SourceStats>();
  private readonly users = new BoundedCounter(TRACKED_USERS);
  private readonly windowMs: number;
  private total = 0;
  private withoutSource = 0;
  private firstMs = NaN;
  private lastMs = NaN;
  private successCount = 0;
  private readonly successRecords: {
    address: string;
    user: string | null;
    method: string | null;
    timeMs: number;
    failuresBefore: number;
    lastFailureMs: number;
  }[] = [];
  private successTruncated = 0;
  private lastAddress: string | null = null;
  private lastSource: SourceStats | null = null;

  constructor(private readonly options: BruteForceOptions) {
    this.windowMs = options.windowSeconds * 1000;
  }

  /** One failed logon (or `count` identical ones, as in "message repeated N times"). */
  addFailure(timeMs: number, address: string | null, user: string | null, count = 1): void {
    this.total += count;
    const timed = Number.isFinite(timeMs);
    if (timed) {
      if (!(timeMs >= this.firstMs)) this.firstMs = timeMs;
      if (!(timeMs <= this.lastMs)) this.lastMs = timeMs;
    }
    // The global counter's copy of the name, shared by every source that tries it.
    const keptUser = user === null ? null : this.users.add(user, count);
    if (address === null) {
      this.withoutSource += count;
      return;
    }
    // Attacks come in bursts: most lines name the source of the line before.
    let s: SourceStats | undefined;
    if (address === this.lastAddress) {
      s = this.lastSource!;
    } else {
      s = this.sources.get(address);
      if (s === undefined) {
        s = new SourceStats(this.windowMs);
        address = detachString(address);
        this.sources.set(address, s);
      }
      this.lastAddress = address;
      this.lastSource = s;
    }
    s.failures += count;
    if (timed) {
      if (!(timeMs >= s.firstMs)) s.firstMs = timeMs;
      if (!(timeMs <= s.lastMs)) s.lastMs = timeMs;
      s.lastFailureMs = timeMs;
      s.window.add(timeMs, count);
    }
    if (keptUser !== null) s.addUser(keptUser, count);
  }

  /** A successful logon; reported when its source already had enough failures. */
  addSuccess(timeMs: number, address: string | null, user: string | null, method: string | null): void {
    this.successCount += 1;
    if (address === null) return;
    const s = this.sources.get(address);
    if (s === undefined) return;
    s.successes += 1;
    if (s.failures < this.options.minFailuresBeforeSuccess) return;
    if (this.successRecords.length >= SUCCESS_RECORDS) {
      this.successTruncated += 1;
      return;
    }
    this.successRecords.push({
      address: detachString(address),
      user: user === null ? null : detachString(user),
      method: method === null ? null : detachString(method),
      timeMs,
      failuresBefore: s.failures,
      lastFailureMs: s.lastFailureMs,
    });
  }

  summarize(): FailureSummary {
    const { topN, threshold, windowSeconds } = this.options;
    const byFailures = (a: [string, SourceStats], b: [string, SourceStats]): number =>
      b[1].failures - a[1].failures || compareText(a[0], b[0]);
    const all = [...this.sources.entries()];
    const top = all.sort(byFailures).slice(0, topN).map(([k, s]) => this.report(k, s));
    const bruteForce = all
      .filter(([, s]) => s.window.max >= threshold)
      .sort((a, b) => b[1].window.max - a[1].window.max || byFailures(a, b))
      .map(([k, s]) => this.report(k, s));
    let outOfOrder = 0;
    for (const s of this.sources.values()) outOfOrder += s.window.outOfOrder;
    return {
      windowSeconds,
      threshold,
      totalFailures: this.total,
      distinctSources: this.sources.size,
      failuresWithoutSource: this.withoutSource,
      firstMs: finite(this.firstMs),
      lastMs: finite(this.lastMs),
      topSources: top,
      topUsers: this.users.top(topN).map(({ key, count }) => ({ user: key, failures: count })),
      distinctUsers: this.users.distinct,
      usersApproximate: this.users.approximate,
      bruteForce,
      successes: this.successCount,
      successAfterFailures: this.successRecords.map((r) => {
        const cls = classifyAddress(r.address);
        return {
          address: r.address,
          scope: cls.scope,
          isPublic: cls.isPublic,
          user: r.user,
          method: r.method,
          timeMs: finite(r.timeMs),
          failuresBefore: r.failuresBefore,
          lastFailureMs: finite(r.lastFailureMs),
        };
      }),
      successAfterFailuresTruncated: this.successTruncated,
      outOfOrderEvents: outOfOrder,
    };
  }

  private report(address: string, s: SourceStats): SourceReport {
    const cls = classifyAddress(address);
    return {
      address,
      scope: cls.scope,
      isPublic: cls.isPublic,
      failures: s.failures,
      firstMs: finite(s.firstMs),
      lastMs: finite(s.lastMs),
      maxInWindow: s.window.max,
      maxWindowStartMs: finite(s.window.maxStartMs),
      maxWindowEndMs: finite(s.window.maxEndMs),
      isBruteForce: s.window.max >= this.options.threshold,
      distinctUsers: s.distinctUsers,
      distinctUsersCapped: s.usersOverflow,
      topUsers: s.topUsers(5),
      successes: s.successes,
    };
  }
}

function compareText(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
