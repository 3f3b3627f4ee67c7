/**
 * The incident events file, `<data>/events/incidents.json`, that the app's inputs.conf
 * monitors. Lines are appended with one write(2) each batch (appendDurably), so concurrent
 * actions never interleave inside a line.
 *
 * Rotation: past MAX_EVENTS_BYTES the file is renamed to incidents.json.1 (.1 to .2, and so
 * on; KEEP_ROTATED are kept) under a lock, and the next append starts a new file. Splunk's
 * monitor input recognises a renamed file by the CRC of its first bytes and does not index it
 * twice, while the `incidents.json*` pattern still reads what a writer that opened the file
 * before the rename appended to it.
 *
 * Writing an event never costs an incident: a failure is returned (the caller logs one WARN
 * per run, see IncidentEventLog) and incidents.csv remains the record.
 */
import * as path from 'node:path';
import { existsSync, renameSync } from 'node:fs';
import { fail, ok, Result } from '../result';
import type { DataLayout } from '../store/data-dir';
import { appendDurably, fileSize, syncFile } from '../store/durable-file';
import { withFileLock } from '../store/file-lock';
import type { Logger } from '../splunk/log';
import { IncidentEvent, incidentEventLine } from './incident-event';

export const EVENTS_DIR = 'events';
export const EVENTS_FILE = 'incidents.json';
/** Rotate when the file reaches this size. */
export const MAX_EVENTS_BYTES = 50 * 1024 * 1024;
/** Rotated files kept: incidents.json.1 … .3. */
export const KEEP_ROTATED = 3;

export function eventsFile(layout: Pick<DataLayout, 'root'>): string {
  return path.join(layout.root, EVENTS_DIR, EVENTS_FILE);
}

/** The fixed names inside the data directory (data-dir-safety's known lists). */
export const EVENT_FILE_NAMES: readonly string[] = [
  `${EVENTS_DIR}/${EVENTS_FILE}`,
  ...Array.from({ length: KEEP_ROTATED }, (_, i) => `${EVENTS_DIR}/${EVENTS_FILE}.${i + 1}`),
];

export interface EventFileOptions {
  readonly maxBytes?: number;
  readonly keep?: number;
  readonly durable?: boolean;
  readonly lockTimeoutMs?: number;
}

/** Shift incidents.json → .1 → .2 …, dropping the oldest; under the lock, and only if still too big. */
function rotate(file: string, locks: string, maxBytes: number, keep: number, timeoutMs: number): void {
  withFileLock(
    path.join(locks, 'incident-events.lock'),
    () => {
      if (fileSize(file) < maxBytes) return; // another process rotated first
      for (let i = keep - 1; i >= 1; i--) {
        if (existsSync(`${file}.${i}`)) renameSync(`${file}.${i}`, `${file}.${i + 1}`);
      }
      renameSync(file, `${file}.1`);
    },
    { timeoutMs },
  );
}

/** Append already built lines (each ending in "\n") in one write, rotating first when the file is full. */
export function appendEventLines(layout: Pick<DataLayout, 'root' | 'locks'>, text: string, options: EventFileOptions = {}): Result<void, 'io_error'> {
  if (text === '') return ok(undefined);
  const file = eventsFile(layout);
  const maxBytes = options.maxBytes ?? MAX_EVENTS_BYTES;
  try {
    if (fileSize(file) >= maxBytes) {
      try {
        rotate(file, layout.locks, maxBytes, options.keep ?? KEEP_ROTATED, options.lockTimeoutMs ?? 1000);
      } catch {
        // A rotation that cannot happen now (lock busy, rename refused) leaves the file a bit
        // longer: the event still goes in, and the next append tries again.
      }
    }
    appendDurably(file, text, { durable: options.durable ?? true });
    return ok(undefined);
  } catch (e) {
    const err = e as NodeJS.ErrnoException;
    return fail('io_error', `cannot write incident events to ${file} (${err.code ?? err.message}): the incidents are recorded in incidents.csv, but Splunk will not index these changes; fix the folder's permissions or free disk space`);
  }
}

/**
 * A run's events: built as they happen, written in one append per flush (a digest flushes
 * once per batch). The first failure is logged as one WARN for the run; later ones only count.
 */
export class IncidentEventLog {
  private pending: string[] = [];
  private warned = false;
  private written = false;
  failures = 0;

  constructor(
    private readonly layout: Pick<DataLayout, 'root' | 'locks'>,
    private readonly options: EventFileOptions = {},
    private readonly append: typeof appendEventLines = appendEventLines,
  ) {}

  add(event: IncidentEvent): void {
    this.pending.push(incidentEventLine(event));
  }

  flush(log: Logger): void {
    if (this.pending.length === 0) return;
    const lines = this.pending;
    this.pending = [];
    const r = this.append(this.layout, lines.join(''), this.options);
    if (r.ok) {
      this.written = true;
      return;
    }
    this.failures += lines.length;
    if (this.warned) return;
    this.warned = true;
    log.warn('Incident events not written', { events: lines.length, reason: r.error.kind, message: r.error.message });
  }

  /**
   * Flush the file to disk once, at the end of a run that wrote without `durable`: a run's
   * few appends then cost one fsync, not one each. A failure here only delays durability.
   */
  sync(): void {
    if (!this.written) return;
    this.written = false;
    try {
      syncFile(eventsFile(this.layout));
    } catch {
      // The lines are written (the page cache outlives this process); only an OS crash could lose them.
    }
  }
}
