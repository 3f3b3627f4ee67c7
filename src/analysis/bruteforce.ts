/**
 * Incremental failed-login aggregation shared by the auth.log and Windows 4625 analyses:
 * totals, top sources and user names, the busiest sliding window per source, or per source
 * and account (brute-force candidates), and successful logons that follow failures.
 *
 * The shipped detections are scheduled searches over the last N minutes; over a file the
 * equivalent is "more than THRESHOLD failures within ANY window of that width", which is what
 * the sliding window finds.
 *
 * Memory stays flat on large inputs: per source only counters, a capped user table and the
 * timestamps inside the longer of the two windows are kept; per-attempt records are never stored.
 */
import { Result, ok, fail } from '../result';
import { AddressScope, classifyAddress } from './address-scope';

export interface BruteForceOptions {
  /** Width of the sliding window, seconds (> 0). */
  readonly windowSeconds: number;
  /**
   * A source is a brute-force candidate when some window holds MORE than this many failures
   * (the detections' `where failure_count > threshold`: a threshold of 10 fires at 11).
   */
  readonly threshold: number;
  /**
   * Count each account of a source in windows of its own, as the Windows detection's
   * `stats count by src_ip, user` does: the source is a candidate when the failures against
   * one account pass the threshold. Failures that name no account then count in no window.
   */
  readonly perAccount: boolean;
  /** A success is reported when MORE than this many failures from its source fell in the `successWindowSeconds` before it. */
  readonly failuresBeforeSuccess: number;
  /** How far before a success its source's failures count, seconds (> 0). */
  readonly successWindowSeconds: number;
  /** How many sources / user names the top lists hold. */
  readonly topN: number;
}

/**
 * The shipped detections' defaults (default/macros.conf), so that `soar-edr authlog` and the
 * app's "SSH brute force" search agree on a log: more than 10 failures from one address within
 * 15 minutes (soar_ssh_bruteforce_threshold / _window); a success after more than 3 failures
 * within 30 minutes (soar_compromise_failure_threshold / soar_compromise_window).
 * test/cli/detection-defaults.test.ts compares them with the packaged app's macros.
 */
export const SSH_BRUTE_FORCE_OPTIONS: BruteForceOptions = {
  windowSeconds: 15 * 60,
  threshold: 10,
  perAccount: false,
  failuresBeforeSuccess: 3,
  successWindowSeconds: 30 * 60,
  topN: 10,
};

/**
 * The Windows failed-logon detection's defaults (`soar-edr winlog`): more than 5 4625 failures
 * from one address against one account within 15 minutes (soar_windows_bruteforce_threshold /
 * _window); successes after failures as for SSH.
 */
export const WINDOWS_BRUTE_FORCE_OPTIONS: BruteForceOptions = {
  ...SSH_BRUTE_FORCE_OPTIONS,
  threshold: 5,
  perAccount: true,
};

/** The core's defaults: the SSH detection's. */
export const DEFAULT_BRUTE_FORCE_OPTIONS: BruteForceOptions = SSH_BRUTE_FORCE_OPTIONS;

export type BruteForceOptionError = 'invalid_option';

