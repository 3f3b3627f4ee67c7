/**
 * The bulk reputation run: every target through the alert action's engine — the address
 * gate (and its rule for host names), the on-disk cache, the host's shared quota limiter,
 * the VirusTotal and AbuseIPDB clients and the verdict thresholds — so `soar-edr
 * reputation` and Splunk always agree about an address.
 *
 * Order of work: first every target is classified and looked for in the cache (no
 * network), so the progress bar and its estimate count only what must be asked; then the
 * misses are asked one target at a time (both providers of a target side by side). A
 * re-run therefore resumes: what the first run learned is a cache hit.
 */
import { AbuseReport } from '../intel/abuseipdb-report';
import { parseIpAddress } from '../address/ip-address';
import { classifyAddress } from '../intel/address-gate';
import { classifyDomain } from '../intel/domain-gate';
import type { FetchFn } from '../intel/http-request';
import { apiKeyHash, IntelProvider, LookupCache } from '../intel/lookup-cache';
import { QuotaLimiter } from '../intel/quota-limiter';
import { decideVerdict, Verdict, VtEvidence } from '../intel/verdict';
import type { VtObjectReport, VtSubject } from '../intel/virustotal-object';
import { VtIpReport, virusTotalGuiLink } from '../intel/virustotal-report';
import { fileState } from '../state/file-state';
import { EnrichDeps, enrichAddress, Enrichment, enrichmentOutcome } from '../pipeline/enrich';
import type { PipelineSettings } from '../pipeline/settings';
import type { DataLayout } from '../store/data-dir';
import { cachedVtObject, enrichVirusTotalObject } from './reputation-enrich';
import type { Target } from './reputation-input';
import { estimateFinish, NO_PROGRESS, ProgressDisplay, ProviderBacklog } from './reputation-progress';

/**
 * looked_up: at least one provider answered a request now. cached: every answer came from
 * the cache. skipped: the gate kept it here (private, reserved, allowlisted, internal
 * name). deferred: quota (or an interruption) left something unasked. failed: a provider
 * answered with an error. no_key: no key for any provider that could answer.
 */
export type RowStatus = 'looked_up' | 'cached' | 'skipped' | 'deferred' | 'failed' | 'no_key';

export interface ReputationRow {
  readonly target: string;
  readonly type: Target['type'];
  readonly verdict: Verdict;
  readonly status: RowStatus;
  readonly reason: string;
  readonly malicious: number | null;
  readonly suspicious: number | null;
  readonly harmless: number | null;
  readonly undetected: number | null;
  readonly reputation: number | null;
  readonly abuseScore: number | null;
  readonly country: string | null;
  readonly asOwner: string | null;
  /** VirusTotal's page for the target (not for skipped targets). */
  readonly link: string | null;
  /** For deferred rows: when the quota is expected to allow the next request, epoch ms. */
  readonly retryAtMs: number | null;
}

export interface ProviderKeys {
  readonly virustotal?: string;
  readonly abuseipdb?: string;
}

export interface ReputationSetup {
  /** Thresholds, allowlist, cache TTL, quota limits and request timeout, as the alert action's params give them. */
  readonly settings: PipelineSettings;
  readonly keys: ProviderKeys;
  readonly layout: DataLayout;
  /** SOAR_VIRUSTOTAL_URL / SOAR_ABUSEIPDB_URL. */
  readonly env: Readonly<Record<string, string | undefined>>;
  readonly fetch: FetchFn;
  readonly now: () => number;
  /** Real time passes here (quota waits, backoff); the run sleeps in steps of at most a second. */
  readonly sleep: (ms: number) => Promise<void>;
  readonly random: () => number;
  /** Wait for quota slots until this time, epoch ms; at or before now: never wait. */
  readonly waitUntilMs: number;
  /** Abort: stop waiting and leave the rest deferred ("interrupted"). */
  readonly signal?: AbortSignal;
  readonly progress?: ProgressDisplay;
}

export interface ReputationResult {
  readonly rows: ReputationRow[];
  /** HTTP lookups started per provider (cache hits and skipped targets cost none). */
  readonly requests: Readonly<Record<IntelProvider, number>>;
  readonly interrupted: boolean;
}

type VtReport = VtIpReport | VtObjectReport;

interface Answers {
  vt?: Enrichment<VtReport>;
  abuse?: Enrichment<AbuseReport>;
}

interface Plan {
  readonly target: Target;
  /** Set for a target the gate keeps here. */
  readonly skipReason?: string;
  readonly subject?: VtSubject;
  readonly needs: readonly IntelProvider[];
  readonly answers: Answers;
}

