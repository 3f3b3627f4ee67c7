/**
 * Deferred enrichment. When the request budget is spent, the incident is recorded now with
 * verdict UNKNOWN ("enrichment deferred: quota") and its address is queued here; later
 * runs and `soar-edr drain` take addresses from the queue, look them up, and update every
 * incident that referenced them.
 *
 * One JSON file per address (<address>.json) holds every incident reference queued for it,
 * merged under the queue's lock. A drain claims an address by turning its file into
 * <address>.claimed (also under the lock), so two drains never process the same address at
 * once. New references for a claimed address go to a new <address>.json and are not lost.
 * A claim whose process died, or that is older than `claimStaleMs`, is put back.
 *
 * Each entry says which providers it waits for and why (`waitingFor`): a spent quota or a
 * busy address ('deferred'), a failed lookup to retry ('retry'), or no key configured for
 * the provider ('no-key': recorded without a VirusTotal key, enriched once one is set). A
 * drain takes an address only when every provider it waits for has a key, so an address
 * waiting for a key costs nothing and is not retried until the key is there.
 *
 * Bounds: a reference older than `maxAgeMs` (default 7 days) expires (`expire`), and an
 * address whose references all expired leaves the queue; a new address is not queued
 * while `maxAddresses` (default 10,000) are (its incident is recorded all the same).
 *
 * Every entry and claim file is sealed with the install key (store/entry-seal.ts, purpose
 * `queue`). A file whose seal fails (no MAC, or a wrong one) is never enriched: it is moved
 * to the dead letters as kind `forged`, with the reason.
 */
import { randomBytes } from 'node:crypto';
import { readdirSync, renameSync, rmSync } from 'node:fs';
import * as path from 'node:path';
import { requireInstallKey, writeSealedDeadLetter } from '../store/dead-letter-file';
import { readJsonIfExists, readTextIfExists, writeFileAtomic } from '../store/durable-file';
import { seal, unseal } from '../store/entry-seal';
import { processAlive, withFileLock } from '../store/file-lock';
import { asJsonObject } from './json-fields';
import { addressFilePart, IntelProvider } from './lookup-cache';

/** Why an address waits for a provider. */
export type WaitReason = 'no-key' | 'deferred' | 'retry';
const WAIT_REASONS: readonly WaitReason[] = ['no-key', 'deferred', 'retry'];
const PROVIDERS: readonly IntelProvider[] = ['virustotal', 'abuseipdb'];

/** The providers an address waits for, each with its reason; {} in entries queued before this was recorded. */
export type WaitingFor = Readonly<Partial<Record<IntelProvider, WaitReason>>>;

/** Which incident is waiting for the address's verdict. */
export interface IncidentRef {
  readonly incidentId: string;
  readonly sid: string;
  readonly rid: string;
  readonly detection: string;
  /**
   * Where the KV store queue keeps what a member needs to update the incident (the file queue
   * keeps neither: its incidents are on this host): the incident as recorded (JSON text, no
   * secrets), so any member can decide the new verdict and send the update card, and the host
   * that holds its TXT report.
   */
  readonly snapshot?: string;
  readonly host?: string;
}

export interface QueuedRef extends IncidentRef {
  /** Epoch ms. */
  readonly queuedAt: number;
}

export interface QueueEntry {
  /** Canonical address. */
  readonly address: string;
  /** Epoch ms of the first enqueue (the queue's order). */
  readonly firstQueuedAt: number;
  readonly lastQueuedAt: number;
  /** Drain attempts that ended without a result (released or abandoned). */
  readonly attempts: number;
  /** Epoch ms before which the address is not due. */
  readonly nextAttemptAt: number;
  readonly lastError?: string;
  /** Distinct incidents by incidentId, oldest first, at most `maxRefs`. */
  readonly refs: readonly QueuedRef[];
  /** References not kept because `maxRefs` was reached (the incidents exist; only the update link is lost). */
  readonly droppedRefs: number;
  readonly waitingFor: WaitingFor;
}

export interface QueueClaim {
  readonly address: string;
  readonly token: string;
  readonly claimedAt: number;
  readonly entry: QueueEntry;
}

