/**
 * The deferred-enrichment queue in the KV store: one soar_state document per address (kind
 * `queue`, _key `queue:<address>`), so any member's alert run, the maintenance search or
 * `soar-edr drain --host` enriches it. The rules are the file queue's (intel/enrichment-queue.ts:
 * mergeEntries, the reference cap, releaseBackoffMs, the maximum age); what changes is how one
 * writer at a time is assured: every change is a reviseDocument (kv-revision.ts), and a claim is
 * a revision that writes a claim id and an expiry into the document (a claim past its expiry is
 * put back: recoverStaleClaims).
 *
 * The incidents' snapshots (incident-data/<id>.json) stay on the member that recorded them, so
 * each reference carries the incident as recorded (its snapshot, no secrets) and the host that
 * holds its TXT report: another member can decide the new verdict, update soar_incidents and
 * send the update card; only the TXT report stays as first written (follow-up.ts says so).
 */
import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import { DEFAULT_QUEUE_MAX_ADDRESSES, DEFAULT_QUEUE_MAX_AGE_MS, ExpiredRefs, IncidentRef, mergeEntries, parseWaitingFor, QueueClaim, QueueEntry, QueuedRef, releasedEntry, WaitingFor } from '../intel/enrichment-queue';
import { ok } from '../result';
import type { KvDocument, KvQuery, KvStoreClient } from '../store/kvstore-client';
import { ReviseOptions, reviseDocument, STATE_COLLECTION } from './kv-revision';
import type { QueueStore, StateResult } from './shared-state';

/** A claim not completed or released within this is put back (2 × the longest run, as the file queue's). */
export const QUEUE_CLAIM_MS = 10 * 60_000;
const MAX_REFS = 1000;
const QUERY_LIMIT = 50_000;

export interface KvQueueOptions extends ReviseOptions {
  readonly claimMs?: number;
  readonly maxRefs?: number;
  readonly maxAgeMs?: number;
  readonly maxAddresses?: number;
  /** The member recorded in references and claims; default os.hostname(). */
  readonly host?: string;
}

interface HeldClaim {
  readonly id: string;
  readonly claimedMs: number;
  readonly expiresMs: number;
  readonly host: string;
}

export const queueKey = (address: string): string => `queue:${address}`;

/** The soar_state document of a queue entry (pure); `claim` when a drain holds it. */
export function queueDocument(entry: QueueEntry, claim?: HeldClaim): Record<string, unknown> {
  return {
    kind: 'queue',
    address: entry.address,
    refs: JSON.stringify(entry.refs),
    dropped_refs: entry.droppedRefs,
    waiting_for: JSON.stringify(entry.waitingFor),
    first_queued_ms: entry.firstQueuedAt,
    last_queued_ms: entry.lastQueuedAt,
    next_attempt_ms: entry.nextAttemptAt,
    attempts: entry.attempts,
    last_error: entry.lastError ?? '',
    claim_id: claim?.id ?? '',
    claimed_ms: claim?.claimedMs ?? 0,
    claim_expires_ms: claim?.expiresMs ?? 0,
    claim_host: claim?.host ?? '',
  };
}

const isText = (v: unknown): v is string => typeof v === 'string';
const isTime = (v: unknown): v is number => typeof v === 'number' && Number.isFinite(v);

function parseRefs(value: unknown): QueuedRef[] | undefined {
  let parsed: unknown;
  try {
    parsed = JSON.parse(isText(value) ? value : '');
  } catch {
    return undefined;
  }
  if (!Array.isArray(parsed)) return undefined;
  const refs: QueuedRef[] = [];
  for (const r of parsed as Record<string, unknown>[]) {
    if (r === null || typeof r !== 'object' || !isText(r.incidentId) || !isText(r.sid) || !isText(r.rid) || !isText(r.detection) || !isTime(r.queuedAt)) return undefined;
    refs.push({
      incidentId: r.incidentId,
      sid: r.sid,
      rid: r.rid,
      detection: r.detection,
      queuedAt: r.queuedAt,
      ...(isText(r.snapshot) ? { snapshot: r.snapshot } : {}),
      ...(isText(r.host) ? { host: r.host } : {}),
    });
  }
  return refs;
}

