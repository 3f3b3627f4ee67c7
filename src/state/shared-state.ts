/**
 * The state every run of the action shares with the other runs: on one host (the file store,
 * the offline default and the CLI's store outside Splunk) or across the members of a search
 * head cluster (the KV store: writes go to the KV store captain and replicate to every member;
 * files on one member do not).
 *
 * One interface, two implementations (file-state.ts, kv-state.ts), one contract suite
 * (test/state/shared-state.contract.ts) run on both. Every operation is async (the KV store is
 * a REST call away) and answers a Result: nothing throws.
 *
 * The coordination each part needs and how the KV store gives it (it has no transactions and
 * no compare-and-swap; what it has is that inserting a chosen `_key` fails when the key
 * exists):
 * - incident idempotency: the incident document's `_key` is the hash of sid + rid, so the
 *   insert is the claim (a digest, the only writer of its sid, reads its sid and upserts);
 * - quota: one document per granted request, keyed by its slot in the calendar minute (the
 *   minute before still counts toward the sliding window);
 * - single flight per address: a claim document with an expiry;
 * - notification ledger, blocklist, maintenance lease: a document with a revision; a writer
 *   first inserts the claim "<document>@<revision it read>" and only the one whose insert
 *   succeeds replaces the document (kv-revision.ts);
 * - enrichment queue: one document per address, merged and claimed by revision (kv-queue.ts);
 * - outbox: one document per notification; a sender revises it to "sending" with its claim id
 *   and an expiry (kv-revision.ts), so one member sends a card per attempt (kv-outbox.ts).
 */
import type { IntelProvider, CachedValue, ProviderReports } from '../intel/lookup-cache';
import type { QuotaDecision, QuotaLimits, QuotaUsage } from '../intel/quota-limiter';
import type { Verdict } from '../intel/verdict';
import type { BlockEntry, BlockPolicy, BlockResult, UnblockResult } from '../respond/blocklist';
import type { NotifyDecision } from '../respond/notify-ledger';
import type { Incident } from '../respond/incident';
import type { IncidentDraft, RecordedIncident, RecordOptions } from '../respond/incident-store';
import type { Result } from '../result';
import type { IpAddress } from '../address/ip-address';
import type { KvErrorKind, KvStoreClient } from '../store/kvstore-client';
import type { StorageErrorKind } from '../respond/storage-failure';
import type { ExpiredRefs, IncidentRef, QueueClaim, QueueEntry, WaitingFor } from '../intel/enrichment-queue';
import type { DrainOptions, DrainReport, EnqueueStatus, Notification, SendOptions, SendResult, WaitingNotification } from '../respond/outbox';
import type { DeliverFunction } from '../respond/discord-delivery';

/**
 * Why a state operation failed: the file store's (a lock held too long, the disk refused), the
 * KV store's (`unavailable`: down, starting or read-only — the run spools and carries on;
 * `unauthorized`, `io`, `protocol`, `limit`), or the input was not what the store takes.
 */
export type StateErrorKind = StorageErrorKind | KvErrorKind | 'invalid_input' | 'conflict';
export type StateResult<T> = Result<T, StateErrorKind>;

/** The enrichment cache: one answer per provider, address and API key (by its hash). */
export interface IntelStore {
  get<P extends IntelProvider>(provider: P, address: string, keyHash: string, nowMs: number): Promise<StateResult<CachedValue<ProviderReports[P]> | undefined>>;
  put<P extends IntelProvider>(provider: P, address: string, keyHash: string, value: CachedValue<ProviderReports[P]>, nowMs: number): Promise<StateResult<void>>;
}

/**
 * Per-subject single flight: while one process asks a provider about an address, the others
 * wait for its answer in the cache instead of asking too.
 */
export interface FlightStore {
  /**
   * Run `fn` holding the claim for `subject`, waiting up to `timeoutMs` for another holder to
   * finish (a claim older than its ttl is taken over). `busy` when the wait ran out.
   */
  exclusive<T>(provider: IntelProvider, subject: string, fn: () => Promise<T>, options: { timeoutMs: number; sleep: (ms: number) => Promise<void>; now: () => number }): Promise<StateResult<T | 'busy'>>;
}

