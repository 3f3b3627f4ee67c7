/**
 * The follow-up stage: what waits after the rows — notifications in the outbox, addresses in
 * the enrichment queue whose incidents are updated once the answer is in, and blocks whose
 * time is up. Every alert run does a little of it at its end; the maintenance search and
 * `soar-edr drain` do more.
 */
import { existsSync } from 'node:fs';
import * as path from 'node:path';
import { importFileStore, importMarkerFile } from '../state/file-store-import';
import { parseIpAddress } from '../address/ip-address';
import { DEFAULT_QUEUE_MAX_AGE_MS, EnrichmentQueue, IncidentRef, QueueEntry, waitingProviders } from '../intel/enrichment-queue';
import type { IntelProvider } from '../intel/lookup-cache';
import { decideVerdict, verdictRank } from '../intel/verdict';
import { buildDiscordUpdateMessage } from '../respond/discord-embed';
import { webhookDeliverer } from '../respond/discord-delivery';
import { logSweep, sweepAfterFullDisk } from '../respond/full-disk-sweep';
import type { Incident } from '../respond/incident';
import { blockLapsedEvent } from '../respond/incident-event';
import { updateIncidentReport } from '../respond/incident-store';
import type { DrainReport } from '../respond/outbox';
import type { Logger } from '../splunk/log';
import type { ResolvedSecrets } from '../splunk/secrets';
import { readJsonIfExists, readTextIfExists, writeFileAtomic } from '../store/durable-file';
import { releaseFileLock, tryFileLock } from '../store/file-lock';
import { blockEvent, blockStage } from './block';
import { abuseResult, Enriched, NO_VT_KEY_PENDING, retryAt, vtResult, waitingFor } from './decide';
import { enrichmentOutcome } from './enrich';
import { notifyStage } from './notify';
import { eventSubject, snapshotFile } from './record';
import type { PipelineRun } from './run';

/** Follow-up work needs at least this much of the run's time left. */
export const FOLLOW_UP_MIN_MS = 5_000;

/** Queued addresses a drain left because a provider they wait for has no key (with no key at all: every queued address). */
export interface WaitingForKey {
  readonly virustotal: number;
  readonly abuseipdb: number;
  readonly addresses: number;
}

/** Deliver what waits in the outbox, if a webhook is configured; what was done, when something was tried. */
export async function drainOutboxStage(run: PipelineRun, log: Logger, maxItems: number, includeWaiting = false): Promise<DrainReport | undefined> {
  const d = run.deps;
  const size = await run.state.outbox.size();
  if (!size.ok) {
    log.error('Outbox cannot be read', { reason: size.error.kind, message: size.error.message });
    return undefined;
  }
  if (size.value === 0) return undefined;
  const webhook = run.webhookTarget(await run.context.secrets());
  if (!webhook.target) return undefined;
  const deliver = webhookDeliverer(webhook.target, d.webhookPost, { now: d.now, sleep: d.sleep, random: d.random, requestTimeoutMs: run.settings.requestTimeoutMs });
  const r = await run.state.outbox.drain(deliver, { now: d.now, deadlineMs: run.deadlineMs, maxItems, random: d.random, includeWaiting });
  if (!r.ok) log.error('Outbox delivery failed', { reason: r.error.kind, message: r.error.message });
  else if (r.value.delivered + r.value.deadLettered + r.value.retryLater > 0) {
    log.info('Outbox delivered', { delivered: r.value.delivered, retry_later: r.value.retryLater, dead_lettered: r.value.deadLettered, left: r.value.leftForLater });
  }
  if (r.ok) outboxEvents(run, r.value, log);
  return r.ok ? r.value : undefined;
}

