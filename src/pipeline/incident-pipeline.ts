/**
 * The incident pipeline for one alert run — the only place that knows the order of the
 * stages (one file each in this folder):
 *   address gate → enrich (cache, single flight, quota, VirusTotal and AbuseIPDB) → decide
 *   (verdict and reason) → block (simulated, shared blocklist) → record (one incident per
 *   result: shared claim, TXT report, incidents.csv row, incident events) → notify (Discord,
 *   outbox when it fails)
 * and, after the last row, the follow-up work that fits in the time left (follow-up.ts).
 * The shared state (src/state/) is passed in: the KV store inside Splunk, the data directory's
 * files outside it.
 */
import { randomFillSync } from 'node:crypto';
import type { IpAddress } from '../address/ip-address';
import { classifyAddress } from '../intel/address-gate';
import { DEFAULT_QUEUE_MAX_AGE_MS, IncidentRef, waitingProviders, WaitingFor } from '../intel/enrichment-queue';
import type { Verdict } from '../intel/verdict';
import { buildDiscordMessage } from '../respond/discord-embed';
import type { ResponseAction } from '../respond/incident';
import { IncidentDraft, newIncidentId, RecordedIncident } from '../respond/incident-store';
import { IncidentEventLog } from '../respond/incident-event-file';
import { parseAllowedHosts, parseWebhookTarget, WebhookTarget } from '../respond/webhook-target';
import type { Failure } from '../result';
import type { AlertRowInput, RowOutcome, RowPipeline, RunContext } from '../splunk/alert-run';
import type { Logger } from '../splunk/log';
import type { ResolvedSecrets } from '../splunk/secrets';
import { syncFile, writeFileAtomic } from '../store/durable-file';
import { fileState } from '../state/file-state';
import type { SharedState, StateErrorKind } from '../state/shared-state';
import { blockEvent, blockStage } from './block';
import { decideIncident, describeWaiting, Enriched, NO_VT_KEY_NOTE, notLookedUp, retryAt, waitingFor } from './decide';
import type { PipelineDeps } from './deps';
import { EnrichDeps, enrichAddress } from './enrich';
import { DrainAllReport, DrainLimits, drainAllStage, expireBlocksStage, FOLLOW_UP_MIN_MS, importFileStoreStage, sweepFullDiskStage, WaitingForKey } from './follow-up';
import { notifyStage } from './notify';
import { buildDraft, recordedEvent, snapshotFile } from './record';
import type { PipelineRun } from './run';
import { applyHostLimits, AskedLimits, clampMessage, parsePipelineSettings, PipelineSettings } from './settings';

export type { PipelineDeps } from './deps';
export { systemPipelineDeps } from './deps';
export type { DrainAllReport } from './follow-up';

/** Follow-up work per run: a few items, so a per-result run stays short. */
const FOLLOW_UP_ITEMS = 3;

/** A row decided but not yet recorded (a digest batches its records). */
interface PendingRecord {
  readonly draft: IncidentDraft;
  readonly address: IpAddress;
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

/** A shared-state failure that means "not now": the row is spooled for a later run, not failed. */
const SPOOL_KINDS: ReadonlySet<StateErrorKind> = new Set(['unavailable']);

function stateFailure(kind: StateErrorKind, message: string): RowOutcome {
  return SPOOL_KINDS.has(kind) ? { status: 'unavailable', error: { kind, message } } : { status: 'failed', error: { kind, message } };
}

class IncidentPipeline implements RowPipeline, PipelineRun {
  readonly settings: PipelineSettings;
  readonly configProblems: Failure[];
  readonly deadlineMs: number;
  readonly state: SharedState;
  readonly events: IncidentEventLog;
  readonly blockedThisRun = new Map<string, ResponseAction>();
  readonly claimedThisRun = new Map<string, Verdict>();
  readonly blockEvented = new Set<string>();
  private hostBound: PipelineSettings | undefined;
  /** What the params ask of the host-limited settings (limited() caps them). */
  private readonly asked: AskedLimits;
  private readonly memo = new Map<string, Promise<Enriched>>();
  private authErrorLogged = new Set<string>();
  private webhook: { target?: WebhookTarget; problem?: string } | undefined;
  private unsyncedRows = false;
  private batch: PendingRecord[] = [];
  /** A digest's rows that earlier runs of the same sid recorded (read on the first row). */
  private digestRecorded: ReadonlyMap<string, string> | undefined;
  private readonly queuedThisBatch = new Map<string, { refs: IncidentRef[]; retryAt: number; waitingFor: WaitingFor }>();
  /** Public addresses this run queued because no VirusTotal key is configured. */
  private readonly queuedForKey = new Set<string>();
  /** Queued addresses a drain of this run left because a provider they wait for has no key. */
  private waitingForKey: WaitingForKey | undefined;
  /** New addresses not queued because the queue was full. */
  private notQueued = 0;
  private queueProblemsReported = false;
  /** Failures and degradations found after handleRow returned (a digest's batched rows). */
  private readonly late = { failed: 0, degraded: 0 };

