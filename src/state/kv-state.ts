/**
 * The shared state in splunkd's KV store (the alert action inside Splunk, and the CLI with
 * --host): what a search head cluster's members must agree on, through the REST API over one
 * kept-alive connection (store/kvstore-client.ts). The collections are the app's
 * (default/collections.conf): soar_intel, soar_blocklist and soar_incidents are also lookups an
 * analyst can search; soar_state holds the coordination documents (claims, quota grants,
 * flights, leases, the notification ledger) and is not a lookup.
 *
 * The human and offline records — the TXT report and the incidents.csv row — are still written
 * on the member that handled the incident (incident-store.ts), as the file store does.
 */
import { randomBytes } from 'node:crypto';
import type { CachedValue, IntelProvider, ProviderReports } from '../intel/lookup-cache';
import { DEFAULT_TTL_MS, NOT_FOUND_TTL_MS } from '../intel/lookup-cache';
import { decideQuota, MAX_PENALTY_MS, QuotaLimits, QuotaState, QuotaUsage, utcDay } from '../intel/quota-limiter';
import { decideVerdict, DEFAULT_THRESHOLDS, Verdict } from '../intel/verdict';
import { BlockEntry, BlockHistory, BlockResult, BlockPolicy, checkedBlockInput, historyInLookback, nextBlock, unblockCommands } from '../respond/blocklist';
import type { Incident } from '../respond/incident';
import { IncidentDraft, RecordedIncident, RecordOptions, recordIncident, recordIncidents, resultKeyHash } from '../respond/incident-store';
import { decideNotification, NotifiedRecord } from '../respond/notify-ledger';
import { fail, ok, Result } from '../result';
import type { DataLayout } from '../store/data-dir';
import type { KvDocument, KvQuery, KvStoreClient } from '../store/kvstore-client';
import { reviseDocument, STATE_COLLECTION } from './kv-revision';
import { asState } from './state-result';
import { kvQueue } from './kv-queue';
import type { IncidentChange, LeaseHandle, SharedState, StateResult } from './shared-state';
import { kvOutbox } from './kv-outbox';
import * as path from 'node:path';
import { parseIpAddress } from '../address/ip-address';

export const INTEL_COLLECTION = 'soar_intel';
export const BLOCKLIST_COLLECTION = 'soar_blocklist';
export const INCIDENTS_COLLECTION = 'soar_incidents';

export interface KvStateOptions {
  readonly cacheTtlMs?: number;
  readonly now?: () => number;
  readonly sleep?: (ms: number) => Promise<void>;
  readonly random?: () => number;
  /** Local record files' lock wait (the run's time left). */
  readonly lockTimeoutMs?: () => number;
}

const MINUTE_MS = 60_000;
/** A flight (someone asking a provider) or lease left by a dead process is taken over after its ttl. */
const FLIGHT_TTL_MS = 60_000;
const VERDICTS: readonly Verdict[] = ['SAFE', 'UNKNOWN', 'SUSPICIOUS', 'MALICIOUS'];
const PROVIDER_PREFIX: Record<IntelProvider, string> = { virustotal: 'vt', abuseipdb: 'abuse' };

const seconds = (ms: number): number => ms / 1000;
const millis = (s: unknown): number | undefined => (typeof s === 'number' && Number.isFinite(s) ? Math.round(s * 1000) : undefined);
const text = (v: unknown): string => (typeof v === 'string' ? v : '');

// ------------------------------------------------------------------------------ documents (pure)

/** The soar_intel fields one provider's answer sets (vt_* or abuse_*), and the lookup's summary fields. */
export function intelFields<P extends IntelProvider>(provider: P, keyHash: string, value: CachedValue<ProviderReports[P]>, nowMs: number, ttlMs: number): Record<string, unknown> {
  const p = PROVIDER_PREFIX[provider];
  const ttl = value.state === 'not_found' ? Math.min(NOT_FOUND_TTL_MS, ttlMs) : ttlMs;
  const fields: Record<string, unknown> = {
    [`${p}_state`]: value.state,
    [`${p}_fetched`]: seconds(nowMs),
    [`${p}_expires`]: seconds(nowMs + ttl),
    [`${p}_key_hash`]: keyHash,
    [`${p}_report`]: value.state === 'report' ? JSON.stringify(value.report) : '',
  };
  if (value.state === 'report' && provider === 'virustotal') {
    const r = value.report as ProviderReports['virustotal'];
    Object.assign(fields, { vt_malicious: r.stats.malicious, vt_suspicious: r.stats.suspicious, country: r.country ?? '', asn: r.asn ?? null, as_owner: r.asOwner ?? '' });
  }
  if (value.state === 'report' && provider === 'abuseipdb') {
    const r = value.report as ProviderReports['abuseipdb'];
    fields.abuse_score = r.abuseConfidenceScore ?? null;
  }
  return fields;
}