/** A `notified` or `dead_lettered` event per outbox item a drain settled; the incident is known by its id. */
function outboxEvents(run: PipelineRun, report: DrainReport, log: Logger): void {
  for (const { key, result } of report.results) {
    const at = key.lastIndexOf(':');
    const subject = { incidentId: key.slice(0, at) };
    const notificationKind = key.slice(at + 1);
    if (result.status === 'delivered') {
      run.events.add({ timeMs: run.deps.now(), event: 'notified', subject, details: { notificationKind, discordMessageId: result.delivery.status === 'delivered' ? result.delivery.messageId : null } });
    } else if (result.status === 'dead_lettered') {
      const reason = result.delivery && 'reason' in result.delivery ? result.delivery.reason : 'unreadable outbox file';
      run.events.add({ timeMs: run.deps.now(), event: 'dead_lettered', subject, details: { notificationKind, deadLetterReason: reason, deadLetterFile: path.basename(result.deadLetter) } });
    }
  }
  run.events.flush(log);
}

/**
 * Enrich queued addresses that are due; update their incidents and send an update. An address
 * waiting for a provider without a key is left as it is (nothing is spent, no attempt counted)
 * and counted for the run's one WARN.
 */
export async function drainQueueStage(run: PipelineRun, log: Logger, maxItems: number, upkeep = true): Promise<{ done: number; waitingForKey: WaitingForKey }> {
  const d = run.deps;
  await handOverLocalQueue(run, log);
  const queue = run.state.queue;
  const failed = (what: string, r: { ok: false; error: { kind: string; message: string } }) => log.error(`Enrichment queue: ${what} failed`, { reason: r.error.kind, message: r.error.message });
  if (upkeep) {
    const recovered = await queue.recoverStaleClaims(d.now());
    if (!recovered.ok) failed('recovering stale claims', recovered);
    const expired = await queue.expireNow(d.now());
    if (!expired.ok) failed('expiring old references', expired);
    else if (expired.value.refs > 0) {
      log.info('Queued enrichment expired', { addresses: expired.value.addresses, incidents: expired.value.refs, message: `queued more than ${DEFAULT_QUEUE_MAX_AGE_MS / 86_400_000} days ago: those incidents keep the verdict they were recorded with` });
    }
  }
  const secrets = await run.context.secrets();
  const keys: Readonly<Record<IntelProvider, string | undefined>> = { virustotal: secrets.values.virustotal_api_key, abuseipdb: secrets.values.abuseipdb_api_key };
  if (!keys.virustotal && !keys.abuseipdb) {
    // Nothing can be looked up: count what waits by file name, without reading it (every
    // per-result run of an install without keys comes here).
    const counted = await queue.size();
    const size = counted.ok ? counted.value : 0;
    return { done: 0, waitingForKey: { virustotal: size, abuseipdb: 0, addresses: size } };
  }
  const listed = await queue.list(d.now());
  if (!listed.ok) {
    failed('listing due addresses', listed);
    return { done: 0, waitingForKey: { virustotal: 0, abuseipdb: 0, addresses: 0 } };
  }
  const due = listed.value;
  const ready: QueueEntry[] = [];
  const waiting = { virustotal: 0, abuseipdb: 0, addresses: 0 };
  for (const entry of due) {
    const missing = waitingProviders(entry.waitingFor).filter((p) => !keys[p]);
    for (const p of missing) waiting[p] += 1;
    if (missing.length === 0) ready.push(entry);
    else waiting.addresses += 1;
  }
  if (ready.length === 0) return { done: 0, waitingForKey: waiting };
  // Without a key, or with no budget left now, nothing can be looked up: leave the queue.
  const now = d.now();
  const s = run.limited();
  const limits = { virustotal: { perMinute: s.vtPerMinute, perDay: s.vtPerDay }, abuseipdb: { perMinute: null, perDay: s.abusePerDay } };
  const canAsk = async (provider: IntelProvider): Promise<boolean> => {
    if (!keys[provider]) return false;
    const u = await run.state.quota.usage(provider, limits[provider], now);
    return u.penaltyUntilMs <= now && (u.limits.perMinute === null || u.minuteUsed < u.limits.perMinute) && (u.limits.perDay === null || u.dayUsed < u.limits.perDay);
  };
  if (!(await canAsk('virustotal')) && !(await canAsk('abuseipdb'))) return { done: 0, waitingForKey: waiting };
  let done = 0;
  for (const entry of ready.slice(0, maxItems)) {
    if (run.deadlineMs - d.now() < FOLLOW_UP_MIN_MS) break;
    const claimed = await queue.claim(entry.address, d.now());
    if (!claimed.ok) {
      failed('claiming an address', claimed);
      break;
    }
    const claim = claimed.value;
    if (!claim) continue;
    const enriched = await run.enrich(entry.address, secrets, 0, true);
    const still = waitingFor(enriched);
    if (waitingProviders(still).length > 0) {
      const failure = [enriched.vt, enriched.abuse].find((e) => e?.state === 'deferred' || e?.state === 'error');
      const why = failure?.state === 'deferred' ? failure.reason : failure?.state === 'error' ? failure.error.message : enriched.vtNoKey ? NO_VT_KEY_PENDING : undefined;
      const released = await queue.release(claim, d.now(), retryAt(enriched, d.now()), why, still);
      if (!released.ok) failed('releasing an address', released);
      continue;
    }
    for (const ref of claim.entry.refs) await updateIncident(run, ref, enriched, secrets, log);
    const completed = await queue.complete(claim);
    if (!completed.ok) failed('completing an address', completed);
    done += 1;
  }
  return { done, waitingForKey: waiting };
}

