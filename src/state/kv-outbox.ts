/**
 * The Discord outbox in the KV store: what one member could not deliver, any member's run, the
 * maintenance search (one member a minute) or `soar-edr drain --host` delivers.
 *
 * Documents in soar_state:
 * - `outbox:<incident id>:<kind>` (kind `outbox`): the card (the webhook message JSON as text;
 *   never the webhook URL), attempts, next attempt time, created, last error, and while a
 *   sender holds it `sending_until_ms` and its `claim_id`. The `_key` is the dedupe key, so
 *   enqueueing is an insert: the same notification is queued once.
 *   Once delivered the same document becomes the delivered marker (kind `outbox_delivered`,
 *   the card dropped, the Discord message id kept): a later enqueue is `already_delivered`.
 *
 * One sender per attempt: a drain's sender revises the document to "sending" with its claim id
 * and an expiry (kv-revision.ts: of concurrent revisers exactly one wins); the pipeline's own
 * card is inserted already held. The sender posts, then turns the document into the delivered
 * marker (delivered: one write), writes a dead letter in its own data directory and removes the
 * document (refused), or revises it back with its next attempt time (retry later). A sender that
 * died mid-way leaves "sending" until the expiry; then the next drain takes it over
 * (recoveredClaims). As with the files: a crash between Discord's answer and the marker can send
 * twice; nothing else can.
 *
 * This member's outbox files (respond/outbox.ts) are drained too, first, and counted in size and
 * waiting: notifications queued while a run kept its state in the data directory (splunkd out
 * of reach: fallback-state.ts), by a run outside Splunk, or by 0.1.0. Only this member can
 * deliver those; nothing new is queued there by this store.
 *
 * The documents are not sealed with the install key as the outbox files are: every member has
 * its own install key, and who may write soar_state is splunkd's access control (the app's
 * collections), not file permissions on one host.
 */
import { randomBytes } from 'node:crypto';
import {
  afterDelivery,
  baseName,
  drainDue,
  DrainOptions,
  DrainReport,
  EnqueueStatus,
  ItemResult,
  Notification,
  notificationKey,
  SendOptions,
  SendResult,
  WaitingNotification,
  wasDelivered,
  writeDeadLetter,
} from '../respond/outbox';
import { guardStorage } from '../respond/storage-failure';
import type { DeliverFunction } from '../respond/discord-delivery';
import { capLength, safeText } from '../respond/safe-text';
import { fail, ok } from '../result';
import type { DataLayout } from '../store/data-dir';
import type { KvDocument, KvStoreClient } from '../store/kvstore-client';
import { ReviseOptions, reviseDocument, STATE_COLLECTION } from './kv-revision';
import { fileOutbox } from './file-outbox';
import type { OutboxStore, StateResult } from './shared-state';

const OUTBOX_PREFIX = 'outbox:';
/** A delivered card's document: its card dropped, its message id kept (and a later enqueue answered already_delivered). */
const DELIVERED_KIND = 'outbox_delivered';
/** A card is a few KB (Discord caps an embed at 6000 characters); anything far larger is not a card. */
export const MAX_OUTBOX_PAYLOAD_CHARS = 64 * 1024;
const DEFAULT_STALE_CLAIM_MS = 10 * 60_000;
/** Rows one query answers (limits.conf [kvstore] max_rows_per_query defaults to 50000). */
const MAX_ROWS = 50_000;
const MAX_ERROR_CHARS = 1000;
/** The fields a listing needs: never the payloads. */
const LISTING_FIELDS = ['_key', 'attempts', 'next_attempt_ms', 'created_ms', 'sending_until_ms', 'last_error'];

const num = (v: unknown): number => (typeof v === 'number' && Number.isFinite(v) ? v : 0);
const text = (v: unknown): string => (typeof v === 'string' ? v : '');

export function outboxDocumentKey(incidentId: string, kind: string): string {
  return `${OUTBOX_PREFIX}${notificationKey(incidentId, kind)}`;
}

/** The fields of a document to write back (without what the KV store and kv-revision add). */
function fieldsOf(doc: KvDocument): Record<string, unknown> {
  const { _key: _k, _user: _u, rev: _r, gen: _g, ...fields } = doc as Record<string, unknown>;
  return fields;
}