/** One provider's cached answer in a soar_intel document, if it is for this key and fresh at `nowMs`. */
export function intelFromDocument<P extends IntelProvider>(doc: KvDocument, provider: P, keyHash: string, nowMs: number): CachedValue<ProviderReports[P]> | undefined {
  const p = PROVIDER_PREFIX[provider];
  if (doc[`${p}_key_hash`] !== keyHash) return undefined;
  const expires = millis(doc[`${p}_expires`]);
  const fetched = millis(doc[`${p}_fetched`]);
  if (expires === undefined || fetched === undefined || nowMs >= expires || fetched > nowMs + 5 * MINUTE_MS) return undefined;
  if (doc[`${p}_state`] === 'not_found') return { state: 'not_found' };
  if (doc[`${p}_state`] !== 'report') return undefined;
  try {
    const report = JSON.parse(text(doc[`${p}_report`])) as ProviderReports[P];
    return report !== null && typeof report === 'object' ? { state: 'report', report } : undefined;
  } catch {
    return undefined;
  }
}

/** The soar_blocklist document of a block and its history (the file-store import writes it too). */
export function blockDocument(entry: BlockEntry, history: BlockHistory, status: 'active' | 'expired'): Record<string, unknown> {
  return {
    ip: entry.address.text,
    first_seen: seconds(entry.firstSeenMs),
    last_seen: seconds(entry.lastSeenMs),
    expires: seconds(entry.expiresMs),
    count: entry.count,
    verdict: entry.verdict,
    reason: entry.reason,
    status,
    family: entry.address.family,
    offences: JSON.stringify(history.offences ?? []),
  };
}

/** A soar_blocklist document read back; undefined when it is not one. */
export function blockFromDocument(doc: KvDocument): { entry: BlockEntry; history: BlockHistory; active: boolean } | undefined {
  const firstSeenMs = millis(doc.first_seen);
  const lastSeenMs = millis(doc.last_seen);
  const expiresMs = millis(doc.expires);
  const count = doc.count;
  const address = typeof doc.ip === 'string' ? parseIpAddress(doc.ip) : undefined;
  if (firstSeenMs === undefined || lastSeenMs === undefined || expiresMs === undefined || typeof count !== 'number' || !address?.ok) return undefined;
  let offences: string[] = [];
  try {
    const parsed = JSON.parse(text(doc.offences) || '[]') as unknown;
    if (Array.isArray(parsed)) offences = parsed.filter((o): o is string => typeof o === 'string');
  } catch {
    // Offences lost: the next block of this firing may count once more; it still blocks.
  }
  const entry: BlockEntry = { address: address.value, firstSeenMs, lastSeenMs, expiresMs, count, verdict: text(doc.verdict), reason: text(doc.reason) };
  return { entry, history: { count, firstSeenMs, expiresMs, offences }, active: doc.status !== 'expired' };
}

/** The soar_incidents document of an incident (one per alert result: _key = hash of sid + rid). */
export function incidentDocument(incident: Incident, status: string, nowMs: number, discordMessageId: string | null): KvDocument {
  const expires = incident.action.kind === 'blocked' && incident.action.expires ? Date.parse(incident.action.expires) : Number.NaN;
  return {
    _key: resultKeyHash(incident.sid, incident.rid),
    incident_id: incident.incidentId,
    sid: incident.sid,
    rid: incident.rid,
    time: seconds(Date.parse(incident.time) || nowMs),
    updated: seconds(nowMs),
    src_ip: incident.srcIp,
    verdict: incident.verdict,
    status,
    action: incident.action.kind,
    expires: Number.isFinite(expires) ? seconds(expires) : null,
    discord_message_id: discordMessageId ?? '',
  };
}

