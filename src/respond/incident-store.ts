/**
 * The incident record, written before any network call: the TXT report (atomic replace)
 * and one `incidents.csv` row (one O_APPEND write under the incidents lock), exactly once
 * per Splunk result (sid + rid) however many processes run and wherever one is killed.
 *
 * Exactly once, including crashes: under the lock, a ledger marker for hash(sid, rid) is
 * written first as "pending" with the chosen incident id, then the report, then the row,
 * then the marker becomes "recorded". A later call for the same result that finds a
 * pending marker knows its writer died (it holds the lock now), so it finishes the job
 * with the same incident id, appending the row only if the file does not hold it yet.
 *
 * Updates (`updateIncidentReport`) rewrite the TXT report only: incidents.csv keeps one
 * row per incident (DESIGN.md §4), so it stays the record of what was known when the
 * detection fired; the updated report and the Discord update message carry the rest.
 */
import { createHash } from 'node:crypto';
import { closeSync, openSync, readSync, rmSync } from 'node:fs';
import * as path from 'node:path';
import { createObjectCsvStringifier } from 'csv-writer';
import { fail, ok, Result } from '../result';
import { DataLayout } from '../store/data-dir';
import { appendDurably, fileSize, readJsonIfExists, readTextIfExists, writeFileAtomic } from '../store/durable-file';
import { LockOptions, withFileLock } from '../store/file-lock';
import { Incident } from './incident';
import { renderIncidentReport, reportFileName } from './incident-report';
import { incidentCsvColumns, incidentCsvRecord } from './incident-row';
import { guardStorage, StorageErrorKind } from './storage-failure';

/** An incident before the store has given it an id. */
export type IncidentDraft = Omit<Incident, 'incidentId'>;

export type RecordErrorKind = StorageErrorKind | 'invalid_incident_id' | 'no_free_incident_id';

export interface RecordedIncident {
  /** `recorded`: this call wrote it; `duplicate`: this sid + rid was recorded before. */
  readonly status: 'recorded' | 'duplicate';
  readonly incidentId: string;
  /** Absolute path of the TXT report. */
  readonly reportFile: string;
  /** The stored incident for `recorded` (and a finished crashed record); undefined for a plain duplicate. */
  readonly incident?: Incident;
}

export interface RecordOptions {
  readonly lock?: LockOptions;
  /** fsync the incidents.csv row before returning (default true). A digest run appends many
   * rows without it and flushes once at the end (syncFile). */
  readonly durable?: boolean;
}

const INCIDENT_ID_ATTEMPTS = 8;

/** `INC-YYYYMMDD-HHMMSS-xxxxxx` (UTC) from a time and at least three random bytes. */
export function newIncidentId(nowMs: number, random: Uint8Array): string {
  if (random.length < 3) throw new RangeError('newIncidentId needs at least 3 random bytes');
  const iso = new Date(nowMs).toISOString();
  const stamp = `${iso.slice(0, 4)}${iso.slice(5, 7)}${iso.slice(8, 10)}-${iso.slice(11, 13)}${iso.slice(14, 16)}${iso.slice(17, 19)}`;
  return `INC-${stamp}-${Buffer.from(random.subarray(0, 3)).toString('hex')}`;
}

/** Ledger key of one Splunk result; JSON keeps "a|b"+"c" apart from "a"+"b|c". */
export function resultKeyHash(sid: string, rid: string): string {
  return createHash('sha256').update(JSON.stringify([sid, rid])).digest('hex');
}

export function incidentsLockFile(layout: DataLayout): string {
  return path.join(layout.locks, 'incidents.lock');
}

function markerFile(layout: DataLayout, sid: string, rid: string): string {
  return path.join(layout.ledger, 'incidents', `${resultKeyHash(sid, rid)}.json`);
}

/**
 * The pending marker lives under its own name: replacing an existing file by rename makes
 * ext4 flush the new file's data at once (auto_da_alloc), which cost a digest milliseconds
 * per row; creating the final marker under a fresh name does not.
 */
function pendingMarkerFile(marker: string): string {
  return marker.replace(/\.json$/, '.pending.json');
}

/** The recorded marker, else the pending one. */
function readMarkers(marker: string): IncidentMarker | undefined {
  return readMarker(marker) ?? readMarker(pendingMarkerFile(marker));
}

interface IncidentMarker {
  readonly state: 'pending' | 'recorded';
  readonly incidentId: string;
  readonly sid: string;
  readonly rid: string;
}

function readMarker(file: string): IncidentMarker | undefined {
  const read = readJsonIfExists(file);
  if (read === undefined || 'corrupt' in read) return undefined;
  const m = read.value as Partial<IncidentMarker> | null;
  if (m === null || typeof m !== 'object' || typeof m.incidentId !== 'string' || (m.state !== 'pending' && m.state !== 'recorded')) {
    return undefined;
  }
  return m as IncidentMarker;
}

const stringifier = createObjectCsvStringifier({ header: incidentCsvColumns.map((c) => ({ id: c, title: c })) });