export interface EnrichmentQueueOptions {
  /** A claim older than this is put back even if its process still runs; default 10 min (2 × maxtime). */
  readonly claimStaleMs?: number;
  /** Default 1,000 references per address. */
  readonly maxRefs?: number;
  /** Owner recorded in claims; default process.pid. */
  readonly pid?: number;
  /** A reference older than this expires; default 7 days. */
  readonly maxAgeMs?: number;
  /** New addresses are not queued while this many are; default 10,000. */
  readonly maxAddresses?: number;
  /**
   * The data directory whose install key seals the entries and whose dead-letters/ takes
   * the ones that fail it; default the queue folder's parent (dataLayout puts it there).
   */
  readonly dataDir?: string;
}

export const DEFAULT_QUEUE_MAX_AGE_MS = 7 * 86_400_000;
export const DEFAULT_QUEUE_MAX_ADDRESSES = 10_000;

/** What `expire` removed. */
export interface ExpiredRefs {
  /** Addresses that left the queue (every reference expired). */
  readonly addresses: number;
  readonly refs: number;
}

const FORMAT_VERSION = 1;
const LOCK_NAME = 'queue.lock';
/** When `expireNow` last scanned the queue (epoch ms, as text); not a .json, so never an entry. */
const EXPIRED_AT = 'expired-at.txt';
/** `expireNow` scans at most this often: ages are counted in days, a scan reads every file. */
const EXPIRE_EVERY_MS = 60 * 60_000;
const PENDING = '.json';
const CLAIMED = '.claimed';

/**
 * Delay before a released address is due again: 1 min doubling per attempt, at most 1 h.
 * Used when the caller has no better time (a quota denial says when the slot frees).
 */
export function releaseBackoffMs(attempts: number): number {
  return Math.min(60 * 60_000, 60_000 * 2 ** Math.max(0, Math.min(attempts - 1, 10)));
}

function isText(v: unknown): v is string {
  return typeof v === 'string';
}
function isTime(v: unknown): v is number {
  return typeof v === 'number' && Number.isFinite(v);
}

export function parseWaitingFor(value: unknown): WaitingFor {
  const o = asJsonObject(value);
  const waiting: Partial<Record<IntelProvider, WaitReason>> = {};
  for (const p of PROVIDERS) {
    const reason = o?.[p];
    if (WAIT_REASONS.includes(reason as WaitReason)) waiting[p] = reason as WaitReason;
  }
  return waiting;
}

/** The providers an entry waits for, in a fixed order. */
export function waitingProviders(waitingFor: WaitingFor): IntelProvider[] {
  return PROVIDERS.filter((p) => waitingFor[p] !== undefined);
}

function parseEntry(value: unknown): QueueEntry | undefined {
  const o = asJsonObject(value);
  if (o === undefined || !isText(o.address) || !isTime(o.firstQueuedAt) || !isTime(o.lastQueuedAt) || !isTime(o.attempts) || !isTime(o.nextAttemptAt) || !Array.isArray(o.refs)) {
    return undefined;
  }
  const refs: QueuedRef[] = [];
  for (const r of o.refs) {
    const x = asJsonObject(r);
    if (x === undefined || !isText(x.incidentId) || !isText(x.sid) || !isText(x.rid) || !isText(x.detection) || !isTime(x.queuedAt)) return undefined;
    refs.push({ incidentId: x.incidentId, sid: x.sid, rid: x.rid, detection: x.detection, queuedAt: x.queuedAt });
  }
  return {
    address: o.address,
    firstQueuedAt: o.firstQueuedAt,
    lastQueuedAt: o.lastQueuedAt,
    attempts: o.attempts,
    nextAttemptAt: o.nextAttemptAt,
    ...(isText(o.lastError) ? { lastError: o.lastError } : {}),
    refs,
    droppedRefs: isTime(o.droppedRefs) ? o.droppedRefs : 0,
    waitingFor: parseWaitingFor(o.waitingFor),
  };
}

/**
 * The pure step of a release: the entry with one attempt more, due at `nextAttemptAt` (default:
 * releaseBackoffMs after `nowMs`), its last error and, when given, what it now waits for.
 */
