/**
 * The incident record, written before any network call: the TXT report and one
 * `incidents.csv` row (one O_APPEND write under the incidents lock), exactly once per
 * Splunk result (sid + rid) however many processes run and wherever one is killed.
 *
 * Exactly once, including crashes: under the lock, the report is created under a new id
 * (O_EXCL: the file is the id's claim), then a ledger marker for hash(sid, rid) is written
 * as "pending" with that id, then the row, then the marker becomes "recorded". A later call
 * for the same result that finds a pending marker knows its writer died (it holds the lock
 * now), so it finishes the job with the same incident id, appending the row only if the
 * file does not hold it yet. A run killed between the report and the pending marker leaves
 * a report no row names, and the next run records the result under a new id.
 *
 * A digest's rows are recorded in batches (recordIncidents): one lock, one append, and one
 * append to the sid's ledger per batch, instead of a marker file per row.
 *
 * Updates (`updateIncidentReport`) rewrite the TXT report only: incidents.csv keeps one
 * row per incident (DESIGN.md §4), so it stays the record of what was known when the
 * detection fired; the updated report and the Discord update message carry the rest.
 */
import { createHash } from 'node:crypto';
import { closeSync, constants, openSync, readSync, rmSync } from 'node:fs';
import * as path from 'node:path';
import { createObjectCsvStringifier } from 'csv-writer';
import { fail, ok, Result } from '../result';
import { DataLayout } from '../store/data-dir';
import { appendDurably, createExclusive, fileSize, readJsonIfExists, readTextIfExists, trimPartialLastLine, writeFileAtomic } from '../store/durable-file';
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

/**
 * The incidents a digest (one sid) recorded, one `{"rid","id"}` line per row, appended once
 * per batch: a marker file per row cost a digest two file creations per row.
 */
function sidLedgerFile(layout: DataLayout, sid: string): string {
  return path.join(layout.ledger, 'incidents', `sid-${createHash('sha256').update(sid, 'utf8').digest('hex').slice(0, 32)}.jsonl`);
}

interface LedgerView {
  /** Bytes read, up to the end of the last complete line (a cut last line is read again). */
  size: number;
  readonly ids: Map<string, string>;
}

/** Ledgers this process has read: they only grow, so a later read takes just the new tail. */
const ledgerViews = new Map<string, LedgerView>();

function addLedgerLines(view: LedgerView, lines: readonly string[]): void {
  for (const line of lines) {
    if (line === '') continue;
    try {
      const entry = JSON.parse(line) as { rid?: unknown; id?: unknown };
      if (typeof entry.rid === 'string' && typeof entry.id === 'string') view.ids.set(entry.rid, entry.id);
    } catch {
      // A line that is not JSON (a hand edit): its batch's journal still names its rows.
    }
  }
}

/**
 * rid → incident id of every row the sid's batches recorded (empty when none). A digest
 * asks once per batch of its own; reading only what was appended since keeps that linear.
 * A last line without a line end (a writer killed mid-write, cut off before the next append
 * by trimPartialLastLine) is not taken.
 */
export function recordedIncidentIds(layout: DataLayout, sid: string): ReadonlyMap<string, string> {
  const file = sidLedgerFile(layout, sid);
  const size = fileSize(file);
  let view = ledgerViews.get(file);
  if (view === undefined || size < view.size) {
    view = { size: 0, ids: new Map() };
    ledgerViews.set(file, view);
  }
  if (size > view.size) {
    // Never through a link, never blocking on a FIFO (the data directory is checked at start-up too).
    const fd = openSync(file, constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK);
    try {
      const buf = Buffer.alloc(size - view.size);
      let off = 0;
      while (off < buf.length) {
        const n = readSync(fd, buf, off, buf.length - off, view.size + off);
        if (n === 0) break;
        off += n;
      }
      const complete = buf.subarray(0, off).lastIndexOf(0x0a) + 1;
      addLedgerLines(view, buf.subarray(0, complete).toString('utf8').split('\n'));
      view.size += complete;
    } finally {
      closeSync(fd);
    }
  }
  return view.ids;
}

/** The recorded marker of a per-result run, else the sid ledger of a digest. */
function recordedMarker(layout: DataLayout, sid: string, rid: string): IncidentMarker | undefined {
  const marker = readMarkers(markerFile(layout, sid, rid));
  if (marker !== undefined) return marker;
  const id = recordedIncidentIds(layout, sid).get(rid);
  return id === undefined ? undefined : { state: 'recorded', incidentId: id, sid, rid };
}

/**
 * A new incident's report under a new id: the report file (created exclusively) is the id's
 * claim, since random ids can collide within one second.
 */
function claimNewReport(layout: DataLayout, draft: IncidentDraft, newId: () => string): Result<{ incident: Incident; reportFile: string }, 'invalid_incident_id' | 'no_free_incident_id'> {
  for (let attempt = 0; attempt < INCIDENT_ID_ATTEMPTS; attempt++) {
    const incident: Incident = { ...draft, incidentId: newId() };
    const name = reportFileName(incident.incidentId);
    if (!name.ok) return name;
    const reportFile = path.join(layout.reports, name.value);
    if (createExclusive(reportFile, renderIncidentReport(incident), { durable: false })) return ok({ incident, reportFile });
  }
  return fail('no_free_incident_id', `${INCIDENT_ID_ATTEMPTS} generated incident ids were all taken already; the id generator is not random enough`);
}

const stringifier = createObjectCsvStringifier({ header: incidentCsvColumns.map((c) => ({ id: c, title: c })) });

/** Header (for an empty file) and the row, as one string for one write. */
function csvText(incident: Incident, fileIsEmpty: boolean): string {
  const header = fileIsEmpty ? stringifier.getHeaderString() ?? '' : '';
  return header + stringifier.stringifyRecords([incidentCsvRecord(incident)]);
}

