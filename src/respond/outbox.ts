/**
 * The on-disk outbox: a notification that could not be delivered now waits in
 * `outbox/<incident id>__<kind>.json` (one file per notification, written atomically)
 * until a later run or `soar-edr drain` delivers it.
 *
 * Exactly-once as far as files allow:
 *   - enqueueing is under the outbox lock and keyed by incident id + kind, so the same
 *     notification is queued once, and never again once delivered;
 *   - a sender claims a file by renaming it into `outbox/claimed/` under a name holding
 *     its pid and the claim time: of two concurrent drains only one rename succeeds;
 *   - a claim left by a killed process (its pid is gone, or it is older than staleClaimMs)
 *     is renamed back into the queue by the next drain;
 *   - after a successful delivery a `delivered` ledger marker is written before the claim
 *     is deleted, and every sender checks that marker before posting, so a crash between
 *     the two cannot send twice. (A crash between Discord's answer and the marker can: at
 *     least once is the best a webhook without idempotency keys allows.)
 *
 * Dead letters: payloads that can never be delivered or processed, one JSON file each
 * in `dead-letters/` with the reason, for `soar-edr replay FILE`.
 *
 * Every outbox file and dead letter is sealed with the install key (store/entry-seal.ts).
 * An outbox file whose seal fails (no MAC, or a wrong one) is never delivered: it becomes
 * a dead letter of kind `forged`, with the reason, which replay refuses (see
 * requeueDeadLetter for the one exception an admin can ask for).
 *
 * The KV store's outbox (state/kv-outbox.ts) follows the same rules over documents: what
 * becomes of an entry after an attempt (afterDelivery, retryDelayMs) and the order and stops of
 * a drain (drainDue) are shared; its dead letters are written here (writeDeadLetter).
 */
import { mkdirSync, renameSync, rmSync } from 'node:fs';
import * as path from 'node:path';
import { fail, ok, Result } from '../result';
import { DataLayout } from '../store/data-dir';
import { DeadLetter, requireInstallKey, writeSealedDeadLetter } from '../store/dead-letter-file';
import { listFolder, readJsonIfExists, writeFileAtomic } from '../store/durable-file';
import { seal, unseal } from '../store/entry-seal';
import { LockOptions, withFileLock } from '../store/file-lock';
import { DeliverFunction, DeliveryOutcome } from './discord-delivery';
import { reportFileName } from './incident-report';
import { capLength, safeText } from './safe-text';
import { guardStorage, processAlive, StorageErrorKind } from './storage-failure';

export interface Notification {
  readonly incidentId: string;
  /** What the message is about: `incident` (first notice), `update`, … */
  readonly kind: string;
  /** The webhook message JSON (from buildDiscordMessage). The webhook URL is never stored. */
  readonly payload: unknown;
}

export interface OutboxItem extends Notification {
  readonly version: 1;
  readonly key: string;
  readonly createdAtMs: number;
  readonly attempts: number;
  readonly nextAttemptAtMs: number;
  readonly lastError: string | null;
}

export type OutboxErrorKind = StorageErrorKind | 'invalid_notification';

export type EnqueueStatus = 'queued' | 'already_queued' | 'in_flight' | 'already_delivered';

/** No `_` in a notification kind, so `<incident id>__<kind>` splits unambiguously at the last `__`. */
const NOTIFICATION_KIND = /^[a-z][a-z0-9-]{0,31}$/;
const DEAD_LETTER_KIND = /^[a-z][a-z0-9_-]{0,31}$/;
const CLAIM_SUFFIX = '.claim';
const QUEUED_SUFFIX = '.json';
const DEFAULT_STALE_CLAIM_MS = 10 * 60_000;
const MAX_REASON_CHARS = 1000;

/** The dedupe key: one notification of each kind per incident. */
export function notificationKey(incidentId: string, kind: string): string {
  return `${incidentId}:${kind}`;
}

/** `<incident id>__<kind>` when the incident id and the kind are ones the outbox takes (both stores check with it). */
export function baseName(n: Pick<Notification, 'incidentId' | 'kind'>): Result<string, 'invalid_notification'> {
  if (!reportFileName(n.incidentId).ok) {
    return fail('invalid_notification', `incident id ${JSON.stringify(capLength(safeText(String(n.incidentId)), 60))} cannot name an outbox file`);
  }
  if (typeof n.kind !== 'string' || !NOTIFICATION_KIND.test(n.kind)) {
    return fail('invalid_notification', `notification kind ${JSON.stringify(capLength(safeText(String(n.kind)), 40))} must be 1-32 of a-z 0-9 - starting with a letter`);
  }
  return ok(`${n.incidentId}__${n.kind}`);
}

