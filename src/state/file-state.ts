/**
 * The shared state in this host's data folder: the stores the app always had (cache files,
 * the quota file, lock files, the incident ledger, the notification ledger, blocklist.csv),
 * each changed under its file lock, behind the SharedState interface. The CLI's store outside
 * Splunk and the offline default; correct for every process on one host, not across members.
 */
import * as path from 'node:path';
import type { CachedValue, IntelProvider, ProviderReports } from '../intel/lookup-cache';
import { addressFilePart, LookupCache } from '../intel/lookup-cache';
import { QuotaDecision, QuotaLimiter, QuotaLimits } from '../intel/quota-limiter';
import type { Verdict } from '../intel/verdict';
import type { IpAddress } from '../address/ip-address';
import { blockAddress, BlockPolicy, listBlocks, purgeExpired, unblockAddress } from '../respond/blocklist';
import type { Incident } from '../respond/incident';
import { IncidentDraft, RecordOptions, recordedIncidentId, recordedIncidentIds, recordIncident, recordIncidents } from '../respond/incident-store';
import { claimNotification } from '../respond/notify-ledger';
import { guardStorage } from '../respond/storage-failure';
import { fail, ok } from '../result';
import type { DataLayout } from '../store/data-dir';
import { LockTimeoutError, releaseFileLock, tryFileLock, withFileLockAsync } from '../store/file-lock';
import type { IncidentChange, SharedState } from './shared-state';
import { asState } from './state-result';
import { fileQueue } from './file-queue';
import { fileOutbox } from './file-outbox';

export interface FileStateOptions {
  /** How long a report stays a cache hit (the run's cache_ttl). */
  readonly cacheTtlMs?: number;
  /** How long a lock may be waited for: the time the run has left. */
  readonly lockTimeoutMs?: () => number;
}

/** The lease's lock file: `maintenance.lock` for the maintenance lease (a known name in the locks folder). */
function leaseFile(layout: DataLayout, name: string): string {
  // Lease names are the app's own constants; anything else is hashed into a safe file name.
  return path.join(layout.locks, `${/^[a-z][a-z0-9-]{0,40}$/.test(name) ? name : addressFilePart(name)}.lock`);
}