  constructor(
    readonly context: RunContext,
    readonly deps: PipelineDeps,
  ) {
    const parsed = parsePipelineSettings(context.config.params);
    this.settings = parsed.settings;
    this.asked = parsed.asked;
    this.configProblems = parsed.problems;
    this.deadlineMs = context.deadlineMs ?? context.startedMs + this.settings.timeBudgetSeconds * 1000;
    const stateOptions = { cacheTtlMs: this.settings.cacheTtlSeconds * 1000, lockTimeoutMs: () => this.deadlineMs - deps.now() };
    this.state = deps.stateFor?.(context, stateOptions) ?? fileState(deps.layout, stateOptions);
    // Appends without fsync; finish() flushes the file to disk once per run.
    this.events = new IncidentEventLog(deps.layout, { durable: false });
  }

  /**
   * The settings within the host's limits: the app's soar_edr.conf is read here, on the first
   * lookup or block (a run that needs neither never reads it). Once per run, each param above
   * the host's limit gets one WARN, and each bad value in the conf one ERROR.
   */
  limited(): PipelineSettings {
    if (this.hostBound) return this.hostBound;
    const host = this.deps.hostLimits?.();
    if (host === undefined) return (this.hostBound = this.settings);
    const log = this.context.log;
    for (const p of host.problems) log.error('Invalid app configuration', { reason: p.kind, message: p.message });
    // Only the host-limited settings change: the params are not parsed again.
    const capped = applyHostLimits(this.asked, host.limits);
    for (const c of capped.clamped) {
      log.warn('Param above the host limit', { param: c.param, asked: c.asked, limit: c.limit, message: clampMessage(c) });
    }
    return (this.hostBound = { ...this.settings, ...capped.limits });
  }

