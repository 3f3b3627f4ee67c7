/**
 * The incident pipeline's settings, from the action's params (strings in the payload's
 * configuration). Every bad value is reported and replaced by its default: a typo in one
 * param must not lose an incident.
 */
import { Cidr, parseCidrList } from './intel/address-gate';
import { DEFAULT_THRESHOLDS, parseThresholds, Verdict, VerdictThresholds } from './intel/verdict';
import type { Failure } from './result';
import { fail, ok, Result } from './result';

export interface PipelineSettings {
  /** Never sent to a third party, never blocked (unless blockPrivate). */
  readonly allowlist: readonly Cidr[];
  readonly thresholds: VerdictThresholds;
  /** Verdicts that get a (simulated) block. */
  readonly blockVerdicts: ReadonlySet<Verdict>;
  /** Block private, reserved and allowlisted addresses too (off by default). */
  readonly blockPrivate: boolean;
  readonly blockSeconds: number;
  readonly blockMaxSeconds: number;
  /** An address notified within this window is not notified again unless its verdict got worse. */
  readonly renotifySeconds: number;
  readonly cacheTtlSeconds: number;
  readonly vtPerMinute: number;
  readonly vtPerDay: number;
  readonly abusePerDay: number;
  readonly requestTimeoutMs: number;
  /** How long a per-result run may wait for a per-minute quota slot before deferring. */
  readonly quotaWaitSeconds: number;
  /** The run's deadline after it starts: keep it under the stanza's maxtime (5m). */
  readonly timeBudgetSeconds: number;
}

export const DEFAULT_SETTINGS: PipelineSettings = {
  allowlist: [],
  thresholds: DEFAULT_THRESHOLDS,
  blockVerdicts: new Set<Verdict>(['MALICIOUS']),
  blockPrivate: false,
  blockSeconds: 24 * 3600,
  blockMaxSeconds: 30 * 24 * 3600,
  renotifySeconds: 3600,
  cacheTtlSeconds: 24 * 3600,
  vtPerMinute: 4,
  vtPerDay: 500,
  abusePerDay: 1000,
  requestTimeoutMs: 10_000,
  quotaWaitSeconds: 60,
  timeBudgetSeconds: 270,
};

const UNITS: Record<string, number> = { s: 1, m: 60, h: 3600, d: 86400, w: 604800 };

/** "90", "90s", "15m", "24h", "30d", "2w" → seconds. */
export function parseDuration(text: string): Result<number, 'invalid_duration'> {
  const m = /^\s*(\d+)\s*([smhdw]?)\s*$/i.exec(text);
  if (!m) return fail('invalid_duration', `${JSON.stringify(text.slice(0, 40))} is not a duration like 90s, 15m, 24h or 30d`);
  return ok(Number(m[1]) * UNITS[(m[2] || 's').toLowerCase()]!);
}

const VERDICTS: readonly Verdict[] = ['MALICIOUS', 'SUSPICIOUS', 'SAFE', 'UNKNOWN'];