export function fileState(layout: DataLayout, options: FileStateOptions = {}): SharedState {
  const cache = new LookupCache(layout.cache, options.cacheTtlMs === undefined ? {} : { ttlMs: options.cacheTtlMs });
  const lock = () => ({ timeoutMs: Math.max(1000, options.lockTimeoutMs?.() ?? 5000) });
  // One limiter per provider and limits: a limiter gives each grant back at most once.
  const limiters = new Map<string, QuotaLimiter>();
  const limiter = (provider: IntelProvider, limits: QuotaLimits): QuotaLimiter => {
    const id = `${provider}:${limits.perMinute}:${limits.perDay}`;
    let l = limiters.get(id);
    if (!l) limiters.set(id, (l = new QuotaLimiter(layout.quota, { [provider]: limits })));
    return l;
  };
  const grants = new WeakMap<object, QuotaLimiter>();

  return {
    kind: 'file',
    intel: {
      async get<P extends IntelProvider>(provider: P, address: string, keyHash: string, nowMs: number) {
        return guardStorage('reading the enrichment cache', () => ok(cache.get(provider, address, keyHash, nowMs)?.value as CachedValue<ProviderReports[P]> | undefined));
      },
      async put<P extends IntelProvider>(provider: P, address: string, keyHash: string, value: CachedValue<ProviderReports[P]>, nowMs: number) {
        return guardStorage('writing the enrichment cache', () => {
          cache.put(provider, address, keyHash, value, nowMs);
          return ok(undefined);
        });
      },
    },
    flights: {
      async exclusive(provider, subject, fn, o) {
        const lockFile = path.join(layout.locks, `lookup-${provider}-${addressFilePart(subject)}.lock`);
        try {
          return ok(await withFileLockAsync(lockFile, fn, { timeoutMs: o.timeoutMs, sleep: o.sleep }));
        } catch (e) {
          if (e instanceof LockTimeoutError) return ok('busy' as const);
          if ((e as NodeJS.ErrnoException)?.code !== undefined) return fail('io_error', `locking ${lockFile}: ${(e as Error).message}`);
          throw e;
        }
      },
    },
    quota: {
      async tryAcquire(provider, limits, nowMs) {
        const l = limiter(provider, limits);
        const d = l.tryAcquire(provider, nowMs);
        if (d.granted) grants.set(d, l);
        return d;
      },
      async release(provider, grant: Extract<QuotaDecision, { granted: true }>, nowMs) {
        const l = grants.get(grant);
        return l === undefined ? false : l.release(provider, grant, nowMs);
      },
      async penalize(provider, untilMs, nowMs) {
        return new QuotaLimiter(layout.quota).penalize(provider, untilMs, nowMs);
      },
      async usage(provider, limits, nowMs) {
        return limiter(provider, limits).usage(provider, nowMs);
      },
    },
    incidents: {
      async recorded(sid, rid) {
        return guardStorage('reading the incident ledger', () => ok(recordedIncidentId(layout, sid, rid)));
      },
      async recordedInSid(sid) {
        return guardStorage('reading the incident ledger', () => ok(recordedIncidentIds(layout, sid)));
      },
      async record(draft: IncidentDraft, newId: () => string, o: RecordOptions = {}) {
        return asState(recordIncident(layout, draft, newId, { lock: lock(), ...o }));
      },
      async recordMany(drafts, newId, o: RecordOptions = {}) {
        return asState(recordIncidents(layout, drafts, newId, { lock: lock(), ...o }));
      },
      // The file store's delivered markers live with the outbox (respond/outbox.ts).
      async changed(_incident: Incident, _change: IncidentChange, _nowMs: number) {
        return ok(undefined);
      },
    },
    notifications: {
      async claim(ip: IpAddress, verdict: Verdict, nowMs: number, windowSeconds: number, incidentId: string | null) {
        return asState(claimNotification(layout, ip, verdict, nowMs, windowSeconds, incidentId, { lock: lock() }));
      },
    },
    blocklist: {
      async block(ip: IpAddress, verdict: Verdict, reason: string, nowMs: number, policy: BlockPolicy, offence?: string) {
        return asState(blockAddress(layout, ip, verdict, reason, nowMs, policy, { lock: lock(), ...(offence === undefined ? {} : { offence }) }));
      },
      async unblock(ip) {
        return asState(unblockAddress(layout, ip, { lock: lock() }));
      },
      async purgeExpired(nowMs) {
        return asState(purgeExpired(layout, nowMs, { lock: lock() }));
      },
      async list(nowMs) {
        return asState(listBlocks(layout, nowMs));
      },
    },
    leases: {
      // A lock file held without waiting: taken over when its process is gone or it is older than the ttl (store/file-lock.ts).
      async tryAcquire(name, _holder, nowMs, ttlMs) {
        return guardStorage('taking the lease', () => {
          const identity = tryFileLock(leaseFile(layout, name), { staleMs: ttlMs, nowMs });
          return ok(identity === undefined ? undefined : { name, holder: identity, expiresMs: nowMs + ttlMs });
        });
      },
      // A lease taken over in the meantime is left to its new holder.
      async release(lease) {
        return guardStorage('giving the lease back', () => {
          releaseFileLock(leaseFile(layout, lease.name), lease.holder);
          return ok(undefined);
        });
      },
    },
    queue: fileQueue(layout),
    outbox: fileOutbox(layout),
    async prune(nowMs) {
      return guardStorage('pruning the enrichment cache', () => {
        cache.prune(nowMs);
        return ok(undefined);
      });
    },
    roundTrips: () => 0,
    close: () => undefined,
  };
}
