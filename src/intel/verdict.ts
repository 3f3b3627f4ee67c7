/**
 * The verdict: MALICIOUS | SUSPICIOUS | SAFE | UNKNOWN, with a one-line reason.
 *
 * Principles:
 * - Positive evidence from any source raises the verdict (a 100 AbuseIPDB score makes an
 *   address MALICIOUS even when VirusTotal was unreachable).
 * - SAFE needs positive evidence of absence: a VirusTotal report that carried analysis
 *   stats, from enough engines, with nothing over a threshold. Not found, errors, quota
 *   deferrals, missing keys and addresses that were never looked up are UNKNOWN — the
 *   seed scripts' habit of printing "Safe" when the lookup failed is the failure mode
 *   this exists to avoid. AbuseIPDB alone never makes SAFE: a score of 0 only means
 *   nobody reported the address recently.
 *
 * Default thresholds (DEFAULT_THRESHOLDS), for a brute-force source that already attacked us:
 * - vt_malicious_threshold 3: one or two engines listing an address is common for shared
 *   cloud and CDN addresses (a single blocklist picked it up once); three independent
 *   engines agreeing is a consensus worth an automatic block.
 * - vt_malicious_suspicious_threshold 1: any engine calling it malicious deserves an
 *   analyst's look, so it is at least SUSPICIOUS.
 * - vt_suspicious_threshold 2: VirusTotal's "suspicious" category is weaker than
 *   "malicious"; one such engine alone is noise.
 * - abuse_malicious_score 75: AbuseIPDB's confidence score is built for action; 75 is the
 *   cut-off other analyzers (Cortex AbuseIPDB) use for malicious.
 * - abuse_suspicious_score 25: in the 42 real /check responses of the corpus, four
 *   Microsoft service addresses score 1–9 (one to three reports from one or two users);
 *   25 keeps those quiet, while 52.113.194.132 (26: 329 reports from 10 users) is flagged.
 * - vt_min_engines 30: VirusTotal runs about 90 engines on an address (93 in the OpenCTI
 *   capture, 87 in the demisto sample). Fewer than a third answering (timeouts excluded)
 *   is a partial analysis, not evidence of a clean address.
 *
 * SEED_COMPATIBLE reproduces seed 002's rule (malicious >= 1 -> MALICIOUS, suspicious
 * >= 1 -> SUSPICIOUS, else SAFE; VirusTotal only) for every VirusTotal report that has
 * stats; where the seed printed SAFE for a failed or empty lookup, this says UNKNOWN.
 */
import { fail, ok, Result } from '../result';
import type { AbuseReport } from './abuseipdb-report';
import { oneLine } from './provider-error';
import type { VtAnalysisStats } from './virustotal-report';

export type Verdict = 'MALICIOUS' | 'SUSPICIOUS' | 'SAFE' | 'UNKNOWN';

/** What happened to one provider lookup. */
export type LookupOutcome<R> =
  | R
  | { readonly state: 'not_found' }
  | { readonly state: 'error'; readonly message: string }
  | { readonly state: 'not_looked_up'; readonly reason: string };

/**
 * What the verdict reads from a VirusTotal report. An address report (VtIpReport) has it, and
 * so do domain and file reports (VtObjectReport), so `soar-edr reputation` judges every
 * kind of target by the same rule.
 */
export interface VtEvidence {
  readonly state: 'report';
  readonly stats: VtAnalysisStats;
  readonly statsPresent: boolean;
  readonly engines: number;
}

export type VtOutcome = LookupOutcome<VtEvidence>;
export type AbuseOutcome = LookupOutcome<AbuseReport>;

export interface VerdictInput {
  /** Absent: VirusTotal was not consulted (no reason known). */
  readonly vt?: VtOutcome;
  /** Absent: AbuseIPDB is not configured; it is then left out of the reason. */
  readonly abuse?: AbuseOutcome;
}

/** All comparisons are `>=`. A null threshold never triggers. */
export interface VerdictThresholds {
  /** vt_malicious_threshold: engines saying "malicious" for MALICIOUS. */
  readonly vtMalicious: number | null;
  /** vt_malicious_suspicious_threshold: engines saying "malicious" for SUSPICIOUS. */
  readonly vtMaliciousSuspicious: number | null;
  /** vt_suspicious_threshold: engines saying "suspicious" for SUSPICIOUS. */
  readonly vtSuspicious: number | null;
  /** vt_min_engines: engines that answered (all but timeouts) needed before SAFE. */
  readonly vtMinEngines: number;
  /** abuse_malicious_score: AbuseIPDB confidence score for MALICIOUS. */
  readonly abuseMalicious: number | null;
  /** abuse_suspicious_score: AbuseIPDB confidence score for SUSPICIOUS. */
  readonly abuseSuspicious: number | null;
}

