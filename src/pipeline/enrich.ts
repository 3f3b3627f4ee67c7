/**
 * Enrichment of one public address by one provider, as every process (on every member) must
 * do it: the cache first (a hit makes no request), then a per-address claim so concurrent
 * processes ask the provider once and the rest read the cache, then the shared quota (a
 * spent budget defers the lookup instead of provoking a 429), then the request.
 * `soar-edr reputation` enriches domains and file hashes by the same flow (enrichSubject).
 *
 * Quota rule for failed connections: a slot is spent once a request was written to an open
 * connection (the provider may have read and counted it, even if the connection was then
 * reset or timed out before an answer). A lookup none of whose attempts got that far —
 * refused, DNS failure, TLS handshake failure, connect timeout, reset while connecting, a
 * check before the request (bad base URL, deadline) — gives its slot back.
 */
import { lookupAbuseIpdb } from '../intel/abuseipdb-client';
import { apiKeyHash, CachedValue, IntelProvider, ProviderReports } from '../intel/lookup-cache';
import type { FetchFn } from '../intel/http-request';
import type { LookupError, ProviderClientOptions, ProviderLookup } from '../intel/provider-lookup';
import type { QuotaDecision, QuotaLimits } from '../intel/quota-limiter';
import type { LookupOutcome } from '../intel/verdict';
import { lookupVirusTotalIp } from '../intel/virustotal-client';
import type { IntelStore, SharedState } from '../state/shared-state';

/** What enrichment produced for one provider and address. */
export type Enrichment<R> =
  | { readonly state: 'report'; readonly report: R; readonly source: 'cache' | 'request' }
  | { readonly state: 'not_found'; readonly source: 'cache' | 'request' }
  /** Not asked now: the budget is spent (or a 429 came back); retry after `retryAtMs`. */
  | { readonly state: 'deferred'; readonly reason: string; readonly retryAtMs: number }
  /** Asked and failed; `retryable` failures go to the enrichment queue. */
  | { readonly state: 'error'; readonly error: LookupError; readonly retryable: boolean };

export interface EnrichDeps {
  /** The shared state: the address cache, the flights (one asker per subject) and the quota. */
  readonly state: Pick<SharedState, 'intel' | 'flights' | 'quota'>;
  /** The request budget per provider (the run's, within the host's limits). */
  readonly limits: Readonly<Record<IntelProvider, QuotaLimits>>;
  readonly fetch: FetchFn;
  readonly env: Readonly<Record<string, string | undefined>>;
  readonly now: () => number;
  readonly sleep: (ms: number) => Promise<void>;
  readonly random: () => number;
  /** Nothing starts after this. */
  readonly deadlineMs: number;
  readonly requestTimeoutMs: number;
}

const QUOTA_RETRY_AFTER_429_MS = 60_000;

/** One thing to enrich with one provider: where its answer is cached and how to ask for it. */
export interface EnrichmentSubject<R> {
  readonly provider: IntelProvider;
  /** Its cache key, which also names its lock: the address, or "domain:<name>" / "file:<hash>". */
  readonly key: string;
  /** What it is called when another process holds its lock: "address", "object". */
  readonly noun: string;
  /** A fresh cached answer, or undefined (a cache that cannot be read is a miss). */
  cached(keyHash: string, nowMs: number): Promise<CachedValue<R> | undefined>;
  store(keyHash: string, value: CachedValue<R>, nowMs: number): Promise<void>;
  lookup(options: ProviderClientOptions): Promise<ProviderLookup<R>>;
}

async function fromCache<R>(subject: EnrichmentSubject<R>, keyHash: string, deps: EnrichDeps): Promise<Enrichment<R> | undefined> {
  const hit = await subject.cached(keyHash, deps.now());
  if (hit === undefined) return undefined;
  return hit.state === 'report' ? { state: 'report', report: hit.report, source: 'cache' } : { state: 'not_found', source: 'cache' };
}

function clientOptions(provider: IntelProvider, apiKey: string, deps: EnrichDeps): ProviderClientOptions {
  return {
    apiKey,
    baseUrl: provider === 'virustotal' ? deps.env.SOAR_VIRUSTOTAL_URL : deps.env.SOAR_ABUSEIPDB_URL,
    fetch: deps.fetch,
    timeoutMs: deps.requestTimeoutMs,
    sleep: deps.sleep,
    random: deps.random,
    now: deps.now,
    deadlineMs: deps.deadlineMs,
  };
}

/**
 * The flow every enrichment follows, whatever it enriches: cache, per-subject lock, cache
 * again, a quota slot, the request, then the answer cached or the 429 shared.
 * @param quotaWaitUntilMs how long this caller may wait for a per-minute slot (a per-result
 * run may wait a little; a digest or the CLI's drain does not).
 */
