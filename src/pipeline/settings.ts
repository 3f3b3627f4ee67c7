/**
 * The incident pipeline's settings, from the action's params (strings in the payload's
 * configuration). Every bad value is reported and replaced by its default: a typo in one
 * param must not lose an incident.
 *
 * The request quotas and the block durations are the host's, not one alert's: every alert
 * and the soar-edr command share one quota state and one blocklist. The admin sets the
 * host's values (HostLimits, from the app's soar_edr.conf); an alert's params may lower
 * them, never raise them. A param above the host's value is clamped to it and reported
 * (`clamped`), not refused: the alert still runs, within the host's budget.
 */
import { Cidr, parseCidrList } from '../intel/address-gate';
import { DEFAULT_THRESHOLDS, parseThresholds, Verdict, VerdictThresholds } from '../intel/verdict';
import type { Failure } from '../result';
import { fail, ok, Result } from '../result';
import { ownValue } from '../splunk/field-map';

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

/** What the admin allows on this host (soar_edr.conf [quota] and [blocking]); params may only lower them. */
export interface HostLimits {
  readonly vtPerMinute: number;
  readonly vtPerDay: number;
  readonly abusePerDay: number;
  readonly blockSeconds: number;
  readonly blockMaxSeconds: number;
}

export const DEFAULT_HOST_LIMITS: HostLimits = {
  vtPerMinute: DEFAULT_SETTINGS.vtPerMinute,
  vtPerDay: DEFAULT_SETTINGS.vtPerDay,
  abusePerDay: DEFAULT_SETTINGS.abusePerDay,
  blockSeconds: DEFAULT_SETTINGS.blockSeconds,
  blockMaxSeconds: DEFAULT_SETTINGS.blockMaxSeconds,
};

/** One limited setting: its param name (the same key in soar_edr.conf), its field, its bounds, whether it is a duration. */
export interface LimitSpec {
  readonly param: string;
  readonly stanza: 'quota' | 'blocking';
  readonly field: keyof HostLimits;
  readonly min: number;
  readonly max: number;
  readonly duration: boolean;
}

/** The settings a param may lower and only the admin may raise, with the bounds any value must keep. */
export const HOST_LIMITED: readonly LimitSpec[] = [
  { param: 'vt_requests_per_minute', stanza: 'quota', field: 'vtPerMinute', min: 1, max: 100_000, duration: false },
  { param: 'vt_requests_per_day', stanza: 'quota', field: 'vtPerDay', min: 1, max: 100_000_000, duration: false },
  { param: 'abuseipdb_requests_per_day', stanza: 'quota', field: 'abusePerDay', min: 1, max: 100_000_000, duration: false },
  { param: 'block_duration', stanza: 'blocking', field: 'blockSeconds', min: 60, max: 365 * 86400, duration: true },
  { param: 'block_max_duration', stanza: 'blocking', field: 'blockMaxSeconds', min: 60, max: 10 * 365 * 86400, duration: true },
];

/** A param asked for more than the host allows; the host's value applies. */
export interface ClampedParam {
  readonly param: string;
  /** As given (a duration keeps its unit). */
  readonly asked: string;
  readonly askedValue: number;
  readonly limit: number;
}

const UNITS: Record<string, number> = { s: 1, m: 60, h: 3600, d: 86400, w: 604800 };

/** "90", "90s", "15m", "24h", "30d", "2w" → seconds. */
export function parseDuration(text: string): Result<number, 'invalid_duration'> {
  const m = /^\s*(\d+)\s*([smhdw]?)\s*$/i.exec(text);
  if (!m) return fail('invalid_duration', `${JSON.stringify(text.slice(0, 40))} is not a duration like 90s, 15m, 24h or 30d`);
  return ok(Number(m[1]) * UNITS[(m[2] || 's').toLowerCase()]!);
}

const VERDICTS: readonly Verdict[] = ['MALICIOUS', 'SUSPICIOUS', 'SAFE', 'UNKNOWN'];

/** A whole number within bounds, or what is wrong with the text. */
export function parseBoundedCount(text: string, min: number, max: number): Result<number, 'invalid_count'> {
  const t = text.trim();
  if (!/^\d{1,12}$/.test(t) || Number(t) < min || Number(t) > max) {
    return fail('invalid_count', `${JSON.stringify(t.slice(0, 20))} is not a whole number from ${min} to ${max}`);
  }
  return ok(Number(t));
}

/** A duration within bounds (seconds), or what is wrong with the text. */
export function parseBoundedDuration(text: string, min: number, max: number): Result<number, 'invalid_duration'> {
  const r = parseDuration(text);
  if (!r.ok) return r;
  if (r.value < min || r.value > max) return fail('invalid_duration', `${text.trim()} is outside ${min}s..${max}s`);
  return r;
}

