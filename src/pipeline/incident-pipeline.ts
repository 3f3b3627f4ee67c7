/**
 * The incident pipeline for one alert row — the only place that knows the order:
 * address gate → cache/quota → VirusTotal, AbuseIPDB → verdict → simulated block →
 * TXT + CSV record → Discord (outbox when it fails) — and, after the last row, the
 * follow-up work that fits in the time left (outbox delivery, deferred enrichment).
 */
import { randomFillSync } from 'node:crypto';
import * as path from 'node:path';
import type { AbuseReport } from '../intel/abuseipdb-report';
import { parseIpAddress } from '../address/ip-address';
import { classifyAddress } from '../intel/address-gate';
import { DEFAULT_QUEUE_MAX_AGE_MS, EnrichmentQueue, QueueEntry, waitingProviders, WaitingFor, WaitReason } from '../intel/enrichment-queue';
import type { FetchFn } from '../intel/http-request';
import type { IntelProvider } from '../intel/lookup-cache';
import { LookupCache } from '../intel/lookup-cache';
import { QuotaLimiter } from '../intel/quota-limiter';
import { decideVerdict, Verdict, verdictRank } from '../intel/verdict';
import type { VtIpReport } from '../intel/virustotal-report';
import { EnrichDeps, enrichAddress, Enrichment, enrichmentOutcome } from './enrich';
import { clampMessage, parsePipelineSettings, PipelineSettings } from './settings';
import { blockAddress, purgeExpired } from '../respond/blocklist';
import { buildDiscordMessage, buildDiscordUpdateMessage, DiscordMessage } from '../respond/discord-embed';
import { FetchFunction, webhookDeliverer } from '../respond/discord-delivery';
import type { AbuseIpdbResult, Incident, ResponseAction, VirusTotalResult } from '../respond/incident';
import { IncidentDraft, newIncidentId, RecordedIncident, recordedIncidentId, recordedIncidentIds, recordIncident, recordIncidents, updateIncidentReport } from '../respond/incident-store';
import { logSweep, sweepAfterFullDisk } from '../respond/full-disk-sweep';
import { claimNotification } from '../respond/notify-ledger';
import { drainOutbox, DrainReport, enqueueNotification, outboxSize, sendNotification } from '../respond/outbox';
import { capCell } from '../respond/safe-text';
import { blockLapsedEvent, IncidentEventSubject } from '../respond/incident-event';
import { IncidentEventLog } from '../respond/incident-event-file';
import { nodeWebhookPost } from '../respond/webhook-post';
import { parseAllowedHosts, parseWebhookTarget, WebhookTarget } from '../respond/webhook-target';
import type { Failure } from '../result';
import type { AlertRowInput, RowOutcome, RowPipeline, RunContext } from '../splunk/alert-run';
import { appDirFor, HostLimitsRead, readHostLimits } from '../splunk/app-conf';
import type { Logger } from '../splunk/log';
import { ownValue } from '../splunk/field-map';
import type { ResultFields } from '../splunk/results-file';
import type { ResolvedSecrets } from '../splunk/secrets';
import { readJsonIfExists, syncFile, writeFileAtomic } from '../store/durable-file';
import type { DataLayout } from '../store/data-dir';
import type { SharedState } from '../state/shared-state';

/** The outside world the pipeline works with; tests pass loopback stubs and a temp directory. */
export interface PipelineDeps {
  readonly layout: DataLayout;
  readonly env: Readonly<Record<string, string | undefined>>;
  /** Reputation providers' GETs. */
  readonly fetch: FetchFn;
  /** The Discord webhook POST. */
  readonly webhookPost: FetchFunction;
  readonly now: () => number;
  readonly sleep: (ms: number) => Promise<void>;
  readonly random: () => number;
  /** The host's limits (soar_edr.conf), read on first call; absent: the shipped defaults. */
  readonly hostLimits?: () => HostLimitsRead;
  /**
   * Where the run's shared state lives (src/state/): the KV store for the alert action inside
   * Splunk and for the CLI with --host; absent: this host's data directory (fileState).
   */
  readonly stateFor?: (context: RunContext) => SharedState;
}

/**
 * The real world: Node's fetch for the providers, node:https for the webhook (see
 * respond/webhook-post.ts), the clock, timers and Math.random (the entry points' choice), and
 * the app's soar_edr.conf in `appDir` (default: $SPLUNK_HOME/etc/apps/soar_edr, none outside Splunk).
 */
export function systemPipelineDeps(layout: DataLayout, env: Readonly<Record<string, string | undefined>>, appDir: string | undefined = appDirFor(env)): PipelineDeps {
  let host: HostLimitsRead | undefined;
  return {
    hostLimits: () => (host ??= readHostLimits(appDir, layout.root)),
    layout,
    env,
    fetch: globalThis.fetch,
    webhookPost: nodeWebhookPost,
    now: Date.now,
    sleep: (ms) => new Promise((resolve) => setTimeout(resolve, ms)),
    random: Math.random,
  };
}

/** Follow-up work per run: a few items, so a per-result run stays short. */
const FOLLOW_UP_ITEMS = 3;
const FOLLOW_UP_MIN_MS = 5_000;

/** One value read from a result row is at most this long (a search can output megabytes in one field). */
export const MAX_ROW_VALUE_CHARS = 4096;
/** A list read from a row (the users tried) holds at most this many values, and this many characters in all. */
export const MAX_ROW_LIST_VALUES = 1000;
export const MAX_ROW_LIST_CHARS = 64 * 1024;

/** A value cut at the edge, with a marker saying how long it was. */
function cappedValue(v: string): string {
  return v.length <= MAX_ROW_VALUE_CHARS ? v : capCell(v, MAX_ROW_VALUE_CHARS);
}

function text(row: ResultFields, ...names: string[]): string | undefined {
  for (const n of names) {
    const v = ownValue(row, n);
    if (v === undefined) continue;
    // Cut before joining and trimming: a 30 MB field must not be copied around first.
    const s = typeof v === 'string' ? cappedValue(v) : cappedValue(v.slice(0, MAX_ROW_LIST_VALUES).map(cappedValue).join(','));
    if (s.trim() !== '') return s.trim();
  }
  return undefined;
}

