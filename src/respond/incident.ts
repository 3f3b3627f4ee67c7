/**
 * The incident record every response renderer takes: one attacker address seen by one
 * detection, with its enrichment, verdict and (simulated) response. Renderers treat every
 * string in it as attacker-influenced and neutralise it for their own sink.
 */

export type Verdict = 'MALICIOUS' | 'SUSPICIOUS' | 'SAFE' | 'UNKNOWN';

/** Why an enrichment source has no data for this incident. */
export type LookupState = 'not_found' | 'error' | 'not_looked_up' | 'deferred';

export interface LookupUnavailable {
  readonly state: LookupState;
  /** What happened, for a person: "quota exhausted, retry after 60 s", "private address". */
  readonly message: string;
}

/** VirusTotal v3 `last_analysis_stats` plus the network attributes worth showing. */
export interface VirusTotalSummary {
  readonly malicious: number;
  readonly suspicious: number;
  readonly harmless: number;
  readonly undetected: number;
  readonly timeout: number;
  readonly reputation?: number | null;
  readonly country?: string | null;
  readonly asOwner?: string | null;
  readonly asn?: number | null;
  readonly network?: string | null;
}

/** AbuseIPDB v2 `/check` data; the API returns null for several of these. */
export interface AbuseIpdbSummary {
  readonly score: number;
  readonly totalReports: number;
  readonly numDistinctUsers: number;
  readonly usageType: string | null;
  readonly isTor: boolean | null;
  readonly isWhitelisted: boolean | null;
  readonly countryCode: string | null;
  readonly isp: string | null;
  readonly domain: string | null;
}

export type VirusTotalResult = VirusTotalSummary | LookupUnavailable;
export type AbuseIpdbResult = AbuseIpdbSummary | LookupUnavailable;

export interface ResponseAction {
  readonly kind: 'blocked' | 'not_blocked';
  /** Why this action was (or was not) taken. */
  readonly reason: string;
  /** ISO time the simulated block lapses. */
  readonly expires?: string;
  /** Exact commands the simulated block would run (from `firewallCommands`); never executed. */
  readonly commands?: readonly string[];
}

export interface Incident {
  readonly incidentId: string;
  /** ISO 8601 time of the detection. */
  readonly time: string;
  readonly srcIp: string;
  readonly verdict: Verdict;
  /** Why the verdict is what it is, in a sentence. */
  readonly reason: string;
  /** The Splunk saved-search name that fired. */
  readonly detection: string;
  readonly sid: string;
  readonly rid: string;
  readonly failureCount?: number | null;
  /** Account names the attacker tried, as seen in the logs (attacker-controlled). */
  readonly users: readonly string[];
  readonly attackType?: string | null;
  readonly severity?: string | null;
  readonly firstSeen?: string | null;
  readonly lastSeen?: string | null;
  /** Splunk's results_link for the search job. */
  readonly resultsLink?: string | null;
  readonly vt?: VirusTotalResult;
  readonly abuse?: AbuseIpdbResult;
  readonly action: ResponseAction;
  /** Why the address was handled specially, e.g. "private (RFC 1918): not sent to third parties". */
  readonly addressNote?: string | null;
}

export function isLookupUnavailable(result: VirusTotalResult | AbuseIpdbResult): result is LookupUnavailable {
  return 'state' in result;
}

export const LOOKUP_STATE_LABELS: Readonly<Record<LookupState, string>> = {
  not_found: 'not found',
  error: 'lookup failed',
  not_looked_up: 'not looked up',
  deferred: 'deferred',
};

/** A count as text; anything that is not a finite number is shown as n/a. */
export function countText(value: number | null | undefined): string {
  return typeof value === 'number' && Number.isFinite(value) ? String(value) : 'n/a';
}

export function yesNo(value: boolean | null | undefined): string {
  if (value === true) return 'yes';
  if (value === false) return 'no';
  return 'n/a';
}
