/**
 * What a full disk (or a kill) can leave behind, cleaned up by a later run: stray `*.tmp`
 * files of atomic writes that never reached their rename, and incident reports that no
 * incidents.csv row names.
 *
 * Reports without a row: recordIncident creates the report first (its O_EXCL create claims
 * the incident id), then the pending marker, then the row. A run that stops in between
 * (ENOSPC on the marker or the append, a kill) leaves a report nobody records; the same
 * result run again is recorded under a new id. The row cannot be rebuilt from such a report
 * (it is rendered text, and the incident snapshot is written only after the row), so the
 * report is moved to `reports/orphaned/` with one WARN per sweep: kept for a person, no
 * longer looking like a recorded incident.
 *
 * Cheap by construction: at most once an hour (a marker file) from an alert run, on every
 * `soar-edr drain`; only reports whose id time (or mtime) is newer than the last sweep's
 * window are candidates, and incidents.csv is read backwards only until every candidate's
 * row has been seen. Files younger than a few minutes are left alone (a writer may be
 * between its report and its row; the check itself runs under the incidents lock).
 */
import { closeSync, constants, fstatSync, lstatSync, openSync, readdirSync, readSync, renameSync, rmSync } from 'node:fs';
import * as path from 'node:path';
import { ok, Result } from '../result';
import type { Logger } from '../splunk/log';
import type { DataLayout } from '../store/data-dir';
import { KNOWN_DIRS } from '../store/data-dir-safety';
import { ensureDir, readJsonIfExists, writeFileAtomic } from '../store/durable-file';
import { LockTimeoutError, withFileLock } from '../store/file-lock';
import { incidentsLockFile } from './incident-store';
import { guardStorage, StorageErrorKind } from './storage-failure';

export interface SweepOptions {
  /** Sweep even when the last sweep was less than an hour ago (soar-edr drain). */
  readonly force?: boolean;
  /** Files younger than this are left alone; default 5 minutes. */
  readonly minAgeMs?: number;
  /** How long to wait for the incidents lock; default 2 s (the sweep is skipped otherwise). */
  readonly lockTimeoutMs?: number;
}

export interface SweepReport {
  readonly tmpRemoved: number;
  /** Incident ids whose report was moved to reports/orphaned/. */
  readonly orphaned: readonly string[];
}

const SWEEP_EVERY_MS = 60 * 60_000;
const DEFAULT_MIN_AGE_MS = 5 * 60_000;
/** Candidates reach back this far before the last sweep's window: clocks and ids are not exact. */
const WINDOW_SLACK_MS = 60 * 60_000;
const CSV_CHUNK = 1024 * 1024;
const REPORT_NAME = /^([A-Za-z0-9][A-Za-z0-9._-]{0,127})\.txt$/;
const ID_TIME = /^INC-(\d{4})(\d{2})(\d{2})-(\d{2})(\d{2})(\d{2})-/;

interface SweepMarker {
  readonly atMs: number;
  /** Reports created up to here were judged by that sweep. */
  readonly windowEndMs: number;
}

function markerFile(layout: DataLayout): string {
  return path.join(layout.ledger, 'sweep.json');
}

/** Folders where atomic writes leave their temporary files: the data directory and every folder the app makes in it. */
export function tmpFolders(layout: DataLayout): string[] {
  return [layout.root, ...KNOWN_DIRS.map((d) => path.join(layout.root, d))];
}

function names(dir: string): string[] {
  try {
    return readdirSync(dir);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ENOTDIR') return [];
    throw e;
  }
}

/** mtime of a regular file (never through a link); undefined when it is anything else or gone. */
function fileMtime(file: string): number | undefined {
  try {
    const st = lstatSync(file);
    return st.isFile() ? st.mtimeMs : undefined;
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw e;
  }
}

function removeStrayTmp(layout: DataLayout, nowMs: number, minAgeMs: number): number {
  let removed = 0;
  for (const dir of tmpFolders(layout)) {
    for (const name of names(dir)) {
      if (!name.endsWith('.tmp')) continue;
      const file = path.join(dir, name);
      const mtime = fileMtime(file);
      if (mtime === undefined || nowMs - mtime < minAgeMs) continue;
      rmSync(file, { force: true });
      removed += 1;
    }
  }
  return removed;
}

/** When the incident id says it was made (UTC), else undefined. */
export function incidentIdTime(id: string): number | undefined {
  const m = ID_TIME.exec(id);
  if (m === null) return undefined;
  const t = Date.UTC(Number(m[1]), Number(m[2]) - 1, Number(m[3]), Number(m[4]), Number(m[5]), Number(m[6]));
  return Number.isFinite(t) ? t : undefined;
}

/**
 * Which of `wanted` have a row in incidents.csv (the id is each line's first cell), reading
 * from the end in chunks and stopping once all are seen: rows are appended right after
 * their report, so recent candidates are found in the last few chunks.
 */