export function releasedEntry(entry: QueueEntry, attempts: number, nowMs: number, nextAttemptAt?: number, lastError?: string, waitingFor?: WaitingFor): QueueEntry {
  return {
    ...entry,
    attempts,
    nextAttemptAt: nextAttemptAt ?? nowMs + releaseBackoffMs(attempts),
    ...(lastError !== undefined ? { lastError } : {}),
    ...(waitingFor !== undefined ? { waitingFor } : {}),
  };
}

/**
 * One entry from two for the same address (a released claim and references queued
 * meanwhile); for a provider both wait for, `b`'s reason (the newer) wins.
 */
export function mergeEntries(a: QueueEntry, b: QueueEntry, maxRefs: number): QueueEntry {
  const seen = new Set<string>();
  const refs: QueuedRef[] = [];
  let dropped = a.droppedRefs + b.droppedRefs;
  for (const r of [...a.refs, ...b.refs].sort((x, y) => x.queuedAt - y.queuedAt)) {
    if (seen.has(r.incidentId)) continue;
    seen.add(r.incidentId);
    if (refs.length < maxRefs) refs.push(r);
    else dropped++;
  }
  const lastError = b.lastError ?? a.lastError;
  return {
    address: a.address,
    firstQueuedAt: Math.min(a.firstQueuedAt, b.firstQueuedAt),
    lastQueuedAt: Math.max(a.lastQueuedAt, b.lastQueuedAt),
    attempts: Math.max(a.attempts, b.attempts),
    // New demand makes the address due as early as either side says.
    nextAttemptAt: Math.min(a.nextAttemptAt, b.nextAttemptAt),
    ...(lastError !== undefined ? { lastError } : {}),
    refs,
    droppedRefs: dropped,
    waitingFor: { ...a.waitingFor, ...b.waitingFor },
  };
}

interface ClaimFile {
  readonly token: string;
  readonly pid: number;
  readonly claimedAt: number;
  readonly entry: QueueEntry;
}

function parseClaimFile(value: unknown): ClaimFile | undefined {
  const o = asJsonObject(value);
  const claim = asJsonObject(o?.claim);
  const entry = parseEntry(o?.entry);
  if (o?.v !== FORMAT_VERSION || claim === undefined || entry === undefined || !isText(claim.token) || !isTime(claim.pid) || !isTime(claim.claimedAt)) return undefined;
  return { token: claim.token, pid: claim.pid, claimedAt: claim.claimedAt, entry };
}

export class EnrichmentQueue {
  private readonly claimStaleMs: number;
  private readonly maxRefs: number;
  private readonly pid: number;
  private readonly maxAgeMs: number;
  private readonly maxAddresses: number;
  /**
   * Pending files as counted by this process: read once, then counted up as it adds
   * addresses (other processes' additions are seen by their own count; the bound is the
   * cap plus what concurrent runs add, not an exact number).
   */
  private pendingCount: number | undefined;
  private readonly dataDir: string;

  /** `dir` is dataLayout(root).queue. */
  constructor(readonly dir: string, options: EnrichmentQueueOptions = {}) {
    this.dataDir = options.dataDir ?? path.dirname(dir);
    this.claimStaleMs = options.claimStaleMs ?? 10 * 60_000;
    this.maxRefs = Math.max(1, options.maxRefs ?? 1000);
    this.pid = options.pid ?? process.pid;
    this.maxAgeMs = options.maxAgeMs ?? DEFAULT_QUEUE_MAX_AGE_MS;
    this.maxAddresses = Math.max(1, options.maxAddresses ?? DEFAULT_QUEUE_MAX_ADDRESSES);
  }

  private pendingFile(address: string): string {
    return path.join(this.dir, addressFilePart(address) + PENDING);
  }
  private claimedFile(address: string): string {
    return path.join(this.dir, addressFilePart(address) + CLAIMED);
  }
  private locked<T>(fn: () => T): T {
    return withFileLock(path.join(this.dir, LOCK_NAME), fn, { timeoutMs: 10_000 });
  }

  private sealed(value: object): string {
    return JSON.stringify(seal(requireInstallKey(this.dataDir), 'queue', value));
  }