export interface VerdictDecision {
  readonly verdict: Verdict;
  /** One line, e.g. "4/93 engines malicious; AbuseIPDB 100". */
  readonly reason: string;
}

export const DEFAULT_THRESHOLDS: VerdictThresholds = Object.freeze({
  vtMalicious: 3,
  vtMaliciousSuspicious: 1,
  vtSuspicious: 2,
  vtMinEngines: 30,
  abuseMalicious: 75,
  abuseSuspicious: 25,
});

export const SEED_COMPATIBLE: VerdictThresholds = Object.freeze({
  vtMalicious: 1,
  vtMaliciousSuspicious: 1,
  vtSuspicious: 1,
  vtMinEngines: 0,
  abuseMalicious: null,
  abuseSuspicious: null,
});

const RANK: Readonly<Record<Verdict, number>> = { SAFE: 0, UNKNOWN: 1, SUSPICIOUS: 2, MALICIOUS: 3 };

/**
 * Severity order for "did it get worse": SAFE < UNKNOWN < SUSPICIOUS < MALICIOUS.
 * UNKNOWN ranks above SAFE because losing the evidence for SAFE is a step down in assurance.
 */
export function verdictRank(verdict: Verdict): number {
  return RANK[verdict];
}

function reached(value: number | null, threshold: number | null): boolean {
  return value !== null && threshold !== null && value >= threshold;
}

const MAX_MESSAGE_CHARS = 160;

function vtEvidence(vt: VtOutcome | undefined): string {
  if (vt === undefined) return 'VirusTotal not looked up';
  switch (vt.state) {
    case 'report': {
      if (!vt.statsPresent) return 'VirusTotal: no analysis stats';
      const suspicious = vt.stats.suspicious > 0 ? `, ${vt.stats.suspicious} suspicious` : '';
      return `${vt.stats.malicious}/${vt.engines} engines malicious${suspicious}`;
    }
    case 'not_found':
      return 'VirusTotal: not found';
    case 'error':
      return `VirusTotal error: ${oneLine(vt.message, MAX_MESSAGE_CHARS)}`;
    case 'not_looked_up':
      return `VirusTotal not looked up: ${oneLine(vt.reason, MAX_MESSAGE_CHARS)}`;
  }
}

function abuseEvidence(abuse: AbuseOutcome): string {
  switch (abuse.state) {
    case 'report':
      return abuse.abuseConfidenceScore === null ? 'AbuseIPDB: no score' : `AbuseIPDB ${abuse.abuseConfidenceScore}`;
    case 'not_found':
      return 'AbuseIPDB: not found';
    case 'error':
      return `AbuseIPDB error: ${oneLine(abuse.message, MAX_MESSAGE_CHARS)}`;
    case 'not_looked_up':
      return `AbuseIPDB not looked up: ${oneLine(abuse.reason, MAX_MESSAGE_CHARS)}`;
  }
}

function evidence(input: VerdictInput): string {
  const { vt, abuse } = input;
  if (vt?.state === 'not_looked_up' && abuse?.state === 'not_looked_up' && vt.reason === abuse.reason) {
    return `not looked up: ${oneLine(vt.reason, MAX_MESSAGE_CHARS)}`;
  }
  const parts = [vtEvidence(vt)];
  if (abuse !== undefined) parts.push(abuseEvidence(abuse));
  return parts.join('; ');
}

export function decideVerdict(input: VerdictInput, thresholds: VerdictThresholds): VerdictDecision {
  const vt = input.vt?.state === 'report' && input.vt.statsPresent ? input.vt : undefined;
  const score = input.abuse?.state === 'report' ? input.abuse.abuseConfidenceScore : null;
  const reason = evidence(input);

  const vtMalicious = vt ? vt.stats.malicious : null;
  const vtSuspicious = vt ? vt.stats.suspicious : null;
  if (reached(vtMalicious, thresholds.vtMalicious) || reached(score, thresholds.abuseMalicious)) {
    return { verdict: 'MALICIOUS', reason };
  }
  if (
    reached(vtMalicious, thresholds.vtMaliciousSuspicious) ||
    reached(vtSuspicious, thresholds.vtSuspicious) ||
    reached(score, thresholds.abuseSuspicious)
  ) {
    return { verdict: 'SUSPICIOUS', reason };
  }
  if (vt !== undefined) {
    const answered = vt.engines - vt.stats.timeout;
    if (answered >= thresholds.vtMinEngines) return { verdict: 'SAFE', reason };
    return { verdict: 'UNKNOWN', reason: `${reason}; too few engines answered for SAFE (${answered} < ${thresholds.vtMinEngines})` };
  }
  return { verdict: 'UNKNOWN', reason };
}

