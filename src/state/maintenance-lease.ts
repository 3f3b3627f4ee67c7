/**
 * At most one maintenance run at a time. The scheduler starts the maintenance search once a
 * minute per cluster, but a run can outlast its minute, and an admin can start one by hand:
 * the second run finds the lease held and does nothing. The interface is small and
 * asynchronous so that a KV-store lease (one per cluster, not per host) can replace the
 * file one.
 */
import * as path from 'node:path';
import { releaseFileLock, tryFileLock } from '../store/file-lock';

/** A held lease; only its holder releases it. */
export interface LeaseHandle {
  readonly holder: string;
  readonly acquiredAtMs: number;
}

export interface MaintenanceLease {
  /** The lease when it was free (or held longer than `ttlMs`: abandoned), undefined when another holder has it. */
  tryAcquire(holder: string, nowMs: number, ttlMs: number): Promise<LeaseHandle | undefined>;
  /** Give the lease back; a lease taken over in the meantime is left to its new holder. */
  release(h: LeaseHandle): Promise<void>;
}

/** The lease file, in the data directory's locks folder (a known folder: see store/data-dir-safety.ts). */
export const MAINTENANCE_LEASE_FILE = 'maintenance.lock';

interface FileLeaseHandle extends LeaseHandle {
  /** The lock file this run made (see store/file-lock.ts). */
  readonly file: string;
}

/**
 * The lease as a lock file on this host (store/file-lock.ts): taken without waiting, and
 * taken over when its holder's process is gone or it is older than the ttl. It keeps two
 * runs on one host apart; members of a search head cluster each have their own.
 */
export class FileMaintenanceLease implements MaintenanceLease {
  private readonly file: string;

  constructor(locksDir: string) {
    this.file = path.join(locksDir, MAINTENANCE_LEASE_FILE);
  }

  tryAcquire(holder: string, nowMs: number, ttlMs: number): Promise<LeaseHandle | undefined> {
    try {
      const file = tryFileLock(this.file, { staleMs: ttlMs, nowMs });
      const handle: FileLeaseHandle | undefined = file === undefined ? undefined : { holder, acquiredAtMs: nowMs, file };
      return Promise.resolve(handle);
    } catch (e) {
      return Promise.reject(e as Error);
    }
  }

  release(h: LeaseHandle): Promise<void> {
    try {
      releaseFileLock(this.file, (h as FileLeaseHandle).file);
      return Promise.resolve();
    } catch (e) {
      return Promise.reject(e as Error);
    }
  }
}
