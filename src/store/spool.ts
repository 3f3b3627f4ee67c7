/**
 * The spool: the rows of a results file a run had no time left for, kept durably for a
 * later alert run or `soar-edr drain`.
 *
 * One spooled results file is two files in `spool/`:
 *   - `<id>.csv.gz` (or `.csv`): a copy of the results file, made through the descriptor the
 *     run read it from;
 *   - `<id>.json`: the entry, sealed with the install key (purpose `spool`): the payload
 *     context the rows need (sid, search name, app, owner, results link, the action's
 *     params, the results layout), the row index to resume from, and the copy's name. No
 *     session key, no server_uri: the process that records the rows uses its own.
 *
 * Claims work as the outbox's do: a processor renames `<id>.json` into `spool/claimed/`
 * under a name holding its pid and the claim time, so of two processors only one gets it;
 * a claim whose process is gone, or older than the stale age, is renamed back by the next
 * processor. A processor that runs long refreshes its claim (checkpoint) with the index
 * reached, and one that runs out of time puts the entry back with that index. Rows before
 * the index are skipped without being parsed; rows after it that were recorded anyway (a
 * processor killed between checkpoints) are skipped by the sid + rid ledger: each row is
 * recorded exactly once.
 *
 * An entry that fails its MAC (forged, edited, or sealed with another install's key) is
 * never processed: it goes to dead letters with the reason, and the copy it names is not
 * touched (its name is not trusted).
 */
import { randomBytes } from 'node:crypto';
import { closeSync, constants, fsyncSync, mkdirSync, openSync, readSync, renameSync, rmSync, writeSync } from 'node:fs';
import * as path from 'node:path';
import { fail, ok, Result } from '../result';
import { writeDeadLetter } from '../respond/outbox';
import { processAlive } from './file-lock';
import type { ResultsMode } from '../splunk/results-file';
import type { DataLayout } from './data-dir';
import { listFolder, readJsonIfExists, writeFileAtomic } from './durable-file';
import { installKey, seal, unseal } from './entry-seal';

/** What the rows of a spooled results file need to be recorded as the alert would have. */
export interface SpoolContext {
  readonly sid: string;
  readonly searchName: string;
  readonly app: string;
  readonly owner: string;
  readonly resultsLink: string;
  /** The action's params as splunkd gave them (no secret is ever a param). */
  readonly configuration: Readonly<Record<string, string>>;
  readonly mode: ResultsMode;
  /** Per-result layout: the rid of result 0 (see ridFor). */
  readonly baseRid: string | null;
}

export interface SpoolEntry extends SpoolContext {
  readonly version: 1;
  readonly id: string;
  /** The first row index not recorded yet. */
  readonly resumeIndex: number;
  /** Row indexes in the whole results file. */
  readonly indexes: number;
  /** The copy's file name inside spool/. */
  readonly copy: string;
  readonly createdAtMs: number;
  readonly updatedAtMs: number;
}

export type SpoolErrorKind = 'io_error' | 'unsafe_key';

const ENTRY_SUFFIX = '.json';
const CLAIM_SUFFIX = '.claim';
/** A claim older than this is abandoned even when its pid runs (pid reuse); processors refresh theirs well before. */
export const SPOOL_STALE_CLAIM_MS = 10 * 60_000;
const ID = /^[0-9]{13}-[0-9]+-[0-9a-f]{8}$/;
const COPY = /^[0-9]{13}-[0-9]+-[0-9a-f]{8}\.csv(\.gz)?$/;
const COPY_CHUNK = 1024 * 1024;

function claimsDir(layout: DataLayout): string {
  return path.join(layout.spool, 'claimed');
}

function errorText(e: unknown): string {
  return (e as NodeJS.ErrnoException).code ?? (e as Error).message;
}

/** Copy from an open descriptor (never by path: the file the run read is the file kept). */
function copyFromFd(fd: number, target: string): void {
  const out = openSync(target, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | (constants.O_NOFOLLOW ?? 0), 0o640);
  try {
    const buf = Buffer.allocUnsafe(COPY_CHUNK);
    let pos = 0;
    for (;;) {
      const n = readSync(fd, buf, 0, buf.length, pos);
      if (n === 0) break;
      let off = 0;
      while (off < n) off += writeSync(out, buf, off, n - off);
      pos += n;
    }
    fsyncSync(out);
  } finally {
    closeSync(out);
  }
}

