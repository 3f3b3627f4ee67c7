/**
 * Entries the app writes for a later process to act on (outbox, enrichment queue, spool,
 * dead letters) are sealed with an HMAC keyed by a per-install secret, so a file someone
 * else placed in the data directory is never delivered, enriched, recorded or replayed.
 *
 * The secret is `<data dir>/install.key`: 32 random bytes (hex), mode 0600, owned by the
 * user the action runs as. It is created on first use by writing a temporary file and
 * link(2)-ing it into place, so of two processes starting at once one key wins and both
 * use it. A key file that is a symlink, not a regular file, owned by another user or
 * readable by group or others is refused: it would let another account forge entries.
 *
 * The MAC covers a purpose (`outbox`, `queue`, …) and the entry's JSON without its `mac`
 * field, so an entry of one kind cannot be moved into another kind's folder.
 */
import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import { closeSync, constants, fstatSync, linkSync, openSync, readSync, rmSync, writeSync } from 'node:fs';
import * as path from 'node:path';
import { fail, ok, Result } from '../result';
import { ensureDir } from './durable-file';

export type SealPurpose = 'outbox' | 'queue' | 'spool' | 'dead-letter';

export type InstallKeyErrorKind = 'unsafe_key' | 'io_error';
export type UnsealErrorKind = 'unsealed' | 'bad_mac';

export const INSTALL_KEY_FILE = 'install.key';
const KEY_BYTES = 32;

/** One key per data directory per process: read once, it never changes. */
const loaded = new Map<string, Buffer>();

function currentUid(): number | undefined {
  return typeof process.geteuid === 'function' ? process.geteuid() : undefined;
}

/** Read the key file without following a symlink; undefined when it does not exist. */
function readKeyFile(file: string): Result<Buffer | undefined, InstallKeyErrorKind> {
  let fd: number;
  try {
    fd = openSync(file, constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') return ok(undefined);
    if (code === 'ELOOP') return fail('unsafe_key', `${file} is a symbolic link: the install key must be a regular file of the data directory; remove the link`);
    return fail('io_error', `cannot read ${file} (${code ?? (e as Error).message})`);
  }
  try {
    const st = fstatSync(fd);
    if (!st.isFile()) return fail('unsafe_key', `${file} is not a regular file: remove it and run again (a new key is made)`);
    const uid = currentUid();
    if (uid !== undefined && st.uid !== uid) return fail('unsafe_key', `${file} is owned by uid ${st.uid}, not by the user this runs as (uid ${uid}): another account could forge queued work; remove it`);
    if ((st.mode & 0o077) !== 0) return fail('unsafe_key', `${file} has mode ${(st.mode & 0o777).toString(8)}: group or others can read it; chmod 600 it`);
    const buf = Buffer.alloc(KEY_BYTES * 2 + 2);
    const n = readSync(fd, buf, 0, buf.length, 0);
    const text = buf.subarray(0, n).toString('ascii').trim();
    if (!/^[0-9a-f]{64}$/.test(text)) return fail('unsafe_key', `${file} does not hold a key (64 hex digits): remove it; entries sealed with the old key will be dead-lettered`);
    return ok(Buffer.from(text, 'hex'));
  } finally {
    closeSync(fd);
  }
}

/** The data directory's install key, created (mode 0600) on first use. */
export function installKey(dataDir: string): Result<Buffer, InstallKeyErrorKind> {
  const cached = loaded.get(dataDir);
  if (cached) return ok(cached);
  const file = path.join(dataDir, INSTALL_KEY_FILE);
  for (let attempt = 0; attempt < 3; attempt++) {
    const existing = readKeyFile(file);
    if (!existing.ok) return existing;
    if (existing.value) {
      loaded.set(dataDir, existing.value);
      return ok(existing.value);
    }
    const tmp = `${file}.${process.pid}.${Date.now()}.tmp`;
    try {
      ensureDir(dataDir);
      const fd = openSync(tmp, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW, 0o600);
      try {
        writeSync(fd, randomBytes(KEY_BYTES).toString('hex') + '\n');
      } finally {
        closeSync(fd);
      }
      try {
        linkSync(tmp, file);
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
        // Another process made the key first: read theirs on the next pass.
      }
    } catch (e) {
      return fail('io_error', `cannot create ${file} (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`);
    } finally {
      rmSync(tmp, { force: true });
    }
  }
  return fail('io_error', `cannot create or read ${file}`);
}

/** For tests: forget keys read by this process. */
export function forgetInstallKeys(): void {
  loaded.clear();
}

function macOf(key: Buffer, purpose: SealPurpose, body: string): string {
  return createHmac('sha256', key).update(`soar-edr:${purpose}\n`).update(body).digest('hex');
}

/** The entry with a `mac` field added; write it with JSON.stringify as returned. */
export function seal<T extends object>(key: Buffer, purpose: SealPurpose, entry: T): T & { mac: string } {
  const { mac: _drop, ...rest } = entry as T & { mac?: unknown };
  return { ...(rest as T), mac: macOf(key, purpose, JSON.stringify(rest)) };
}

/**
 * The entry without its `mac`, when the MAC matches what this install would have written;
 * a failure saying why otherwise (no MAC at all: written by an older version or by someone
 * else; a wrong MAC: changed after it was written, or forged).
 */
export function unseal(key: Buffer, purpose: SealPurpose, parsed: unknown): Result<Record<string, unknown>, UnsealErrorKind> {
  if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) return fail('unsealed', `not a sealed ${purpose} entry (not a JSON object)`);
  const { mac, ...rest } = parsed as Record<string, unknown>;
  if (typeof mac !== 'string' || !/^[0-9a-f]{64}$/.test(mac)) {
    return fail('unsealed', `${purpose} entry carries no MAC: it was not written by this install (or by a version before sealing); not acted on`);
  }
  const expected = Buffer.from(macOf(key, purpose, JSON.stringify(rest)), 'hex');
  if (!timingSafeEqual(expected, Buffer.from(mac, 'hex'))) {
    return fail('bad_mac', `${purpose} entry's MAC does not match this install's key: it was changed after it was written, or forged; not acted on`);
  }
  return ok(rest);
}
