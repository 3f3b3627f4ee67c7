/**
 * The data directory is ours alone. Before the alert action or a CLI command that writes
 * there does anything, the directory and the files and folders the app knows by name are
 * checked: none may be a symbolic link, writable by others, owned by another user, or of
 * the wrong type. Otherwise a local user could redirect a write (incidents.csv linked to a
 * victim file, reports/ linked to a victim folder) or plant work for us (an outbox entry).
 *
 * The data directory itself may be reached through a link an admin made: it is resolved
 * once (realpath) and everything after uses the real path. The check is a couple of dozen
 * lstat calls, no directory walk, so it stays cheap on the per-result path.
 */
import { lstatSync, realpathSync } from 'node:fs';
import * as path from 'node:path';
import { fail, ok, Result } from '../result';
import { ensureDir } from './durable-file';
import { INSTALL_KEY_FILE, installKey } from './entry-seal';
import { EVENT_FILE_NAMES } from '../respond/incident-event-file';

export type DataDirErrorKind = 'unsafe_data_dir' | 'unsafe_key' | 'io_error';

/** What an lstat tells the check; undefined: nothing of that name. */
export interface EntryStat {
  readonly kind: 'dir' | 'file' | 'symlink' | 'other';
  readonly mode: number;
  readonly uid: number;
}

/** The file system as the check sees it (a fake in unit tests). */
export interface DataDirProbe {
  lstat(p: string): EntryStat | undefined;
  /** The path with every link resolved; undefined when it does not exist. Throws on other errors. */
  realpath(p: string): string | undefined;
  /** The user this process runs as; undefined where there are no uids (the owner checks are skipped). */
  readonly uid: number | undefined;
}

/** Files and folders the app creates inside the data directory, by their relative names. */
export const KNOWN_FILES: readonly string[] = ['incidents.csv', 'blocklist.csv', INSTALL_KEY_FILE, ...EVENT_FILE_NAMES];
export const KNOWN_DIRS: readonly string[] = [
  'reports',
  'reports/orphaned',
  'cache',
  'quota',
  'queue',
  'outbox',
  'outbox/claimed',
  'dead-letters',
  'events',
  'ledger',
  'ledger/delivered',
  'ledger/incident-data',
  'ledger/incidents',
  'ledger/notified',
  'locks',
  'spool',
  'spool/claimed',
];

function describeKind(kind: EntryStat['kind']): string {
  return kind === 'dir' ? 'a directory' : kind === 'file' ? 'a regular file' : kind === 'symlink' ? 'a symbolic link' : 'a special file';
}

/** What is wrong with one entry, as one sentence with the fix; undefined when it is fine. */
function problemOf(p: string, st: EntryStat, expected: 'dir' | 'file', uid: number | undefined): string | undefined {
  if (st.kind === 'symlink') {
    return `${p} is a symbolic link: the app never follows links inside its data directory; remove it (rm ${p}) and the app recreates what it needs`;
  }
  if (st.kind !== expected) {
    return `${p} is ${describeKind(st.kind)}, not ${describeKind(expected)}: move it away (the app recreates it)`;
  }
  if ((st.mode & 0o002) !== 0) {
    return `${p} is writable by others (mode ${(st.mode & 0o7777).toString(8).padStart(4, '0')}): chmod o-w ${p}`;
  }
  if (uid !== undefined && st.uid !== uid) {
    return `${p} is owned by uid ${st.uid}, not by uid ${uid} that runs the app: chown ${uid} ${p} (or run the app as its owner)`;
  }
  return undefined;
}

/**
 * Check the data directory; the real (link-resolved) path when it is safe, or missing (the
 * app creates it, mode 0750). Pure apart from the probe.
 */
export function checkDataDir(root: string, probe: DataDirProbe): Result<string | undefined, 'unsafe_data_dir'> {
  let real: string | undefined;
  try {
    real = probe.realpath(root);
  } catch (e) {
    const err = e as NodeJS.ErrnoException;
    return fail('unsafe_data_dir', `cannot resolve the data directory ${root} (${err.code ?? err.message}): fix the path or its permissions, or set SOAR_DATA_DIR`);
  }
  if (real === undefined) return ok(undefined);
  const top = probe.lstat(real);
  if (top === undefined) return ok(undefined);
  const topProblem = problemOf(real, top, 'dir', probe.uid);
  if (topProblem !== undefined) return fail('unsafe_data_dir', `unsafe data directory${real !== root ? ` ${root} (resolved to ${real})` : ''}: ${topProblem}`);
  for (const [names, expected] of [[KNOWN_DIRS, 'dir'], [KNOWN_FILES, 'file']] as const) {
    for (const name of names) {
      const p = path.join(real, name);
      const st = probe.lstat(p);
      if (st === undefined) continue;
      const problem = problemOf(p, st, expected, probe.uid);
      if (problem !== undefined) return fail('unsafe_data_dir', `unsafe data directory ${real}: ${problem}`);
    }
  }
  return ok(real);
}

/** The real file system. */
/** realpath(3), or undefined for a path that does not exist (anything else throws). */
export function realpathOrUndefined(p: string): string | undefined {
  try {
    return realpathSync(p);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw e;
  }
}

export const systemProbe: DataDirProbe = {
  lstat(p) {
    try {
      const st = lstatSync(p);
      const kind = st.isSymbolicLink() ? 'symlink' : st.isDirectory() ? 'dir' : st.isFile() ? 'file' : 'other';
      return { kind, mode: st.mode, uid: st.uid };
    } catch (e) {
      // A parent that is a file (ENOTDIR) makes the entry absent; the parent's own check reports it.
      const code = (e as NodeJS.ErrnoException).code;
      if (code === 'ENOENT' || code === 'ENOTDIR') return undefined;
      throw e;
    }
  },
  realpath: realpathOrUndefined,
  uid: typeof process.geteuid === 'function' ? process.geteuid() : undefined,
};

export interface PreparedDataDir {
  /** The data directory's real path: use it (dataLayout(root)) for everything after the check. */
  readonly root: string;
  readonly key: Buffer;
}

/**
 * Start-up of the alert action and of CLI commands that write data: check the directory,
 * create it (0750) when missing and check again, then read or create the install key.
 * A failure is a refusal: nothing was written (no folder, no key) when the check failed.
 */
export function prepareDataDir(root: string, probe: DataDirProbe = systemProbe): Result<PreparedDataDir, DataDirErrorKind> {
  let checked: Result<string | undefined, 'unsafe_data_dir'>;
  try {
    checked = checkDataDir(root, probe);
    if (checked.ok && checked.value === undefined) {
      ensureDir(root);
      checked = checkDataDir(root, probe);
    }
  } catch (e) {
    const err = e as NodeJS.ErrnoException;
    return fail('io_error', `cannot check or create the data directory ${root} (${err.code ?? err.message}${err.path ? ` on ${err.path}` : ''})`);
  }
  if (!checked.ok) return checked;
  if (checked.value === undefined) return fail('io_error', `the data directory ${root} vanished while it was being created`);
  const key = installKey(checked.value);
  if (!key.ok) return key;
  return ok({ root: checked.value, key: key.value });
}