/** Numbers and strings only where the entry says so: an entry is data, checked before use. */
function asEntry(v: Record<string, unknown>): SpoolEntry | string {
  const str = (k: string) => typeof v[k] === 'string';
  if (v.version !== 1) return 'unknown spool entry version';
  for (const k of ['id', 'sid', 'searchName', 'app', 'owner', 'resultsLink', 'copy']) if (!str(k)) return `spool entry has no ${k}`;
  if (!ID.test(v.id as string)) return 'spool entry id is not one this app makes';
  if (!COPY.test(v.copy as string) || !(v.copy as string).startsWith(`${v.id as string}.`)) return 'spool entry names a copy that is not its own file in the spool folder';
  if (v.mode !== 'digest' && v.mode !== 'per_result') return 'spool entry has no results layout';
  if (v.baseRid !== null && typeof v.baseRid !== 'string') return 'spool entry has a bad baseRid';
  for (const k of ['resumeIndex', 'indexes', 'createdAtMs', 'updatedAtMs']) {
    if (!Number.isSafeInteger(v[k]) || (v[k] as number) < 0) return `spool entry has a bad ${k}`;
  }
  const conf = v.configuration;
  if (conf === null || typeof conf !== 'object' || Array.isArray(conf) || Object.values(conf).some((x) => typeof x !== 'string')) return 'spool entry has bad params';
  return v as unknown as SpoolEntry;
}

/** A claimed entry: processed by this process until completed, released or checkpointed. */
export interface SpoolClaim {
  readonly entry: SpoolEntry;
  /** Absolute path of the copy. */
  readonly copyFile: string;
  /** The claim file now. */
  claimFile: string;
}

export type ClaimOutcome =
  | { readonly status: 'claimed'; readonly claim: SpoolClaim }
  | { readonly status: 'refused'; readonly name: string; readonly reason: string; readonly deadLetter: string | undefined };

export interface SpoolStore {
  /** Copy the results file (through its descriptor) and write a sealed entry; the entry's file. */
  put(fd: number, gzipped: boolean, context: SpoolContext, resumeIndex: number, indexes: number): Result<string, SpoolErrorKind>;
  /** Entries waiting (not claimed). */
  waiting(): number;
  /** Put abandoned claims back; the number put back. */
  recoverStale(): number;
  /** Claim the oldest waiting entry; refused (dead-lettered) entries are reported one at a time; undefined when none is left. */
  claimNext(): ClaimOutcome | undefined;
  /** Refresh the claim (its time) with the index reached. */
  checkpoint(claim: SpoolClaim, resumeIndex: number): void;
  /** Out of time: the entry goes back, to resume at this index. */
  release(claim: SpoolClaim, resumeIndex: number): void;
  /** Every row recorded: the entry and the copy are removed. */
  complete(claim: SpoolClaim): void;
  /** The copy cannot be read: the entry goes to dead letters (with its payload context), the copy stays for inspection. */
  abandon(claim: SpoolClaim, reason: string): string | undefined;
}