const NO_VT_KEY = 'no VirusTotal key configured (soar-edr secrets set virustotal_api_key, or SOAR_VIRUSTOTAL_API_KEY)';
const NO_KEY_AT_ALL = 'no VirusTotal or AbuseIPDB key configured (soar-edr secrets set virustotal_api_key, or SOAR_VIRUSTOTAL_API_KEY)';
/** One request's time for the estimate, until the first answer gives a measured one. */
const FIRST_REQUEST_GUESS_MS = 1_000;
const SLEEP_STEP_MS = 1_000;

class Interrupted extends Error {
  constructor() {
    super('interrupted');
  }
}

function subjectOf(target: Target): VtSubject | undefined {
  if (target.type === 'ip') return undefined;
  if (target.type === 'domain') return { kind: 'domain', id: target.value };
  return { kind: 'file', id: target.value, hash: target.type };
}

function plan(target: Target, setup: ReputationSetup): Plan {
  const { keys } = setup;
  if (target.type === 'ip') {
    // The target's canonical text (reputation-input.ts), parsed again: Target holds text for every kind.
    const address = parseIpAddress(target.value);
    const gate = address.ok ? classifyAddress(address.value, setup.settings.allowlist) : { public: false, reason: address.error.message };
    if (!gate.public) return { target, skipReason: gate.reason ?? 'not public', needs: [], answers: {} };
    const needs: IntelProvider[] = [];
    if (keys.virustotal) needs.push('virustotal');
    if (keys.abuseipdb) needs.push('abuseipdb');
    return { target, needs, answers: {} };
  }
  const subject = subjectOf(target) as VtSubject;
  if (subject.kind === 'domain') {
    const gate = classifyDomain(subject.id);
    if (!gate.public) return { target, subject, skipReason: gate.reason ?? 'not public', needs: [], answers: {} };
  }
  return { target, subject, needs: keys.virustotal ? ['virustotal'] : [], answers: {} };
}

/** Phase one: answers already in the cache, without a request. */
function fillFromCache(p: Plan, cache: LookupCache, keys: ProviderKeys, nowMs: number): void {
  for (const provider of p.needs) {
    const key = keys[provider] as string;
    const keyHash = apiKeyHash(key);
    if (provider === 'virustotal' && p.subject !== undefined) {
      const hit = cachedVtObject(cache, p.subject, keyHash, nowMs);
      if (hit) p.answers.vt = hit.state === 'report' ? { state: 'report', report: hit.report, source: 'cache' } : { state: 'not_found', source: 'cache' };
      continue;
    }
    const hit = cache.get(provider, p.target.value, keyHash, nowMs);
    if (!hit) continue;
    const value = hit.value;
    if (provider === 'virustotal') {
      p.answers.vt = value.state === 'report' ? { state: 'report', report: value.report as VtIpReport, source: 'cache' } : { state: 'not_found', source: 'cache' };
    } else {
      p.answers.abuse = value.state === 'report' ? { state: 'report', report: value.report as AbuseReport, source: 'cache' } : { state: 'not_found', source: 'cache' };
    }
  }
}

function missing(p: Plan): IntelProvider[] {
  return p.needs.filter((provider) => (provider === 'virustotal' ? p.answers.vt === undefined : p.answers.abuse === undefined));
}

/** 2026-11-24T03:42:16Z: a time a person reads (milliseconds are noise here). */
export function isoSeconds(ms: number): string {
  return new Date(Math.ceil(ms / 1000) * 1000).toISOString().replace(/\.000Z$/, 'Z');
}

function deferredText(reason: string): string {
  return reason.replace(/^enrichment deferred: /, 'deferred: ');
}

const EMPTY_COUNTS = { malicious: null, suspicious: null, harmless: null, undetected: null, reputation: null, abuseScore: null, country: null, asOwner: null } as const;

function linkFor(p: Plan): string {
  return p.subject ? `https://www.virustotal.com/gui/${p.subject.kind}/${p.subject.id}` : virusTotalGuiLink(p.target.value);
}