function claimsDir(layout: DataLayout): string {
  return path.join(layout.outbox, 'claimed');
}

function queuedFile(layout: DataLayout, base: string): string {
  return path.join(layout.outbox, `${base}${QUEUED_SUFFIX}`);
}

function deliveredMarker(layout: DataLayout, base: string): string {
  return path.join(layout.ledger, 'delivered', `${base}.json`);
}

export function outboxLockFile(layout: DataLayout): string {
  return path.join(layout.locks, 'outbox.lock');
}

function claimsOf(layout: DataLayout, base: string): string[] {
  return listFolder(claimsDir(layout)).filter((n) => n.startsWith(`${base}.`) && n.endsWith(CLAIM_SUFFIX));
}

/** Whether this notification was delivered already (by any process). */
export function wasDelivered(layout: DataLayout, incidentId: string, kind: string): boolean {
  const base = baseName({ incidentId, kind });
  return base.ok && readJsonIfExists(deliveredMarker(layout, base.value)) !== undefined;
}

/** Record a delivery; exported for the CLI (an analyst confirming a message arrived) and tests. */
export function markDelivered(layout: DataLayout, incidentId: string, kind: string, nowMs: number, messageId: string | null = null): Result<void, OutboxErrorKind> {
  const base = baseName({ incidentId, kind });
  if (!base.ok) return base;
  return guardStorage<void, OutboxErrorKind>('recording the delivery', () => {
    writeFileAtomic(deliveredMarker(layout, base.value), JSON.stringify({ key: notificationKey(incidentId, kind), deliveredAtMs: nowMs, messageId }));
    return ok(undefined);
  });
}

function sealedItem(layout: DataLayout, item: OutboxItem): string {
  return JSON.stringify(seal(requireInstallKey(layout.root), 'outbox', item));
}

/**
 * An outbox file's item when its seal holds and it has the item's shape; otherwise why not
 * (`forged`: the seal failed, so it was not written by this install; `corrupt`: not an item).
 */
function openItem(layout: DataLayout, value: unknown): OutboxItem | { forged: 'unsealed' | 'bad_mac'; reason: string } | { corrupt: string } {
  const opened = unseal(requireInstallKey(layout.root), 'outbox', value);
  if (!opened.ok) return { forged: opened.error.kind, reason: opened.error.message };
  const item = asItem(opened.value);
  return item ?? { corrupt: 'outbox file is not an outbox item' };
}

/** Move an outbox file that failed its seal to the dead letters; returns the dead letter. */
function deadLetterForged(layout: DataLayout, file: string, value: unknown, problem: 'unsealed' | 'bad_mac', reason: string, nowMs: number): string {
  const why = problem === 'unsealed'
    ? `${reason}. An entry queued before this version sealed the outbox: check it, then soar-edr replay --trust-unsealed FILE puts it back`
    : reason;
  const letter = writeSealedDeadLetter(layout.root, { kind: 'forged', reason: capLength(safeText(why), MAX_REASON_CHARS), payload: value, forged: { source: 'outbox', problem, file: path.basename(file) } }, nowMs);
  rmSync(file, { force: true });
  return letter;
}

/** Queue a notification unless it is queued, being sent or delivered already. */
export function enqueueNotification(
  layout: DataLayout,
  notification: Notification,
  nowMs: number,
  options: { lock?: LockOptions } = {},
): Result<EnqueueStatus, OutboxErrorKind> {
  const base = baseName(notification);
  if (!base.ok) return base;
  return guardStorage<EnqueueStatus, OutboxErrorKind>('queueing the notification', () =>
    withFileLock(outboxLockFile(layout), () => {
      if (readJsonIfExists(deliveredMarker(layout, base.value)) !== undefined) return ok('already_delivered');
      const present = readJsonIfExists(queuedFile(layout, base.value));
      if (present !== undefined) {
        // A file someone placed under this notification's name must not stand in for it.
        const opened = 'corrupt' in present ? { corrupt: present.corrupt } : openItem(layout, present.value);
        if (!('forged' in opened)) return ok('already_queued');
        deadLetterForged(layout, queuedFile(layout, base.value), (present as { value: unknown }).value, opened.forged, opened.reason, nowMs);
      }
      if (claimsOf(layout, base.value).length > 0) return ok('in_flight');
      const item: OutboxItem = {
        version: 1,
        key: notificationKey(notification.incidentId, notification.kind),
        incidentId: notification.incidentId,
        kind: notification.kind,
        payload: notification.payload,
        createdAtMs: nowMs,
        attempts: 0,
        nextAttemptAtMs: nowMs,
        lastError: null,
      };
      writeFileAtomic(queuedFile(layout, base.value), sealedItem(layout, item));
      return ok('queued');
    }, options.lock),
  );
}