function appendRow(layout: DataLayout, incident: Incident, durable: boolean): void {
  const size = fileSize(layout.incidents);
  appendDurably(layout.incidents, csvText(incident, size === 0), { durable });
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

/** The report of an incident whose id an interrupted record already chose, written again. */
function rewriteReport(layout: DataLayout, draft: IncidentDraft, incidentId: string): Result<{ incident: Incident; reportFile: string }, 'invalid_incident_id'> {
  const fileName = reportFileName(incidentId);
  if (!fileName.ok) return fileName;
  const incident: Incident = { ...draft, incidentId };
  return ok({ incident, reportFile: writeReport(layout, incident, fileName.value) });
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

/**
 * Before a row is appended (under the incidents lock): cut off a half row a killed run left
 * at the end of incidents.csv (kept as incidents.csv.partial-<ms>), so rows stay whole and
 * the recovery check never takes the half row of an interrupted record for a recorded one.
 */
function repairIncidentsFile(layout: DataLayout): void {
  trimPartialLastLine(layout.incidents);
}

function recordLocked(layout: DataLayout, draft: IncidentDraft, newId: () => string, durable: boolean): Result<RecordedIncident, RecordErrorKind> {
  const marker = markerFile(layout, draft.sid, draft.rid);
  const existing = recordedMarker(layout, draft.sid, draft.rid);
  if (existing?.state === 'recorded') {
    return ok({ status: 'duplicate', incidentId: existing.incidentId, reportFile: path.join(layout.reports, `${existing.incidentId}.txt`) });
  }
  const claimed = existing?.state === 'pending' ? rewriteReport(layout, draft, existing.incidentId) : claimNewReport(layout, draft, newId);
  if (!claimed.ok) return claimed;
  const { incident, reportFile } = claimed.value;
  const { incidentId } = incident;
  const pending: IncidentMarker = { state: 'pending', incidentId, sid: draft.sid, rid: draft.rid };
  if (existing === undefined) writeFileAtomic(pendingMarkerFile(marker), JSON.stringify(pending), { durable: false });
  repairIncidentsFile(layout);
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
        const fresh: { incident: Incident; recovered: boolean }[] = [];
        // Rows recorded earlier in this call (a caller could repeat a row).
        const batchIds = new Map<string, string>();
        const sids = new Map<string, { journal: string; pending: Map<string, string>; recorded: ReadonlyMap<string, string> }>();
        const sidState = (sid: string) => {
          let j = sids.get(sid);
          if (!j) {
            const journal = batchJournalFile(layout, sid);
            j = { journal, pending: readBatchJournal(journal), recorded: recordedIncidentIds(layout, sid) };
            sids.set(sid, j);
          }
          return j;
        };
        for (const draft of drafts) {
          const state = sidState(draft.sid);
          // A digest's sid is never a per-result one: its ledger is the only record to look at.
          const done = state.recorded.get(draft.rid) ?? batchIds.get(`${draft.sid}\n${draft.rid}`);
          if (done !== undefined) {
            results.push(ok({ status: 'duplicate', incidentId: done, reportFile: path.join(layout.reports, `${done}.txt`) }));
            continue;
          }
          const interrupted = state.pending.get(draft.rid);
          const claimed: Result<{ incident: Incident; reportFile: string }, RecordErrorKind> =
            interrupted !== undefined ? rewriteReport(layout, draft, interrupted) : claimNewReport(layout, draft, newId);
          if (!claimed.ok) {
            results.push(claimed);
            continue;
          }
          const { incident, reportFile } = claimed.value;
          fresh.push({ incident, recovered: interrupted !== undefined });
          state.pending.set(draft.rid, incident.incidentId);
          batchIds.set(`${draft.sid}\n${draft.rid}`, incident.incidentId);
          results.push(ok({ status: 'recorded', incidentId: incident.incidentId, reportFile, incident }));
        }
        if (fresh.length === 0) return ok(results);
        for (const j of sids.values()) writeFileAtomic(j.journal, JSON.stringify(Object.fromEntries(j.pending)), { durable: false });
        repairIncidentsFile(layout);
        // Rows of an interrupted batch may already be in the file (killed after the append).
        const csvNow = fresh.some((f) => f.recovered) ? (readTextIfExists(layout.incidents) ?? '') : '';
        const toAppend = fresh.filter((f) => !f.recovered || !(csvNow.startsWith(`${f.incident.incidentId},`) || csvNow.includes(`\n${f.incident.incidentId},`)));
        if (toAppend.length > 0) {
          const size = fileSize(layout.incidents);
          const text = toAppend.map((f, i) => csvText(f.incident, i === 0 && size === 0)).join('');
          appendDurably(layout.incidents, text, { durable: options.durable ?? true });
        }
        const ledgerLines = new Map<string, string[]>();
        for (const f of fresh) {
          const lines = ledgerLines.get(f.incident.sid) ?? [];
          lines.push(`${JSON.stringify({ rid: f.incident.rid, id: f.incident.incidentId })}\n`);
          ledgerLines.set(f.incident.sid, lines);
        }
        for (const [sid, lines] of ledgerLines) {
          const ledger = sidLedgerFile(layout, sid);
          // A line a killed run left half written must not swallow the first line of this batch.
          trimPartialLastLine(ledger);
          appendDurably(ledger, lines.join(''), { durable: false });
        }
        for (const j of sids.values()) rmSync(j.journal, { force: true });
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
  const marker = recordedMarker(layout, sid, rid);
  return marker?.state === 'recorded' ? marker.incidentId : undefined;
}