/** The row for a planned and (as far as possible) answered target. Pure. */
function rowFor(p: Plan, setup: Pick<ReputationSetup, 'settings' | 'keys'>): ReputationRow {
  const { target } = p;
  const base = { target: target.value, type: target.type, retryAtMs: null };
  if (p.skipReason !== undefined) {
    // The verdict of an address that was never looked up, by the same rule the alert action applies (UNKNOWN).
    const note = `${p.skipReason}: never sent out`;
    const decision = decideVerdict({ vt: { state: 'not_looked_up', reason: note } }, setup.settings.thresholds);
    return { ...base, ...EMPTY_COUNTS, verdict: decision.verdict, status: 'skipped', reason: note, link: null };
  }
  if (p.needs.length === 0) {
    const why = target.type === 'ip' ? NO_KEY_AT_ALL : `${NO_VT_KEY}; domains and hashes are looked up at VirusTotal only`;
    return { ...base, ...EMPTY_COUNTS, verdict: 'UNKNOWN', status: 'no_key', reason: `not looked up: ${why}`, link: linkFor(p) };
  }
  const { vt, abuse } = p.answers;
  const vtOutcome = enrichmentOutcome<VtEvidence>(vt, setup.keys.virustotal ? 'not asked' : NO_VT_KEY);
  // AbuseIPDB only knows addresses; without its key it is left out of the reason, as in the alert action.
  const abuseOutcome = target.type === 'ip' && setup.keys.abuseipdb ? enrichmentOutcome(abuse, 'not asked') : undefined;
  const decision = decideVerdict({ vt: vtOutcome, abuse: abuseOutcome }, setup.settings.thresholds);

  const answers = [vt, abuse].filter((e): e is NonNullable<typeof e> => e !== undefined);
  const deferred = answers.find((e) => e.state === 'deferred');
  let status: RowStatus;
  if (answers.some((e) => e.state === 'error')) status = 'failed';
  else if (deferred !== undefined || answers.length < p.needs.length) status = 'deferred';
  else if (answers.every((e) => 'source' in e && e.source === 'cache')) status = 'cached';
  else status = 'looked_up';

  let reason = decision.reason;
  let retryAtMs: number | null = null;
  if (deferred?.state === 'deferred') {
    retryAtMs = deferred.retryAtMs;
    if (decision.verdict === 'UNKNOWN') reason = `${deferredText(deferred.reason)}; retry after ${isoSeconds(deferred.retryAtMs)}`;
  } else if (status === 'deferred') {
    reason = 'deferred: interrupted';
  }

  const vtReport = vt?.state === 'report' ? vt.report : undefined;
  const abuseReport = abuse?.state === 'report' ? abuse.report : undefined;
  const stats = vtReport?.statsPresent ? vtReport.stats : undefined;
  const ipReport = vtReport !== undefined && 'asOwner' in vtReport ? vtReport : undefined;
  return {
    ...base,
    verdict: decision.verdict,
    status,
    reason,
    retryAtMs,
    malicious: stats?.malicious ?? null,
    suspicious: stats?.suspicious ?? null,
    harmless: stats?.harmless ?? null,
    undetected: stats?.undetected ?? null,
    reputation: vtReport?.reputation ?? null,
    abuseScore: abuseReport?.abuseConfidenceScore ?? null,
    country: ipReport?.country ?? abuseReport?.countryCode ?? null,
    asOwner: ipReport?.asOwner ?? null,
    link: linkFor(p),
  };
}

/**
 * Look every target up (targets already deduplicated, in output order). Never throws for a
 * provider problem: each row says what happened. Requests never exceed the host's shared
 * quota; when it is spent the run waits until `waitUntilMs` and defers the rest.
 */