/** Header (for an empty file) and the row, as one string for one write. */
function csvText(incident: Incident, fileIsEmpty: boolean, lastByteIsNewline: boolean): string {
  const header = fileIsEmpty ? stringifier.getHeaderString() ?? '' : '';
  // A file cut by a full disk or a hand edit must not glue its stub onto our row.
  const separator = !fileIsEmpty && !lastByteIsNewline ? '\n' : '';
  return separator + header + stringifier.stringifyRecords([incidentCsvRecord(incident)]);
}

function lastByteIsNewline(file: string, size: number): boolean {
  if (size === 0) return true;
  const fd = openSync(file, 'r');
  try {
    const b = Buffer.alloc(1);
    readSync(fd, b, 0, 1, size - 1);
    return b[0] === 0x0a;
  } finally {
    closeSync(fd);
  }
}

function appendRow(layout: DataLayout, incident: Incident, durable: boolean): void {
  const size = fileSize(layout.incidents);
  appendDurably(layout.incidents, csvText(incident, size === 0, lastByteIsNewline(layout.incidents, size)), { durable });
}

/** Only on the crash-recovery path: whether a row for this id made it into the file. */
function csvHoldsIncident(layout: DataLayout, incidentId: string): boolean {
  const text = readTextIfExists(layout.incidents);
  if (text === undefined) return false;
  // Ids are [A-Za-z0-9._-] (reportFileName), never quoted, and the first column.
  return text.startsWith(`${incidentId},`) || text.includes(`\n${incidentId},`);
}

function writeReport(layout: DataLayout, incident: Incident, fileName: string): string {
  const file = path.join(layout.reports, fileName);
  writeFileAtomic(file, renderIncidentReport(incident), { durable: false });
  return file;
}

function pickIncidentId(layout: DataLayout, newId: () => string): Result<string, 'invalid_incident_id' | 'no_free_incident_id'> {
  for (let attempt = 0; attempt < INCIDENT_ID_ATTEMPTS; attempt++) {
    const id = newId();
    const name = reportFileName(id);
    if (!name.ok) return name;
    // Random ids can collide within one second; the report file is the id's claim.
    if (readTextIfExists(path.join(layout.reports, name.value)) === undefined) return ok(id);
  }
  return fail('no_free_incident_id', `${INCIDENT_ID_ATTEMPTS} generated incident ids were all taken already; the id generator is not random enough`);
}

/**
 * Record one incident exactly once per (sid, rid). `newId` is called under the lock (only
 * for a result not recorded yet) until it yields an id with no report; pass
 * `() => newIncidentId(Date.now(), randomBytes(3))`.
 */
export function recordIncident(
  layout: DataLayout,
  draft: IncidentDraft,
  newId: () => string,
  options: RecordOptions = {},
): Result<RecordedIncident, RecordErrorKind> {
  return guardStorage<RecordedIncident, RecordErrorKind>('recording the incident', () =>
    withFileLock(incidentsLockFile(layout), () => recordLocked(layout, draft, newId, options.durable ?? true), options.lock),
  );
}

function recordLocked(layout: DataLayout, draft: IncidentDraft, newId: () => string, durable: boolean): Result<RecordedIncident, RecordErrorKind> {
  const marker = markerFile(layout, draft.sid, draft.rid);
  const existing = readMarkers(marker);
  if (existing?.state === 'recorded') {
    return ok({ status: 'duplicate', incidentId: existing.incidentId, reportFile: path.join(layout.reports, `${existing.incidentId}.txt`) });
  }
  let incidentId: string;
  if (existing?.state === 'pending') {
    incidentId = existing.incidentId;
  } else {
    const picked = pickIncidentId(layout, newId);
    if (!picked.ok) return picked;
    incidentId = picked.value;
  }
  const fileName = reportFileName(incidentId);
  if (!fileName.ok) return fileName;
  const incident: Incident = { ...draft, incidentId };
  const pending: IncidentMarker = { state: 'pending', incidentId, sid: draft.sid, rid: draft.rid };
  if (existing === undefined) writeFileAtomic(pendingMarkerFile(marker), JSON.stringify(pending), { durable: false });
  const reportFile = writeReport(layout, incident, fileName.value);
  if (existing === undefined || !csvHoldsIncident(layout, incidentId)) appendRow(layout, incident, durable);
  writeFileAtomic(marker, JSON.stringify({ ...pending, state: 'recorded' }), { durable: false });
  rmSync(pendingMarkerFile(marker), { force: true });
  return ok({ status: 'recorded', incidentId, reportFile, incident });
}

/** The ids a digest batch is writing, kept until its markers exist (one file per sid). */
function batchJournalFile(layout: DataLayout, sid: string): string {
  return path.join(layout.ledger, 'incidents', `batch-${createHash('sha256').update(sid, 'utf8').digest('hex').slice(0, 32)}.json`);
}

function readBatchJournal(file: string): Map<string, string> {
  const read = readJsonIfExists(file);
  const out = new Map<string, string>();
  if (read === undefined || 'corrupt' in read || typeof read.value !== 'object' || read.value === null) return out;
  for (const [rid, id] of Object.entries(read.value as Record<string, unknown>)) if (typeof id === 'string') out.set(rid, id);
  return out;
}