/** Fills defaults (`defaults`, else the SSH detection's) and rejects values the window logic cannot work with. */
export function bruteForceOptions(
  given: Partial<BruteForceOptions> = {},
  defaults: BruteForceOptions = DEFAULT_BRUTE_FORCE_OPTIONS,
): Result<BruteForceOptions, BruteForceOptionError> {
  const merged = { ...defaults, ...dropUndefined(given) };
  for (const key of ['windowSeconds', 'successWindowSeconds'] as const) {
    const v = merged[key];
    if (!Number.isFinite(v) || v <= 0) {
      return fail('invalid_option', `${key === 'windowSeconds' ? 'window' : 'success window'} must be a number of seconds greater than 0 (got ${String(given[key])})`);
    }
  }
  // "More than 0" is a meaningful threshold (every failure counts); a top list needs a row.
  for (const [key, least] of [['threshold', 0], ['failuresBeforeSuccess', 0], ['topN', 1]] as const) {
    const v = merged[key];
    if (!Number.isInteger(v) || v < least) {
      return fail('invalid_option', `${key} must be a whole number of at least ${least} (got ${String(given[key])})`);
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

/**
 * Largest number of weighted events within any window of `windowMs`, fed in time order; and,
 * on request, how many fell in the `trailingMs` up to a given time (the failures before a
 * success), from the same queue of times.
 */
export class SlidingWindowMax {
  private times: number[] = [];
  /** Weights of `times`, allocated at the first weight other than 1 (most sources never have one). */
  private counts: number[] | null = null;
  private head = 0;
  private inWindow = 0;
  /** First event inside `trailingMs` of the newest, and the weight from there on. */
  private trailHead = 0;
  private inTrail = 0;
  private last = -Infinity;
  max = 0;
  maxStartMs = NaN;
  maxEndMs = NaN;
  /**
   * Events that arrived earlier than the one before them. A small step back is counted at the
   * later time; a jump back by a window or more starts a new segment (windows never span it).
   */
  outOfOrder = 0;

  constructor(
    private readonly windowMs: number,
    private readonly trailingMs = 0,
  ) {}

  /** Time of the newest event (after the small steps back were moved up to the one before). */
  get lastMs(): number {
    return this.last;
  }

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
        this.trailHead = 0;
        this.inTrail = 0;
      } else {
        t = this.last;
      }
    }
    this.last = t;
    if (this.counts === null && count !== 1) this.counts = this.times.map(() => 1);
    this.times.push(t);
    if (this.counts !== null) this.counts.push(count);
    this.inWindow += count;
    this.inTrail += count;
    // An event stays in the window while it is less than windowMs older than the newest.
    const cutoff = t - this.windowMs;
    const counts = this.counts;
    while (this.times[this.head]! <= cutoff) {
      this.inWindow -= counts === null ? 1 : counts[this.head]!;
      this.head += 1;
    }
    this.expireTrail(t);
    if (this.inWindow > this.max) {
      this.max = this.inWindow;
      this.maxStartMs = this.times[this.head]!;
      this.maxEndMs = t;
    }
    // Compact once the prefix both windows have left is at least half the queue: amortised O(1)
    // per event, and a source's queue holds at most about twice the events of its longer window
    // instead of every timestamp of a source that attacks slowly through the whole file.
    // In place: new arrays per compaction lived long enough to be promoted and then became
    // old-generation garbage (tens of MB over a 1 GB log).
    const gone = Math.min(this.head, this.trailHead);
    if (gone >= 16 && gone * 2 >= this.times.length) {
      dropFront(this.times, gone);
      if (counts !== null) dropFront(counts, gone);
      this.head -= gone;
      this.trailHead -= gone;
    }
  }

  /**
   * The weight of the events in (atMs - trailingMs, atMs]. Meant for times at or after the
   * newest event (a success after its failures); events added later than `atMs` are left out.
   */
  countWithin(atMs: number): number {
    this.expireTrail(atMs);
    let n = this.inTrail;
    for (let i = this.times.length - 1; i >= this.trailHead && this.times[i]! > atMs; i--) n -= this.counts === null ? 1 : this.counts[i]!;
    return n;
  }

  /** Moves the trailing window's start up to `atMs` (never back: the queue before it may be gone). */
  private expireTrail(atMs: number): void {
    const cutoff = atMs - this.trailingMs;
    const counts = this.counts;
    while (this.trailHead < this.times.length && this.times[this.trailHead]! <= cutoff) {
      this.inTrail -= counts === null ? 1 : counts[this.trailHead]!;
      this.trailHead += 1;
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
/** Per-account windows a source holds before the quiet ones are dropped (then twice the live ones). */
const ACCOUNT_WINDOWS = 64;
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
  /** Every failure of the source: out-of-order events, the failures before a success, and (per source) the busiest window. */
  readonly window: SlidingWindowMax;
  /**
   * With per-account counting: one window per account that failed within the last window
   * (older ones are dropped once their busiest window is kept below), and the busiest of all.
   */
  readonly accounts: Map<string, SlidingWindowMax> | null;
  private accountLimit = ACCOUNT_WINDOWS;
  accountMax = 0;
  accountMaxStartMs = NaN;
  accountMaxEndMs = NaN;
  accountMaxName: string | null = null;

  constructor(
    private readonly windowMs: number,
    successWindowMs: number,
    perAccount: boolean,
  ) {
    this.window = new SlidingWindowMax(windowMs, successWindowMs);
    this.accounts = perAccount ? new Map() : null;
  }

  /** Counts a failure against one account in the account's own window. */
  addAccountFailure(account: string, timeMs: number, count: number): void {
    const accounts = this.accounts!;
    let w = accounts.get(account);
    if (w === undefined) {
      if (accounts.size >= this.accountLimit) this.dropQuietAccounts(timeMs);
      w = new SlidingWindowMax(this.windowMs);
      accounts.set(account, w);
    }
    w.add(timeMs, count);
    if (w.max > this.accountMax) {
      this.accountMax = w.max;
      this.accountMaxStartMs = w.maxStartMs;
      this.accountMaxEndMs = w.maxEndMs;
      this.accountMaxName = account;
    }
  }

  /**
   * Forgets the windows of accounts without a failure in the last window: their busiest window
   * is already in accountMax (when it was the busiest), and a later failure starts a window no
   * earlier one could reach. Keeps a spray over millions of names in the memory of the names
   * sprayed within one window.
   */
  private dropQuietAccounts(nowMs: number): void {
    const accounts = this.accounts!;
    for (const [account, w] of accounts) if (w.lastMs <= nowMs - this.windowMs) accounts.delete(account);
    this.accountLimit = Math.max(ACCOUNT_WINDOWS, accounts.size * 2);
  }

  /** The busiest window the threshold is compared with: per account, or of the whole source. */
  get maxInWindow(): number {
    return this.accounts === null ? this.window.max : this.accountMax;
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
  /**
   * Most failures inside any window of `windowSeconds` (against one account, with per-account
   * counting), and that window's first/last event.
   */
  readonly maxInWindow: number;
  readonly maxWindowStartMs: number | null;
  readonly maxWindowEndMs: number | null;
  /** With per-account counting, the account of that window; else null. */
  readonly maxWindowAccount: string | null;
  /** maxInWindow is more than the threshold. */
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
  /** Failures from the address within the success window before this success. */
  readonly failuresBefore: number;
  readonly lastFailureMs: number | null;
}

export interface FailureSummary {
  readonly windowSeconds: number;
  readonly threshold: number;
  readonly perAccount: boolean;
  readonly failuresBeforeSuccess: number;
  readonly successWindowSeconds: number;
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
  /** Every source whose busiest window holds more than the threshold, busiest first. */
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
  private readonly successWindowMs: number;
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
    this.successWindowMs = options.successWindowSeconds * 1000;
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
        s = new SourceStats(this.windowMs, this.successWindowMs, this.options.perAccount);
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
    if (keptUser !== null) {
      s.addUser(keptUser, count);
      if (timed && s.accounts !== null) s.addAccountFailure(keptUser, timeMs, count);
    }
  }

  /**
   * A successful logon; reported when more than `failuresBeforeSuccess` failures from its
   * source fell within the success window before it (all of its failures, when the success
   * has no readable time).
   */
  addSuccess(timeMs: number, address: string | null, user: string | null, method: string | null): void {
    this.successCount += 1;
    if (address === null) return;
    const s = this.sources.get(address);
    if (s === undefined) return;
    s.successes += 1;
    const before = Number.isFinite(timeMs) ? s.window.countWithin(timeMs) : s.failures;
    if (before <= this.options.failuresBeforeSuccess) return;
    if (this.successRecords.length >= SUCCESS_RECORDS) {
      this.successTruncated += 1;
      return;
    }
    this.successRecords.push({
      address: detachString(address),
      user: user === null ? null : detachString(user),
      method: method === null ? null : detachString(method),
      timeMs,
      failuresBefore: before,
      lastFailureMs: s.lastFailureMs,
    });
  }

  summarize(): FailureSummary {
    const { topN, threshold, windowSeconds, perAccount, failuresBeforeSuccess, successWindowSeconds } = this.options;
    const byFailures = (a: [string, SourceStats], b: [string, SourceStats]): number =>
      b[1].failures - a[1].failures || compareText(a[0], b[0]);
    const all = [...this.sources.entries()];
    const top = all.sort(byFailures).slice(0, topN).map(([k, s]) => this.report(k, s));
    const bruteForce = all
      .filter(([, s]) => s.maxInWindow > threshold)
      .sort((a, b) => b[1].maxInWindow - a[1].maxInWindow || byFailures(a, b))
      .map(([k, s]) => this.report(k, s));
    let outOfOrder = 0;
    for (const s of this.sources.values()) outOfOrder += s.window.outOfOrder;
    return {
      windowSeconds,
      threshold,
      perAccount,
      failuresBeforeSuccess,
      successWindowSeconds,
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
    const perAccount = s.accounts !== null;
    return {
      address,
      scope: cls.scope,
      isPublic: cls.isPublic,
      failures: s.failures,
      firstMs: finite(s.firstMs),
      lastMs: finite(s.lastMs),
      maxInWindow: s.maxInWindow,
      maxWindowStartMs: finite(perAccount ? s.accountMaxStartMs : s.window.maxStartMs),
      maxWindowEndMs: finite(perAccount ? s.accountMaxEndMs : s.window.maxEndMs),
      maxWindowAccount: perAccount ? s.accountMaxName : null,
      isBruteForce: s.maxInWindow > this.options.threshold,
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