  /**
   * The file's content without its MAC when the seal holds. A file that fails it is moved
   * to the dead letters (kind `forged`, with the reason) and undefined returned: it is never
   * enriched, and nothing of it is merged into a real entry.
   */
  private opened(file: string, value: unknown): Record<string, unknown> | undefined {
    const opened = unseal(requireInstallKey(this.dataDir), 'queue', value);
    if (opened.ok) return opened.value;
    const why = opened.error.kind === 'unsealed' ? `${opened.error.message} (a queue entry from before this version sealed the queue: its incidents keep the verdict they were recorded with)` : opened.error.message;
    writeSealedDeadLetter(this.dataDir, { kind: 'forged', reason: why, payload: value, forged: { source: 'queue', problem: opened.error.kind, file: path.basename(file) } }, Date.now());
    rmSync(file, { force: true });
    return undefined;
  }

  /** A corrupt file is moved aside (kept for a person to look at), never silently reused. */
  private readPending(file: string): QueueEntry | undefined {
    const read = readJsonIfExists(file);
    if (read === undefined) return undefined;
    if ('corrupt' in read) {
      moveAside(file);
      return undefined;
    }
    const value = this.opened(file, read.value);
    if (value === undefined) return undefined;
    const entry = value.v === FORMAT_VERSION ? parseEntry(value) : undefined;
    if (entry === undefined) moveAside(file);
    return entry;
  }

  private writePending(entry: QueueEntry): void {
    // Not fsynced: a kill keeps it (page cache); an OS crash would lose only the hint to enrich
    // later, never the incident, which incidents.csv already holds.
    writeFileAtomic(this.pendingFile(entry.address), this.sealed({ v: FORMAT_VERSION, ...entry }), { durable: false });
  }

  /** A pending file's entry, read without the lock; undefined when missing, unreadable or unsealed (not acted on). */
  private peek(file: string): QueueEntry | undefined {
    const read = readJsonIfExists(file);
    if (read === undefined || !('value' in read)) return undefined;
    const opened = unseal(requireInstallKey(this.dataDir), 'queue', read.value);
    return opened.ok ? parseEntry(opened.value) : undefined;
  }

  /**
   * Queue `address` (canonical) for `ref`'s incident. Repeated enqueues merge: one file per
   * address, each incident once. `notBefore` (epoch ms, default `nowMs`) is when it is due,
   * e.g. when the quota denial said a slot frees. undefined: not queued, because the
   * address is new and the queue holds `maxAddresses` already.
   */
  enqueue(address: string, ref: IncidentRef, nowMs: number, notBefore: number = nowMs, waitingFor: WaitingFor = {}): QueueEntry | undefined {
    return this.enqueueMany(address, [ref], nowMs, notBefore, waitingFor);
  }

  /** Several incidents waiting for one address (a digest names an address in many rows): one write. */
  enqueueMany(address: string, refs: readonly IncidentRef[], nowMs: number, notBefore: number = nowMs, waitingFor: WaitingFor = {}): QueueEntry | undefined {
    const added: QueueEntry = {
      address,
      firstQueuedAt: nowMs,
      lastQueuedAt: nowMs,
      attempts: 0,
      nextAttemptAt: notBefore,
      refs: refs.slice(0, this.maxRefs).map((ref) => ({ incidentId: ref.incidentId, sid: ref.sid, rid: ref.rid, detection: ref.detection, queuedAt: nowMs })),
      droppedRefs: Math.max(0, refs.length - this.maxRefs),
      waitingFor,
    };
    return this.locked(() => {
      const existing = this.readPending(this.pendingFile(address));
      if (existing === undefined) {
        this.pendingCount ??= this.size();
        if (this.pendingCount >= this.maxAddresses) return undefined;
        this.pendingCount += 1;
      }
      const entry = existing === undefined ? added : mergeEntries(existing, added, this.maxRefs);
      this.writePending(entry);
      return entry;
    });
  }

  /** Addresses waiting (pending, not claimed), counted from their file names only. */
  size(): number {
    return this.names().filter((n) => n.endsWith(PENDING)).length;
  }