export function parsePipelineSettings(params: Readonly<Record<string, string | undefined>>): {
  settings: PipelineSettings;
  problems: Failure<'invalid_param'>[];
} {
  const problems: Failure<'invalid_param'>[] = [];
  const bad = (param: string, message: string, fallback: string) =>
    problems.push({ kind: 'invalid_param', message: `param ${param}: ${message}; using ${fallback}` });
  const given = (name: string): string | undefined => {
    const v = params[name]?.trim();
    return v ? v : undefined;
  };

  let allowlist = DEFAULT_SETTINGS.allowlist;
  const rawAllow = given('allowlist');
  if (rawAllow) {
    const r = parseCidrList(rawAllow);
    if (r.ok) allowlist = r.value;
    else bad('allowlist', r.error.message, 'no allowlist');
  }

  let thresholds = DEFAULT_SETTINGS.thresholds;
  const t = parseThresholds(params);
  if (t.ok) thresholds = t.value;
  else problems.push({ kind: 'invalid_param', message: `${t.error.message}; using the default thresholds` });

  let blockVerdicts = DEFAULT_SETTINGS.blockVerdicts;
  const rawBlock = given('block_verdicts');
  if (rawBlock) {
    const names = rawBlock.toUpperCase().split(/[\s,]+/).filter(Boolean);
    const unknown = names.filter((n) => n !== 'NONE' && !(VERDICTS as readonly string[]).includes(n));
    if (unknown.length > 0) bad('block_verdicts', `unknown verdict(s) ${unknown.join(', ')} (use MALICIOUS, SUSPICIOUS, SAFE, UNKNOWN or none)`, 'MALICIOUS');
    else blockVerdicts = new Set(names.filter((n): n is Verdict => n !== 'NONE'));
  }

  let blockPrivate = DEFAULT_SETTINGS.blockPrivate;
  const rawPrivate = given('block_private');
  if (rawPrivate) {
    if (/^(1|true|yes)$/i.test(rawPrivate)) blockPrivate = true;
    else if (/^(0|false|no)$/i.test(rawPrivate)) blockPrivate = false;
    else bad('block_private', `${JSON.stringify(rawPrivate)} is not true or false`, 'false');
  }

  const duration = (name: string, fallback: number, min: number, max: number): number => {
    const raw = given(name);
    if (!raw) return fallback;
    const r = parseDuration(raw);
    if (!r.ok) {
      bad(name, r.error.message, `${fallback}s`);
      return fallback;
    }
    if (r.value < min || r.value > max) {
      bad(name, `${raw} is outside ${min}s..${max}s`, `${fallback}s`);
      return fallback;
    }
    return r.value;
  };
  const count = (name: string, fallback: number, min: number, max: number): number => {
    const raw = given(name);
    if (!raw) return fallback;
    if (!/^\d+$/.test(raw) || Number(raw) < min || Number(raw) > max) {
      bad(name, `${JSON.stringify(raw.slice(0, 20))} is not a whole number from ${min} to ${max}`, String(fallback));
      return fallback;
    }
    return Number(raw);
  };

  const blockSeconds = duration('block_duration', DEFAULT_SETTINGS.blockSeconds, 60, 365 * 86400);
  let blockMaxSeconds = duration('block_max_duration', DEFAULT_SETTINGS.blockMaxSeconds, 60, 10 * 365 * 86400);
  if (blockMaxSeconds < blockSeconds) {
    bad('block_max_duration', `shorter than block_duration`, `${blockSeconds}s`);
    blockMaxSeconds = blockSeconds;
  }
  return {
    settings: {
      allowlist,
      thresholds,
      blockVerdicts,
      blockPrivate,
      blockSeconds,
      blockMaxSeconds,
      renotifySeconds: duration('renotify_window', DEFAULT_SETTINGS.renotifySeconds, 0, 30 * 86400),
      cacheTtlSeconds: duration('cache_ttl', DEFAULT_SETTINGS.cacheTtlSeconds, 0, 90 * 86400),
      vtPerMinute: count('vt_requests_per_minute', DEFAULT_SETTINGS.vtPerMinute, 1, 100_000),
      vtPerDay: count('vt_requests_per_day', DEFAULT_SETTINGS.vtPerDay, 1, 100_000_000),
      abusePerDay: count('abuseipdb_requests_per_day', DEFAULT_SETTINGS.abusePerDay, 1, 100_000_000),
      requestTimeoutMs: duration('request_timeout', DEFAULT_SETTINGS.requestTimeoutMs / 1000, 1, 120) * 1000,
      quotaWaitSeconds: duration('quota_wait', DEFAULT_SETTINGS.quotaWaitSeconds, 0, 3600),
      timeBudgetSeconds: duration('time_budget', DEFAULT_SETTINGS.timeBudgetSeconds, 10, 86400),
    },
    problems,
  };
}