export function idsWithRows(csvFile: string, wanted: ReadonlySet<string>): Set<string> {
  const found = new Set<string>();
  if (wanted.size === 0) return found;
  let fd: number;
  try {
    fd = openSync(csvFile, constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return found;
    throw e;
  }
  try {
    const st = fstatSync(fd);
    if (!st.isFile()) return found;
    let end = st.size;
    let carry = Buffer.alloc(0);
    const take = (lines: Buffer): void => {
      for (const line of lines.toString('utf8').split('\n')) {
        const comma = line.indexOf(',');
        const id = comma < 0 ? line : line.slice(0, comma);
        if (wanted.has(id)) found.add(id);
      }
    };
    while (end > 0 && found.size < wanted.size) {
      const start = Math.max(0, end - CSV_CHUNK);
      const buf = Buffer.alloc(end - start);
      let off = 0;
      while (off < buf.length) {
        const n = readSync(fd, buf, off, buf.length - off, start + off);
        if (n === 0) break;
        off += n;
      }
      const data = Buffer.concat([buf.subarray(0, off), carry]);
      end = start;
      if (start === 0) {
        take(data);
        break;
      }
      // The part before the first line end continues a line that starts in the chunk before.
      const first = data.indexOf(0x0a);
      if (first < 0) {
        carry = data;
        continue;
      }
      take(data.subarray(first + 1));
      carry = data.subarray(0, first + 1);
    }
    return found;
  } finally {
    closeSync(fd);
  }
}

function moveOrphans(layout: DataLayout, nowMs: number, minAgeMs: number, last: SweepMarker | undefined): string[] {
  const from = last === undefined ? Number.NEGATIVE_INFINITY : last.windowEndMs - WINDOW_SLACK_MS;
  const until = nowMs - minAgeMs;
  const candidates = new Map<string, string>();
  for (const name of names(layout.reports)) {
    const m = REPORT_NAME.exec(name);
    if (m === null) continue;
    const file = path.join(layout.reports, name);
    const idTime = incidentIdTime(m[1]!);
    if (idTime !== undefined && (idTime < from || idTime > until)) continue;
    const mtime = fileMtime(file);
    if (mtime === undefined || mtime > until || (idTime === undefined && mtime < from)) continue;
    candidates.set(m[1]!, file);
  }
  if (candidates.size === 0) return [];
  const withRows = idsWithRows(layout.incidents, new Set(candidates.keys()));
  const orphaned: string[] = [];
  const aside = path.join(layout.reports, 'orphaned');
  for (const [id, file] of candidates) {
    if (withRows.has(id)) continue;
    ensureDir(aside);
    try {
      renameSync(file, path.join(aside, path.basename(file)));
      orphaned.push(id);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
    }
  }
  return orphaned;
}

/**
 * Remove stray `*.tmp` files and move reports without a row aside; at most once an hour
 * unless `force`. undefined when it was not time yet, or the incidents lock was busy.
 */
export function sweepAfterFullDisk(layout: DataLayout, nowMs: number, options: SweepOptions = {}): Result<SweepReport | undefined, StorageErrorKind> {
  const minAgeMs = options.minAgeMs ?? DEFAULT_MIN_AGE_MS;
  return guardStorage<SweepReport | undefined, StorageErrorKind>('cleaning up after an interrupted write', () => {
    const read = readJsonIfExists(markerFile(layout));
    const marker = read !== undefined && 'value' in read ? (read.value as Partial<SweepMarker> | null) : undefined;
    const last = marker && Number.isFinite(marker.atMs) && Number.isFinite(marker.windowEndMs) ? (marker as SweepMarker) : undefined;
    if (!options.force && last !== undefined && last.atMs <= nowMs && nowMs - last.atMs < SWEEP_EVERY_MS) return ok(undefined);
    // Claim this hour's sweep before doing it, so concurrent runs do not all sweep.
    writeFileAtomic(markerFile(layout), JSON.stringify({ atMs: nowMs, windowEndMs: last?.windowEndMs ?? Number.MIN_SAFE_INTEGER }), { durable: false });
    const tmpRemoved = removeStrayTmp(layout, nowMs, minAgeMs);
    let orphaned: string[];
    try {
      orphaned = withFileLock(incidentsLockFile(layout), () => moveOrphans(layout, nowMs, minAgeMs, last), { timeoutMs: options.lockTimeoutMs ?? 2000 });
    } catch (e) {
      // Records are being written right now: the reports are judged next time.
      if (e instanceof LockTimeoutError) return ok({ tmpRemoved, orphaned: [] });
      throw e;
    }
    writeFileAtomic(markerFile(layout), JSON.stringify({ atMs: nowMs, windowEndMs: nowMs - minAgeMs }), { durable: false });
    return ok({ tmpRemoved, orphaned });
  });
}

/** The sweep's log lines: one WARN when reports were moved aside, one INFO for temporary files. */
export function logSweep(result: Result<SweepReport | undefined, StorageErrorKind>, layout: DataLayout, log: Logger): void {
  if (!result.ok) {
    log.warn('Cleanup after an interrupted write failed', { reason: result.error.kind, message: result.error.message });
    return;
  }
  const r = result.value;
  if (r === undefined) return;
  if (r.tmpRemoved > 0) log.info('Stray temporary files removed', { count: r.tmpRemoved, message: 'left by writes a full disk or a kill interrupted' });
  if (r.orphaned.length > 0) {
    log.warn('Incident reports without an incidents.csv row moved aside', {
      count: r.orphaned.length,
      folder: path.join(layout.reports, 'orphaned'),
      incident_ids: r.orphaned.slice(0, 20).join(','),
      message: 'a run stopped (full disk, kill) between writing the report and its row; the alert result was recorded under another id if it ran again. Look at them, then delete them',
    });
  }
}