function values(row: ResultFields, ...names: string[]): string[] {
  for (const n of names) {
    const v = ownValue(row, n);
    if (v === undefined) continue;
    const list: string[] = [];
    let chars = 0;
    for (const x of typeof v === 'string' ? [v] : v) {
      if (x === '') continue;
      const kept = cappedValue(x);
      if (list.length >= MAX_ROW_LIST_VALUES || chars + kept.length > MAX_ROW_LIST_CHARS) break;
      list.push(kept);
      chars += kept.length;
    }
    if (list.length > 0) return list;
  }
  return [];
}

/** Splunk times arrive as epoch seconds ("1764000000.123") or as text; keep text as given. */
function timeText(row: ResultFields, ...names: string[]): string | null {
  const t = text(row, ...names);
  if (t === undefined) return null;
  if (/^\d{9,11}(\.\d+)?$/.test(t)) return new Date(Number(t) * 1000).toISOString();
  return t;
}

/** The incident's and the verdict's words for a public address recorded without a VirusTotal key. */
const NO_VT_KEY_PENDING = 'enrichment pending: no VirusTotal key configured';
const NO_VT_KEY_NOTE = `${NO_VT_KEY_PENDING}; queued, looked up once virustotal_api_key is set`;

function vtResult(e: Enrichment<VtIpReport> | undefined, notLookedUp: string, noKey = false): VirusTotalResult {
  if (e === undefined && noKey) return { state: 'deferred', message: notLookedUp };
  if (e === undefined) return { state: 'not_looked_up', message: notLookedUp };
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

function abuseResult(e: Enrichment<AbuseReport> | undefined, notLookedUp: string): AbuseIpdbResult | undefined {
  if (e === undefined) return notLookedUp ? { state: 'not_looked_up', message: notLookedUp } : undefined;
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

/** A row decided but not yet recorded (a digest batches its records). */
interface PendingRecord {
  readonly draft: IncidentDraft;
  readonly enriched: Enriched;
  readonly attackerField: string;
  readonly log: Logger;
  readonly startedMs: number;
  readonly secretsMs: number;
  readonly degraded: readonly string[];
}

/** Random bytes for incident ids, drawn 3 at a time from a pool (one crypto call per 1,024 ids). */
const idPool = Buffer.alloc(3 * 1024);
let idPoolUsed = idPool.length;
function randomIdBytes(): Uint8Array {
  if (idPoolUsed + 3 > idPool.length) {
    randomFillSync(idPool);
    idPoolUsed = 0;
  }
  idPoolUsed += 3;
  return idPool.subarray(idPoolUsed - 3, idPoolUsed);
}

/** Rows per batch in a digest: one lock and one append each. */
const DIGEST_BATCH_ROWS = 100;

interface Enriched {
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

/** What an enriched address still waits for, per provider; {} when nothing. */
function waitingFor(e: Enriched): WaitingFor {
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
function retryAt(e: Enriched, nowMs: number): number {
  const times = [nowMs];
  for (const result of [e.vt, e.abuse]) {
    if (result?.state === 'deferred') times.push(result.retryAtMs);
    else if (result?.state === 'error' && result.retryable) times.push(nowMs + 60_000);
  }
  return Math.max(...times);
}

function describeWaiting(w: WaitingFor): string {
  return waitingProviders(w).map((p) => `${p}:${w[p]}`).join(',');
}

/** What every event of an incident says about it. */
function eventSubject(i: Incident): IncidentEventSubject {
  return { incidentId: i.incidentId, srcIp: i.srcIp, verdict: i.verdict, reason: i.reason, detection: i.detection, sid: i.sid, rid: i.rid };
}

/** Pipeline state for one run: settings, stores, secrets and a per-run memo of lookups. */
class IncidentPipeline implements RowPipeline {
  /** The params' settings; the quotas and block durations in it are the shipped limits (see limited()). */
  readonly settings: PipelineSettings;
  readonly configProblems: Failure[];
  readonly deadlineMs: number;
  private readonly cache: LookupCache;
  private quotaLimiter: QuotaLimiter | undefined;
  private hostBound: PipelineSettings | undefined;
  private readonly queue: EnrichmentQueue;
  private readonly memo = new Map<string, Promise<Enriched>>();
  private authErrorLogged = new Set<string>();
  private webhook: { target?: WebhookTarget; problem?: string } | undefined;
  private unsyncedRows = false;
  private batch: PendingRecord[] = [];
  /** A digest's rows that earlier runs of the same sid recorded (read on the first row). */
  private digestRecorded: ReadonlyMap<string, string> | undefined;
  private readonly queuedThisBatch = new Map<string, { refs: { incidentId: string; sid: string; rid: string; detection: string }[]; retryAt: number; waitingFor: WaitingFor }>();
  /** Public addresses this run queued because no VirusTotal key is configured. */
  private readonly queuedForKey = new Set<string>();
  /** Queued addresses a drain of this run left because a provider they wait for has no key (with no key at all: every queued address). */
  private waitingForKey: { virustotal: number; abuseipdb: number; addresses: number } | undefined;
  /** New addresses not queued because the queue was full. */
  private notQueued = 0;
  private queueProblemsReported = false;
  /** Failures and degradations found after handleRow returned (a digest's batched rows). */
  private readonly late = { failed: 0, degraded: 0 };
  /** Simulated blocks already decided in this run, by address: a digest repeats addresses. */
  private readonly blockedThisRun = new Map<string, ResponseAction>();
  /** Verdicts already claimed for notification in this run, by address (a digest repeats addresses). */
  private readonly claimedThisRun = new Map<string, Verdict>();
  /** The run's incident events (events/incidents.json), written once per row or batch. */
  private readonly events: IncidentEventLog;
  /** Addresses whose block this run already wrote as an event. */
  private readonly blockEvented = new Set<string>();

  constructor(
    private readonly context: RunContext,
    private readonly deps: PipelineDeps,
  ) {
    const parsed = parsePipelineSettings(context.config.params);
    this.settings = parsed.settings;
    this.configProblems = parsed.problems;
    this.deadlineMs = context.deadlineMs ?? context.startedMs + this.settings.timeBudgetSeconds * 1000;
    this.cache = new LookupCache(deps.layout.cache, { ttlMs: this.settings.cacheTtlSeconds * 1000 });
    this.queue = new EnrichmentQueue(deps.layout.queue);
    // Appends without fsync; finish() flushes the file to disk once per run.
    this.events = new IncidentEventLog(deps.layout, { durable: false });
  }

  /**
   * The settings within the host's limits: the app's soar_edr.conf is read here, on the first
   * lookup or block (a run that needs neither never reads it). Once per run, each param above
   * the host's limit gets one WARN, and each bad value in the conf one ERROR.
   */
  private limited(): PipelineSettings {
    if (this.hostBound) return this.hostBound;
    const host = this.deps.hostLimits?.();
    if (host === undefined) return (this.hostBound = this.settings);
    const log = this.context.log;
    for (const p of host.problems) log.error('Invalid app configuration', { reason: p.kind, message: p.message });
    const parsed = parsePipelineSettings(this.context.config.params, host.limits);
    for (const c of parsed.clamped) {
      log.warn('Param above the host limit', { param: c.param, asked: c.asked, limit: c.limit, message: clampMessage(c) });
    }
    return (this.hostBound = parsed.settings);
  }

  /** The shared request budget, with this run's (lowered or host) limits. */
  private get quota(): QuotaLimiter {
    if (this.quotaLimiter) return this.quotaLimiter;
    const s = this.limited();
    return (this.quotaLimiter = new QuotaLimiter(this.deps.layout.quota, {
      virustotal: { perMinute: s.vtPerMinute, perDay: s.vtPerDay },
      abuseipdb: { perMinute: null, perDay: s.abusePerDay },
    }));
  }

  private enrichDeps(): EnrichDeps {
    const d = this.deps;
    return {
      cache: this.cache,
      quota: this.quota,
      locksDir: d.layout.locks,
      fetch: d.fetch,
      env: d.env,
      now: d.now,
      sleep: d.sleep,
      random: d.random,
      deadlineMs: this.deadlineMs,
      requestTimeoutMs: this.settings.requestTimeoutMs,
    };
  }

  private quotaWaitUntil(): number {
    return this.context.mode === 'per_result' ? this.deps.now() + this.settings.quotaWaitSeconds * 1000 : 0;
  }

  /** Both providers for one public address, once per run however many rows name it. */
  private enrich(address: string, secrets: ResolvedSecrets, waitUntilMs: number): Promise<Enriched> {
    let pending = this.memo.get(address);
    if (!pending) {
      pending = (async () => {
        const vtKey = secrets.values.virustotal_api_key;
        const abuseKey = secrets.values.abuseipdb_api_key;
        const [vt, abuse] = await Promise.all([
          vtKey ? enrichAddress('virustotal', address, vtKey, this.enrichDeps(), waitUntilMs) : undefined,
          abuseKey ? enrichAddress('abuseipdb', address, abuseKey, this.enrichDeps(), waitUntilMs) : undefined,
        ]);
        return { vt, abuse, vtNote: vtKey ? '' : NO_VT_KEY_NOTE, abuseNote: '', vtNoKey: !vtKey };
      })();
      this.memo.set(address, pending);
    }
    return pending;
  }

  private webhookTarget(secrets: ResolvedSecrets): { target?: WebhookTarget; problem?: string } {
    if (this.webhook) return this.webhook;
    const url = secrets.values.discord_webhook_url;
    if (!url) return (this.webhook = {});
    const allowed = parseAllowedHosts(this.deps.env.SOAR_WEBHOOK_ALLOWED_HOSTS);
    const parsed = parseWebhookTarget(url, allowed);
    this.webhook = parsed.ok ? { target: parsed.value } : { problem: parsed.error.message };
    return this.webhook;
  }

  /**
   * The incident an earlier run recorded for this row. A digest reads its sid's ledger once:
   * rows this run records are not in it, and recordIncidents checks again under the lock.
   */
  private alreadyRecorded(rid: string): string | undefined {
    const { layout } = this.deps;
    const { sid } = this.context.payload;
    if (this.context.mode !== 'digest') return recordedIncidentId(layout, sid, rid);
    const recorded = (this.digestRecorded ??= recordedIncidentIds(layout, sid));
    return recorded.get(rid);
  }

  async handleRow(input: AlertRowInput, log: Logger): Promise<RowOutcome> {
    const { payload } = this.context;
    const d = this.deps;
    const s = this.settings;
    const attacker = input.attacker.address;
    const address = attacker.text;

    const existing = this.alreadyRecorded(input.rid);
    if (existing) {
      log.info('Incident already recorded for this result; not handled again', { src_ip: address, incident_id: existing, action_status: 'success' });
      return { status: 'handled' };
    }

    const gate = classifyAddress(attacker, s.allowlist);
    const t0 = d.now();
    const secrets = await this.context.secrets();
    const tSecrets = d.now();
    const degraded: string[] = [];
    let enriched: Enriched;
    if (!gate.public) {
      const note = `${gate.reason ?? 'not public'}: never sent to a third party`;
      enriched = { vt: undefined, abuse: undefined, vtNote: note, abuseNote: secrets.values.abuseipdb_api_key ? note : '', vtNoKey: false };
    } else {
      enriched = await this.enrich(gate.address, secrets, this.quotaWaitUntil());
    }
    for (const [provider, e] of [['virustotal', enriched.vt], ['abuseipdb', enriched.abuse]] as const) {
      if (e?.state === 'error') {
        degraded.push(`${provider}: ${e.error.kind}`);
        if (e.error.kind === 'auth') {
          if (!this.authErrorLogged.has(provider)) log.error('Provider refused the API key', { provider, message: e.error.message });
          this.authErrorLogged.add(provider);
        } else {
          log.warn('Enrichment failed', { provider, src_ip: address, reason: e.error.kind, message: e.error.message });
        }
      }
    }

    const decision = decideVerdict(
      {
        vt: enrichmentOutcome(enriched.vt, enriched.vtNote),
        abuse: enriched.abuse !== undefined || enriched.abuseNote ? enrichmentOutcome(enriched.abuse, enriched.abuseNote) : undefined,
      },
      s.thresholds,
    );
    const deferred = [enriched.vt, enriched.abuse].some((e) => e?.state === 'deferred');
    const reason = decision.verdict !== 'UNKNOWN' ? decision.reason : enriched.vtNoKey ? NO_VT_KEY_PENDING : deferred ? 'enrichment deferred: quota' : decision.reason;
    const nowMs = d.now();

    const action = this.decideBlock(gate.address, gate.public, gate.reason, decision.verdict, reason, nowMs, payload.sid, log);
    const draft: IncidentDraft = {
      time: new Date(nowMs).toISOString(),
      srcIp: gate.address,
      verdict: decision.verdict,
      reason,
      detection: payload.searchName || 'ad-hoc search',
      sid: payload.sid,
      rid: input.rid,
      failureCount: Number.parseInt(text(input.row, 'failure_count', 'count') ?? '', 10) || null,
      users: values(input.row, 'users', 'user', 'attempted_users', 'TargetUserName'),
      attackType: text(input.row, 'attack_type') ?? null,
      severity: text(input.row, 'severity') ?? null,
      firstSeen: timeText(input.row, 'first_seen', 'firstTime'),
      lastSeen: timeText(input.row, 'last_seen', 'lastTime'),
      resultsLink: payload.resultsLink || null,
      vt: vtResult(enriched.vt, enriched.vtNote, enriched.vtNoKey),
      abuse: abuseResult(enriched.abuse, enriched.abuseNote),
      action,
      addressNote: gate.public ? null : `${gate.reason ?? 'not public'}: not sent to third parties`,
    };
    const pending: PendingRecord = { draft, enriched, attackerField: input.attacker.field, log, startedMs: t0, secretsMs: tSecrets - t0, degraded };
    if (this.context.mode === 'digest') {
      // A digest records its rows in batches: one lock and one append per batch, not per row.
      this.batch.push(pending);
      if (this.batch.length >= DIGEST_BATCH_ROWS) await this.flushBatch();
      return { status: 'handled' };
    }
    const recorded = recordIncident(d.layout, draft, () => newIncidentId(d.now(), randomIdBytes()), { lock: { timeoutMs: Math.max(1000, this.deadlineMs - d.now()) } });
    if (!recorded.ok) return { status: 'failed', error: recorded.error };
    const notes = await this.afterRecord(pending, recorded.value, secrets);
    this.events.flush(log);
    return notes.length > 0 ? { status: 'handled', degraded: notes.join('; ') } : { status: 'handled' };
  }

  /** Record the rows a digest has collected; what fails here is reported by finish(). */
  private async flushBatch(): Promise<void> {
    const batch = this.batch;
    this.batch = [];
    if (batch.length === 0) return;
    const d = this.deps;
    const recorded = recordIncidents(d.layout, batch.map((b) => b.draft), () => newIncidentId(d.now(), randomIdBytes()), {
      lock: { timeoutMs: Math.max(1000, this.deadlineMs - d.now()) },
      durable: false,
    });
    this.unsyncedRows = true;
    const secrets = await this.context.secrets();
    for (let i = 0; i < batch.length; i++) {
      const item = batch[i]!;
      const r = recorded.ok ? recorded.value[i]! : recorded;
      if (!r.ok) {
        item.log.error('Incident pipeline failed', { reason: r.error.kind, message: r.error.message, action_status: 'failure' });
        this.late.failed += 1;
        continue;
      }
      const notes = await this.afterRecord(item, r.value, secrets);
      if (notes.length > 0) this.late.degraded += 1;
    }
    this.flushQueued();
    this.events.flush(this.context.log);
  }

  /** Write the enrichment queue once per address for the batch just recorded. */
  private flushQueued(): void {
    const now = this.deps.now();
    for (const [address, waiting] of this.queuedThisBatch) {
      const q = this.queue.enqueueMany(address, waiting.refs, now, waiting.retryAt, waiting.waitingFor);
      this.countQueued(address, q === undefined ? undefined : waiting.waitingFor);
    }
    this.queuedThisBatch.clear();
  }

  /** Log the record, queue deferred enrichment, notify; returns what went wrong (degradations). */
  private async afterRecord(item: PendingRecord, recorded: RecordedIncident, secrets: ResolvedSecrets): Promise<string[]> {
    const d = this.deps;
    const { enriched, draft } = item;
    const incidentId = recorded.incidentId;
    const ilog = item.log.child({ incident_id: incidentId });
    if (recorded.status === 'duplicate') {
      ilog.info('Incident already recorded for this result; not handled again', { src_ip: draft.srcIp, action_status: 'success' });
      return [];
    }
    const incident = recorded.incident!;
    ilog.info('Incident recorded', {
      src_ip: incident.srcIp,
      address_field: item.attackerField,
      verdict: incident.verdict,
      reason: incident.reason,
      vt: enriched.vt?.state === 'report' ? `${enriched.vt.report.stats.malicious}/${enriched.vt.report.engines}` : (enriched.vt?.state ?? 'not_looked_up'),
      abuse_score: enriched.abuse?.state === 'report' ? String(enriched.abuse.report.abuseConfidenceScore ?? '') : undefined,
      report: recorded.reportFile,
      secrets_ms: item.secretsMs,
      ms: d.now() - item.startedMs,
      action_status: 'success',
    });
    this.events.add({
      timeMs: d.now(),
      event: 'recorded',
      subject: eventSubject(incident),
      details: {
        vt: incident.vt,
        abuse: incident.abuse,
        failureCount: incident.failureCount,
        users: incident.users,
        attackType: incident.attackType,
        detectionSeverity: incident.severity,
        firstSeen: incident.firstSeen,
        lastSeen: incident.lastSeen,
        action: incident.action.kind,
        actionReason: incident.action.reason,
        blockExpires: incident.action.expires,
      },
    });
    this.blockEvent(incident);
    const waiting = waitingFor(enriched);
    if (waitingProviders(waiting).length > 0) {
      // What the later enrichment needs to re-render the report and send the update.
      writeFileAtomic(this.snapshotFile(incidentId), JSON.stringify(incident), { durable: false });
      const nowMs = d.now();
      const due = retryAt(enriched, nowMs);
      const ref = { incidentId, sid: incident.sid, rid: incident.rid, detection: incident.detection };
      if (this.context.mode === 'digest') {
        // Gathered per address and written once per batch (flushQueued).
        const batched = this.queuedThisBatch.get(incident.srcIp) ?? { refs: [], retryAt: due, waitingFor: {} };
        batched.refs.push(ref);
        batched.retryAt = Math.max(batched.retryAt, due);
        batched.waitingFor = { ...batched.waitingFor, ...waiting };
        this.queuedThisBatch.set(incident.srcIp, batched);
        ilog.info('Enrichment queued for a later run or soar-edr drain', { src_ip: incident.srcIp, waiting_for: describeWaiting(waiting), not_before: new Date(due).toISOString() });
      } else {
        const q = this.queue.enqueue(incident.srcIp, ref, nowMs, due, waiting);
        this.countQueued(incident.srcIp, q === undefined ? undefined : waiting);
        if (q !== undefined) ilog.info('Enrichment queued for a later run or soar-edr drain', { src_ip: incident.srcIp, waiting_for: describeWaiting(waiting), queued_incidents: q.refs.length, not_before: new Date(q.nextAttemptAt).toISOString() });
      }
    }
    const notes = [...item.degraded];
    // Built only when it is sent: a digest skips most rows' cards (same address, verdict no worse).
    const notified = await this.notify(incident, 'incident', () => buildDiscordMessage(incident), secrets, ilog);
    if (notified) notes.push(notified);
    return notes;
  }

  /** A `blocked` event for a block this incident made, once per address per run (a digest repeats addresses). */
  private blockEvent(incident: Incident): void {
    if (incident.action.kind !== 'blocked' || this.blockEvented.has(incident.srcIp)) return;
    this.blockEvented.add(incident.srcIp);
    this.events.add({
      timeMs: this.deps.now(),
      event: 'blocked',
      subject: eventSubject(incident),
      details: { action: 'blocked', actionReason: incident.action.reason, blockExpires: incident.action.expires },
    });
  }

  /** For the run's WARNs: an address queued for a missing key (`waiting`), or not queued at all (undefined: the queue is full). */
  private countQueued(address: string, waiting: WaitingFor | undefined): void {
    if (waiting === undefined) this.notQueued += 1;
    else if (waiting.virustotal === 'no-key') this.queuedForKey.add(address);
  }

  private snapshotFile(incidentId: string): string {
    return path.join(this.deps.layout.ledger, 'incident-data', `${incidentId}.json`);
  }

  /** `sid`: the firing the block is for; the rows of one firing are one offence (blocklist.ts). */
  private decideBlock(address: string, isPublic: boolean, why: string | undefined, verdict: Verdict, reason: string, nowMs: number, sid: string, log: Logger): ResponseAction {
    const s = this.settings;
    if (!s.blockVerdicts.has(verdict)) {
      return { kind: 'not_blocked', reason: `verdict ${verdict} is not in block_verdicts (${[...s.blockVerdicts].join(', ') || 'none'})` };
    }
    if (!isPublic && !s.blockPrivate) {
      return { kind: 'not_blocked', reason: `${why ?? 'not public'}: never blocked (block_private = false)` };
    }
    // One block per address per run: a digest naming an address in many rows is one offence.
    const already = this.blockedThisRun.get(address);
    if (already) return already;
    const limits = this.limited();
    // The gate's address text, or a stored incident's: parsed here until the pipeline carries the IpAddress itself.
    const ip = parseIpAddress(address);
    if (!ip.ok) return { kind: 'not_blocked', reason: `block failed: ${ip.error.message}` };
    const r = blockAddress(this.deps.layout, ip.value, verdict, reason, nowMs, { baseSeconds: limits.blockSeconds, maxSeconds: limits.blockMaxSeconds }, {
      lock: { timeoutMs: Math.max(1000, this.deadlineMs - nowMs) },
      offence: sid,
    });
    if (!r.ok) {
      log.error('Simulated block failed', { src_ip: address, reason: r.error.kind, message: r.error.message });
      return { kind: 'not_blocked', reason: `block failed: ${r.error.message}` };
    }
    const expires = new Date(r.value.entry.expiresMs).toISOString();
    const action: ResponseAction = {
      kind: 'blocked',
      reason: `${verdict}: simulated block for ${r.value.durationSeconds} s${r.value.repeat ? ` (repeat offender, block #${r.value.entry.count})` : ''}`,
      expires,
      commands: r.value.commands,
    };
    this.blockedThisRun.set(address, action);
    log.warn(`[SIMULATION] Blocking IP ${address}`, {
      src_ip: address,
      verdict,
      duration_s: r.value.durationSeconds,
      expires,
      count: r.value.entry.count,
      repeat_offender: r.value.repeat ? 'yes' : 'no',
      message: 'simulation only: no firewall command is run',
    });
    return action;
  }

  /** Send one notification; returns a degradation note when it could not be delivered now. */
  private async notify(incident: Incident, kind: 'incident' | 'update', message: DiscordMessage | (() => DiscordMessage), secrets: ResolvedSecrets, log: Logger): Promise<string | undefined> {
    const d = this.deps;
    if (kind === 'incident') {
      const earlier = this.claimedThisRun.get(incident.srcIp);
      if (earlier !== undefined && verdictRank(incident.verdict) <= verdictRank(earlier)) {
        log.info('Not notified again', { src_ip: incident.srcIp, verdict: incident.verdict, message: 'already notified in this run and the verdict is not worse' });
        return undefined;
      }
      this.claimedThisRun.set(incident.srcIp, incident.verdict);
      // The incident's address text: parsed here until the pipeline carries the IpAddress itself.
      const ip = parseIpAddress(incident.srcIp);
      const claim = ip.ok ? claimNotification(d.layout, ip.value, incident.verdict, d.now(), this.settings.renotifySeconds, incident.incidentId) : ip;
      if (!claim.ok) {
        log.error('Notification ledger failed', { reason: claim.error.kind, message: claim.error.message });
      } else if (!claim.value.notify) {
        log.info('Not notified again', { src_ip: incident.srcIp, verdict: incident.verdict, message: claim.value.reason });
        return undefined;
      }
    }
    const notification = { incidentId: incident.incidentId, kind, payload: typeof message === 'function' ? message() : message };
    const started = d.now();
    const webhook = this.webhookTarget(secrets);
    if (!webhook.target) {
      const q = enqueueNotification(d.layout, notification, d.now());
      if (webhook.problem) {
        log.error('Discord webhook URL refused; notification kept in the outbox', { message: webhook.problem, outbox: q.ok ? q.value : q.error.message });
        return 'discord: webhook refused';
      }
      log.info('No Discord webhook configured; notification kept in the outbox', { outbox: q.ok ? q.value : q.error.message, message: 'soar-edr secrets set discord_webhook_url, then soar-edr drain' });
      return q.ok ? undefined : `outbox: ${q.error.kind}`;
    }
    const deliver = webhookDeliverer(webhook.target, d.webhookPost, { now: d.now, sleep: d.sleep, random: d.random, requestTimeoutMs: this.settings.requestTimeoutMs });
    const sent = await sendNotification(d.layout, notification, deliver, { now: d.now, deadlineMs: this.deadlineMs, random: d.random });
    if (!sent.ok) {
      log.error('Notification could not be queued', { reason: sent.error.kind, message: sent.error.message });
      return `outbox: ${sent.error.kind}`;
    }
    const r = sent.value;
    switch (r.status) {
      case 'delivered':
        this.events.add({
          timeMs: d.now(),
          event: 'notified',
          subject: eventSubject(incident),
          details: { notificationKind: kind, discordMessageId: r.delivery.status === 'delivered' ? r.delivery.messageId : null },
        });
        log.info('Discord notification delivered', { kind, ms: d.now() - started, message_id: r.delivery.status === 'delivered' ? (r.delivery.messageId ?? '') : '', attempts: r.delivery.attempts });
        return undefined;
      case 'already_delivered':
      case 'in_flight':
      case 'claimed_elsewhere':
        log.info('Discord notification already handled by another process', { kind, status: r.status });
        return undefined;
      case 'queued':
        log.warn('Discord notification kept in the outbox', { kind, message: r.reason });
        return 'discord: queued';
      case 'retry_later':
        log.warn('Discord notification kept in the outbox', { kind, message: 'reason' in r.delivery ? r.delivery.reason : r.delivery.status, next_attempt: new Date(r.nextAttemptAtMs).toISOString() });
        return 'discord: kept in the outbox';
      case 'dead_lettered':
        this.events.add({
          timeMs: d.now(),
          event: 'dead_lettered',
          subject: eventSubject(incident),
          details: { notificationKind: kind, deadLetterReason: r.delivery && 'reason' in r.delivery ? r.delivery.reason : '', deadLetterFile: path.basename(r.deadLetter) },
        });
        log.error('Discord refused the notification; kept as a dead letter', { kind, file: r.deadLetter, message: r.delivery && 'reason' in r.delivery ? r.delivery.reason : '' });
        return 'discord: rejected';
    }
  }

  /** Record what a digest has batched, durably: a spool entry or checkpoint written after this names only recorded rows. */
  async flush(): Promise<{ failed: number; degraded: number }> {
    await this.flushBatch();
    if (this.unsyncedRows) syncFile(this.deps.layout.incidents);
    this.unsyncedRows = false;
    const late = { ...this.late };
    this.late.failed = 0;
    this.late.degraded = 0;
    return late;
  }

  async finish(log: Logger): Promise<{ failed: number; degraded: number }> {
    const d = this.deps;
    const late = await this.flush();
    if (this.deadlineMs - d.now() >= FOLLOW_UP_MIN_MS) {
      this.expireBlocks(log);
      this.sweepFullDisk(log);
      await drainAll(this, log, { maxItems: FOLLOW_UP_ITEMS });
    }
    this.reportQueueProblems(log);
    this.closeEvents(log);
    return { failed: late.failed + this.late.failed, degraded: late.degraded + this.late.degraded };
  }

  /** Remove the simulated blocks whose time is up, each with an 'expired' incident event; how many. */
  expireBlocks(log: Logger): number {
    const d = this.deps;
    const purged = purgeExpired(d.layout, d.now());
    if (purged.ok && purged.value.length > 0) log.info('Expired simulated blocks removed', { count: purged.value.length, ips: purged.value.map((e) => e.address.text).join(',') });
    if (purged.ok) for (const e of purged.value) this.events.add(blockLapsedEvent('expired', e, d.now()));
    return purged.ok ? purged.value.length : 0;
  }

  /** Clean up what a full disk left behind (see respond/full-disk-sweep.ts). */
  sweepFullDisk(log: Logger): void {
    logSweep(sweepAfterFullDisk(this.deps.layout, this.deps.now()), this.deps.layout, log);
  }

  /** Write the run's incident events and flush them to disk: once, at the end of a run. */
  closeEvents(log: Logger): void {
    this.events.flush(log);
    this.events.sync();
  }

  /**
   * At most once per run: one WARN when addresses wait for a VirusTotal key (queued by this
   * run, or found waiting by its drain), saying what to configure and where; one WARN when
   * the queue was full. Never per row: a digest of 100,000 rows still says it once.
   */
  reportQueueProblems(log: Logger): void {
    if (this.queueProblemsReported) return;
    this.queueProblemsReported = true;
    const queued = this.queuedForKey.size;
    const waiting = this.waitingForKey;
    if (queued > 0 || (waiting !== undefined && waiting.virustotal > 0)) {
      const counts = [
        ...(queued > 0 ? [`${queued} public address(es) queued for enrichment by this run`] : []),
        ...(waiting !== undefined ? [`${waiting.virustotal} waiting in the queue`] : []),
      ];
      log.warn('VirusTotal key not configured; public addresses queued for enrichment', {
        queued,
        waiting: waiting?.virustotal,
        message:
          `${counts.join(', ')}; nothing is sent to VirusTotal without a key. ` +
          'Store the key in Splunk storage/passwords (realm soar_edr, name virustotal_api_key): soar-edr secrets set virustotal_api_key; ' +
          'outside Splunk set SOAR_VIRUSTOTAL_API_KEY. The next alert run or soar-edr drain then enriches the queued incidents and updates their reports ' +
          `(queued addresses expire after ${DEFAULT_QUEUE_MAX_AGE_MS / 86_400_000} days)`,
      });
    }
    if (waiting !== undefined && waiting.abuseipdb > 0) {
      log.warn('AbuseIPDB key not configured; queued addresses waiting for it', {
        waiting: waiting.abuseipdb,
        message: 'they were queued while an AbuseIPDB key was set: store abuseipdb_api_key again (soar-edr secrets set abuseipdb_api_key, or SOAR_ABUSEIPDB_API_KEY outside Splunk), or let them expire',
      });
    }
    if (this.notQueued > 0) {
      log.warn('Enrichment queue full; addresses not queued', {
        not_queued: this.notQueued,
        message: 'their incidents are recorded but will not be updated; run soar-edr drain (with the keys configured) to work the queue down',
      });
    }
  }

  /** Deliver what waits in the outbox, if a webhook is configured; what was done, when something was tried. */
  async drainOutbox(log: Logger, maxItems: number, includeWaiting = false): Promise<DrainReport | undefined> {
    const d = this.deps;
    if (outboxSize(d.layout) === 0) return undefined;
    const webhook = this.webhookTarget(await this.context.secrets());
    if (!webhook.target) return undefined;
    const deliver = webhookDeliverer(webhook.target, d.webhookPost, { now: d.now, sleep: d.sleep, random: d.random, requestTimeoutMs: this.settings.requestTimeoutMs });
    const r = await drainOutbox(d.layout, deliver, { now: d.now, deadlineMs: this.deadlineMs, maxItems, random: d.random, includeWaiting });
    if (!r.ok) log.error('Outbox delivery failed', { reason: r.error.kind, message: r.error.message });
    else if (r.value.delivered + r.value.deadLettered + r.value.retryLater > 0) {
      log.info('Outbox delivered', { delivered: r.value.delivered, retry_later: r.value.retryLater, dead_lettered: r.value.deadLettered, left: r.value.leftForLater });
    }
    if (r.ok) this.outboxEvents(r.value, log);
    return r.ok ? r.value : undefined;
  }

  /** A `notified` or `dead_lettered` event per outbox item a drain settled; the incident is known by its id. */
  private outboxEvents(report: DrainReport, log: Logger): void {
    for (const { key, result } of report.results) {
      const at = key.lastIndexOf(':');
      const subject = { incidentId: key.slice(0, at) };
      const notificationKind = key.slice(at + 1);
      if (result.status === 'delivered') {
        this.events.add({ timeMs: this.deps.now(), event: 'notified', subject, details: { notificationKind, discordMessageId: result.delivery.status === 'delivered' ? result.delivery.messageId : null } });
      } else if (result.status === 'dead_lettered') {
        const reason = result.delivery && 'reason' in result.delivery ? result.delivery.reason : 'unreadable outbox file';
        this.events.add({ timeMs: this.deps.now(), event: 'dead_lettered', subject, details: { notificationKind, deadLetterReason: reason, deadLetterFile: path.basename(result.deadLetter) } });
      }
    }
    this.events.flush(log);
  }

  /**
   * Enrich queued addresses that are due; update their incidents and send an update. An
   * address waiting for a provider without a key is left as it is (nothing is spent, no
   * attempt counted) and counted for the run's one WARN.
   */
  async drainQueue(log: Logger, maxItems: number): Promise<number> {
    const d = this.deps;
    this.queue.recoverStaleClaims(d.now());
    const expired = this.queue.expireNow(d.now());
    if (expired.refs > 0) {
      log.info('Queued enrichment expired', { addresses: expired.addresses, incidents: expired.refs, message: `queued more than ${DEFAULT_QUEUE_MAX_AGE_MS / 86_400_000} days ago: those incidents keep the verdict they were recorded with` });
    }
    const secrets = await this.context.secrets();
    const keys: Readonly<Record<IntelProvider, string | undefined>> = { virustotal: secrets.values.virustotal_api_key, abuseipdb: secrets.values.abuseipdb_api_key };
    if (!keys.virustotal && !keys.abuseipdb) {
      // Nothing can be looked up: count what waits by file name, without reading it (every
      // per-result run of an install without keys comes here).
      const size = this.queue.size();
      this.waitingForKey = { virustotal: size, abuseipdb: 0, addresses: size };
      return 0;
    }
    const due = this.queue.list(d.now());
    const ready: QueueEntry[] = [];
    const waiting = { virustotal: 0, abuseipdb: 0, addresses: 0 };
    for (const entry of due) {
      const missing = waitingProviders(entry.waitingFor).filter((p) => !keys[p]);
      for (const p of missing) waiting[p] += 1;
      if (missing.length === 0) ready.push(entry);
      else waiting.addresses += 1;
    }
    this.waitingForKey = waiting;
    // Without a key, or with no budget left now, nothing can be looked up: leave the queue.
    const now = d.now();
    const canAsk = (provider: IntelProvider): boolean => {
      if (!keys[provider]) return false;
      const u = this.quota.usage(provider, now);
      return u.penaltyUntilMs <= now && (u.limits.perMinute === null || u.minuteUsed < u.limits.perMinute) && (u.limits.perDay === null || u.dayUsed < u.limits.perDay);
    };
    if (!canAsk('virustotal') && !canAsk('abuseipdb')) return 0;
    let done = 0;
    for (const entry of ready.slice(0, maxItems)) {
      if (this.deadlineMs - d.now() < FOLLOW_UP_MIN_MS) break;
      const claim = this.queue.claim(entry.address, d.now());
      if (!claim) continue;
      this.memo.delete(entry.address);
      const enriched = await this.enrich(entry.address, secrets, 0);
      const still = waitingFor(enriched);
      if (waitingProviders(still).length > 0) {
        const failure = [enriched.vt, enriched.abuse].find((e) => e?.state === 'deferred' || e?.state === 'error');
        const why = failure?.state === 'deferred' ? failure.reason : failure?.state === 'error' ? failure.error.message : enriched.vtNoKey ? NO_VT_KEY_PENDING : undefined;
        this.queue.release(claim, d.now(), retryAt(enriched, d.now()), why, still);
        continue;
      }
      for (const ref of claim.entry.refs) await this.updateIncident(ref.incidentId, enriched, secrets, log);
      this.queue.complete(claim);
      done += 1;
    }
    return done;
  }

  /** Due addresses the last drainQueue left for a missing key (an address missing both keys counts once). */
  addressesWaitingForKey(): number {
    return this.waitingForKey?.addresses ?? 0;
  }

  private async updateIncident(incidentId: string, enriched: Enriched, secrets: ResolvedSecrets, log: Logger): Promise<void> {
    const d = this.deps;
    const snap = readJsonIfExists(this.snapshotFile(incidentId));
    if (snap === undefined || 'corrupt' in snap) {
      log.warn('Deferred enrichment finished, but the incident snapshot is missing', { incident_id: incidentId });
      return;
    }
    const before = snap.value as Incident;
    const decision = decideVerdict(
      { vt: enrichmentOutcome(enriched.vt, enriched.vtNote), abuse: enriched.abuse ? enrichmentOutcome(enriched.abuse, '') : undefined },
      this.settings.thresholds,
    );
    const nowMs = d.now();
    const action = before.action.kind === 'blocked' ? before.action : this.decideBlock(before.srcIp, true, undefined, decision.verdict, decision.reason, nowMs, before.sid, log);
    const after: Incident = {
      ...before,
      verdict: decision.verdict,
      reason: decision.reason,
      vt: vtResult(enriched.vt, enriched.vtNote, enriched.vtNoKey),
      abuse: abuseResult(enriched.abuse, '') ?? before.abuse,
      action,
    };
    writeFileAtomic(this.snapshotFile(incidentId), JSON.stringify(after), { durable: false });
    const updated = updateIncidentReport(d.layout, after);
    if (!updated.ok) log.error('Cannot update the incident report', { incident_id: incidentId, message: updated.error.message });
    log.info('Deferred enrichment completed', { incident_id: incidentId, src_ip: after.srcIp, verdict: after.verdict, previous_verdict: before.verdict, reason: after.reason });
    this.events.add({ timeMs: nowMs, event: 'enriched', subject: eventSubject(after), details: { previousVerdict: before.verdict, vt: after.vt, abuse: after.abuse } });
    if (after.verdict !== before.verdict) this.events.add({ timeMs: nowMs, event: 'verdict_changed', subject: eventSubject(after), details: { previousVerdict: before.verdict } });
    if (before.action.kind !== 'blocked') this.blockEvent(after);
    if (verdictRank(after.verdict) !== verdictRank(before.verdict) || after.verdict !== before.verdict) {
      await this.notify(after, 'update', buildDiscordUpdateMessage(after, before.verdict), secrets, log.child({ incident_id: incidentId }));
    }
    this.events.flush(log);
  }
}

/** What a drain did (`soar-edr drain`, and the end of every alert run with small limits). */
export interface DrainAllReport {
  /** One report per outbox pass that tried something (before the queue, and after it for the updates). */
  readonly outbox: readonly DrainReport[];
  /** Queued addresses enriched (their incidents updated). */
  readonly enriched: number;
  /** Queued addresses left because a provider they wait for has no key (with no key at all: every queued address). */
  readonly waitingForKey: number;
}

/**
 * `soar-edr drain`: the follow-up work with the caller's limits instead of the small
 * per-run ones — at most `maxItems` notifications delivered and `maxItems` addresses
 * enriched. Addresses waiting for a provider without a key are left alone (drainQueue).
 */
export async function drainAll(pipeline: IncidentPipeline, log: Logger, limits: { maxItems: number; includeWaiting?: boolean }): Promise<DrainAllReport> {
  const outbox: DrainReport[] = [];
  // includeWaiting (an admin's drain): notifications waiting for their backoff are tried now.
  const first = await pipeline.drainOutbox(log, limits.maxItems, limits.includeWaiting ?? false);
  if (first) outbox.push(first);
  const enriched = await pipeline.drainQueue(log, limits.maxItems);
  const sent = first ? first.delivered + first.retryLater + first.deadLettered : 0;
  if (enriched > 0 && sent < limits.maxItems) {
    const second = await pipeline.drainOutbox(log, limits.maxItems - sent);
    if (second) outbox.push(second);
  }
  return { outbox, enriched, waitingForKey: pipeline.addressesWaitingForKey() };
}

export type { IncidentPipeline };

export function createIncidentPipeline(context: RunContext, deps: PipelineDeps): IncidentPipeline {
  return new IncidentPipeline(context, deps);
}