  /**
   * `expire`, at most once an hour for the whole host (every alert run calls this; a scan
   * reads every file). The time of the last scan is kept in the queue folder.
   */
  expireNow(nowMs: number): ExpiredRefs {
    const file = path.join(this.dir, EXPIRED_AT);
    const last = readTextIfExists(file);
    const lastMs = last === undefined ? Number.NaN : Number(last.trim());
    if (Number.isFinite(lastMs) && lastMs <= nowMs && nowMs - lastMs < EXPIRE_EVERY_MS) return { addresses: 0, refs: 0 };
    if (!this.names().some((n) => n.endsWith(PENDING))) return { addresses: 0, refs: 0 };
    writeFileAtomic(file, String(nowMs), { durable: false });
    return this.expire(nowMs);
  }

  /**
   * Drop references queued more than `maxAgeMs` before `nowMs`, and the addresses left with
   * none. Files are read without the lock; only an address with something to drop is
   * rewritten, under the lock and re-read there.
   */
  expire(nowMs: number): ExpiredRefs {
    const cutoff = nowMs - this.maxAgeMs;
    const stale = (e: QueueEntry): boolean => e.refs.some((r) => r.queuedAt < cutoff);
    let addresses = 0;
    let refs = 0;
    for (const name of this.names()) {
      if (!name.endsWith(PENDING)) continue;
      const file = path.join(this.dir, name);
      const seen = this.peek(file);
      if (seen === undefined || !stale(seen)) continue;
      this.locked(() => {
        const entry = this.readPending(file);
        if (entry === undefined || !stale(entry)) return;
        const kept = entry.refs.filter((r) => r.queuedAt >= cutoff);
        refs += entry.refs.length - kept.length;
        if (kept.length > 0) {
          this.writePending({ ...entry, refs: kept, firstQueuedAt: Math.min(...kept.map((r) => r.queuedAt)) });
          return;
        }
        rmSync(file, { force: true });
        if (this.pendingCount !== undefined) this.pendingCount -= 1;
        addresses += 1;
      });
    }
    return { addresses, refs };
  }


  /**
   * Addresses due at `nowMs`, oldest first (claimed ones excluded). Puts abandoned claims
   * back first. `list(Infinity)` shows the whole queue.
   */
  list(nowMs: number): QueueEntry[] {
    // `list(Infinity)` shows the whole queue; claim recovery must still use the real clock,
    // or every live claim would look abandoned.
    if (Number.isFinite(nowMs)) this.recoverStaleClaims(nowMs);
    const entries: QueueEntry[] = [];
    for (const name of this.names()) {
      if (!name.endsWith(PENDING)) continue;
      const file = path.join(this.dir, name);
      let entry = this.peek(file);
      // Not sealed by this install (or unreadable): judged again under the lock, where
      // readPending moves it to the dead letters (or aside) instead of leaving it queued.
      if (entry === undefined && Number.isFinite(nowMs) && readJsonIfExists(file) !== undefined) entry = this.locked(() => this.readPending(file));
      if (entry !== undefined && entry.nextAttemptAt <= nowMs) entries.push(entry);
    }
    return entries.sort((a, b) => a.firstQueuedAt - b.firstQueuedAt || (a.address < b.address ? -1 : a.address > b.address ? 1 : 0));
  }

  /**
   * Take `address` for processing: undefined when it is not queued, not due, or claimed by
   * a live process. The claim holds the entry as it was; finish with complete or release.
   */
  claim(address: string, nowMs: number): QueueClaim | undefined {
    return this.locked(() => {
      const claimedFile = this.claimedFile(address);
      const held = readJsonIfExists(claimedFile);
      if (held !== undefined) {
        const current = this.claimOf(claimedFile, held);
        // A forged claim file is gone to the dead letters already.
        if (current !== 'forged') {
          if (current !== undefined && !this.isStale(current, nowMs)) return undefined;
          this.putBack(claimedFile, current, nowMs);
        }
      }
      const pendingFile = this.pendingFile(address);
      const entry = this.readPending(pendingFile);
      if (entry === undefined || entry.nextAttemptAt > nowMs) return undefined;
      const token = `${this.pid}-${nowMs}-${randomBytes(6).toString('hex')}`;
      writeFileAtomic(claimedFile, this.sealed({ v: FORMAT_VERSION, claim: { token, pid: this.pid, claimedAt: nowMs }, entry }));
      rmSync(pendingFile, { force: true });
      if (this.pendingCount !== undefined) this.pendingCount -= 1;
      return { address, token, claimedAt: nowMs, entry };
    });
  }