/** Notifications waiting (queued or being sent right now). */
export function outboxSize(layout: DataLayout): number {
  const queued = listFolder(layout.outbox).filter((n) => n.endsWith(QUEUED_SUFFIX)).length;
  const claimed = listFolder(claimsDir(layout)).filter((n) => n.endsWith(CLAIM_SUFFIX)).length;
  return queued + claimed;
}

/** A notification still waiting in the outbox, as a person reading "what is left" needs it. */
export interface WaitingNotification {
  /** `<incident id>:<kind>` */
  readonly key: string;
  readonly attempts: number;
  readonly nextAttemptAtMs: number | null;
  readonly lastError: string | null;
  /** Being sent by another process right now. */
  readonly claimed: boolean;
}

/** Each queued outbox file by its base name, with its item when it reads and unseals (null otherwise). */
function* queuedItems(layout: DataLayout): Generator<{ base: string; item: OutboxItem | null }> {
  for (const name of listFolder(layout.outbox)) {
    if (!name.endsWith(QUEUED_SUFFIX)) continue;
    const read = readJsonIfExists(path.join(layout.outbox, name));
    if (read === undefined) continue;
    const opened = 'corrupt' in read ? null : openItem(layout, read.value);
    yield { base: name.slice(0, -QUEUED_SUFFIX.length), item: opened !== null && !('forged' in opened) && !('corrupt' in opened) ? opened : null };
  }
}

/** What waits in the outbox (queued and claimed), oldest first; unreadable files count with what their name tells. */
export function waitingNotifications(layout: DataLayout): WaitingNotification[] {
  const out: (WaitingNotification & { createdAtMs: number })[] = [];
  for (const { base, item } of queuedItems(layout)) {
    out.push({
      key: base.includes('__') ? keyOfBase(base) : base,
      attempts: item?.attempts ?? 0,
      nextAttemptAtMs: item?.nextAttemptAtMs ?? null,
      lastError: item === null ? 'unreadable or unsealed outbox file (the next drain dead-letters it)' : item.lastError,
      claimed: false,
      createdAtMs: item?.createdAtMs ?? 0,
    });
  }
  for (const name of listFolder(claimsDir(layout))) {
    const m = /^(.+)\.\d+\.\d+\.claim$/.exec(name);
    if (m === null) continue;
    out.push({ key: m[1]!.includes('__') ? keyOfBase(m[1]!) : m[1]!, attempts: 0, nextAttemptAtMs: null, lastError: null, claimed: true, createdAtMs: 0 });
  }
  return out.sort((a, b) => a.createdAtMs - b.createdAtMs || (a.key < b.key ? -1 : a.key > b.key ? 1 : 0)).map(({ createdAtMs: _, ...w }) => w);
}

function asItem(value: unknown): OutboxItem | null {
  const v = value as Partial<OutboxItem> | null;
  if (v === null || typeof v !== 'object' || v.version !== 1 || typeof v.incidentId !== 'string' || typeof v.kind !== 'string') return null;
  if (!Number.isFinite(v.createdAtMs) || !Number.isFinite(v.attempts) || !Number.isFinite(v.nextAttemptAtMs)) return null;
  return v as OutboxItem;
}

// ---------------------------------------------------------------------------- dead letters

export type { DeadLetter };

export type DeadLetterErrorKind = StorageErrorKind | 'invalid_dead_letter' | 'not_found' | 'corrupt_dead_letter' | 'untrusted_dead_letter';

function deadLetterFile(
  layout: DataLayout,
  kind: string,
  payload: unknown,
  reason: string,
  nowMs: number,
  notification?: DeadLetter['notification'],
): string {
  return writeSealedDeadLetter(layout.root, { kind, reason: capLength(safeText(reason), MAX_REASON_CHARS), payload, ...(notification !== undefined ? { notification } : {}) }, nowMs);
}

/**
 * Keep a payload that cannot be processed or delivered, with the reason; returns the
 * file written. `kind` names what it is (1-32 of a-z 0-9 _ -).
 */