/** A queue document read back; undefined when it is not one (left alone: never enriched). */
export function queueFromDocument(doc: KvDocument | undefined): { entry: QueueEntry; claim?: HeldClaim } | undefined {
  if (doc === undefined || doc.kind !== 'queue' || !isText(doc.address)) return undefined;
  const refs = parseRefs(doc.refs);
  if (refs === undefined || !isTime(doc.first_queued_ms) || !isTime(doc.last_queued_ms) || !isTime(doc.next_attempt_ms) || !isTime(doc.attempts)) return undefined;
  let waiting: unknown;
  try {
    waiting = JSON.parse(isText(doc.waiting_for) ? doc.waiting_for : '{}');
  } catch {
    waiting = {};
  }
  const entry: QueueEntry = {
    address: doc.address,
    firstQueuedAt: doc.first_queued_ms,
    lastQueuedAt: doc.last_queued_ms,
    attempts: doc.attempts,
    nextAttemptAt: doc.next_attempt_ms,
    ...(isText(doc.last_error) && doc.last_error !== '' ? { lastError: doc.last_error } : {}),
    refs,
    droppedRefs: isTime(doc.dropped_refs) ? doc.dropped_refs : 0,
    waitingFor: parseWaitingFor(waiting),
  };
  const claim = isText(doc.claim_id) && doc.claim_id !== '' ? { id: doc.claim_id, claimedMs: isTime(doc.claimed_ms) ? doc.claimed_ms : 0, expiresMs: isTime(doc.claim_expires_ms) ? doc.claim_expires_ms : 0, host: isText(doc.claim_host) ? doc.claim_host : '' } : undefined;
  return claim === undefined ? { entry } : { entry, claim };
}

/** An abandoned claim counts as an attempt and is due at once (as the file queue's putBack). */
function abandoned(entry: QueueEntry, claim: HeldClaim, nowMs: number): QueueEntry {
  return { ...entry, attempts: entry.attempts + 1, nextAttemptAt: nowMs, lastError: `claim by ${claim.host || 'another member'} abandoned` };
}

const byAge = (a: QueueEntry, b: QueueEntry): number => a.firstQueuedAt - b.firstQueuedAt || (a.address < b.address ? -1 : a.address > b.address ? 1 : 0);