export async function lookupTargets(targets: readonly Target[], setup: ReputationSetup): Promise<ReputationResult> {
  const s = setup.settings;
  const progress = setup.progress ?? NO_PROGRESS;
  const cache = new LookupCache(setup.layout.cache, { ttlMs: s.cacheTtlSeconds * 1000 });
  const quota = new QuotaLimiter(setup.layout.quota, {
    virustotal: { perMinute: s.vtPerMinute, perDay: s.vtPerDay },
    abuseipdb: { perMinute: null, perDay: s.abusePerDay },
  });
  const startMs = setup.now();
  const plans = targets.map((t) => plan(t, setup));
  for (const p of plans) fillFromCache(p, cache, setup.keys, startMs);

  const requests: Record<IntelProvider, number> = { virustotal: 0, abuseipdb: 0 };
  let requestTimeTotal = 0;
  let answered = 0;
  const todo = plans.filter((p) => missing(p).length > 0);
  /** Index in `todo` of the target being asked about. */
  let next = 0;
  /** Per provider, requests still to make from todo[i] on (for the estimate, without rescanning). */
  const backlogFrom: Record<IntelProvider, number[]> = { virustotal: new Array<number>(todo.length + 1).fill(0), abuseipdb: new Array<number>(todo.length + 1).fill(0) };
  for (let i = todo.length - 1; i >= 0; i--) {
    const needs = missing(todo[i]);
    for (const provider of ['virustotal', 'abuseipdb'] as const) backlogFrom[provider][i] = backlogFrom[provider][i + 1] + (needs.includes(provider) ? 1 : 0);
  }
  /**
   * A provider whose quota will not free before the wait bound: later targets are deferred
   * with the same answer until then, instead of each taking the limiter's lock to hear it.
   */
  const blocked: Partial<Record<IntelProvider, { readonly reason: string; readonly retryAtMs: number }>> = {};
  let current: string | undefined;
  let waiting: { provider: string; untilMs: number } | undefined;

  const show = (): void => {
    if (progress === NO_PROGRESS) return;
    const nowMs = setup.now();
    const backlogs: ProviderBacklog[] = (['virustotal', 'abuseipdb'] as const).map((provider) => ({
      provider,
      requests: backlogFrom[provider][next],
      state: quota.snapshot(provider, nowMs),
      limits: quota.limitsFor(provider),
    }));
    const requestMs = answered > 0 ? requestTimeTotal / answered : FIRST_REQUEST_GUESS_MS;
    const estimate = estimateFinish(backlogs, nowMs, requestMs, setup.waitUntilMs);
    progress.update({ done: plans.length - todo.length + next, total: plans.length, nowMs, estimate, ...(waiting ? { waiting } : {}), ...(current !== undefined ? { current } : {}) });
  };

  const providerLabel = (provider: IntelProvider): string => (provider === 'virustotal' ? 'VirusTotal' : 'AbuseIPDB');
  // The same files the quota estimate above reads (outside Splunk the CLI's state is the data directory's).
  const state = fileState(setup.layout, { cacheTtlMs: s.cacheTtlSeconds * 1000 });
  const limits = { virustotal: quota.limitsFor('virustotal'), abuseipdb: quota.limitsFor('abuseipdb') };
  const depsFor = (provider: IntelProvider): EnrichDeps => ({
    state,
    limits,
    fetch: async (input, init) => {
      requests[provider]++;
      const t0 = setup.now();
      try {
        return await setup.fetch(input, init);
      } finally {
        requestTimeTotal += setup.now() - t0;
        answered++;
      }
    },
    env: setup.env,
    now: setup.now,
    // Sleeps in short steps so the bar counts down and an interruption is noticed within a second.
    sleep: async (ms) => {
      const until = setup.now() + ms;
      waiting = { provider: providerLabel(provider), untilMs: until };
      try {
        for (let left = ms; left > 0; left = until - setup.now()) {
          if (setup.signal?.aborted) throw new Interrupted();
          show();
          await setup.sleep(Math.min(left, SLEEP_STEP_MS));
        }
      } finally {
        waiting = undefined;
      }
      if (setup.signal?.aborted) throw new Interrupted();
    },
    random: setup.random,
    deadlineMs: Number.POSITIVE_INFINITY,
    requestTimeoutMs: s.requestTimeoutMs,
  });

  /** One provider's answer for one target, stored in the plan. */
  const ask = async (p: Plan, provider: IntelProvider, waitUntilMs: number): Promise<Enrichment<unknown>> => {
    const block = blocked[provider];
    const key = setup.keys[provider] as string;
    let answer: Enrichment<VtReport> | Enrichment<AbuseReport>;
    if (block !== undefined && setup.now() < block.retryAtMs) answer = { state: 'deferred', reason: block.reason, retryAtMs: block.retryAtMs };
    else if (provider === 'abuseipdb') answer = await enrichAddress('abuseipdb', p.target.value, key, depsFor(provider), waitUntilMs);
    else if (p.subject !== undefined) answer = await enrichVirusTotalObject(p.subject, cache, key, depsFor(provider), waitUntilMs);
    else answer = await enrichAddress('virustotal', p.target.value, key, depsFor(provider), waitUntilMs);
    if (provider === 'abuseipdb') p.answers.abuse = answer as Enrichment<AbuseReport>;
    else p.answers.vt = answer as Enrichment<VtReport>;
    return answer;
  };

  /** Phase two, one target at a time; true when interrupted. */
  const askAll = async (): Promise<boolean> => {
    for (; next < todo.length; next++) {
      const p = todo[next];
      if (setup.signal?.aborted) return true;
      current = p.target.value;
      show();
      const waitUntilMs = Math.max(setup.now(), setup.waitUntilMs);
      try {
        await Promise.all(
          missing(p).map(async (provider) => {
            const answer = await ask(p, provider, waitUntilMs);
            if (answer.state === 'deferred' && answer.retryAtMs > waitUntilMs && answer.reason.startsWith('enrichment deferred: quota')) {
              blocked[provider] = { reason: answer.reason, retryAtMs: answer.retryAtMs };
            }
          }),
        );
      } catch (e) {
        if (!(e instanceof Interrupted)) throw e;
        return true;
      }
    }
    return false;
  };

  let interrupted = false;
  try {
    interrupted = await askAll();
  } finally {
    current = undefined;
    show();
    progress.stop();
  }
  return { rows: plans.map((p) => rowFor(p, setup)), requests, interrupted };
}