export function writeDeadLetter(
  layout: DataLayout,
  kind: string,
  payload: unknown,
  reason: string,
  nowMs: number,
  notification?: DeadLetter['notification'],
): Result<string, DeadLetterErrorKind> {
  if (!DEAD_LETTER_KIND.test(kind)) {
    return fail('invalid_dead_letter', `dead-letter kind ${JSON.stringify(capLength(safeText(kind), 40))} must be 1-32 of a-z 0-9 _ - starting with a letter`);
  }
  return guardStorage<string, DeadLetterErrorKind>('writing the dead letter', () => ok(deadLetterFile(layout, kind, payload, reason, nowMs, notification)));
}

/** A dead letter as read, with whether this install's seal holds on it. */
export interface InspectedDeadLetter {
  readonly letter: DeadLetter;
  /** `valid`: written by this install; `unsealed`: no MAC (an older version, or someone else); `bad_mac`: changed or forged. */
  readonly seal: 'valid' | 'unsealed' | 'bad_mac';
  readonly sealProblem?: string;
}

function shownPath(file: string): string {
  return capLength(safeText(file), 300);
}

/** Read a dead letter whatever its seal (for `replay --list`, and to explain a refusal). */
export function inspectDeadLetter(file: string, key: Buffer): Result<InspectedDeadLetter, DeadLetterErrorKind> {
  return guardStorage<InspectedDeadLetter, DeadLetterErrorKind>('reading the dead letter', () => {
    const read = readJsonIfExists(file);
    if (read === undefined) return fail('not_found', `no dead letter at ${shownPath(file)}`);
    if ('corrupt' in read) return fail('corrupt_dead_letter', `${shownPath(file)} is not JSON (${safeText(read.corrupt)})`);
    const opened = unseal(key, 'dead-letter', read.value);
    const v = (opened.ok ? opened.value : read.value) as Partial<DeadLetter> | null;
    if (v === null || typeof v !== 'object' || v.version !== 1 || typeof v.kind !== 'string' || typeof v.reason !== 'string' || !('payload' in v)) {
      return fail('corrupt_dead_letter', `${shownPath(file)} is JSON but not a SOAR-EDR dead letter (needs version 1, kind, reason, payload)`);
    }
    if (opened.ok) return ok({ letter: v as DeadLetter, seal: 'valid' });
    const { mac: _mac, ...rest } = v as DeadLetter & { mac?: unknown };
    return ok({ letter: rest as DeadLetter, seal: opened.error.kind, sealProblem: opened.error.message });
  });
}

/** Read a dead letter for `soar-edr replay FILE`: only one this install wrote (its seal holds). */
export function readDeadLetter(file: string, key: Buffer): Result<DeadLetter, DeadLetterErrorKind> {
  const inspected = inspectDeadLetter(file, key);
  if (!inspected.ok) return inspected;
  if (inspected.value.seal !== 'valid') {
    return fail('untrusted_dead_letter', `${shownPath(file)} was not written by this install: ${inspected.value.sealProblem ?? 'its seal does not hold'}`);
  }
  return ok(inspected.value.letter);
}

/** Dead-letter files, oldest first. */
export function listDeadLetters(layout: DataLayout): string[] {
  return listFolder(layout.deadLetters).filter((n) => n.endsWith('.json')).sort().map((n) => path.join(layout.deadLetters, n));
}

/** The notification a dead letter holds, if any: a refused one, or (trusted by the admin) an unsealed outbox file. */
export function notificationOf(letter: DeadLetter, trustUnsealed: boolean): Notification | undefined {
  const n = letter.notification;
  if (letter.kind === 'notification' && n !== undefined) return { incidentId: n.incidentId, kind: n.kind, payload: letter.payload };
  if (trustUnsealed && letter.kind === 'forged' && letter.forged?.source === 'outbox' && letter.forged.problem === 'unsealed') {
    const { mac: _mac, ...item } = (letter.payload ?? {}) as Record<string, unknown>;
    const parsed = asItem(item);
    if (parsed !== null) return { incidentId: parsed.incidentId, kind: parsed.kind, payload: parsed.payload };
  }
  return undefined;
}

/**
 * Put a dead-lettered notification back into the outbox (after the webhook was fixed) and
 * remove the dead letter. Other kinds are the pipeline's to replay.
 *
 * Only dead letters this install sealed are taken. `trustUnsealed` (replay --trust-unsealed,
 * an admin who has looked at the file) also takes a dead letter with no MAC at all (written
 * before dead letters were sealed) and an outbox file dead-lettered for having no MAC; a
 * wrong MAC (changed or forged) is never taken.
 */