/**
 * `params` as settings, within the host's limits (defaults: the shipped ones). `problems`
 * are values that cannot be used (each replaced by its default) and never depend on
 * `host`; `clamped` are limited params above the host's value (the host's value applies).
 * An empty or missing limited param means the host's value.
 */
export function parsePipelineSettings(params: Readonly<Record<string, string | undefined>>, host: HostLimits = DEFAULT_HOST_LIMITS): {
  settings: PipelineSettings;
  problems: Failure<'invalid_param'>[];
  clamped: ClampedParam[];
  /** What the params ask of the host-limited settings, for applyHostLimits once the host's limits are known. */
  asked: AskedLimits;
} {
  const problems: Failure<'invalid_param'>[] = [];
  const bad = (param: string, message: string, fallback: string) =>
    problems.push({ kind: 'invalid_param', message: `param ${param}: ${message}; using ${fallback}` });
  const given = (name: string): string | undefined => {
    const v = ownValue(params, name)?.trim();
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
    const r = parseBoundedDuration(raw, min, max);
    if (!r.ok) {
      bad(name, r.error.message, `${fallback}s`);
      return fallback;
    }
    return r.value;
  };

  // Limited settings: what the alert asks for (undefined: nothing, or a bad value), then the host's cap.
  const asked = new Map<keyof HostLimits, number>();
  for (const spec of HOST_LIMITED) {
    const raw = given(spec.param);
    if (!raw) continue;
    const r = spec.duration ? parseBoundedDuration(raw, spec.min, spec.max) : parseBoundedCount(raw, spec.min, spec.max);
    if (r.ok) asked.set(spec.field, r.value);
    else bad(spec.param, r.error.message, 'the host limit');
  }
  const askedBase = asked.get('blockSeconds');
  const askedMax = asked.get('blockMaxSeconds');
  if (askedBase !== undefined && askedMax !== undefined && askedMax < askedBase) {
    bad('block_max_duration', `shorter than block_duration`, `${askedBase}s`);
    asked.set('blockMaxSeconds', askedBase);
  }
  const askedLimits: AskedLimits = { values: asked, texts: new Map(HOST_LIMITED.map((spec) => [spec.field, given(spec.param) ?? ''])) };
  const { limits: limited, clamped } = applyHostLimits(askedLimits, host);

  return {
    settings: {
      allowlist,
      thresholds,
      blockVerdicts,
      blockPrivate,
      blockSeconds: limited.blockSeconds,
      blockMaxSeconds: limited.blockMaxSeconds,
      renotifySeconds: duration('renotify_window', DEFAULT_SETTINGS.renotifySeconds, 0, 30 * 86400),
      cacheTtlSeconds: duration('cache_ttl', DEFAULT_SETTINGS.cacheTtlSeconds, 0, 90 * 86400),
      vtPerMinute: limited.vtPerMinute,
      vtPerDay: limited.vtPerDay,
      abusePerDay: limited.abusePerDay,
      requestTimeoutMs: duration('request_timeout', DEFAULT_SETTINGS.requestTimeoutMs / 1000, 1, 120) * 1000,
      quotaWaitSeconds: duration('quota_wait', DEFAULT_SETTINGS.quotaWaitSeconds, 0, 3600),
      timeBudgetSeconds: duration('time_budget', DEFAULT_SETTINGS.timeBudgetSeconds, 10, 86400),
    },
    problems,
    clamped,
    asked: askedLimits,
  };
}

/** What an alert's params ask of the host-limited settings: the values that parsed, and the texts as given. */
export interface AskedLimits {
  readonly values: ReadonlyMap<keyof HostLimits, number>;
  readonly texts: ReadonlyMap<keyof HostLimits, string>;
}

/**
 * The pure step of the host's caps: each limited setting is what the alert asked, at most the
 * host's value (the host's value when nothing was asked); `clamped` names what was above it.
 */
export function applyHostLimits(asked: AskedLimits, host: HostLimits): { limits: HostLimits; clamped: ClampedParam[] } {
  const clamped: ClampedParam[] = [];
  const limited = {} as Record<keyof HostLimits, number>;
  for (const spec of HOST_LIMITED) {
    const want = asked.values.get(spec.field);
    const limit = host[spec.field];
    if (want !== undefined && want > limit) clamped.push({ param: spec.param, asked: asked.texts.get(spec.field) || String(want), askedValue: want, limit });
    limited[spec.field] = want === undefined ? limit : Math.min(want, limit);
  }
  // A lowered maximum caps every block, the first one too.
  return { limits: { ...limited, blockSeconds: Math.min(limited.blockSeconds, limited.blockMaxSeconds) }, clamped };
}

/** The WARN line's message for a clamped param. */
export function clampMessage(c: ClampedParam): string {
  return `param ${c.param} = ${c.asked} is above this host's limit (${c.limit}${HOST_LIMITED.find((s) => s.param === c.param)?.duration ? 's' : ''}); using the host limit. Per-alert params may only lower the shared limits; an admin raises them in soar_edr.conf`;
}