// ------------------------------------------------------------------------------ the store

export function kvState(kv: KvStoreClient, layout: DataLayout, options: KvStateOptions = {}): SharedState {
  const now = options.now ?? Date.now;
  const sleep = options.sleep ?? ((ms: number) => new Promise<void>((r) => setTimeout(r, ms)));
  const random = options.random ?? Math.random;
  const ttlMs = options.cacheTtlMs ?? DEFAULT_TTL_MS;
  const lock = () => ({ timeoutMs: Math.max(1000, options.lockTimeoutMs?.() ?? 5000) });
  const revise = { now, sleep, random };
  /** One read of an address's soar_intel document per run (both providers read it). */
  const intelDocs = new Map<string, Promise<StateResult<KvDocument | undefined>>>();
  /** Puts of one address, one after the other: each merges onto what the last wrote. */
  const intelWrites = new Map<string, Promise<unknown>>();
  const grantKeys = new WeakMap<object, string>();
  const sidRecorded = new Map<string, Map<string, string>>();

  const readIntel = (address: string): Promise<StateResult<KvDocument | undefined>> => {
    let p = intelDocs.get(address);
    if (!p) {
      p = kv.get(INTEL_COLLECTION, address).then((r) => (r.ok ? ok(r.value) : r.error.kind === 'not_found' ? ok(undefined) : r));
      intelDocs.set(address, p);
    }
    return p;
  };

  /** A claim with an expiry in soar_state (a flight, a lease): insert, or take over one whose holder is gone. */
  const takeClaim = async (key: string, fields: Record<string, unknown>, nowMs: number, ttl: number): Promise<StateResult<string | undefined>> => {
    const token = randomBytes(8).toString('hex');
    for (let attempt = 0; attempt < 3; attempt++) {
      const inserted = await kv.insert(STATE_COLLECTION, { ...fields, _key: key, claim_id: token, expires_ms: nowMs + ttl });
      if (inserted.ok) return ok(token);
      if (inserted.error.kind !== 'duplicate_key') return inserted;
      const held = await kv.get(STATE_COLLECTION, key);
      if (!held.ok) {
        if (held.error.kind === 'not_found') continue;
        return held;
      }
      if (typeof held.value.expires_ms === 'number' && held.value.expires_ms > nowMs) return ok(undefined);
      // Gone holder: delete its claim only (by its token), then insert ours; two takers cannot both win the insert.
      const removed = await kv.removeWhere(STATE_COLLECTION, { _key: key, claim_id: text(held.value.claim_id) });
      if (!removed.ok) return removed;
    }
    return ok(undefined);
  };
  const dropClaim = (key: string, token: string) => kv.removeWhere(STATE_COLLECTION, { _key: key, claim_id: token });

  const state: SharedState = {
    kind: 'kvstore',
    intel: {
      async get<P extends IntelProvider>(provider: P, address: string, keyHash: string, nowMs: number) {
        const doc = await readIntel(address);
        if (!doc.ok) return doc;
        return ok(doc.value === undefined ? undefined : intelFromDocument(doc.value, provider, keyHash, nowMs));
      },
      async put<P extends IntelProvider>(provider: P, address: string, keyHash: string, value: CachedValue<ProviderReports[P]>, nowMs: number) {
        const previous = intelWrites.get(address) ?? Promise.resolve();
        const write = previous.then(async (): Promise<StateResult<void>> => {
          const before = await readIntel(address);
          const base = before.ok && before.value !== undefined ? before.value : { _key: address };
          const doc: KvDocument = { ...base, ...intelFields(provider, keyHash, value, nowMs, ttlMs), _key: address, ip: address };
          const summary = { ...doc, verdict: combinedVerdict(doc), fetched: seconds(nowMs), expires: Math.max(...['vt_expires', 'abuse_expires'].map((f) => (typeof doc[f] === 'number' ? (doc[f] as number) : 0))) };
          delete (summary as Record<string, unknown>)._user;
          const saved = await kv.batchSave(INTEL_COLLECTION, [summary]);
          intelDocs.set(address, Promise.resolve(ok(summary)));
          return saved.ok ? ok(undefined) : saved;
        });
        intelWrites.set(address, write.catch(() => undefined));
        return write;
      },
    },
    flights: {
      async exclusive(provider, subject, fn, o) {
        const key = `flight:${provider}:${subject}`;
        const until = o.now() + o.timeoutMs;
        for (;;) {
          const claim = await takeClaim(key, { kind: 'flight' }, o.now(), FLIGHT_TTL_MS);
          if (!claim.ok) return claim;
          if (claim.value !== undefined) {
            try {
              return ok(await fn());
            } finally {
              await dropClaim(key, claim.value);
            }
          }
          if (o.now() >= until) return ok('busy' as const);
          // Another process asks now; its answer lands in the cache (fn reads it first).
          intelDocs.delete(subject);
          await o.sleep(Math.min(250, Math.max(1, until - o.now())));
        }
      },
    },
    quota: {
      async tryAcquire(provider, limits, nowMs) {
        const read = await quotaState(kv, provider, nowMs);
        if (!read.ok) return { granted: false, reason: 'busy', availableAtMs: nowMs + 1000 };
        // The file store's rule decides (intel/quota-limiter.ts decideQuota); the KV store only
        // makes the grant atomic across members.
        const step = decideQuota(asQuotaState(read.value, nowMs), limits, nowMs);
        if (!step.decision.granted) return step.decision;
        // Slots of this calendar minute are claimed by insert (exactly one taker each); grants of
        // the minute before that are still inside the sliding window use up slots too.
        const bucket = Math.floor(nowMs / MINUTE_MS);
        const inMinute = read.value.grants.filter((g) => g.at > nowMs - MINUTE_MS && g.at <= nowMs + MINUTE_MS);
        const earlier = inMinute.filter((g) => g.bucket < bucket).length;
        const perMinute = limits.perMinute ?? Number.MAX_SAFE_INTEGER;
        for (let slot = inMinute.filter((g) => g.bucket === bucket).length; slot + earlier < perMinute; slot++) {
          const key = `quota:${provider}:${bucket}:${slot}`;
          const inserted = await kv.insert(STATE_COLLECTION, { _key: key, kind: 'quota', provider, day: utcDay(nowMs), bucket, at_ms: nowMs });
          if (inserted.ok) {
            grantKeys.set(step.decision, key);
            return step.decision;
          }
          if (inserted.error.kind !== 'duplicate_key') return { granted: false, reason: 'busy', availableAtMs: nowMs + 1000 };
        }
        // Other members took the slots after our read: read again to say when the next one frees.
        const again = await quotaState(kv, provider, nowMs);
        const denied = decideQuota(asQuotaState(again.ok ? again.value : read.value, nowMs), limits, nowMs).decision;
        return denied.granted ? { granted: false, reason: 'minute', availableAtMs: (bucket + 1) * MINUTE_MS } : denied;
      },
      async release(_provider, grant, _nowMs) {
        const key = grantKeys.get(grant);
        if (key === undefined) return false;
        grantKeys.delete(grant);
        const removed = await kv.remove(STATE_COLLECTION, key);
        return removed.ok;
      },
      async penalize(provider, untilMs, nowMs) {
        const until = Math.min(untilMs, nowMs + MAX_PENALTY_MS);
        const r = await reviseDocument(kv, STATE_COLLECTION, `quota:${provider}:penalty`, (doc) => {
          const current = typeof doc?.until_ms === 'number' ? doc.until_ms : 0;
          return { next: current >= until ? undefined : { kind: 'quota_penalty', provider, until_ms: until }, result: true };
        }, revise);
        return r.ok;
      },
      async usage(provider, limits: QuotaLimits, nowMs): Promise<QuotaUsage> {
        const read = await quotaState(kv, provider, nowMs);
        const grants = read.ok ? read.value.grants : [];
        return {
          minuteUsed: grants.filter((g) => g.at > nowMs - MINUTE_MS && g.at <= nowMs + MINUTE_MS).length,
          dayUsed: grants.length,
          day: utcDay(nowMs),
          penaltyUntilMs: read.ok ? Math.min(read.value.penaltyUntilMs, nowMs + MAX_PENALTY_MS) : 0,
          limits,
        };
      },
    },
    incidents: {
      async recorded(sid, rid) {
        const doc = await kv.get(INCIDENTS_COLLECTION, resultKeyHash(sid, rid));
        if (!doc.ok) return doc.error.kind === 'not_found' ? ok(undefined) : doc;
        return ok(text(doc.value.incident_id) || undefined);
      },
      async recordedInSid(sid) {
        const cached = sidRecorded.get(sid);
        if (cached) return ok(cached);
        const found = await kv.query(INCIDENTS_COLLECTION, { query: { sid }, fields: ['rid', 'incident_id'], limit: 50_000 });
        if (!found.ok) return found;
        const ids = new Map<string, string>();
        for (const d of found.value) if (typeof d.rid === 'string' && typeof d.incident_id === 'string') ids.set(d.rid, d.incident_id);
        sidRecorded.set(sid, ids);
        return ok(ids);
      },
      async record(draft: IncidentDraft, newId: () => string, o: RecordOptions = {}): Promise<StateResult<RecordedIncident>> {
        const incidentId = newId();
        const claimDoc = incidentDocument({ ...draft, incidentId }, 'recorded', now(), null);
        const inserted = await kv.insert(INCIDENTS_COLLECTION, claimDoc);
        if (!inserted.ok) {
          if (inserted.error.kind !== 'duplicate_key') return inserted;
          const earlier = await kv.get(INCIDENTS_COLLECTION, claimDoc._key);
          if (!earlier.ok) return earlier;
          const id = text(earlier.value.incident_id);
          return ok({ status: 'duplicate', incidentId: id, reportFile: path.join(layout.reports, `${id}.txt`) });
        }
        return asState(recordIncident(layout, draft, () => incidentId, { lock: lock(), ...o }));
      },
      async recordMany(drafts, newId, o: RecordOptions = {}) {
        const local0 = recordIncidents(layout, await unrecorded(drafts), newId, { lock: lock(), ...o });
        if (!local0.ok) return fail(local0.error.kind, local0.error.message);
        const docs = local0.value.flatMap((r) => (r.ok && r.value.status === 'recorded' && r.value.incident ? [incidentDocument(r.value.incident, 'recorded', now(), null)] : []));
        for (let i = 0; i < docs.length; i += 1000) {
          const saved = await kv.batchSave(INCIDENTS_COLLECTION, docs.slice(i, i + 1000));
          if (!saved.ok) return saved;
        }
        for (const d of docs) sidRecorded.get(text(d.sid))?.set(text(d.rid), text(d.incident_id));
        return ok(mergeDuplicates(drafts, local0.value));
      },
      async changed(incident: Incident, change: IncidentChange, nowMs: number) {
        const saved = await kv.batchSave(INCIDENTS_COLLECTION, [incidentDocument(incident, change.status, nowMs, change.discordMessageId ?? null)]);
        return saved.ok ? ok(undefined) : saved;
      },
    },
    notifications: {
      async claim(ip, verdict, nowMs, windowSeconds, incidentId) {
        if (!Number.isFinite(windowSeconds) || windowSeconds < 0) return fail('invalid_input', `the re-notification window must be a number of seconds >= 0 (got ${windowSeconds})`);
        return reviseDocument(kv, STATE_COLLECTION, `notified:${ip.text}`, (doc) => {
          const previous: NotifiedRecord | null =
            doc !== undefined && VERDICTS.includes(doc.verdict as Verdict) && typeof doc.notified_at_ms === 'number'
              ? { ip: ip.text, verdict: doc.verdict as Verdict, notifiedAtMs: doc.notified_at_ms, incidentId: text(doc.incident_id) || null, suppressed: 0 }
              : null;
          const decision = decideNotification(previous, verdict, nowMs, windowSeconds);
          // Not notifying changes nothing here: the file store's suppressed count is not kept (a write per repeat).
          return { next: decision.notify ? { kind: 'notified', ip: ip.text, verdict, notified_at_ms: nowMs, incident_id: incidentId ?? '' } : undefined, result: decision };
        }, revise);
      },
    },
    blocklist: {
      async block(ip, verdict, reason, nowMs, policy: BlockPolicy, offence) {
        const input = checkedBlockInput(policy, nowMs);
        if (!input.ok) return fail('invalid_input', input.error.message);
        let failure: string | undefined;
        const r = await reviseDocument<BlockResult | undefined>(kv, BLOCKLIST_COLLECTION, ip.text, (doc) => {
          const stored = doc === undefined ? undefined : blockFromDocument(doc);
          const current = stored?.active && stored.entry.expiresMs > nowMs ? stored.entry : undefined;
          const past = historyInLookback(stored?.history, nowMs, input.value.lookbackSeconds);
          const step = nextBlock(current, past, ip, verdict, reason, nowMs, input.value, offence);
          if (!step.ok) {
            failure = step.error.message;
            return { next: undefined, result: undefined };
          }
          const changed = step.value.changed;
          return { next: changed === undefined ? undefined : blockDocument(step.value.result.entry, changed.history, 'active'), result: step.value.result };
        }, revise);
        if (!r.ok) return r;
        return r.value === undefined ? fail('invalid_input', failure ?? 'block refused') : ok(r.value);
      },
      async unblock(ip) {
        const r = await reviseDocument<BlockEntry | null>(kv, BLOCKLIST_COLLECTION, ip.text, (doc) => {
          const stored = doc === undefined ? undefined : blockFromDocument(doc);
          return { next: undefined, remove: doc !== undefined, result: stored?.active ? stored.entry : null };
        }, revise);
        if (!r.ok) return r;
        const commands = unblockCommands(ip, r.value);
        return commands.ok ? ok({ removed: r.value, commands: commands.value }) : fail('invalid_input', commands.error.message);
      },
      async purgeExpired(nowMs) {
        const found = await kv.query(BLOCKLIST_COLLECTION, { query: { status: 'active', expires: { $lte: seconds(nowMs) } }, limit: 10_000 });
        if (!found.ok) return found;
        const expired: BlockEntry[] = [];
        for (const doc of found.value) {
          const r = await reviseDocument(kv, BLOCKLIST_COLLECTION, doc._key, (d) => {
            const stored = d === undefined ? undefined : blockFromDocument(d);
            // Another run may have renewed or purged it since the query.
            if (!stored?.active || stored.entry.expiresMs > nowMs) return { next: undefined, result: undefined };
            return { next: blockDocument(stored.entry, stored.history, 'expired'), result: stored.entry };
          }, revise);
          if (!r.ok) return r;
          if (r.value) expired.push(r.value);
        }
        return ok(expired);
      },
      async list(nowMs) {
        const found = await kv.query(BLOCKLIST_COLLECTION, { query: { status: 'active', expires: { $gt: seconds(nowMs) } }, limit: 50_000 });
        if (!found.ok) return found;
        return ok(found.value.flatMap((d) => blockFromDocument(d)?.entry ?? []));
      },
    },
    leases: {
      async tryAcquire(name, holder, nowMs, ttl) {
        const token = await takeClaim(`lease:${name}`, { kind: 'lease', holder }, nowMs, ttl);
        if (!token.ok) return token;
        return ok(token.value === undefined ? undefined : ({ name, holder: token.value, expiresMs: nowMs + ttl } satisfies LeaseHandle));
      },
      async release(lease) {
        const r = await dropClaim(`lease:${lease.name}`, lease.holder);
        return r.ok ? ok(undefined) : r;
      },
    },
    queue: kvQueue(kv, revise),
    outbox: kvOutbox(kv, layout, revise),
    kvstore: kv,
    async prune(nowMs) {
      for (const query of pruneQueries(nowMs)) {
        const removed = await kv.removeWhere(STATE_COLLECTION, query);
        if (!removed.ok) return removed;
      }
      return ok(undefined);
    },
    roundTrips: () => kv.roundTrips,
    close: () => kv.close(),
  };

  /** A digest's drafts not recorded by an earlier run of its sid (read once per sid). */
  async function unrecorded(drafts: readonly IncidentDraft[]): Promise<IncidentDraft[]> {
    const out: IncidentDraft[] = [];
    for (const d of drafts) {
      const ids = await state.incidents.recordedInSid(d.sid);
      if (!ids.ok || !ids.value.has(d.rid)) out.push(d);
    }
    return out;
  }

  /** The local results for the drafts recorded now, and `duplicate` for those an earlier run recorded. */
  function mergeDuplicates(drafts: readonly IncidentDraft[], fresh: Result<RecordedIncident, string>[]): Result<RecordedIncident, string>[] {
    const out: Result<RecordedIncident, string>[] = [];
    let i = 0;
    for (const d of drafts) {
      const earlier = sidRecorded.get(d.sid)?.get(d.rid);
      const mine = fresh[i];
      if (mine !== undefined && mine.ok && mine.value.incident?.rid === d.rid && mine.value.incident.sid === d.sid) {
        out.push(mine);
        i += 1;
      } else if (earlier !== undefined) {
        out.push(ok({ status: 'duplicate', incidentId: earlier, reportFile: path.join(layout.reports, `${earlier}.txt`) }));
      } else if (mine !== undefined) {
        out.push(mine);
        i += 1;
      }
    }
    return out;
  }

  return state;
}


