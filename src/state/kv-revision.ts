/**
 * Changing one KV store document safely when several processes (on several members) may change
 * it at once. The KV store has no compare-and-swap; what it guarantees is that inserting a
 * document with a `_key` that exists fails. So each document carries a revision (`rev`) and a
 * generation (`gen`, random, new whenever the document is created), and a writer that read
 * revision r first inserts the claim `<collection>/<key>@<gen>.<r>` into the state collection:
 * the one writer whose claim insert succeeds replaces the document (with r + 1); the others read
 * again and decide again on what the winner wrote.
 *
 * A winner that dies between its claim and its replace would leave revision r claimed forever:
 * a claim older than `staleMs` is passed over by claiming `…@<gen>.<r>~1` (then `~2`, …), which is
 * again a plain insert, so again exactly one writer takes over.
 *
 * Round trips: a read, then for a new document one insert, for an existing one a claim insert
 * and a replace.
 */
import { randomBytes } from 'node:crypto';
import { fail, ok } from '../result';
import type { KvDocument, KvStoreClient } from '../store/kvstore-client';
import type { StateResult } from './shared-state';

/** Where claims, quota grants, flights, leases and the ledgers live (not a lookup: internal). */
export const STATE_COLLECTION = 'soar_state';

const MAX_ATTEMPTS = 12;
const DEFAULT_STALE_MS = 10_000;

export interface Revision<R> {
  /** The document's new fields (without _key/rev/gen), or undefined to leave it as it is. */
  readonly next: Record<string, unknown> | undefined;
  /** Or: remove the document (an unblock). */
  readonly remove?: boolean;
  readonly result: R;
}

export interface ReviseOptions {
  readonly now: () => number;
  readonly sleep: (ms: number) => Promise<void>;
  readonly random: () => number;
  readonly staleMs?: number;
}

function claimKey(collection: string, key: string, gen: string, rev: number, takeover: number): string {
  return `rev:${collection}/${key}@${gen}.${rev}${takeover > 0 ? `~${takeover}` : ''}`;
}

/**
 * Read `key`, decide with `decide` (pure: from the current document or undefined), and write
 * the decision so that no concurrent writer's decision is lost.
 */
export async function reviseDocument<R>(
  kv: KvStoreClient,
  collection: string,
  key: string,
  decide: (current: KvDocument | undefined) => Revision<R>,
  options: ReviseOptions,
): Promise<StateResult<R>> {
  const staleMs = options.staleMs ?? DEFAULT_STALE_MS;
  for (let attempt = 0; attempt < MAX_ATTEMPTS; attempt++) {
    if (attempt > 0) await options.sleep(5 + Math.floor(options.random() * 20 * attempt));
    const read = await kv.get(collection, key);
    if (!read.ok && read.error.kind !== 'not_found') return read;
    const current = read.ok ? read.value : undefined;
    const revision = decide(current);
    if (revision.next === undefined && !revision.remove) return ok(revision.result);
    if (current === undefined) {
      if (revision.remove) return ok(revision.result);
      const inserted = await kv.insert(collection, { ...revision.next, _key: key, rev: 1, gen: randomBytes(6).toString('hex') });
      if (inserted.ok) return ok(revision.result);
      if (inserted.error.kind === 'duplicate_key') continue;
      return inserted;
    }
    const rev = typeof current.rev === 'number' ? current.rev : 0;
    const gen = typeof current.gen === 'string' ? current.gen : 'g0';
    const claimed = await claimRevision(kv, collection, key, gen, rev, options.now(), staleMs);
    if (!claimed.ok) return claimed;
    if (!claimed.value) continue;
    const written = revision.remove ? await kv.remove(collection, key) : await kv.replace(collection, { ...revision.next, _key: key, rev: rev + 1, gen });
    if (!written.ok && !(revision.remove && written.error.kind === 'not_found')) return written;
    return ok(revision.result);
  }
  return fail('conflict', `KV store collection ${collection} document ${JSON.stringify(key)} kept changing under ${MAX_ATTEMPTS} attempts to update it; the next run tries again`);
}

/** true: this writer owns revision `rev`; false: another writer does (read again). */
async function claimRevision(kv: KvStoreClient, collection: string, key: string, gen: string, rev: number, nowMs: number, staleMs: number): Promise<StateResult<boolean>> {
  for (let takeover = 0; takeover < 4; takeover++) {
    const k = claimKey(collection, key, gen, rev, takeover);
    const inserted = await kv.insert(STATE_COLLECTION, { _key: k, kind: 'revision', created_ms: nowMs });
    if (inserted.ok) return ok(true);
    if (inserted.error.kind !== 'duplicate_key') return inserted;
    const holder = await kv.get(STATE_COLLECTION, k);
    if (!holder.ok) return holder.error.kind === 'not_found' ? ok(false) : holder;
    const created = typeof holder.value.created_ms === 'number' ? holder.value.created_ms : 0;
    // A live claim: its writer is replacing the document now.
    if (nowMs - created < staleMs) return ok(false);
  }
  return ok(false);
}