export function requeueDeadLetter(layout: DataLayout, file: string, nowMs: number, options: { trustUnsealed?: boolean } = {}): Result<EnqueueStatus, DeadLetterErrorKind | OutboxErrorKind> {
  const notification = replayableNotification(layout, file, options);
  if (!notification.ok) return notification;
  const queued = enqueueNotification(layout, notification.value, nowMs);
  if (!queued.ok) return queued;
  return removeReplayed(file, queued.value);
}

/**
 * requeueDeadLetter into another outbox (the KV store's): the same checks, the notification
 * queued by `enqueue`, the dead letter removed once it is queued.
 */
export async function requeueDeadLetterInto<E extends string>(
  layout: DataLayout,
  file: string,
  enqueue: (notification: Notification) => Promise<Result<EnqueueStatus, E>>,
  options: { trustUnsealed?: boolean } = {},
): Promise<Result<EnqueueStatus, DeadLetterErrorKind | E>> {
  const notification = replayableNotification(layout, file, options);
  if (!notification.ok) return notification;
  const queued = await enqueue(notification.value);
  if (!queued.ok) return queued;
  return removeReplayed(file, queued.value);
}

function removeReplayed(file: string, status: EnqueueStatus): Result<EnqueueStatus, DeadLetterErrorKind> {
  return guardStorage<EnqueueStatus, DeadLetterErrorKind>('removing the replayed dead letter', () => {
    rmSync(file, { force: true });
    return ok(status);
  });
}

/** The notification a dead letter holds, when this install may put it back (see requeueDeadLetter). */
function replayableNotification(layout: DataLayout, file: string, options: { trustUnsealed?: boolean }): Result<Notification, DeadLetterErrorKind> {
  let key: Buffer;
  try {
    key = requireInstallKey(layout.root);
  } catch (e) {
    return fail('io_error', (e as Error).message);
  }
  const inspected = inspectDeadLetter(file, key);
  if (!inspected.ok) return inspected;
  const trusted = inspected.value.seal === 'valid' || (inspected.value.seal === 'unsealed' && options.trustUnsealed === true);
  if (!trusted) {
    const hint = inspected.value.seal === 'unsealed' ? '; if you wrote it or know where it came from, soar-edr replay --trust-unsealed FILE takes it' : '';
    return fail('untrusted_dead_letter', `${shownPath(file)} was not written by this install: ${inspected.value.sealProblem ?? 'its seal does not hold'}${hint}`);
  }
  const letter = inspected.value.letter;
  const notification = notificationOf(letter, options.trustUnsealed === true);
  if (notification === undefined) {
    const why = letter.kind === 'forged'
      ? `an outbox or queue entry that failed its seal (${safeText(String(letter.forged?.problem ?? 'unknown'))}); only one without any MAC, from the outbox, can be put back, with --trust-unsealed`
      : `a ${capLength(safeText(letter.kind), 40)}, not a notification; replay it through the pipeline`;
    return fail('invalid_dead_letter', `${shownPath(file)} holds ${why}`);
  }
  return ok(notification);
}

// ---------------------------------------------------------------------------- sending

export interface SendOptions {
  /** The clock: a drain runs long enough for time to matter. */
  readonly now: () => number;
  /** Epoch ms by which sending must stop. */
  readonly deadlineMs: number;
  readonly random?: () => number;
  /** Outbox retry backoff: base·2^(attempts-1) capped, with jitter; defaults 30 s and 1 h. */
  readonly retryBaseMs?: number;
  readonly retryMaxMs?: number;
  /** After this many failed attempts the notification is dead-lettered; default 50. */
  readonly maxAttempts?: number;
  /** A claim older than this is abandoned even if its pid runs (pid reuse); default 10 min. */
  readonly staleClaimMs?: number;
  /** Don't start a delivery with less time left than this; default 500 ms. */
  readonly minDeliveryMs?: number;
}

export type ItemResult =
  | { readonly status: 'delivered'; readonly delivery: DeliveryOutcome }
  | { readonly status: 'already_delivered' }
  | { readonly status: 'retry_later'; readonly nextAttemptAtMs: number; readonly delivery: DeliveryOutcome }
  | { readonly status: 'dead_lettered'; readonly deadLetter: string; readonly delivery?: DeliveryOutcome }
  | { readonly status: 'claimed_elsewhere' };