/**
 * The verdict a soar_intel lookup answers: the default thresholds applied to the cached
 * answers (an incident's own verdict, with the detection's thresholds, is in soar_incidents).
 */
export function combinedVerdict(doc: KvDocument): string {
  const outcome = <P extends IntelProvider>(provider: P) => {
    const p = PROVIDER_PREFIX[provider];
    if (doc[`${p}_state`] === 'not_found') return { state: 'not_found' as const };
    if (doc[`${p}_state`] !== 'report') return undefined;
    try {
      return JSON.parse(text(doc[`${p}_report`])) as ProviderReports[P];
    } catch {
      return undefined;
    }
  };
  const vt = outcome('virustotal');
  const abuse = outcome('abuseipdb');
  return decideVerdict({ ...(vt ? { vt } : {}), ...(abuse ? { abuse } : {}) }, DEFAULT_THRESHOLDS).verdict;
}

const HOUR_MS = 3_600_000;
const DAY_MS = 24 * HOUR_MS;

/**
 * What soar_state no longer needs at `nowMs`: revision claims (a writer replaces its document
 * within seconds; an hour-old claim is history), quota grants of days before yesterday, lapsed
 * 429 penalties, flight and lease claims whose holder is an hour past its expiry, and delivered
 * markers after 30 days (a card that old is not queued again).
 */