/** The pure document of a freshly queued notification; a failure when the card is no card. */
export function outboxDocument(notification: Notification, nowMs: number, claim?: { readonly token: string; readonly untilMs: number }): StateResult<KvDocument> {
  const base = baseName(notification);
  if (!base.ok) return fail('invalid_input', base.error.message);
  let payload: string | undefined;
  try {
    payload = JSON.stringify(notification.payload);
  } catch (e) {
    return fail('invalid_input', `the notification's card is not JSON: ${safeText((e as Error).message)}`);
  }
  if (payload === undefined) return fail('invalid_input', "the notification's card is not JSON");
  if (payload.length > MAX_OUTBOX_PAYLOAD_CHARS) return fail('invalid_input', `the notification's card is ${payload.length} characters, over the outbox's ${MAX_OUTBOX_PAYLOAD_CHARS}`);
  return ok({
    _key: outboxDocumentKey(notification.incidentId, notification.kind),
    kind: 'outbox',
    incident_id: notification.incidentId,
    notification_kind: notification.kind,
    payload,
    created_ms: nowMs,
    attempts: 0,
    next_attempt_ms: nowMs,
    last_error: '',
    sending_until_ms: claim?.untilMs ?? 0,
    claim_id: claim?.token ?? '',
    rev: 1,
    gen: randomBytes(6).toString('hex'),
  });
}

type Claimed = { readonly doc: KvDocument; readonly token: string };

/** One report of two drains one after the other (this member's files, then the KV store). */
export function combinedDrainReport(first: DrainReport, second: DrainReport): DrainReport {
  return {
    delivered: first.delivered + second.delivered,
    alreadyDelivered: first.alreadyDelivered + second.alreadyDelivered,
    retryLater: first.retryLater + second.retryLater,
    deadLettered: first.deadLettered + second.deadLettered,
    claimedElsewhere: first.claimedElsewhere + second.claimedElsewhere,
    recoveredClaims: first.recoveredClaims + second.recoveredClaims,
    leftForLater: first.leftForLater + second.leftForLater,
    stoppedBecause: first.stoppedBecause ?? second.stoppedBecause,
    results: [...first.results, ...second.results],
  };
}