  private enrichDeps(): EnrichDeps {
    const d = this.deps;
    const s = this.limited();
    return {
      state: this.state,
      limits: { virustotal: { perMinute: s.vtPerMinute, perDay: s.vtPerDay }, abuseipdb: { perMinute: null, perDay: s.abusePerDay } },
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

  enrich(address: string, secrets: ResolvedSecrets, waitUntilMs: number, fresh = false): Promise<Enriched> {
    if (fresh) this.memo.delete(address);
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

  webhookTarget(secrets: ResolvedSecrets): { target?: WebhookTarget; problem?: string } {
    if (this.webhook) return this.webhook;
    const url = secrets.values.discord_webhook_url;
    if (!url) return (this.webhook = {});
    const allowed = parseAllowedHosts(this.deps.env.SOAR_WEBHOOK_ALLOWED_HOSTS);
    const parsed = parseWebhookTarget(url, allowed);
    this.webhook = parsed.ok ? { target: parsed.value } : { problem: parsed.error.message };
    return this.webhook;
  }

  /**
   * The incident an earlier run recorded for this row, before anything is looked up. A digest
   * reads its sid's record once (the rows this run records are checked again when recorded).
   * With the KV store a per-result row is not read first: inserting its incident is the
   * claim, and a retried row finds its address in the cache.
   */
  private async alreadyRecorded(rid: string): Promise<{ ok: true; value: string | undefined } | { ok: false; error: Failure<StateErrorKind> }> {
    const { sid } = this.context.payload;
    if (this.context.mode !== 'digest') {
      if (this.state.kind === 'kvstore') return { ok: true, value: undefined };
      return this.state.incidents.recorded(sid, rid);
    }
    if (this.digestRecorded === undefined) {
      const read = await this.state.incidents.recordedInSid(sid);
      if (!read.ok) return read;
      this.digestRecorded = read.value;
    }
    return { ok: true, value: this.digestRecorded.get(rid) };
  }

  async handleRow(input: AlertRowInput, log: Logger): Promise<RowOutcome> {
    const { payload } = this.context;
    const d = this.deps;
    const s = this.settings;
    const attacker = input.attacker.address;

    const existing = await this.alreadyRecorded(input.rid);
    if (!existing.ok) return stateFailure(existing.error.kind, existing.error.message);
    if (existing.value) {
      log.info('Incident already recorded for this result; not handled again', { src_ip: attacker.text, incident_id: existing.value, action_status: 'success' });
      return { status: 'handled' };
    }

    const gate = classifyAddress(attacker, s.allowlist);
    const t0 = d.now();
    const secrets = await this.context.secrets();
    const tSecrets = d.now();
    const degraded: string[] = [];
    const enriched = gate.public ? await this.enrich(gate.address, secrets, this.quotaWaitUntil()) : notLookedUp(gate.reason, Boolean(secrets.values.abuseipdb_api_key));
    for (const [provider, e] of [['virustotal', enriched.vt], ['abuseipdb', enriched.abuse]] as const) {
      if (e?.state === 'error') {
        degraded.push(`${provider}: ${e.error.kind}`);
        if (e.error.kind === 'auth') {
          if (!this.authErrorLogged.has(provider)) log.error('Provider refused the API key', { provider, message: e.error.message });
          this.authErrorLogged.add(provider);
        } else {
          log.warn('Enrichment failed', { provider, src_ip: gate.address, reason: e.error.kind, message: e.error.message });
        }
      }
    }

    const { verdict, reason } = decideIncident(enriched, s.thresholds);
    const nowMs = d.now();
    const action = await blockStage(this, gate.ip, gate.public, gate.reason, verdict, reason, nowMs, payload.sid, log);
    const draft = buildDraft({ payload, row: input.row, rid: input.rid, srcIp: gate.address, isPublic: gate.public, gateReason: gate.reason, verdict, reason, enriched, action, nowMs });
    const pending: PendingRecord = { draft, address: gate.ip, enriched, attackerField: input.attacker.field, log, startedMs: t0, secretsMs: tSecrets - t0, degraded };
    if (this.context.mode === 'digest') {
      // A digest records its rows in batches: one lock and one append per batch, not per row.
      this.batch.push(pending);
      if (this.batch.length >= DIGEST_BATCH_ROWS) await this.flushBatch();
      return { status: 'handled' };
    }
    const recorded = await this.state.incidents.record(draft, () => newIncidentId(d.now(), randomIdBytes()));
    if (!recorded.ok) return stateFailure(recorded.error.kind, recorded.error.message);
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
    const recorded = await this.state.incidents.recordMany(
      batch.map((b) => b.draft),
      () => newIncidentId(d.now(), randomIdBytes()),
      { durable: false },
    );
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
    await this.flushQueued();
    this.events.flush(this.context.log);
  }

  /** Write the enrichment queue once per address for the batch just recorded. */
  private async flushQueued(): Promise<void> {
    const now = this.deps.now();
    for (const [address, waiting] of this.queuedThisBatch) {
      const q = await this.state.queue.enqueueMany(address, waiting.refs, now, waiting.retryAt, waiting.waitingFor);
      if (!q.ok) this.queueFailed(address, waiting.refs.length, q.error);
      else this.countQueued(address, q.value === undefined ? undefined : waiting.waitingFor);
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
    this.events.add(recordedEvent(incident, d.now()));
    blockEvent(this, incident);
    const waiting = waitingFor(enriched);
    if (waitingProviders(waiting).length > 0) {
      // What the later enrichment needs to re-render the report and send the update.
      writeFileAtomic(snapshotFile(d.layout, incidentId), JSON.stringify(incident), { durable: false });
      const nowMs = d.now();
      const due = retryAt(enriched, nowMs);
      // The KV store queue keeps the snapshot in the reference too: another member may enrich it (state/kv-queue.ts).
      const ref: IncidentRef = { incidentId, sid: incident.sid, rid: incident.rid, detection: incident.detection, ...(this.state.kind === 'file' ? {} : { snapshot: JSON.stringify(incident) }) };
      if (this.context.mode === 'digest') {
        // Gathered per address and written once per batch (flushQueued).
        const batched = this.queuedThisBatch.get(incident.srcIp) ?? { refs: [], retryAt: due, waitingFor: {} };
        batched.refs.push(ref);
        batched.retryAt = Math.max(batched.retryAt, due);
        batched.waitingFor = { ...batched.waitingFor, ...waiting };
        this.queuedThisBatch.set(incident.srcIp, batched);
        ilog.info('Enrichment queued for a later run or soar-edr drain', { src_ip: incident.srcIp, waiting_for: describeWaiting(waiting), not_before: new Date(due).toISOString() });
      } else {
        const queued = await this.state.queue.enqueue(incident.srcIp, ref, nowMs, due, waiting);
        const q = queued.ok ? queued.value : undefined;
        if (!queued.ok) this.queueFailed(incident.srcIp, 1, queued.error);
        else this.countQueued(incident.srcIp, q === undefined ? undefined : waiting);
        if (q !== undefined) ilog.info('Enrichment queued for a later run or soar-edr drain', { src_ip: incident.srcIp, waiting_for: describeWaiting(waiting), queued_incidents: q.refs.length, not_before: new Date(q.nextAttemptAt).toISOString() });
      }
    }
    const notes = [...item.degraded];
    // Built only when it is sent: a digest skips most rows' cards (same address, verdict no worse).
    const notified = await notifyStage(this, incident, item.address, 'incident', () => buildDiscordMessage(incident), secrets, ilog);
    if (notified) notes.push(notified);
    return notes;
  }

  /** The queue could not be written: the incidents are recorded, only their later update is lost. */
  private queueFailed(address: string, incidents: number, error: { kind: string; message: string }): void {
    this.context.log.error('Enrichment not queued', { src_ip: address, incidents, reason: error.kind, message: `${error.message}; the incidents are recorded and keep the verdict they were recorded with` });
  }

  /** For the run's WARNs: an address queued for a missing key (`waiting`), or not queued at all (undefined: the queue is full). */
  private countQueued(address: string, waiting: WaitingFor | undefined): void {
    if (waiting === undefined) this.notQueued += 1;
    else if (waiting.virustotal === 'no-key') this.queuedForKey.add(address);
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
      // With the KV store the maintenance search, once per cluster a minute, expires blocks (a
      // lapsed block already counts as lifted everywhere) and works the shared outbox and queue;
      // a per-result run here would spend round trips on them for every alert result. A digest
      // (one run for many rows) still does its share.
      const kvPerResult = this.state.kind !== 'file' && this.context.mode === 'per_result';
      if (this.state.kind === 'file') await this.expireBlocks(log);
      this.sweepFullDisk(log);
      if (!kvPerResult) await this.drainAll(log, { maxItems: FOLLOW_UP_ITEMS, queueUpkeep: this.state.kind === 'file' });
      await importFileStoreStage(this, log);
    }
    this.reportQueueProblems(log);
    this.closeEvents(log);
    return { failed: late.failed + this.late.failed, degraded: late.degraded + this.late.degraded };
  }

  /** Remove the simulated blocks whose time is up, each with an 'expired' incident event; how many. */
  expireBlocks(log: Logger): Promise<number> {
    return expireBlocksStage(this, log);
  }

  /** This member's 0.1.0 file store into the KV store, once (follow-up.ts). */
  importFileStore(log: Logger): Promise<void> {
    return importFileStoreStage(this, log);
  }

  /** Clean up what a full disk left behind (see respond/full-disk-sweep.ts). */
  sweepFullDisk(log: Logger): void {
    sweepFullDiskStage(this, log);
  }

  /** The follow-up work with the caller's limits (soar-edr drain, maintenance, every run's end). */
  async drainAll(log: Logger, limits: DrainLimits): Promise<DrainAllReport> {
    const r = await drainAllStage(this, log, limits);
    this.waitingForKey = r.waiting;
    return { outbox: r.outbox, enriched: r.enriched, waitingForKey: r.waitingForKey };
  }

  /** Write the run's incident events and flush them to disk, and let go of the shared state: once, at the end of a run. */
  closeEvents(log: Logger): void {
    this.events.flush(log);
    this.events.sync();
  }

  /** Let go of the shared state's connection (a run that ends keeps nothing open). */
  close(): void {
    this.state.close();
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

}

/**
 * `soar-edr drain` and maintenance: the follow-up work with the caller's limits instead of the
 * small per-run ones — at most `maxItems` notifications delivered and `maxItems` addresses
 * enriched. Addresses waiting for a provider without a key are left alone.
 */
export function drainAll(pipeline: IncidentPipeline, log: Logger, limits: DrainLimits): Promise<DrainAllReport> {
  return pipeline.drainAll(log, limits);
}

export type { IncidentPipeline };

export function createIncidentPipeline(context: RunContext, deps: PipelineDeps): IncidentPipeline {
  return new IncidentPipeline(context, deps);
}