/**
 * On the KV store, what this member's own queue folder still holds — queued by a run that fell
 * back to the data directory (the KV store was not usable) or by 0.1.0 — is handed to the KV
 * store's queue once due, each reference with its snapshot, so it is not stranded here and any
 * member can enrich it. An empty folder costs one directory read.
 */
async function handOverLocalQueue(run: PipelineRun, log: Logger): Promise<void> {
  if (run.state.kind === 'file') return;
  const { layout, now } = run.deps;
  const local = new EnrichmentQueue(layout.queue);
  if (local.size() === 0) return;
  let moved = 0;
  for (const entry of local.list(now())) {
    const claim = local.claim(entry.address, now());
    if (claim === undefined) continue;
    const refs = claim.entry.refs.map((ref) => {
      const snapshot = readTextIfExists(snapshotFile(layout, ref.incidentId));
      return { incidentId: ref.incidentId, sid: ref.sid, rid: ref.rid, detection: ref.detection, ...(snapshot !== undefined ? { snapshot } : {}) };
    });
    const handed = await run.state.queue.enqueueMany(entry.address, refs, now(), claim.entry.nextAttemptAt, claim.entry.waitingFor);
    if (handed.ok && handed.value !== undefined) {
      local.complete(claim);
      moved += 1;
      continue;
    }
    // Kept here for the next run (the KV store is down, or its queue is full).
    local.release(claim, now(), now(), handed.ok ? 'the KV store queue is full' : handed.error.message);
    if (!handed.ok) log.warn('Queued addresses not handed to the KV store yet', { reason: handed.error.kind, message: `${handed.error.message}; they stay in this member's queue folder for the next run` });
    break;
  }
  if (moved > 0) log.info("This member's queued addresses handed to the KV store", { addresses: moved });
}

/**
 * An incident recorded while its address waited: its new verdict, report, events and update
 * card. The snapshot is this member's incident-data file; a KV store queue entry recorded on
 * another member carries it in the reference instead: then the verdict, soar_incidents, the
 * events and the card are updated here, and the TXT report (on the member that recorded the
 * incident) stays as first written.
 */