  /**
   * The address was enriched: drop the claim. false when the claim was lost meanwhile (it
   * went stale and was put back), in which case the address will be processed again.
   */
  complete(claim: QueueClaim): boolean {
    return this.locked(() => {
      if (!this.holds(claim)) return false;
      rmSync(this.claimedFile(claim.address), { force: true });
      return true;
    });
  }

  /**
   * Not enriched this time: put the address back with attempts + 1, due at `nextAttemptAt`
   * (default: releaseBackoffMs after `nowMs`), merged with references queued meanwhile;
   * `waitingFor`, when given, replaces what the entry waited for.
   */
  release(claim: QueueClaim, nowMs: number, nextAttemptAt?: number, lastError?: string, waitingFor?: WaitingFor): boolean {
    return this.locked(() => {
      if (!this.holds(claim)) return false;
      const back = releasedEntry(claim.entry, claim.entry.attempts + 1, nowMs, nextAttemptAt, lastError, waitingFor);
      this.restore(back);
      rmSync(this.claimedFile(claim.address), { force: true });
      return true;
    });
  }

  /** Put back every claim whose process died or that is older than claimStaleMs; returns how many. */
  recoverStaleClaims(nowMs: number): number {
    const claimed = this.names().filter((n) => n.endsWith(CLAIMED));
    if (claimed.length === 0) return 0;
    return this.locked(() => {
      let recovered = 0;
      for (const name of claimed) {
        const file = path.join(this.dir, name);
        const read = readJsonIfExists(file);
        if (read === undefined) continue;
        const current = this.claimOf(file, read);
        if (current === 'forged') continue;
        if (current !== undefined && !this.isStale(current, nowMs)) continue;
        this.putBack(file, current, nowMs);
        recovered++;
      }
      return recovered;
    });
  }

  /**
   * A claim file's claim when its seal holds; 'forged' when it failed the seal (it was moved
   * to the dead letters); undefined when it is unreadable (put back as corrupt).
   */
  private claimOf(file: string, read: { value: unknown } | { corrupt: string }): ClaimFile | 'forged' | undefined {
    if (!('value' in read)) return undefined;
    const value = this.opened(file, read.value);
    return value === undefined ? 'forged' : parseClaimFile(value);
  }

  private isStale(claim: ClaimFile, nowMs: number): boolean {
    return nowMs - claim.claimedAt > this.claimStaleMs || !processAlive(claim.pid);
  }

  /** Under the lock: an abandoned claim counts as an attempt and is due at once. */
  private putBack(claimedFile: string, claim: ClaimFile | undefined, nowMs: number): void {
    if (claim === undefined) {
      moveAside(claimedFile);
      return;
    }
    this.restore({ ...claim.entry, attempts: claim.entry.attempts + 1, nextAttemptAt: nowMs, lastError: `claim by pid ${claim.pid} abandoned` });
    rmSync(claimedFile, { force: true });
  }

  /** Under the lock: write `entry` back, merged with whatever was queued meanwhile. */
  private restore(entry: QueueEntry): void {
    const meanwhile = this.readPending(this.pendingFile(entry.address));
    if (meanwhile === undefined && this.pendingCount !== undefined) this.pendingCount += 1;
    this.writePending(meanwhile === undefined ? entry : mergeEntries(entry, meanwhile, this.maxRefs));
  }

  private holds(claim: QueueClaim): boolean {
    const read = readJsonIfExists(this.claimedFile(claim.address));
    if (read === undefined || !('value' in read)) return false;
    const opened = unseal(requireInstallKey(this.dataDir), 'queue', read.value);
    return opened.ok && parseClaimFile(opened.value)?.token === claim.token;
  }

  private names(): string[] {
    try {
      return readdirSync(this.dir);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return [];
      throw e;
    }
  }
}

function moveAside(file: string): void {
  try {
    renameSync(file, `${file}.${Date.now()}.corrupt`);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
  }
}