/** The request budget per provider, shared by every process that uses the same key. */
export interface QuotaStore {
  tryAcquire(provider: IntelProvider, limits: QuotaLimits, nowMs: number): Promise<QuotaDecision>;
  /** Give back a slot whose request never reached the provider; false when it could not be. */
  release(provider: IntelProvider, grant: Extract<QuotaDecision, { granted: true }>, nowMs: number): Promise<boolean>;
  /** After a 429: every process waits until `untilMs` (never shortened). */
  penalize(provider: IntelProvider, untilMs: number, nowMs: number): Promise<boolean>;
  usage(provider: IntelProvider, limits: QuotaLimits, nowMs: number): Promise<QuotaUsage>;
}

/**
 * One incident per alert result (sid + rid), however often and wherever the action runs.
 * Recording writes the human and offline records on this host too (the TXT report and the
 * incidents.csv row: incident-store.ts); the KV store adds the cluster-wide claim and the
 * soar_incidents document an analyst can look up.
 */
export interface IncidentRecords {
  /** The incident already recorded for this result, if any. */
  recorded(sid: string, rid: string): Promise<StateResult<string | undefined>>;
  /** rid → incident id of every result of `sid` already recorded (a digest reads its sid once). */
  recordedInSid(sid: string): Promise<StateResult<ReadonlyMap<string, string>>>;
  /** Record one result exactly once (atomic across processes and members). */
  record(draft: IncidentDraft, newId: () => string, options?: RecordOptions): Promise<StateResult<RecordedIncident>>;
  /**
   * Record many results of a digest in one batch (the digest's own run is the only writer of
   * its sid, so one read of the sid before and one batched write are enough).
   */
  recordMany(drafts: readonly IncidentDraft[], newId: () => string, options?: RecordOptions): Promise<StateResult<Result<RecordedIncident, string>[]>>;
  /** A later change of a recorded incident: its verdict after enrichment, its Discord message. */
  changed(incident: Incident, change: IncidentChange, nowMs: number): Promise<StateResult<void>>;
}

export interface IncidentChange {
  /** notified, enriched, blocked, … */
  readonly status: string;
  readonly discordMessageId?: string | null;
}

/** The re-notification window per address (respond/notify-ledger.ts has the rule). */
export interface NotificationLedger {
  /** Decide and record in one atomic step: exactly one of many concurrent callers is told to notify. */
  claim(ip: IpAddress, verdict: Verdict, nowMs: number, windowSeconds: number, incidentId: string | null): Promise<StateResult<NotifyDecision>>;
}

/** The simulated blocklist with its repeat-offender escalation (respond/blocklist.ts has the rule). */
export interface BlocklistStore {
  block(ip: IpAddress, verdict: Verdict, reason: string, nowMs: number, policy: BlockPolicy, offence?: string): Promise<StateResult<BlockResult>>;
  unblock(ip: IpAddress): Promise<StateResult<UnblockResult>>;
  /** Remove the blocks whose expiry passed; answers them (their count stays for escalation). */
  purgeExpired(nowMs: number): Promise<StateResult<BlockEntry[]>>;
  /** Blocks in force at `nowMs`. */
  list(nowMs: number): Promise<StateResult<BlockEntry[]>>;
}

/** A lease: one holder at a time (one maintenance run per cluster). */
export interface LeaseHandle {
  readonly name: string;
  readonly holder: string;
  readonly expiresMs: number;
}

export interface LeaseStore {
  /** The lease, or undefined while another holder's lease runs. */
  tryAcquire(name: string, holder: string, nowMs: number, ttlMs: number): Promise<StateResult<LeaseHandle | undefined>>;
  release(lease: LeaseHandle): Promise<StateResult<void>>;
}