async function updateIncident(run: PipelineRun, ref: IncidentRef, enriched: Enriched, secrets: ResolvedSecrets, log: Logger): Promise<void> {
  const d = run.deps;
  const incidentId = ref.incidentId;
  const file = snapshotFile(d.layout, incidentId);
  const snap = readJsonIfExists(file);
  const local = snap !== undefined && 'value' in snap;
  // The snapshot is read back from disk (or the KV store): its address is parsed again at this edge.
  const before = local ? (snap.value as Incident) : snapshotOf(ref);
  const address = before ? parseIpAddress(String(before.srcIp)) : undefined;
  if (before === undefined || !address?.ok) {
    log.warn('Deferred enrichment finished, but the incident snapshot is missing', { incident_id: incidentId, ...(ref.host !== undefined ? { recorded_on: ref.host } : {}) });
    return;
  }
  const decision = decideVerdict(
    { vt: enrichmentOutcome(enriched.vt, enriched.vtNote), abuse: enriched.abuse ? enrichmentOutcome(enriched.abuse, '') : undefined },
    run.settings.thresholds,
  );
  const nowMs = d.now();
  const action = before.action.kind === 'blocked' ? before.action : await blockStage(run, address.value, true, undefined, decision.verdict, decision.reason, nowMs, before.sid, log);
  const after: Incident = {
    ...before,
    verdict: decision.verdict,
    reason: decision.reason,
    vt: vtResult(enriched.vt, enriched.vtNote, enriched.vtNoKey),
    abuse: abuseResult(enriched.abuse, '') ?? before.abuse,
    action,
  };
  if (local) {
    writeFileAtomic(file, JSON.stringify(after), { durable: false });
    const updated = updateIncidentReport(d.layout, after);
    if (!updated.ok) log.error('Cannot update the incident report', { incident_id: incidentId, message: updated.error.message });
  } else {
    log.info('Incident recorded on another member: its TXT report stays as first written there', { incident_id: incidentId, recorded_on: ref.host ?? 'unknown', message: 'the new verdict is in soar_incidents, the incident events and the update card' });
  }
  log.info('Deferred enrichment completed', { incident_id: incidentId, src_ip: after.srcIp, verdict: after.verdict, previous_verdict: before.verdict, reason: after.reason });
  run.events.add({ timeMs: nowMs, event: 'enriched', subject: eventSubject(after), details: { previousVerdict: before.verdict, vt: after.vt, abuse: after.abuse } });
  if (after.verdict !== before.verdict) run.events.add({ timeMs: nowMs, event: 'verdict_changed', subject: eventSubject(after), details: { previousVerdict: before.verdict } });
  if (run.state.kind !== 'file') {
    const noted = await run.state.incidents.changed(after, { status: 'enriched' }, nowMs);
    if (!noted.ok) log.warn('Cannot record the new verdict on the incident', { incident_id: incidentId, reason: noted.error.kind, message: noted.error.message });
  }
  if (before.action.kind !== 'blocked') blockEvent(run, after);
  if (verdictRank(after.verdict) !== verdictRank(before.verdict) || after.verdict !== before.verdict) {
    await notifyStage(run, after, address.value, 'update', buildDiscordUpdateMessage(after, before.verdict), secrets, log.child({ incident_id: incidentId }));
  }
  run.events.flush(log);
}

/** The incident a KV store queue reference carries (recorded on another member); undefined when it holds none. */
function snapshotOf(ref: IncidentRef): Incident | undefined {
  if (ref.snapshot === undefined) return undefined;
  try {
    const value = JSON.parse(ref.snapshot) as unknown;
    return value !== null && typeof value === 'object' && (value as Incident).incidentId === ref.incidentId ? (value as Incident) : undefined;
  } catch {
    return undefined;
  }
}

/** Remove the simulated blocks whose time is up, each with an 'expired' incident event; how many. */
export async function expireBlocksStage(run: PipelineRun, log: Logger): Promise<number> {
  const d = run.deps;
  const purged = await run.state.blocklist.purgeExpired(d.now());
  if (!purged.ok) {
    log.error('Expired simulated blocks could not be removed', { reason: purged.error.kind, message: purged.error.message });
    return 0;
  }
  if (purged.value.length > 0) log.info('Expired simulated blocks removed', { count: purged.value.length, ips: purged.value.map((e) => e.address.text).join(',') });
  for (const e of purged.value) run.events.add(blockLapsedEvent('expired', e, d.now()));
  return purged.value.length;
}