/**
 * Record many incidents under one lock with one append (a digest alert's rows): per incident
 * its report and its marker, all rows in one write. Crash safety per batch instead of per
 * row: before the append, one journal (per sid) names the ids being written; a run killed
 * between the append and the markers is finished by the next run with the same ids, and a
 * row already in incidents.csv is not appended again.
 */
export function recordIncidents(
  layout: DataLayout,
  drafts: readonly IncidentDraft[],
  newId: () => string,
  options: RecordOptions = {},
): Result<Result<RecordedIncident, RecordErrorKind>[], StorageErrorKind> {
  return guardStorage<Result<RecordedIncident, RecordErrorKind>[], StorageErrorKind>('recording the incidents', () =>
    withFileLock(
      incidentsLockFile(layout),
      () => {
        const results: Result<RecordedIncident, RecordErrorKind>[] = [];
        const fresh: { incident: Incident; marker: string; recovered: boolean }[] = [];
        const journals = new Map<string, { file: string; ids: Map<string, string> }>();
        const journalFor = (sid: string) => {
          let j = journals.get(sid);
          if (!j) {
            const file = batchJournalFile(layout, sid);
            j = { file, ids: readBatchJournal(file) };
            journals.set(sid, j);
          }
          return j;
        };
        for (const draft of drafts) {
          const marker = markerFile(layout, draft.sid, draft.rid);
          // Batches never leave per-row pending markers (their journal stands in), and a digest's
          // sid is never a per-result one: only the final marker is worth a look.
          const existing = readMarker(marker);
          if (existing?.state === 'recorded') {
            results.push(ok({ status: 'duplicate', incidentId: existing.incidentId, reportFile: path.join(layout.reports, `${existing.incidentId}.txt`) }));
            continue;
          }
          const interrupted = journalFor(draft.sid).ids.get(draft.rid);
          const picked = interrupted !== undefined ? ok(interrupted) : pickIncidentId(layout, newId);
          if (!picked.ok) {
            results.push(picked);
            continue;
          }
          const fileName = reportFileName(picked.value);
          if (!fileName.ok) {
            results.push(fileName);
            continue;
          }
          const incident: Incident = { ...draft, incidentId: picked.value };
          const reportFile = writeReport(layout, incident, fileName.value);
          fresh.push({ incident, marker, recovered: interrupted !== undefined });
          journalFor(draft.sid).ids.set(draft.rid, incident.incidentId);
          results.push(ok({ status: 'recorded', incidentId: incident.incidentId, reportFile, incident }));
        }
        if (fresh.length === 0) return ok(results);
        for (const j of journals.values()) writeFileAtomic(j.file, JSON.stringify(Object.fromEntries(j.ids)), { durable: false });
        // Rows of an interrupted batch may already be in the file (killed after the append).
        const csvNow = fresh.some((f) => f.recovered) ? (readTextIfExists(layout.incidents) ?? '') : '';
        const toAppend = fresh.filter((f) => !f.recovered || !(csvNow.startsWith(`${f.incident.incidentId},`) || csvNow.includes(`\n${f.incident.incidentId},`)));
        if (toAppend.length > 0) {
          const size = fileSize(layout.incidents);
          const text = toAppend.map((f, i) => csvText(f.incident, i === 0 && size === 0, i > 0 || lastByteIsNewline(layout.incidents, size))).join('');
          appendDurably(layout.incidents, text, { durable: options.durable ?? true });
        }
        for (const f of fresh) {
          writeFileAtomic(f.marker, JSON.stringify({ state: 'recorded', incidentId: f.incident.incidentId, sid: f.incident.sid, rid: f.incident.rid }), { durable: false });
        }
        for (const j of journals.values()) rmSync(j.file, { force: true });
        return ok(results);
      },
      options.lock,
    ),
  );
}

export type UpdateErrorKind = StorageErrorKind | 'invalid_incident_id' | 'unknown_incident';

/** Rewrite the TXT report of an incident already recorded (e.g. once deferred enrichment finished). */
export function updateIncidentReport(layout: DataLayout, incident: Incident): Result<string, UpdateErrorKind> {
  const fileName = reportFileName(incident.incidentId);
  if (!fileName.ok) return fileName;
  return guardStorage<string, UpdateErrorKind>('updating the incident report', () => {
    const file = path.join(layout.reports, fileName.value);
    if (readTextIfExists(file) === undefined) {
      return fail('unknown_incident', `no report ${file}: incident ${incident.incidentId} was never recorded, so there is nothing to update`);
    }
    writeFileAtomic(file, renderIncidentReport(incident), { durable: false });
    return ok(file);
  });
}

/** The incident id already recorded for a Splunk result, if any. */
export function recordedIncidentId(layout: DataLayout, sid: string, rid: string): string | undefined {
  const marker = readMarker(markerFile(layout, sid, rid));
  return marker?.state === 'recorded' ? marker.incidentId : undefined;
}