export function spoolStore(layout: DataLayout, now: () => number = Date.now, staleClaimMs = SPOOL_STALE_CLAIM_MS): SpoolStore {
  const key = () => installKey(layout.root);
  const sealed = (entry: SpoolEntry): Result<string, SpoolErrorKind> => {
    const k = key();
    if (!k.ok) return fail(k.error.kind, k.error.message);
    return ok(JSON.stringify(seal(k.value, 'spool', entry)));
  };
  const claimName = (id: string) => `${id}.${process.pid}.${now()}${CLAIM_SUFFIX}`;
  const rewrite = (claim: SpoolClaim, resumeIndex: number): SpoolEntry => {
    const entry: SpoolEntry = { ...claim.entry, resumeIndex, updatedAtMs: now() };
    const text = sealed(entry);
    if (!text.ok) throw new Error(text.error.message);
    writeFileAtomic(claim.claimFile, text.value);
    (claim as { entry: SpoolEntry }).entry = entry;
    return entry;
  };
  const deadLetter = (payload: unknown, reason: string): string | undefined => {
    const r = writeDeadLetter(layout, 'spool', payload, reason, now());
    return r.ok ? r.value : undefined;
  };

  return {
    put(fd, gzipped, context, resumeIndex, indexes) {
      const k = key();
      if (!k.ok) return fail(k.error.kind, k.error.message);
      const id = `${String(now()).padStart(13, '0')}-${process.pid}-${randomBytes(4).toString('hex')}`;
      const copy = `${id}.csv${gzipped ? '.gz' : ''}`;
      const copyFile = path.join(layout.spool, copy);
      try {
        mkdirSync(layout.spool, { recursive: true, mode: 0o750 });
        copyFromFd(fd, copyFile);
        const t = now();
        const entry: SpoolEntry = { version: 1, id, ...context, resumeIndex, indexes, copy, createdAtMs: t, updatedAtMs: t };
        const file = path.join(layout.spool, `${id}${ENTRY_SUFFIX}`);
        // The entry last: an entry always names a complete copy.
        writeFileAtomic(file, JSON.stringify(seal(k.value, 'spool', entry)));
        return ok(file);
      } catch (e) {
        try {
          rmSync(copyFile, { force: true });
        } catch {
          // Nothing was created there (the folder itself is unusable).
        }
        return fail('io_error', `cannot write the spool entry in ${layout.spool} (${errorText(e)})`);
      }
    },

    waiting() {
      return listFolder(layout.spool).filter((n) => n.endsWith(ENTRY_SUFFIX)).length;
    },

    recoverStale() {
      let recovered = 0;
      const nowMs = now();
      for (const name of listFolder(claimsDir(layout))) {
        const m = /^(.+)\.(\d+)\.(\d+)\.claim$/.exec(name);
        if (m === null) continue;
        const [, id, pid, claimedAt] = m;
        if (processAlive(Number(pid)) && nowMs - Number(claimedAt) <= staleClaimMs) continue;
        const from = path.join(claimsDir(layout), name);
        const to = path.join(layout.spool, `${id}${ENTRY_SUFFIX}`);
        try {
          if (readJsonIfExists(to) !== undefined) rmSync(from, { force: true });
          else renameSync(from, to);
          recovered += 1;
        } catch (e) {
          if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
        }
      }
      return recovered;
    },

    claimNext() {
      const names = listFolder(layout.spool).filter((n) => n.endsWith(ENTRY_SUFFIX)).sort();
      for (const name of names) {
        const id = name.slice(0, -ENTRY_SUFFIX.length);
        const target = path.join(claimsDir(layout), claimName(id));
        try {
          mkdirSync(claimsDir(layout), { recursive: true, mode: 0o750 });
          renameSync(path.join(layout.spool, name), target);
        } catch (e) {
          if ((e as NodeJS.ErrnoException).code === 'ENOENT') continue; // another processor was first
          throw e;
        }
        const refuse = (reason: string, payload: unknown): ClaimOutcome => {
          const letter = deadLetter(payload, `spool entry ${name}: ${reason}`);
          rmSync(target, { force: true });
          return { status: 'refused', name, reason, deadLetter: letter };
        };
        const read = readJsonIfExists(target);
        if (read === undefined) continue;
        if ('corrupt' in read) return refuse(`not JSON (${read.corrupt})`, null);
        const k = key();
        if (!k.ok) {
          // Not the entry's fault: put it back for when the key is usable again.
          renameSync(target, path.join(layout.spool, name));
          throw new Error(k.error.message);
        }
        const opened = unseal(k.value, 'spool', read.value);
        if (!opened.ok) return refuse(opened.error.message, read.value);
        const entry = asEntry(opened.value);
        if (typeof entry === 'string') return refuse(entry, read.value);
        if (entry.id !== id) return refuse('spool entry is stored under another id than its own', read.value);
        return { status: 'claimed', claim: { entry, copyFile: path.join(layout.spool, entry.copy), claimFile: target } };
      }
      return undefined;
    },

    checkpoint(claim, resumeIndex) {
      rewrite(claim, resumeIndex);
      const fresh = path.join(claimsDir(layout), claimName(claim.entry.id));
      renameSync(claim.claimFile, fresh);
      claim.claimFile = fresh;
    },

    release(claim, resumeIndex) {
      rewrite(claim, resumeIndex);
      renameSync(claim.claimFile, path.join(layout.spool, `${claim.entry.id}${ENTRY_SUFFIX}`));
    },

    complete(claim) {
      // The claim first: a crash in between leaves an unreferenced copy, never an entry without one.
      rmSync(claim.claimFile, { force: true });
      rmSync(claim.copyFile, { force: true });
    },

    abandon(claim, reason) {
      const letter = deadLetter({ entry: claim.entry, copy: claim.copyFile }, reason);
      rmSync(claim.claimFile, { force: true });
      return letter;
    },
  };
}
