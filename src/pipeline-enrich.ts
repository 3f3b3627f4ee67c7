/**
 * Enrichment of one public address by one provider, as every process on the host must do
 * it: the cache first (a hit makes no request), then a per-address lock so concurrent
 * processes ask the provider once and the rest read the cache, then the shared quota (a
 * spent budget defers the lookup instead of provoking a 429), then the request.
 */
import type { AbuseReport } from './intel/abuseipdb-report';
import { lookupAbuseIpdb } from './intel/abuseipdb-client';
import { addressFilePart, apiKeyHash, IntelProvider, LookupCache } from './intel/lookup-cache';
import type { FetchFn } from './intel/http-request';
import type { LookupError, ProviderLookup } from './intel/provider-lookup';
import { QuotaLimiter } from './intel/quota-limiter';
import type { VtIpReport } from './intel/virustotal-report';
import { lookupVirusTotalIp } from './intel/virustotal-client';
import * as path from 'node:path';
import { LockTimeoutError, withFileLockAsync } from './store/file-lock';

type Reports = { virustotal: VtIpReport; abuseipdb: AbuseReport };

/** What enrichment produced for one provider and address. */
export type Enrichment<R> =
  | { readonly state: 'report'; readonly report: R; readonly source: 'cache' | 'request' }
  | { readonly state: 'not_found'; readonly source: 'cache' | 'request' }
  /** Not asked now: the budget is spent (or a 429 came back); retry after `retryAtMs`. */
  | { readonly state: 'deferred'; readonly reason: string; readonly retryAtMs: number }
  /** Asked and failed; `retryable` failures go to the enrichment queue. */
  | { readonly state: 'error'; readonly error: LookupError; readonly retryable: boolean };

export interface EnrichDeps {
  readonly cache: LookupCache;
  readonly quota: QuotaLimiter;
  readonly locksDir: string;
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

function lookup<P extends IntelProvider>(provider: P, address: string, apiKey: string, deps: EnrichDeps): Promise<ProviderLookup<Reports[P]>> {
  const options = {
    apiKey,
    fetch: deps.fetch,
    timeoutMs: deps.requestTimeoutMs,
    sleep: deps.sleep,
    random: deps.random,
    now: deps.now,
    deadlineMs: deps.deadlineMs,
  };
  if (provider === 'virustotal') {
    return lookupVirusTotalIp(address, { ...options, baseUrl: deps.env.SOAR_VIRUSTOTAL_URL }) as Promise<ProviderLookup<Reports[P]>>;
  }
  return lookupAbuseIpdb(address, { ...options, baseUrl: deps.env.SOAR_ABUSEIPDB_URL }) as Promise<ProviderLookup<Reports[P]>>;
}

function fromCache<P extends IntelProvider>(provider: P, address: string, keyHash: string, deps: EnrichDeps): Enrichment<Reports[P]> | undefined {
  const hit = deps.cache.get(provider, address, keyHash, deps.now());
  if (!hit) return undefined;
  return hit.value.state === 'report' ? { state: 'report', report: hit.value.report as Reports[P], source: 'cache' } : { state: 'not_found', source: 'cache' };
}

/**
 * @param quotaWaitUntilMs how long this caller may wait for a per-minute slot (a per-result
 * run may wait a little; a digest or the CLI's drain does not).
 */
export async function enrichAddress<P extends IntelProvider>(
  provider: P,
  address: string,
  apiKey: string,
  deps: EnrichDeps,
  quotaWaitUntilMs: number,
): Promise<Enrichment<Reports[P]>> {
  const keyHash = apiKeyHash(apiKey);
  const cached = fromCache(provider, address, keyHash, deps);
  if (cached) return cached;
  const lockFile = path.join(deps.locksDir, `lookup-${provider}-${addressFilePart(address)}.lock`);
  try {
    return await withFileLockAsync(
      lockFile,
      async () => {
        // Another process may have asked while we waited for the lock.
        const again = fromCache(provider, address, keyHash, deps);
        if (again) return again;
        const slot = await deps.quota.acquireBefore(provider, Math.min(quotaWaitUntilMs, deps.deadlineMs), deps.sleep, deps.now, deps.random);
        if (!slot.granted) {
          return { state: 'deferred', reason: `enrichment deferred: quota (${slot.reason})`, retryAtMs: slot.availableAtMs };
        }
        const answer = await lookup(provider, address, apiKey, deps);
        const t = deps.now();
        if (answer.state === 'report') {
          deps.cache.put(provider, address, keyHash, { state: 'report', report: answer.report }, t);
          return { state: 'report', report: answer.report, source: 'request' };
        }
        if (answer.state === 'not_found') {
          deps.cache.put(provider, address, keyHash, { state: 'not_found' }, t);
          return { state: 'not_found', source: 'request' };
        }
        if (answer.error.kind === 'quota') {
          // Every process backs off, not only this one.
          const until = answer.error.retryAtMs ?? t + QUOTA_RETRY_AFTER_429_MS;
          deps.quota.penalize(provider, until, t);
          return { state: 'deferred', reason: `enrichment deferred: quota (${provider} answered 429)`, retryAtMs: until };
        }
        return { state: 'error', error: answer.error, retryable: answer.error.kind === 'transient' };
      },
      { timeoutMs: Math.max(0, Math.min(deps.deadlineMs, quotaWaitUntilMs + deps.requestTimeoutMs * 3) - deps.now()), sleep: deps.sleep },
    );
  } catch (e) {
    if (e instanceof LockTimeoutError) {
      return { state: 'deferred', reason: 'enrichment deferred: another process is asking about this address', retryAtMs: deps.now() + 60_000 };
    }
    throw e;
  }
}
