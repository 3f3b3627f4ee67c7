/**
 * The response layer's file operations fail in two ways a person can act on: another
 * process held a lock for too long (the run ends, the next one catches up), or the disk
 * refused (permissions, full disk). Both become Result failures instead of exceptions, so
 * the pipeline decides what to log and whether to continue.
 */
import { fail, Result } from '../result';
import { SealKeyError } from '../store/dead-letter-file';
import { LockTimeoutError } from '../store/file-lock';

export type StorageErrorKind = 'lock_timeout' | 'io_error';

function describe(error: unknown): string {
  const e = error as NodeJS.ErrnoException;
  if (e && typeof e.code === 'string') return `${e.code}${e.path ? ` on ${e.path}` : ''}${e.syscall ? ` (${e.syscall})` : ''}`;
  return e instanceof Error ? e.message : String(error);
}

/** Run `fn`, turning a lock timeout or a file-system error into a failure that names `what`. */
export function guardStorage<T, K extends string>(
  what: string,
  fn: () => Result<T, K>,
): Result<T, K | StorageErrorKind> {
  try {
    return fn();
  } catch (e) {
    if (e instanceof LockTimeoutError) return fail('lock_timeout', `${what}: ${e.message}`);
    // The install key went missing or unsafe after start-up: nothing can be sealed.
    if (e instanceof SealKeyError) return fail('io_error', `${what}: ${e.message}`);
    if ((e as NodeJS.ErrnoException)?.code !== undefined) return fail('io_error', `${what}: ${describe(e)}`);
    throw e;
  }
}

/** Whether a process with this id runs on this host (EPERM: it runs, as another user). */
export { processAlive } from '../store/file-lock';
