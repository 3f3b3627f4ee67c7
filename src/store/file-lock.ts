/**
 * An exclusive lock between processes on one host: a lock file that holds the owner's pid
 * from the moment it exists (created by link(2), which fails when the name is taken). A lock whose owner died (SIGKILL, maxtime) is taken over once its
 * pid no longer runs, or once it is older than `staleMs` (a pid can be reused).
 */
import { closeSync, constants, linkSync, lstatSync, openSync, renameSync, rmSync, writeSync } from 'node:fs';
import * as path from 'node:path';
import { DATA_FILE_MODE, ensureDir, readTextIfExists } from './durable-file';

export interface LockOptions {
  /** Give up after this long (the action must finish inside maxtime). */
  readonly timeoutMs?: number;
  /** A lock older than this is considered abandoned. */
  readonly staleMs?: number;
}

export class LockTimeoutError extends Error {
  constructor(readonly lockFile: string, waitedMs: number) {
    super(`could not lock ${lockFile} within ${waitedMs} ms (another soar_response process holds it)`);
  }
}

const sleepArray = new Int32Array(new SharedArrayBuffer(4));
function sleepSync(ms: number): void {
  Atomics.wait(sleepArray, 0, 0, ms);
}

function pidAlive(pid: number): boolean {
  if (!Number.isInteger(pid) || pid <= 0) return false;
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

let lockAttempt = 0;

/**
 * Create the lock file with our pid already in it: the pid is written to a private file
 * first and that file is hard-linked to the lock's name (link fails when the name exists).
 * A lock created empty and written after would be judged abandoned by a waiter that read it
 * in between, and with dozens of processes starting at once on two cores the creator can be
 * descheduled for that long.
 */
function tryAcquire(lockFile: string): boolean {
  const mine = `${lockFile}.${process.pid}.${lockAttempt++}.new`;
  let fd: number;
  try {
    fd = openSync(mine, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW, DATA_FILE_MODE);
  } catch (e) {
    // The lock folder is made on first use only (a stat per lock was measurable in a digest).
    if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
    ensureDir(path.dirname(lockFile));
    return tryAcquire(lockFile);
  }
  try {
    try {
      writeSync(fd, `${process.pid}\n`);
    } finally {
      closeSync(fd);
    }
    linkSync(mine, lockFile);
    return true;
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'EEXIST') return false;
    throw e;
  } finally {
    rmSync(mine, { force: true });
  }
}

/** The inode of an abandoned lock file, or undefined when the lock is live or gone. */
function abandonedInode(lockFile: string, staleMs: number, nowMs = Date.now()): number | undefined {
  try {
    // Not through a link, and never blocking on a FIFO placed under the lock's name.
    const st = lstatSync(lockFile);
    const age = nowMs - st.mtimeMs;
    const pid = Number((readTextIfExists(lockFile) ?? '').trim());
    // Our locks always hold a pid; an empty one (a crash of an older version mid-creation) is
    // given a moment before it is judged.
    const abandoned = pid ? !pidAlive(pid) || age > staleMs : age > 1000;
    return abandoned ? st.ino : undefined;
  } catch (e) {
    // Released between our checks: not abandoned, just free.
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw e;
  }
}

/**
 * Remove an abandoned lock without ever removing a fresh one: move it aside first, and if
 * what was moved is not the file judged abandoned (another waiter took over in between),
 * put it back.
 */
function breakAbandoned(lockFile: string, inode: number): void {
  const aside = `${lockFile}.${process.pid}.${Date.now()}.stale`;
  try {
    renameSync(lockFile, aside);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return;
    throw e;
  }
  if (lstatSync(aside).ino === inode) rmSync(aside, { force: true });
  else renameSync(aside, lockFile);
}

/**
 * The acquisition loop shared by the blocking and the asynchronous lock: each next() tries to
 * take the lock (breaking an abandoned one) and returns 0 once held, or how long to wait before
 * trying again (doubling up to maxDelay, with jitter); it throws LockTimeoutError past the timeout.
 */
function waiter(lockFile: string, options: LockOptions, firstDelay: number, maxDelay: number): { next(): number } {
  const timeoutMs = options.timeoutMs ?? 30_000;
  const staleMs = options.staleMs ?? 60_000;
  const started = Date.now();
  let delay = firstDelay;
  return {
    next(): number {
      for (;;) {
        if (tryAcquire(lockFile)) return 0;
        const inode = abandonedInode(lockFile, staleMs);
        if (inode === undefined) break;
        breakAbandoned(lockFile, inode);
      }
      if (Date.now() - started > timeoutMs) throw new LockTimeoutError(lockFile, Date.now() - started);
      const wait = delay + Math.floor(Math.random() * delay);
      delay = Math.min(delay * 2, maxDelay);
      return wait;
    },
  };
}

/**
 * Run `fn` holding the lock. Synchronous on purpose: the critical sections are a few file
 * operations, and a lock held across an await would serialise unrelated work.
 */
export function withFileLock<T>(lockFile: string, fn: () => T, options: LockOptions = {}): T {
  const wait = waiter(lockFile, options, 1, 50);
  for (let delay = wait.next(); delay !== 0; delay = wait.next()) sleepSync(delay);
  try {
    return fn();
  } finally {
    rmSync(lockFile, { force: true });
  }
}

/**
 * The same lock held across asynchronous work (an HTTP lookup): waiters poll with a sleep
 * instead of blocking the event loop. Used so that concurrent processes ask a provider about
 * one address once, the others reading the answer from the cache.
 */
export async function withFileLockAsync<T>(
  lockFile: string,
  fn: () => Promise<T>,
  options: LockOptions & { sleep?: (ms: number) => Promise<void> } = {},
): Promise<T> {
  const sleep = options.sleep ?? ((ms: number) => new Promise<void>((r) => setTimeout(r, ms)));
  const wait = waiter(lockFile, options, 5, 200);
  for (let delay = wait.next(); delay !== 0; delay = wait.next()) await sleep(delay);
  try {
    return await fn();
  } finally {
    rmSync(lockFile, { force: true });
  }
}

/**
 * Which file a lock name holds: the inode alone is not enough, a file system reuses the number
 * of a removed file at once (a lock broken as abandoned and made again gets the same one).
 */
function fileIdentity(lockFile: string): string {
  const st = lstatSync(lockFile);
  return `${st.ino}:${st.mtimeMs}:${st.birthtimeMs}`;
}

/**
 * One try, never waiting: the identity of the lock file when this process now holds it (an
 * abandoned one — owner gone, or older than `staleMs` as of `nowMs` — is taken over), or
 * undefined when a live holder has it. The caller releases with releaseFileLock.
 */
export function tryFileLock(lockFile: string, options: { staleMs: number; nowMs?: number }): string | undefined {
  // A few rounds at most: each either takes the lock, finds a live holder, or breaks an abandoned one.
  for (let round = 0; round < 3; round++) {
    if (tryAcquire(lockFile)) return fileIdentity(lockFile);
    const inode = abandonedInode(lockFile, options.staleMs, options.nowMs);
    if (inode === undefined) return undefined;
    breakAbandoned(lockFile, inode);
  }
  return undefined;
}

/**
 * Release a lock taken by tryFileLock, unless it is no longer the file we created (held past
 * `staleMs`, another process took it over): then it is theirs and stays.
 */
export function releaseFileLock(lockFile: string, identity: string): void {
  try {
    if (fileIdentity(lockFile) !== identity) return;
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return;
    throw e;
  }
  rmSync(lockFile, { force: true });
}

export { pidAlive as processAlive };