function claimName(base: string, nowMs: number): string {
  return `${base}.${process.pid}.${nowMs}${CLAIM_SUFFIX}`;
}

/** Take the queued file for ourselves; null when another process was first. */
function claim(layout: DataLayout, base: string, nowMs: number): string | null {
  const target = path.join(claimsDir(layout), claimName(base, nowMs));
  try {
    renameSync(queuedFile(layout, base), target);
    return target;
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') {
      // Either the file is gone (someone claimed it) or claimed/ does not exist yet.
      if (readJsonIfExists(queuedFile(layout, base)) === undefined) return null;
      mkdirSync(claimsDir(layout), { recursive: true });
      return claim(layout, base, nowMs);
    }
    throw e;
  }
}

export function retryDelayMs(attempts: number, options: Pick<SendOptions, 'retryBaseMs' | 'retryMaxMs' | 'random'>): number {
  const base = options.retryBaseMs ?? 30_000;
  const max = options.retryMaxMs ?? 3_600_000;
  const random = options.random ?? Math.random;
  const capped = Math.min(max, base * 2 ** Math.min(30, Math.max(0, attempts - 1)));
  // Half fixed, half jitter: spread the retries of many queued items, never retry at once.
  return Math.floor(capped / 2 + random() * (capped / 2));
}

/** Deliver one claimed item and settle its file; the claim is gone afterwards. */
async function settleClaim(
  layout: DataLayout,
  base: string,
  claimFile: string,
  item: OutboxItem,
  deliver: DeliverFunction,
  options: SendOptions,
): Promise<ItemResult> {
  if (readJsonIfExists(deliveredMarker(layout, base)) !== undefined) {
    rmSync(claimFile, { force: true });
    return { status: 'already_delivered' };
  }
  const delivery = await deliver(item.payload, options.deadlineMs);
  const nowMs = options.now();
  const next = afterDelivery(item.attempts, delivery, nowMs, options);
  if (next.status === 'delivered') {
    writeFileAtomic(deliveredMarker(layout, base), JSON.stringify({ key: item.key, deliveredAtMs: nowMs, messageId: next.messageId }));
    rmSync(claimFile, { force: true });
    return { status: 'delivered', delivery };
  }
  if (next.status === 'dead_letter') {
    const letter = deadLetterFile(layout, 'notification', item.payload, next.reason, nowMs, { incidentId: item.incidentId, kind: item.kind, attempts: next.attempts });
    rmSync(claimFile, { force: true });
    return { status: 'dead_lettered', deadLetter: letter, delivery };
  }
  const updated: OutboxItem = { ...item, attempts: next.attempts, nextAttemptAtMs: next.nextAttemptAtMs, lastError: next.lastError };
  writeFileAtomic(claimFile, sealedItem(layout, updated));
  renameSync(claimFile, queuedFile(layout, base));
  return { status: 'retry_later', nextAttemptAtMs: next.nextAttemptAtMs, delivery };
}

/** What becomes of an outbox entry after one delivery attempt (both stores follow it). */
export type AfterDelivery =
  | { readonly status: 'delivered'; readonly messageId: string | null }
  | { readonly status: 'dead_letter'; readonly reason: string; readonly attempts: number }
  | { readonly status: 'retry'; readonly attempts: number; readonly nextAttemptAtMs: number; readonly lastError: string };

/**
 * Delivered; refused (or out of attempts): a dead letter; otherwise again after the backoff
 * (or when Discord's rate limit says). `attemptsBefore` are the entry's attempts so far.
 */
export function afterDelivery(attemptsBefore: number, delivery: DeliveryOutcome, nowMs: number, options: Pick<SendOptions, 'retryBaseMs' | 'retryMaxMs' | 'random' | 'maxAttempts'>): AfterDelivery {
  if (delivery.status === 'delivered') return { status: 'delivered', messageId: delivery.messageId };
  const attempts = attemptsBefore + Math.max(1, 'attempts' in delivery ? delivery.attempts : 1);
  if (delivery.status === 'rejected' || attempts >= (options.maxAttempts ?? 50)) {
    const reason = delivery.status === 'rejected' ? delivery.reason : `gave up after ${attempts} attempts; last: ${delivery.reason}`;
    return { status: 'dead_letter', reason, attempts };
  }
  const backoffAt = nowMs + retryDelayMs(attempts, options);
  const nextAttemptAtMs = delivery.status === 'deferred' ? Math.max(delivery.retryAtMs, nowMs) : backoffAt;
  return { status: 'retry', attempts, nextAttemptAtMs, lastError: delivery.reason };
}