/**
 * Once per member, on its first run with the KV store: what a 0.1.0 file store left in this
 * data directory is imported (state/file-store-import.ts). The marker it writes makes every
 * later run's check one stat; a failed import is tried again by the next run.
 */
export async function importFileStoreStage(run: PipelineRun, log: Logger): Promise<void> {
  const kv = run.state.kvstore;
  const { layout } = run.deps;
  if (kv === undefined || existsSync(importMarkerFile(layout))) return;
  // One importer per member: the runs that start with it leave the import to the one that holds the lock.
  const lock = path.join(layout.locks, 'kvstore-import.lock');
  const held = tryFileLock(lock, { staleMs: 10 * 60_000 });
  if (held === undefined) return;
  let r;
  try {
    // Another run may have finished the import between the check above and the lock.
    if (existsSync(importMarkerFile(layout))) return;
    r = await importFileStore(layout, kv, { now: run.deps.now, version: process.env.SOAR_EDR_VERSION ?? 'dev' });
  } finally {
    releaseFileLock(lock, held);
  }
  if (!r.ok) {
    log.warn('Data directory not imported into the KV store yet', { reason: r.error.kind, message: `${r.error.message}; the next run tries again (or: soar-edr state import)` });
    return;
  }
  if (r.value.status !== 'imported') return;
  const counts = Object.fromEntries(Object.entries(r.value.counts).map(([kind, c]) => [kind, c.written]));
  // A member that never ran 0.1.0 has nothing new for the KV store: its marker is written, nothing said.
  if (Object.values(r.value.counts).every((c) => c.written === 0)) return;
  log.info('Data directory imported into the KV store', { ...counts, marker: r.value.marker, message: 'the files stay in place; this member now keeps its state in the KV store' });
}

/** Clean up what a full disk left behind (see respond/full-disk-sweep.ts). */
export function sweepFullDiskStage(run: PipelineRun, log: Logger): void {
  logSweep(sweepAfterFullDisk(run.deps.layout, run.deps.now()), run.deps.layout, log);
}

export interface DrainLimits {
  readonly maxItems: number;
  /** Notifications waiting for their backoff are tried now (an admin's drain). */
  readonly includeWaiting?: boolean;
  /**
   * Put back stale queue claims and expire old references first (default). An alert run on the
   * KV store leaves both to the maintenance search: two round trips less per run.
   */
  readonly queueUpkeep?: boolean;
}

/** What a drain did (`soar-edr drain`, maintenance, and the end of every alert run with small limits). */
export interface DrainAllReport {
  /** One report per outbox pass that tried something (before the queue, and after it for the updates). */
  readonly outbox: readonly DrainReport[];
  /** Queued addresses enriched (their incidents updated). */
  readonly enriched: number;
  /** Queued addresses left because a provider they wait for has no key (with no key at all: every queued address). */
  readonly waitingForKey: number;
}

/**
 * The follow-up work with the caller's limits: at most `maxItems` notifications delivered and
 * `maxItems` addresses enriched. `includeWaiting` (an admin's drain): notifications waiting
 * for their backoff are tried now.
 */
export async function drainAllStage(run: PipelineRun, log: Logger, limits: DrainLimits): Promise<DrainAllReport & { waiting: WaitingForKey }> {
  const outbox: DrainReport[] = [];
  const first = await drainOutboxStage(run, log, limits.maxItems, limits.includeWaiting ?? false);
  if (first) outbox.push(first);
  const queued = await drainQueueStage(run, log, limits.maxItems, limits.queueUpkeep ?? true);
  const sent = first ? first.delivered + first.retryLater + first.deadLettered : 0;
  if (queued.done > 0 && sent < limits.maxItems) {
    const second = await drainOutboxStage(run, log, limits.maxItems - sent);
    if (second) outbox.push(second);
  }
  return { outbox, enriched: queued.done, waitingForKey: queued.waitingForKey.addresses, waiting: queued.waitingForKey };
}