export function pruneQueries(nowMs: number): KvQuery[] {
  return [
    { kind: 'revision', created_ms: { $lt: nowMs - HOUR_MS } },
    { kind: 'quota', at_ms: { $lt: nowMs - 2 * DAY_MS } },
    { kind: 'quota_penalty', until_ms: { $lt: nowMs } },
    { kind: 'flight', expires_ms: { $lt: nowMs - HOUR_MS } },
    { kind: 'lease', expires_ms: { $lt: nowMs - HOUR_MS } },
    { kind: 'outbox_delivered', delivered_ms: { $lt: nowMs - 30 * DAY_MS } },
  ];
}

/** Today's grants as the file store's quota state (decideQuota takes it). */
function asQuotaState(read: { grants: readonly QuotaGrant[]; penaltyUntilMs: number }, nowMs: number): QuotaState {
  return { minute: read.grants.map((g) => g.at), day: utcDay(nowMs), dayCount: read.grants.length, penaltyUntilMs: read.penaltyUntilMs };
}

interface QuotaGrant {
  readonly at: number;
  readonly bucket: number;
}

/** Today's grants of one provider and its penalty, in one query. */
async function quotaState(kv: KvStoreClient, provider: IntelProvider, nowMs: number): Promise<StateResult<{ grants: QuotaGrant[]; penaltyUntilMs: number }>> {
  const found = await kv.query(STATE_COLLECTION, {
    query: { provider, $or: [{ kind: 'quota', day: utcDay(nowMs) }, { kind: 'quota_penalty' }] },
    fields: ['kind', 'at_ms', 'bucket', 'until_ms'],
    limit: 50_000,
  });
  if (!found.ok) return found;
  const grants: QuotaGrant[] = [];
  let penaltyUntilMs = 0;
  for (const d of found.value) {
    if (d.kind === 'quota_penalty' && typeof d.until_ms === 'number') penaltyUntilMs = d.until_ms;
    else if (d.kind === 'quota' && typeof d.at_ms === 'number' && typeof d.bucket === 'number') grants.push({ at: d.at_ms, bucket: d.bucket });
  }
  return ok({ grants, penaltyUntilMs });
}