function readClaimed(layout: DataLayout, claimFile: string, nowMs: number): OutboxItem | { deadLetter: string } {
  const read = readJsonIfExists(claimFile);
  const opened = read === undefined ? { corrupt: 'outbox file vanished' } : 'corrupt' in read ? { corrupt: `outbox file is not JSON (${read.corrupt})` } : openItem(layout, read.value);
  if ('forged' in opened) return { deadLetter: deadLetterForged(layout, claimFile, (read as { value: unknown }).value, opened.forged, opened.reason, nowMs) };
  if (!('corrupt' in opened)) return opened;
  const reason = opened.corrupt;
  const letter = deadLetterFile(layout, 'outbox_file', read !== undefined && !('corrupt' in read) ? read.value : null, reason, nowMs);
  rmSync(claimFile, { force: true });
  return { deadLetter: letter };
}

async function sendClaimed(layout: DataLayout, base: string, deliver: DeliverFunction, options: SendOptions): Promise<ItemResult> {
  const claimFile = claim(layout, base, options.now());
  if (claimFile === null) return { status: 'claimed_elsewhere' };
  const item = readClaimed(layout, claimFile, options.now());
  if ('deadLetter' in item) return { status: 'dead_lettered', deadLetter: item.deadLetter };
  return settleClaim(layout, base, claimFile, item, deliver, options);
}

export type SendResult =
  | { readonly status: 'already_delivered' | 'in_flight' }
  | { readonly status: 'queued'; readonly reason: string }
  | ItemResult;

/**
 * The pipeline's way to notify: queue the notification, then try to deliver it at once as
 * its own sender. Whatever happens it is delivered, queued for later, or dead-lettered.
 */
export async function sendNotification(
  layout: DataLayout,
  notification: Notification,
  deliver: DeliverFunction,
  options: SendOptions,
): Promise<Result<SendResult, OutboxErrorKind>> {
  const queued = enqueueNotification(layout, notification, options.now(), { lock: { timeoutMs: Math.max(100, options.deadlineMs - options.now()) } });
  if (!queued.ok) return queued;
  if (queued.value === 'already_delivered' || queued.value === 'in_flight') return ok({ status: queued.value });
  if (options.deadlineMs - options.now() < (options.minDeliveryMs ?? 500)) return ok({ status: 'queued', reason: 'no time left before the deadline' });
  const base = baseName(notification);
  if (!base.ok) return base;
  try {
    return ok(await sendClaimed(layout, base.value, deliver, options));
  } catch (e) {
    return guardStorage<SendResult, OutboxErrorKind>('sending the notification', () => {
      throw e;
    });
  }
}

export interface DrainOptions extends SendOptions {
  /** Deliver at most this many items this run. */
  readonly maxItems?: number;
  /**
   * Also try items still waiting for their next-attempt time. Backoff paces the automatic
   * retries of alert runs; an admin's `soar-edr drain` means "now" (Discord just recovered).
   */
  readonly includeWaiting?: boolean;
}

export interface DrainReport {
  readonly delivered: number;
  readonly alreadyDelivered: number;
  readonly retryLater: number;
  readonly deadLettered: number;
  /** Items another process claimed first. */
  readonly claimedElsewhere: number;
  /** Abandoned claims put back into the queue. */
  readonly recoveredClaims: number;
  /** Items due but left for the next run (deadline, maxItems, or a stop). */
  readonly leftForLater: number;
  /** Why the drain stopped early: the webhook is refused, or Discord rate limits us. */
  readonly stoppedBecause: string | null;
  /** Per item tried: its dedupe key (`<incident id>:<kind>`) and what happened. */
  readonly results: readonly { readonly key: string; readonly result: ItemResult }[];
}

/** Put claims of dead (or long-gone) senders back into the queue. */
function recoverStaleClaims(layout: DataLayout, nowMs: number, staleClaimMs: number): number {
  let recovered = 0;
  for (const name of listFolder(claimsDir(layout))) {
    if (!name.endsWith(CLAIM_SUFFIX)) continue;
    const m = /^(.+)\.(\d+)\.(\d+)\.claim$/.exec(name);
    if (m === null) continue;
    const [, base, pid, claimedAt] = m;
    if (processAlive(Number(pid)) && nowMs - Number(claimedAt) <= staleClaimMs) continue;
    const from = path.join(claimsDir(layout), name);
    try {
      if (readJsonIfExists(queuedFile(layout, base)) !== undefined) rmSync(from, { force: true });
      else renameSync(from, queuedFile(layout, base));
      recovered += 1;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
    }
  }
  return recovered;
}