export function kvOutbox(kv: KvStoreClient, layout: DataLayout, revise: ReviseOptions): OutboxStore {
  const local = fileOutbox(layout);
  const query = (): Promise<StateResult<KvDocument[]>> =>
    kv.query(STATE_COLLECTION, { query: { kind: 'outbox' }, fields: LISTING_FIELDS, sort: [{ field: 'created_ms', order: 1 }, { field: '_key', order: 1 }], limit: MAX_ROWS });
  /**
   * One listing serves a size() and the drain after it (a drain's caller counts first): the
   * drain takes it and the next count reads again. A listing a moment old is safe to drain
   * from: each document is claimed by revision, which reads it again.
   */
  let listed: Promise<StateResult<KvDocument[]>> | undefined;
  const listing = (): Promise<StateResult<KvDocument[]>> => (listed ??= query());
  const takeListing = (): Promise<StateResult<KvDocument[]>> => {
    const found = listing();
    listed = undefined;
    return found;
  };

  /**
   * Queue the card: the insert with its key is the dedupe. A delivered card keeps its document
   * (kind outbox_delivered, with the message id), so a late second enqueue finds it delivered.
   */
  async function enqueue(notification: Notification, nowMs: number): Promise<StateResult<EnqueueStatus>> {
    const doc = outboxDocument(notification, nowMs);
    return doc.ok ? enqueueDocument(notification, doc.value, nowMs) : doc;
  }

  async function enqueueDocument(notification: Notification, doc: KvDocument, nowMs: number): Promise<StateResult<EnqueueStatus>> {
    listed = undefined;
    // Delivered from this member's files (queued there while the run kept its state in files).
    const deliveredHere = guardStorage<boolean, never>('reading the delivered markers', () => ok(wasDelivered(layout, notification.incidentId, notification.kind)));
    if (!deliveredHere.ok) return deliveredHere;
    if (deliveredHere.value) return ok('already_delivered');
    for (let attempt = 0; attempt < 3; attempt++) {
      const inserted = await kv.insert(STATE_COLLECTION, doc);
      if (inserted.ok) return ok('queued');
      if (inserted.error.kind !== 'duplicate_key') return inserted;
      const present = await kv.get(STATE_COLLECTION, doc._key);
      if (present.ok) {
        if (present.value.kind === DELIVERED_KIND) return ok('already_delivered');
        return ok(num(present.value.sending_until_ms) > nowMs ? 'in_flight' : 'already_queued');
      }
      if (present.error.kind !== 'not_found') return present;
      // Dead-lettered between the insert and the read: decide again.
    }
    return ok('already_queued');
  }

  /** Take the document for one attempt; undefined when another sender holds it, it is gone, or (unless `force`) not due. */
  async function claim(key: string, nowMs: number, force: boolean, staleClaimMs: number): Promise<StateResult<Claimed | undefined>> {
    const token = randomBytes(8).toString('hex');
    return reviseDocument<Claimed | undefined>(kv, STATE_COLLECTION, key, (doc) => {
      if (doc === undefined || doc.kind !== 'outbox') return { next: undefined, result: undefined };
      if (num(doc.sending_until_ms) > nowMs) return { next: undefined, result: undefined };
      if (!force && num(doc.next_attempt_ms) > nowMs) return { next: undefined, result: undefined };
      const next = { ...fieldsOf(doc), sending_until_ms: nowMs + staleClaimMs, claim_id: token };
      return { next, result: { doc, token } };
    }, revise);
  }

  /** Remove the document only while it is still ours (a sender that took over an expired claim keeps it). */
  const dropOwn = (key: string, token: string) => kv.removeWhere(STATE_COLLECTION, { _key: key, claim_id: token });

  async function sendOne(key: string, force: boolean, deliver: DeliverFunction, options: SendOptions): Promise<StateResult<ItemResult>> {
    const claimed = await claim(key, options.now(), force, options.staleClaimMs ?? DEFAULT_STALE_CLAIM_MS);
    if (!claimed.ok) return claimed;
    if (claimed.value === undefined) return ok({ status: 'claimed_elsewhere' });
    return sendClaimed(key, claimed.value, deliver, options);
  }

  /** One delivery attempt of a document this sender holds (claim id `token`). */
  async function sendClaimed(key: string, { doc, token }: Claimed, deliver: DeliverFunction, options: SendOptions): Promise<StateResult<ItemResult>> {
    const incidentId = text(doc.incident_id);
    const kind = text(doc.notification_kind);
    let payload: unknown;
    try {
      payload = JSON.parse(text(doc.payload));
    } catch (e) {
      const letter = writeDeadLetter(layout, 'outbox_file', fieldsOf(doc), `outbox document's card is not JSON (${safeText((e as Error).message)})`, options.now());
      if (!letter.ok) return fail('io_error', letter.error.message);
      const removed = await dropOwn(key, token);
      return removed.ok ? ok({ status: 'dead_lettered', deadLetter: letter.value }) : removed;
    }
    const delivery = await deliver(payload, options.deadlineMs);
    const nowMs = options.now();
    const next = afterDelivery(num(doc.attempts), delivery, nowMs, options);
    if (next.status === 'delivered') {
      // The document becomes the delivered marker (the card itself is dropped): one write.
      const marker = await kv.replace(STATE_COLLECTION, {
        _key: key,
        kind: DELIVERED_KIND,
        incident_id: incidentId,
        notification_kind: kind,
        created_ms: num(doc.created_ms),
        delivered_ms: nowMs,
        message_id: next.messageId ?? '',
        rev: num(doc.rev) + 1,
        gen: text(doc.gen),
      });
      return marker.ok ? ok({ status: 'delivered', delivery }) : marker;
    }
    if (next.status === 'dead_letter') {
      const letter = writeDeadLetter(layout, 'notification', payload, next.reason, nowMs, { incidentId, kind, attempts: next.attempts });
      if (!letter.ok) return fail('io_error', letter.error.message);
      const removed = await dropOwn(key, token);
      return removed.ok ? ok({ status: 'dead_lettered', deadLetter: letter.value, delivery }) : removed;
    }
    const back = await reviseDocument(kv, STATE_COLLECTION, key, (current) => {
      // Taken over after our claim expired: the new holder decides.
      if (current === undefined || current.claim_id !== token) return { next: undefined, result: undefined };
      const lastError = capLength(safeText(next.lastError), MAX_ERROR_CHARS);
      return { next: { ...fieldsOf(current), attempts: next.attempts, next_attempt_ms: next.nextAttemptAtMs, last_error: lastError, sending_until_ms: 0, claim_id: '' }, result: undefined };
    }, revise);
    if (!back.ok) return back;
    return ok({ status: 'retry_later', nextAttemptAtMs: next.nextAttemptAtMs, delivery });
  }

  async function drainShared(deliver: DeliverFunction, options: DrainOptions): Promise<StateResult<DrainReport>> {
    const nowMs = options.now();
    const found = await takeListing();
    if (!found.ok) return found;
    const includeWaiting = options.includeWaiting ?? false;
    const free = found.value.filter((d) => num(d.sending_until_ms) <= nowMs);
    const recovered = free.filter((d) => num(d.sending_until_ms) > 0).length;
    const due = free.filter((d) => includeWaiting || num(d.next_attempt_ms) <= nowMs);
    return drainDue(
      due.map((d) => ({ key: d._key.slice(OUTBOX_PREFIX.length), send: () => sendOne(d._key, includeWaiting, deliver, options) })),
      recovered,
      options,
    );
  }

  return {
    async size() {
      const localSize = await local.size();
      if (!localSize.ok) return localSize;
      const found = await listing();
      return found.ok ? ok(localSize.value + found.value.length) : found;
    },
    enqueue,
    async send(notification, deliver, options): Promise<StateResult<SendResult>> {
      const nowMs = options.now();
      const timeLeft = options.deadlineMs - nowMs >= (options.minDeliveryMs ?? 500);
      // With time to send it, the card is queued already held by this run: insert, deliver, mark delivered.
      const token = randomBytes(8).toString('hex');
      const held = timeLeft ? { token, untilMs: nowMs + (options.staleClaimMs ?? DEFAULT_STALE_CLAIM_MS) } : undefined;
      const doc = outboxDocument(notification, nowMs, held);
      if (!doc.ok) return doc;
      const queued = await enqueueDocument(notification, doc.value, nowMs);
      if (!queued.ok) return queued;
      if (queued.value === 'already_delivered' || queued.value === 'in_flight') return ok({ status: queued.value });
      if (!timeLeft) return ok({ status: 'queued', reason: 'no time left before the deadline' });
      const key = outboxDocumentKey(notification.incidentId, notification.kind);
      if (queued.value === 'queued') return sendClaimed(key, { doc: doc.value, token }, deliver, options);
      // As with the files: the pipeline's own notification is tried now, backoff or not.
      return sendOne(key, true, deliver, options);
    },
    async drain(deliver, options: DrainOptions) {
      const localSize = await local.size();
      if (!localSize.ok) return localSize;
      if (localSize.value === 0) return drainShared(deliver, options);
      const first = await local.drain(deliver, options);
      if (!first.ok) return first;
      const sent = first.value.delivered + first.value.retryLater + first.value.deadLettered;
      // Stopped (webhook refused, rate limited): the shared entries are counted as left, not tried.
      const maxItems = first.value.stoppedBecause !== null ? 0 : (options.maxItems ?? Number.POSITIVE_INFINITY) - sent;
      const second = await drainShared(deliver, { ...options, maxItems });
      if (second.ok) return ok(combinedDrainReport(first.value, second.value));
      // What this member's files delivered is reported (its events are written); the KV store's failure stops the drain.
      if (first.value.results.length === 0) return second;
      return ok({ ...first.value, stoppedBecause: first.value.stoppedBecause ?? `the KV store's outbox cannot be read (${second.error.kind}): ${second.error.message}` });
    },
    async waiting(nowMs) {
      const mine = await local.waiting(nowMs);
      if (!mine.ok) return mine;
      const found = await listing();
      if (!found.ok) return found;
      return ok([...mine.value, ...found.value.map((d): WaitingNotification => {
        const claimed = num(d.sending_until_ms) > nowMs;
        return {
          key: d._key.slice(OUTBOX_PREFIX.length),
          attempts: num(d.attempts),
          nextAttemptAtMs: claimed ? null : num(d.next_attempt_ms),
          lastError: text(d.last_error) || null,
          claimed,
        };
      })]);
    },
  };
}