// ---------------------------------------------------------------------------------------
// Configuration

export interface ThresholdParam {
  readonly name: string;
  readonly field: keyof VerdictThresholds;
  readonly min: number;
  readonly max: number;
  /** Whether "off" (never trigger) is allowed. */
  readonly canDisable: boolean;
}

/** The alert action / CLI params, by their (binding once shipped) names. */
export const THRESHOLD_PARAMS: readonly ThresholdParam[] = [
  { name: 'vt_malicious_threshold', field: 'vtMalicious', min: 1, max: 1000, canDisable: true },
  { name: 'vt_malicious_suspicious_threshold', field: 'vtMaliciousSuspicious', min: 1, max: 1000, canDisable: true },
  { name: 'vt_suspicious_threshold', field: 'vtSuspicious', min: 1, max: 1000, canDisable: true },
  { name: 'vt_min_engines', field: 'vtMinEngines', min: 0, max: 1000, canDisable: false },
  { name: 'abuse_malicious_score', field: 'abuseMalicious', min: 1, max: 100, canDisable: true },
  { name: 'abuse_suspicious_score', field: 'abuseSuspicious', min: 1, max: 100, canDisable: true },
];

export const PRESET_PARAM = 'verdict_preset';
const PRESETS: Readonly<Record<string, VerdictThresholds>> = { default: DEFAULT_THRESHOLDS, 'seed-compatible': SEED_COMPATIBLE };
const OFF_WORDS = new Set(['off', 'none', 'disabled']);

function shown(value: string): string {
  return JSON.stringify(value.length > 30 ? `${value.slice(0, 30)}…` : value);
}

/**
 * Thresholds from string params (Splunk alert params, CLI options). Missing or empty
 * params keep the preset's value; `verdict_preset` (default | seed-compatible) picks the
 * base. Count params take a whole number or "off". Unrelated keys are ignored. Every bad
 * param is named in the one error.
 */
export function parseThresholds(config: Readonly<Record<string, string | undefined>>): Result<VerdictThresholds, 'invalid_threshold'> {
  const problems: string[] = [];
  let base = DEFAULT_THRESHOLDS;
  const presetText = config[PRESET_PARAM]?.trim().toLowerCase();
  if (presetText) {
    const preset = Object.prototype.hasOwnProperty.call(PRESETS, presetText) ? PRESETS[presetText] : undefined;
    if (preset) base = preset;
    else problems.push(`${PRESET_PARAM} is ${shown(config[PRESET_PARAM] ?? '')}; expected one of ${Object.keys(PRESETS).join(', ')}`);
  }

  const result: Record<keyof VerdictThresholds, number | null> = { ...base };
  for (const p of THRESHOLD_PARAMS) {
    const raw = config[p.name];
    const text = raw?.trim().toLowerCase();
    if (raw === undefined || text === '') continue;
    if (p.canDisable && OFF_WORDS.has(text as string)) {
      result[p.field] = null;
      continue;
    }
    const value = /^\d{1,7}$/.test(text as string) ? Number(text) : NaN;
    if (!(value >= p.min && value <= p.max)) {
      problems.push(`${p.name} is ${shown(raw)}; expected a whole number from ${p.min} to ${p.max}${p.canDisable ? ' or "off"' : ''}`);
      continue;
    }
    result[p.field] = value;
  }

  const ordered = (low: keyof VerdictThresholds, high: keyof VerdictThresholds, lowName: string, highName: string): void => {
    const l = result[low];
    const h = result[high];
    if (l !== null && h !== null && l > h) problems.push(`${lowName} (${l}) is above ${highName} (${h}); the SUSPICIOUS level must not be stricter than MALICIOUS`);
  };
  if (problems.length === 0) {
    ordered('vtMaliciousSuspicious', 'vtMalicious', 'vt_malicious_suspicious_threshold', 'vt_malicious_threshold');
    ordered('abuseSuspicious', 'abuseMalicious', 'abuse_suspicious_score', 'abuse_malicious_score');
  }
  if (problems.length > 0) return fail('invalid_threshold', `invalid verdict thresholds: ${problems.join('; ')}`);
  return ok({
    vtMalicious: result.vtMalicious,
    vtMaliciousSuspicious: result.vtMaliciousSuspicious,
    vtSuspicious: result.vtSuspicious,
    vtMinEngines: result.vtMinEngines ?? base.vtMinEngines,
    abuseMalicious: result.abuseMalicious,
    abuseSuspicious: result.abuseSuspicious,
  });
}