function keyOfBase(base: string): string {
  const at = base.lastIndexOf('__');
  return notificationKey(base.slice(0, at), base.slice(at + 2));
}

interface Due {
  readonly base: string;
  readonly createdAtMs: number;
}

function dueItems(layout: DataLayout, nowMs: number, includeWaiting: boolean): Due[] {
  const due: Due[] = [];
  for (const { base, item } of queuedItems(layout)) {
    // Unreadable and unsealed files are due now: claiming them dead-letters them, unsent.
    if (item === null) due.push({ base, createdAtMs: 0 });
    else if (includeWaiting || item.nextAttemptAtMs <= nowMs) due.push({ base, createdAtMs: item.createdAtMs });
  }
  return due.sort((a, b) => a.createdAtMs - b.createdAtMs || (a.base < b.base ? -1 : a.base > b.base ? 1 : 0));
}

/**
 * Deliver due notifications, oldest first, until the deadline or maxItems. Stops at the
 * first webhook rejection (every other item would be refused too, and repeated 401/404s
 * get a client banned) and at the first rate limit (the rest would be limited as well).
 */
export async function drainOutbox(layout: DataLayout, deliver: DeliverFunction, options: DrainOptions): Promise<Result<DrainReport, OutboxErrorKind>> {
  let recoveredClaims = 0;
  let due: Due[] = [];
  try {
    recoveredClaims = recoverStaleClaims(layout, options.now(), options.staleClaimMs ?? DEFAULT_STALE_CLAIM_MS);
    due = dueItems(layout, options.now(), options.includeWaiting ?? false);
    return await drainDue(due.map((d) => ({ key: keyOfBase(d.base), send: async () => ok(await sendClaimed(layout, d.base, deliver, options)) })), recoveredClaims, options);
  } catch (e) {
    return guardStorage<DrainReport, OutboxErrorKind>('draining the outbox', () => {
      throw e;
    });
  }
}

/**
 * The drain's order and stops, whatever the store: send the due entries in order until the
 * deadline or maxItems; stop at the first webhook rejection (every other item would be refused
 * too, and repeated 401/404s get a client banned) and at the first rate limit.
 */
export async function drainDue<K extends string>(
  due: readonly { readonly key: string; readonly send: () => Promise<Result<ItemResult, K>> }[],
  recoveredClaims: number,
  options: Pick<DrainOptions, 'now' | 'deadlineMs' | 'maxItems' | 'minDeliveryMs'>,
): Promise<Result<DrainReport, K>> {
  const counts = { delivered: 0, alreadyDelivered: 0, retryLater: 0, deadLettered: 0, claimedElsewhere: 0 };
  const results: { key: string; result: ItemResult }[] = [];
  let stoppedBecause: string | null = null;
  let index = 0;
  const maxItems = options.maxItems ?? Number.POSITIVE_INFINITY;
  const minDeliveryMs = options.minDeliveryMs ?? 500;
  for (; index < due.length; index++) {
    const sent = counts.delivered + counts.retryLater + counts.deadLettered;
    if (sent >= maxItems || options.deadlineMs - options.now() < minDeliveryMs) break;
    const sentNow = await due[index]!.send();
    if (!sentNow.ok) return sentNow;
    const result = sentNow.value;
    results.push({ key: due[index]!.key, result });
    switch (result.status) {
      case 'delivered': counts.delivered += 1; break;
      case 'already_delivered': counts.alreadyDelivered += 1; break;
      case 'claimed_elsewhere': counts.claimedElsewhere += 1; break;
      case 'retry_later': counts.retryLater += 1; break;
      case 'dead_lettered': counts.deadLettered += 1; break;
    }
    const delivery = 'delivery' in result ? result.delivery : undefined;
    if (delivery?.status === 'rejected' && delivery.cause === 'webhook') stoppedBecause = delivery.reason;
    if (delivery?.status === 'deferred') stoppedBecause = delivery.reason;
    if (stoppedBecause !== null) {
      index += 1;
      break;
    }
  }
  return ok({ ...counts, recoveredClaims, leftForLater: due.length - index, stoppedBecause, results });
}