/**
 * The deferred-enrichment queue (intel/enrichment-queue.ts has the rules): one entry per
 * address holding every incident waiting for its verdict; a drain claims an address, enriches
 * it, and completes (or releases) the claim. Only one claim per address at a time; a claim
 * older than its expiry is put back (`recoverStaleClaims`).
 */
export interface QueueStore {
  /** undefined: not queued (a new address while the queue is full). */
  enqueue(address: string, ref: IncidentRef, nowMs: number, notBefore?: number, waitingFor?: WaitingFor): Promise<StateResult<QueueEntry | undefined>>;
  enqueueMany(address: string, refs: readonly IncidentRef[], nowMs: number, notBefore?: number, waitingFor?: WaitingFor): Promise<StateResult<QueueEntry | undefined>>;
  /** Addresses waiting (not claimed). */
  size(): Promise<StateResult<number>>;
  /** Drop references older than the queue's maximum age (and addresses left with none). */
  expireNow(nowMs: number): Promise<StateResult<ExpiredRefs>>;
  /** Addresses due at `nowMs`, oldest first, claimed ones excluded; `list(Infinity)`: the whole queue. */
  list(nowMs: number): Promise<StateResult<QueueEntry[]>>;
  /** undefined: not queued, not due, or claimed by someone else. */
  claim(address: string, nowMs: number): Promise<StateResult<QueueClaim | undefined>>;
  /** false: the claim was lost meanwhile (it went stale and was put back). */
  complete(claim: QueueClaim): Promise<StateResult<boolean>>;
  release(claim: QueueClaim, nowMs: number, nextAttemptAt?: number, lastError?: string, waitingFor?: WaitingFor): Promise<StateResult<boolean>>;
  recoverStaleClaims(nowMs: number): Promise<StateResult<number>>;
}

/**
 * The Discord outbox: a card not delivered yet, for any run (or the maintenance search, or
 * `soar-edr drain`) to deliver, exactly once across members as far as a webhook allows.
 * A card Discord refused becomes a dead letter in this member's data directory (dead-letters/,
 * sealed), where an admin on this member can replay it; the rules (backoff, dead letters,
 * where a drain stops) are respond/outbox.ts's in both stores.
 */
export interface OutboxStore {
  /** Notifications waiting (queued or being sent right now). */
  size(): Promise<StateResult<number>>;
  /** Queue a notification unless it is queued, being sent or delivered already. */
  enqueue(notification: Notification, nowMs: number): Promise<StateResult<EnqueueStatus>>;
  /** Queue it, then try to deliver it at once as its own sender. */
  send(notification: Notification, deliver: DeliverFunction, options: SendOptions): Promise<StateResult<SendResult>>;
  /** Deliver due notifications, oldest first, until the deadline or maxItems. */
  drain(deliver: DeliverFunction, options: DrainOptions): Promise<StateResult<DrainReport>>;
  /** What waits, oldest first, as a person reading "what is left" needs it. */
  waiting(nowMs: number): Promise<StateResult<WaitingNotification[]>>;
}

export interface SharedState {
  /** Where the state lives: `file` (this host's data folder) or `kvstore` (splunkd's KV store). */
  readonly kind: 'file' | 'kvstore';
  readonly intel: IntelStore;
  readonly flights: FlightStore;
  readonly quota: QuotaStore;
  readonly incidents: IncidentRecords;
  readonly notifications: NotificationLedger;
  readonly blocklist: BlocklistStore;
  readonly leases: LeaseStore;
  readonly queue: QueueStore;
  readonly outbox: OutboxStore;
  /**
   * Remove what no longer counts (the maintenance search, once a run): in the KV store old
   * revision claims, quota grants of past days, lapsed penalties, claims of holders that died
   * and old delivered markers; in the file store cache files past their time.
   */
  prune(nowMs: number): Promise<StateResult<void>>;
  /** The KV store's REST client when the state is the KV store (the one-time import of a 0.1.0 file store uses it). */
  readonly kvstore?: KvStoreClient;
  /** REST round trips so far (0 for the file store): the benchmarks' budget. */
  roundTrips(): number;
  close(): void;
}