export async function enrichSubject<R>(subject: EnrichmentSubject<R>, apiKey: string, deps: EnrichDeps, quotaWaitUntilMs: number): Promise<Enrichment<R>> {
  const { provider } = subject;
  const keyHash = apiKeyHash(apiKey);
  const cached = await fromCache(subject, keyHash, deps);
  if (cached) return cached;
  const flown = await deps.state.flights.exclusive(
    provider,
    subject.key,
    async (): Promise<Enrichment<R>> => {
      // Another process may have asked while we waited for the claim.
      const again = await fromCache(subject, keyHash, deps);
      if (again) return again;
      const slot = await acquireBefore(deps, provider, Math.min(quotaWaitUntilMs, deps.deadlineMs));
      if (!slot.granted) {
        return { state: 'deferred', reason: `enrichment deferred: quota (${slot.reason})`, retryAtMs: slot.availableAtMs };
      }
      const answer = await subject.lookup(clientOptions(provider, apiKey, deps));
      const t = deps.now();
      if (answer.sent === 0) await deps.state.quota.release(provider, slot, t);
      if (answer.state === 'report') {
        await subject.store(keyHash, { state: 'report', report: answer.report }, t);
        return { state: 'report', report: answer.report, source: 'request' };
      }
      if (answer.state === 'not_found') {
        await subject.store(keyHash, { state: 'not_found' }, t);
        return { state: 'not_found', source: 'request' };
      }
      if (answer.error.kind === 'quota') {
        // Every process backs off, not only this one.
        const until = answer.error.retryAtMs ?? t + QUOTA_RETRY_AFTER_429_MS;
        await deps.state.quota.penalize(provider, until, t);
        return { state: 'deferred', reason: `enrichment deferred: quota (${provider} answered 429)`, retryAtMs: until };
      }
      return { state: 'error', error: answer.error, retryable: answer.error.kind === 'transient' };
    },
    { timeoutMs: Math.max(0, Math.min(deps.deadlineMs, quotaWaitUntilMs + deps.requestTimeoutMs * 3) - deps.now()), sleep: deps.sleep, now: deps.now },
  );
  if (!flown.ok) {
    // The shared state cannot be reached: nothing is asked (the quota could not be kept).
    return { state: 'deferred', reason: `enrichment deferred: shared state unavailable (${flown.error.kind})`, retryAtMs: deps.now() + 60_000 };
  }
  if (flown.value === 'busy') {
    return { state: 'deferred', reason: `enrichment deferred: another process is asking about this ${subject.noun}`, retryAtMs: deps.now() + 60_000 };
  }
  return flown.value;
}

/**
 * Take a quota slot, waiting for it only when it frees before `deadlineMs`; otherwise the
 * denial at once (a daily limit or a long penalty never makes a run wait). Waiters wake with
 * a little jitter so they do not all retry in the same millisecond.
 */
export async function acquireBefore(deps: Pick<EnrichDeps, 'state' | 'limits' | 'now' | 'sleep' | 'random'>, provider: IntelProvider, deadlineMs: number): Promise<QuotaDecision> {
  for (;;) {
    const t = deps.now();
    const decision = await deps.state.quota.tryAcquire(provider, deps.limits[provider], t);
    if (decision.granted) return decision;
    const wakeAt = decision.availableAtMs + Math.floor(deps.random() * 50);
    if (wakeAt >= deadlineMs) return decision;
    await deps.sleep(Math.max(1, wakeAt - t));
  }
}

/** A public address (canonical) as `provider` is asked about it. */
function addressSubject<P extends IntelProvider>(provider: P, address: string, intel: IntelStore): EnrichmentSubject<ProviderReports[P]> {
  return {
    provider,
    key: address,
    noun: 'address',
    cached: async (keyHash, nowMs) => {
      const hit = await intel.get(provider, address, keyHash, nowMs);
      return hit.ok ? hit.value : undefined;
    },
    // A cache that cannot be written costs a request later, nothing now.
    store: async (keyHash, value, nowMs) => {
      await intel.put(provider, address, keyHash, value, nowMs);
    },
    lookup: (options) =>
      (provider === 'virustotal' ? lookupVirusTotalIp(address, options) : lookupAbuseIpdb(address, options)) as Promise<ProviderLookup<ProviderReports[P]>>,
  };
}

/**
 * @param quotaWaitUntilMs how long this caller may wait for a per-minute slot (a per-result
 * run may wait a little; a digest or the CLI's drain does not).
 */
export function enrichAddress<P extends IntelProvider>(
  provider: P,
  address: string,
  apiKey: string,
  deps: EnrichDeps,
  quotaWaitUntilMs: number,
): Promise<Enrichment<ProviderReports[P]>> {
  return enrichSubject(addressSubject(provider, address, deps.state.intel), apiKey, deps, quotaWaitUntilMs);
}

/**
 * What the verdict reads from an enrichment: the report itself, or why there is none. The
 * alert action and `soar-edr reputation` map alike, so they agree about a target.
 */
export function enrichmentOutcome<R>(e: Enrichment<R> | undefined, notLookedUp: string): LookupOutcome<R> {
  if (e === undefined) return { state: 'not_looked_up', reason: notLookedUp };
  if (e.state === 'report') return e.report;
  if (e.state === 'not_found') return { state: 'not_found' };
  if (e.state === 'deferred') return { state: 'not_looked_up', reason: e.reason };
  return { state: 'error', message: e.error.message };
}