export function kvQueue(kv: KvStoreClient, options: KvQueueOptions): QueueStore {
  const claimMs = options.claimMs ?? QUEUE_CLAIM_MS;
  const maxRefs = Math.max(1, options.maxRefs ?? MAX_REFS);
  const maxAgeMs = options.maxAgeMs ?? DEFAULT_QUEUE_MAX_AGE_MS;
  const maxAddresses = Math.max(1, options.maxAddresses ?? DEFAULT_QUEUE_MAX_ADDRESSES);
  const host = options.host ?? hostname();
  const size = async (): Promise<StateResult<number>> => {
    const found = await kv.query(STATE_COLLECTION, { query: { kind: 'queue', claim_id: '' }, fields: ['_key'], limit: QUERY_LIMIT });
    return found.ok ? ok(found.value.length) : found;
  };

  /** Whether the queue is at its cap, as the last check found (undefined: check before the next new address). */
  let fullness: boolean | undefined;

  const enqueueMany = async (address: string, refs: readonly IncidentRef[], nowMs: number, notBefore: number = nowMs, waitingFor: WaitingFor = {}): Promise<StateResult<QueueEntry | undefined>> => {
    const added: QueueEntry = {
      address,
      firstQueuedAt: nowMs,
      lastQueuedAt: nowMs,
      attempts: 0,
      nextAttemptAt: notBefore,
      refs: refs.slice(0, maxRefs).map((ref) => ({
        incidentId: ref.incidentId,
        sid: ref.sid,
        rid: ref.rid,
        detection: ref.detection,
        queuedAt: nowMs,
        ...(ref.snapshot !== undefined ? { snapshot: ref.snapshot } : {}),
        host: ref.host ?? host,
      })),
      droppedRefs: Math.max(0, refs.length - maxRefs),
      waitingFor,
    };
    // A new address needs room under the cap: one query that answers at most one key (the
    // maxAddresses-th waiting address, if there is one), only when a new address comes.
    for (let pass = 0; pass < 2; pass++) {
      const full = fullness;
      const r = await reviseDocument<QueueEntry | 'count' | undefined>(kv, STATE_COLLECTION, queueKey(address), (doc) => {
        const stored = queueFromDocument(doc);
        if (stored !== undefined) {
          const entry = mergeEntries(stored.entry, added, maxRefs);
          return { next: queueDocument(entry, stored.claim), result: entry };
        }
        if (full === undefined) return { next: undefined, result: 'count' };
        if (full) return { next: undefined, result: undefined };
        // A document that is not a queue entry (unreadable) is replaced: it could never be enriched.
        return { next: queueDocument(added), result: added };
      }, options);
      if (!r.ok) return r;
      if (r.value !== 'count') {
        fullness = undefined;
        return ok(r.value);
      }
      const beyond = await kv.query(STATE_COLLECTION, { query: { kind: 'queue', claim_id: '' }, fields: ['_key'], skip: maxAddresses - 1, limit: 1 });
      if (!beyond.ok) return beyond;
      fullness = beyond.value.length > 0;
    }
    return ok(undefined);
  };

  /** Put one stale claim back; true when this call did. */
  const recover = (key: string, nowMs: number) =>
    reviseDocument<boolean>(kv, STATE_COLLECTION, key, (doc) => {
      const stored = queueFromDocument(doc);
      if (stored?.claim === undefined || stored.claim.expiresMs > nowMs) return { next: undefined, result: false };
      return { next: queueDocument(abandoned(stored.entry, stored.claim, nowMs)), result: true };
    }, options);

  return {
    enqueue: (address, ref, nowMs, notBefore, waitingFor) => enqueueMany(address, [ref], nowMs, notBefore, waitingFor),
    enqueueMany,
    size,

    async expireNow(nowMs): Promise<StateResult<ExpiredRefs>> {
      const cutoff = nowMs - maxAgeMs;
      const found = await kv.query(STATE_COLLECTION, { query: { kind: 'queue', first_queued_ms: { $lt: cutoff } }, fields: ['_key'], limit: QUERY_LIMIT });
      if (!found.ok) return found;
      let addresses = 0;
      let refs = 0;
      for (const { _key } of found.value) {
        const r = await reviseDocument<ExpiredRefs>(kv, STATE_COLLECTION, _key, (doc) => {
          const stored = queueFromDocument(doc);
          // A held claim is left to its drain (as the file queue expires pending entries only).
          if (stored === undefined || (stored.claim !== undefined && stored.claim.expiresMs > nowMs)) return { next: undefined, result: { addresses: 0, refs: 0 } };
          const kept = stored.entry.refs.filter((ref) => ref.queuedAt >= cutoff);
          const gone = stored.entry.refs.length - kept.length;
          if (gone === 0) return { next: undefined, result: { addresses: 0, refs: 0 } };
          if (kept.length === 0) return { next: undefined, remove: true, result: { addresses: 1, refs: gone } };
          return { next: queueDocument({ ...stored.entry, refs: kept, firstQueuedAt: Math.min(...kept.map((ref) => ref.queuedAt)) }), result: { addresses: 0, refs: gone } };
        }, options);
        if (!r.ok) return r;
        addresses += r.value.addresses;
        refs += r.value.refs;
      }
      return ok({ addresses, refs });
    },

    // Claims are put back by recoverStaleClaims (the drain calls it first): a list is one query.
    async list(nowMs) {
      const due: KvQuery = Number.isFinite(nowMs) ? { next_attempt_ms: { $lte: nowMs } } : {};
      const found = await kv.query(STATE_COLLECTION, { query: { kind: 'queue', claim_id: '', ...due }, limit: QUERY_LIMIT });
      if (!found.ok) return found;
      return ok(found.value.flatMap((d) => queueFromDocument(d)?.entry ?? []).sort(byAge));
    },

    async claim(address, nowMs) {
      const id = `${host}-${nowMs}-${randomBytes(6).toString('hex')}`;
      return reviseDocument<QueueClaim | undefined>(kv, STATE_COLLECTION, queueKey(address), (doc) => {
        const stored = queueFromDocument(doc);
        if (stored === undefined) return { next: undefined, result: undefined };
        let entry = stored.entry;
        if (stored.claim !== undefined) {
          if (stored.claim.expiresMs > nowMs) return { next: undefined, result: undefined };
          entry = abandoned(entry, stored.claim, nowMs);
        }
        if (entry.nextAttemptAt > nowMs) return { next: undefined, result: undefined };
        return { next: queueDocument(entry, { id, claimedMs: nowMs, expiresMs: nowMs + claimMs, host }), result: { address, token: id, claimedAt: nowMs, entry } };
      }, options);
    },

    // References queued while the claim was held stay queued (due as they were queued).
    async complete(claim) {
      const done = new Set(claim.entry.refs.map((ref) => ref.incidentId));
      return reviseDocument<boolean>(kv, STATE_COLLECTION, queueKey(claim.address), (doc) => {
        const stored = queueFromDocument(doc);
        if (stored?.claim?.id !== claim.token) return { next: undefined, result: false };
        const left = stored.entry.refs.filter((ref) => !done.has(ref.incidentId));
        if (left.length === 0) return { next: undefined, remove: true, result: true };
        const entry: QueueEntry = { ...stored.entry, refs: left, attempts: 0, firstQueuedAt: Math.min(...left.map((ref) => ref.queuedAt)), droppedRefs: Math.max(0, stored.entry.droppedRefs - claim.entry.droppedRefs) };
        return { next: queueDocument(entry), result: true };
      }, options);
    },

    async release(claim, nowMs, nextAttemptAt, lastError, waitingFor) {
      return reviseDocument<boolean>(kv, STATE_COLLECTION, queueKey(claim.address), (doc) => {
        const stored = queueFromDocument(doc);
        if (stored?.claim?.id !== claim.token) return { next: undefined, result: false };
        return { next: queueDocument(releasedEntry(stored.entry, claim.entry.attempts + 1, nowMs, nextAttemptAt, lastError, waitingFor)), result: true };
      }, options);
    },

    async recoverStaleClaims(nowMs) {
      const found = await kv.query(STATE_COLLECTION, { query: { kind: 'queue', claim_id: { $ne: '' }, claim_expires_ms: { $lte: nowMs } }, fields: ['_key'], limit: QUERY_LIMIT });
      if (!found.ok) return found;
      let recovered = 0;
      for (const { _key } of found.value) {
        const r = await recover(_key, nowMs);
        if (!r.ok) return r;
        if (r.value) recovered += 1;
      }
      return ok(recovered);
    },
  };
}
