/**
 * The decide stage, pure: what the providers' answers for one address say — the verdict and
 * its reason, the per-provider results an incident records, and what the address still waits
 * for (the enrichment queue's entry).
 */
import type { AbuseReport } from '../intel/abuseipdb-report';
import { waitingProviders, WaitingFor, WaitReason } from '../intel/enrichment-queue';
import type { IntelProvider } from '../intel/lookup-cache';
import { decideVerdict, Verdict, VerdictThresholds } from '../intel/verdict';
import type { VtIpReport } from '../intel/virustotal-report';
import type { AbuseIpdbResult, VirusTotalResult } from '../respond/incident';
import { Enrichment, enrichmentOutcome } from './enrich';

/** The incident's and the verdict's words for a public address recorded without a VirusTotal key. */
export const NO_VT_KEY_PENDING = 'enrichment pending: no VirusTotal key configured';
export const NO_VT_KEY_NOTE = `${NO_VT_KEY_PENDING}; queued, looked up once virustotal_api_key is set`;

/** Both providers' answers for one address (or why a provider was not asked). */
export interface Enriched {
  readonly vt: Enrichment<VtIpReport> | undefined;
  readonly abuse: Enrichment<AbuseReport> | undefined;
  readonly vtNote: string;
  readonly abuseNote: string;
  /**
   * A public address and no VirusTotal key: it waits in the queue for one. AbuseIPDB is
   * optional (a second opinion the verdict does without), so its missing key queues nothing.
   */
  readonly vtNoKey: boolean;
}

/** An address that is not sent to third parties: nothing asked, the note says why. */
export function notLookedUp(reason: string | undefined, abuseConfigured: boolean): Enriched {
  const note = `${reason ?? 'not public'}: never sent to a third party`;
  return { vt: undefined, abuse: undefined, vtNote: note, abuseNote: abuseConfigured ? note : '', vtNoKey: false };
}

export function vtResult(e: Enrichment<VtIpReport> | undefined, notLookedUpNote: string, noKey = false): VirusTotalResult {
  if (e === undefined && noKey) return { state: 'deferred', message: notLookedUpNote };
  if (e === undefined) return { state: 'not_looked_up', message: notLookedUpNote };
  switch (e.state) {
    case 'report': {
      const r = e.report;
      return { ...r.stats, reputation: r.reputation, country: r.country, asOwner: r.asOwner, asn: r.asn, network: r.network };
    }
    case 'not_found':
      return { state: 'not_found', message: 'unknown to VirusTotal' };
    case 'deferred':
      return { state: 'deferred', message: e.reason };
    case 'error':
      return { state: 'error', message: e.error.message };
  }
}

export function abuseResult(e: Enrichment<AbuseReport> | undefined, notLookedUpNote: string): AbuseIpdbResult | undefined {
  if (e === undefined) return notLookedUpNote ? { state: 'not_looked_up', message: notLookedUpNote } : undefined;
  switch (e.state) {
    case 'report': {
      const r = e.report;
      return {
        score: r.abuseConfidenceScore ?? 0,
        totalReports: r.totalReports ?? 0,
        numDistinctUsers: r.numDistinctUsers ?? 0,
        usageType: r.usageType,
        isTor: r.isTor,
        isWhitelisted: r.isWhitelisted,
        countryCode: r.countryCode,
        isp: r.isp,
        domain: r.domain,
      };
    }
    case 'not_found':
      return { state: 'not_found', message: 'unknown to AbuseIPDB' };
    case 'deferred':
      return { state: 'deferred', message: e.reason };
    case 'error':
      return { state: 'error', message: e.error.message };
  }
}

/** The verdict and the reason an incident records for it. */
export function decideIncident(e: Enriched, thresholds: VerdictThresholds): { verdict: Verdict; reason: string } {
  const decision = decideVerdict(
    {
      vt: enrichmentOutcome(e.vt, e.vtNote),
      abuse: e.abuse !== undefined || e.abuseNote ? enrichmentOutcome(e.abuse, e.abuseNote) : undefined,
    },
    thresholds,
  );
  if (decision.verdict !== 'UNKNOWN') return decision;
  const deferred = [e.vt, e.abuse].some((x) => x?.state === 'deferred');
  return { verdict: decision.verdict, reason: e.vtNoKey ? NO_VT_KEY_PENDING : deferred ? 'enrichment deferred: quota' : decision.reason };
}

/** What an enriched address still waits for, per provider; {} when nothing. */
export function waitingFor(e: Enriched): WaitingFor {
  const waiting: Partial<Record<IntelProvider, WaitReason>> = {};
  if (e.vtNoKey) waiting.virustotal = 'no-key';
  for (const [provider, result] of [['virustotal', e.vt], ['abuseipdb', e.abuse]] as const) {
    if (result?.state === 'deferred') waiting[provider] = 'deferred';
    else if (result?.state === 'error' && result.retryable) waiting[provider] = 'retry';
  }
  return waiting;
}

/**
 * When a waiting address is due again: the latest time any provider it waits for allows (a
 * quota's or 429's time, a minute after a failed lookup, now for a missing key: a drain
 * leaves it alone until the key is there).
 */
export function retryAt(e: Enriched, nowMs: number): number {
  const times = [nowMs];
  for (const result of [e.vt, e.abuse]) {
    if (result?.state === 'deferred') times.push(result.retryAtMs);
    else if (result?.state === 'error' && result.retryable) times.push(nowMs + 60_000);
  }
  return Math.max(...times);
}

export function describeWaiting(w: WaitingFor): string {
  return waitingProviders(w).map((p) => `${p}:${w[p]}`).join(',');
}
