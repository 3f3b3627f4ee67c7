/**
 * Enrichment of one domain or file hash by VirusTotal, by the same flow (enrichSubject in
 * src/pipeline-enrich.ts) that enriches an address: the cache first (a hit makes no
 * request), a per-object lock so concurrent processes ask once, the host's shared VirusTotal
 * quota (one budget with the alert action), then the request; a 429 penalizes the shared
 * limiter for every process.
 *
 * Domain and file answers live in the same cache directory as address answers, in the
 * "virustotal" provider's files with the same API-key hash; their cache key is
 * "domain:<name>" / "file:<hash>", which can never be an address (LookupCache hashes it
 * into the file name), so an address entry and an object entry can never be confused.
 */
import { CachedValue, LookupCache } from '../intel/lookup-cache';
import { lookupVirusTotalObject, VtObjectReport, VtSubject } from '../intel/virustotal-object';
import { asJsonObject } from '../intel/json-fields';
import type { VtIpReport } from '../intel/virustotal-report';
import { EnrichDeps, Enrichment, enrichSubject, EnrichmentSubject } from '../pipeline/enrich';

export function vtObjectCacheKey(subject: VtSubject): string {
  return `${subject.kind}:${subject.id}`;
}

/**
 * A fresh cached answer about `subject`, or undefined. LookupCache's types speak of address
 * reports; the entry is checked here to be the object report this key was written with.
 */
export function cachedVtObject(cache: LookupCache, subject: VtSubject, keyHash: string, nowMs: number): CachedValue<VtObjectReport> | undefined {
  const hit = cache.get('virustotal', vtObjectCacheKey(subject), keyHash, nowMs);
  if (hit === undefined) return undefined;
  if (hit.value.state === 'not_found') return { state: 'not_found' };
  const report = asJsonObject(hit.value.report as unknown);
  if (report === undefined || report.kind !== subject.kind || report.subject !== subject.id) return undefined;
  return { state: 'report', report: report as unknown as VtObjectReport };
}

export function cacheVtObject(cache: LookupCache, subject: VtSubject, keyHash: string, value: CachedValue<VtObjectReport>, nowMs: number): void {
  // Stored through the address-typed API: the entry carries the same checked fields (state, stats, engines, statsPresent).
  cache.put('virustotal', vtObjectCacheKey(subject), keyHash, value as unknown as CachedValue<VtIpReport>, nowMs);
}

/** A domain or file as the VirusTotal enrichment flow asks about it. */
function vtObjectSubject(subject: VtSubject, cache: LookupCache): EnrichmentSubject<VtObjectReport> {
  return {
    provider: 'virustotal',
    key: vtObjectCacheKey(subject),
    noun: 'object',
    cached: async (keyHash, nowMs) => cachedVtObject(cache, subject, keyHash, nowMs),
    store: async (keyHash, value, nowMs) => cacheVtObject(cache, subject, keyHash, value, nowMs),
    lookup: (options) => lookupVirusTotalObject(subject, options),
  };
}

/** @param quotaWaitUntilMs how long this caller may wait for a per-minute slot (epoch ms). */
export function enrichVirusTotalObject(subject: VtSubject, cache: LookupCache, apiKey: string, deps: EnrichDeps, quotaWaitUntilMs: number): Promise<Enrichment<VtObjectReport>> {
  return enrichSubject(vtObjectSubject(subject, cache), apiKey, deps, quotaWaitUntilMs);
}
