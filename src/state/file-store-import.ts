/**
 * Upgrading from 0.1.0: the shared state a member kept in its data directory (the file store)
 * is imported into splunkd's KV store once, so the cluster knows what this member knew: its
 * blocks and their repeat-offender history, when it last notified each address, its cached
 * provider answers, and its recorded incidents.
 *
 * Once per member: afterwards a local marker, ledger/kvstore-import.json, says it was done (a
 * marker in the KV store could not say which member's files it covers). Idempotent: every
 * document has the key the KV store path itself uses (the address, `notified:<ip>`, the hash
 * of sid + rid), and each is merged with what the cluster already has, never blindly
 * overwritten, so a second run (`--force`) or an import cut short and run again writes the
 * same documents and no duplicates. The files are read only, never changed: incidents.csv and
 * the TXT reports stay the human records, the rest stays as history.
 *
 * Not imported: the quota files (their windows are a minute and a day, long over by the time
 * anyone reads them), and the queue, the outbox and the spool (this member's own work,
 * delivered by this member's runs and its maintenance, as before).
 *
 * Reading and planning are pure apart from reading the files (readFileStore, the *Document and
 * merge* functions); writing is the end: batch_find + batch_save for the cache and the
 * incidents (<= 1000 per request), reviseDocument for the blocks and the notification ledger,
 * which alert runs on other members may change at the same moment.
 */
import { readdirSync } from 'node:fs';
import * as path from 'node:path';
import { parse as parseCsv } from 'csv-parse/sync';
import { IpAddress, parseIpAddress } from '../address/ip-address';
import { CacheEntry, DEFAULT_TTL_MS, INTEL_PROVIDERS, IntelProvider, LookupCache } from '../intel/lookup-cache';
import type { Verdict } from '../intel/verdict';
import { BlockEntry, BlockHistory, parseBlocklistCsv } from '../respond/blocklist';
import { resultKeyHash } from '../respond/incident-store';
import { fail, ok, Result } from '../result';
import type { DataLayout } from '../store/data-dir';
import { readJsonIfExists, readTextIfExists, writeFileAtomic } from '../store/durable-file';
import type { KvDocument, KvStoreClient } from '../store/kvstore-client';
import { reviseDocument, ReviseOptions, STATE_COLLECTION } from './kv-revision';
import { BLOCKLIST_COLLECTION, blockDocument, blockFromDocument, combinedVerdict, INCIDENTS_COLLECTION, INTEL_COLLECTION, intelFields } from './kv-state';
import type { StateErrorKind } from './shared-state';

/** What is imported, in the order it is imported (and reported). */
export const IMPORTED_KINDS = ['blocklist', 'notifications', 'intel', 'incidents'] as const;
export type ImportedKind = (typeof IMPORTED_KINDS)[number];

/** What stays in this member's files, and why (the report and the docs say it). */
export const NOT_IMPORTED: Readonly<Record<string, string>> = {
  quota: 'request windows of a minute and a day: over long before an upgrade',
  'queue, outbox, spool': "this member's own work: its runs and its maintenance deliver it, as before",
};

export interface KindCount {
  /** Records found in the files (a usable record, or one skipped). */
  readonly read: number;
  /** Documents created or changed in the KV store. */
  readonly written: number;
  /** Records the KV store already had as they are, or newer. */
  readonly unchanged: number;
  /** Records that could not be imported (report.skipped says why). */
  readonly skipped: number;
}

export interface SkippedRecord {
  readonly kind: ImportedKind;
  /** The file (relative to the data directory) and, where it helps, the row or address. */
  readonly where: string;
  readonly reason: string;
}

export type ImportCounts = Readonly<Record<ImportedKind, KindCount>>;

export type ImportReport =
  | {
      readonly status: 'imported';
      readonly importedAtMs: number;
      readonly counts: ImportCounts;
      readonly skipped: readonly SkippedRecord[];
      readonly marker: string;
    }
  | {
      /** The marker says this member's files were imported before; nothing was done. */
      readonly status: 'already_imported';
      readonly importedAtMs: number;
      readonly version: string;
      readonly marker: string;
    };

export type ImportErrorKind = StateErrorKind;

export interface ImportOptions {
  readonly now: () => number;
  /** The app's version, recorded in the marker. */
  readonly version: string;
  /** Import again although the marker says it was done. */
  readonly force?: boolean;
  /** How long a cached answer stays valid (the alerts' cache_ttl); 24 h when absent. */
  readonly cacheTtlMs?: number;
  readonly sleep?: (ms: number) => Promise<void>;
  readonly random?: () => number;
}

/** The marker this member's import leaves (local: it speaks for this member's files only). */
export function importMarkerFile(layout: DataLayout): string {
  return path.join(layout.ledger, 'kvstore-import.json');
}

interface ImportMarker {
  readonly importedAtMs: number;
  readonly version: string;
  readonly counts: ImportCounts;
}

/** The marker when it is whole; a missing or unreadable one means: import (again). */
export function readImportMarker(layout: DataLayout): ImportMarker | undefined {
  const read = readJsonIfExists(importMarkerFile(layout));
  if (read === undefined || 'corrupt' in read || typeof read.value !== 'object' || read.value === null) return undefined;
  const m = read.value as Partial<ImportMarker>;
  return typeof m.importedAtMs === 'number' && Number.isFinite(m.importedAtMs) ? { importedAtMs: m.importedAtMs, version: String(m.version ?? ''), counts: m.counts as ImportCounts } : undefined;
}

// ------------------------------------------------------------------------------ reading the files

/** A block of blocklist.csv with its history, or a history alone (its block lapsed and was purged). */
export interface FileBlock {
  readonly entry: BlockEntry;
  readonly history: BlockHistory;
  /** In blocklist.csv: the file store held it in force until its expiry. */
  readonly listed: boolean;
}

export interface FileNotification {
  readonly address: IpAddress;
  readonly verdict: Verdict;
  readonly notifiedAtMs: number;
  readonly incidentId: string | null;
}

/** What a 0.1.0 data directory holds that the KV store takes, read and checked. */
export interface FileStoreSnapshot {
  readonly blocks: readonly FileBlock[];
  readonly notifications: readonly FileNotification[];
  /** Fresh cached answers, one per provider and address (the newest). */
  readonly intel: readonly CacheEntry[];
  readonly incidents: readonly KvDocument[];
  /** Records found per kind, usable or not. */
  readonly read: Readonly<Record<ImportedKind, number>>;
  readonly skipped: readonly SkippedRecord[];
}

const VERDICTS: readonly Verdict[] = ['SAFE', 'UNKNOWN', 'SUSPICIOUS', 'MALICIOUS'];
const MAX_OFFENCES_KEPT = 32;

const finite = (v: unknown): v is number => typeof v === 'number' && Number.isFinite(v);
const seconds = (ms: number): number => ms / 1000;

function listDir(dir: string): string[] {
  try {
    return readdirSync(dir).sort();
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT' || (e as NodeJS.ErrnoException).code === 'ENOTDIR') return [];
    throw e;
  }
}

/** block-history.json: per canonical address, the history a later block escalates from; and how many entries it had. */
function readBlockHistory(layout: DataLayout, skipped: SkippedRecord[]): { history: Map<string, BlockHistory>; read: number } {
  const history = new Map<string, BlockHistory>();
  const where = 'ledger/block-history.json';
  const read = readJsonIfExists(path.join(layout.ledger, 'block-history.json'));
  if (read === undefined) return { history, read: 0 };
  if ('corrupt' in read || typeof read.value !== 'object' || read.value === null || Array.isArray(read.value)) {
    skipped.push({ kind: 'blocklist', where, reason: 'not a JSON object: the repeat-offender counts of lapsed blocks are not imported (blocks in blocklist.csv keep their own count)' });
    return { history, read: 1 };
  }
  const entries = Object.entries(read.value as Record<string, unknown>);
  for (const [ip, h] of entries) {
    const address = parseIpAddress(ip);
    const r = h as Partial<BlockHistory> | null;
    if (!address.ok || r === null || typeof r !== 'object' || !Number.isSafeInteger(r.count) || (r.count as number) < 1 || !finite(r.firstSeenMs) || !finite(r.expiresMs)) {
      skipped.push({ kind: 'blocklist', where: `${where} ${JSON.stringify(ip.slice(0, 64))}`, reason: 'not an address with a count, a first block and an expiry' });
      continue;
    }
    const offences = Array.isArray(r.offences) ? r.offences.filter((o): o is string => typeof o === 'string') : [];
    history.set(address.value.text, { count: r.count as number, firstSeenMs: r.firstSeenMs, expiresMs: r.expiresMs, ...(offences.length > 0 ? { offences } : {}) });
  }
  return { history, read: entries.length };
}

/**
 * blocklist.csv's blocks with their history, then the history of blocks that lapsed. Records
 * read: the rows of blocklist.csv (a corrupt file counts once) and the history entries of no row.
 */
function readBlocks(layout: DataLayout, skipped: SkippedRecord[]): { blocks: FileBlock[]; read: number } {
  const { history, read: historyRead } = readBlockHistory(layout, skipped);
  const text = readTextIfExists(layout.blocklist);
  const blocks: FileBlock[] = [];
  let read = historyRead;
  if (text !== undefined) {
    const parsed = parseBlocklistCsv(text, 'blocklist.csv');
    if (!parsed.ok) {
      read += 1;
      skipped.push({ kind: 'blocklist', where: 'blocklist.csv', reason: `${parsed.error.message}; its blocks are not imported (run the import again with --force once it is fixed)` });
    } else {
      for (const entry of parsed.value) {
        const h = history.get(entry.address.text);
        if (h !== undefined) history.delete(entry.address.text);
        else read += 1;
        // The row's own times win over a history a crash left behind (history is written first).
        const merged: BlockHistory = { count: Math.max(entry.count, h?.count ?? 0), firstSeenMs: entry.firstSeenMs, expiresMs: entry.expiresMs, ...(h?.offences ? { offences: h.offences } : {}) };
        blocks.push({ entry: { ...entry, count: merged.count }, history: merged, listed: true });
      }
    }
  }
  for (const [ip, h] of history) {
    const address = parseIpAddress(ip);
    if (!address.ok) continue;
    // A lapsed block the file store remembers for escalation: the history knows no later block, verdict or reason.
    const entry: BlockEntry = { address: address.value, firstSeenMs: h.firstSeenMs, lastSeenMs: h.firstSeenMs, expiresMs: h.expiresMs, count: h.count, verdict: '', reason: 'repeat-offender history imported from the file store' };
    blocks.push({ entry, history: h, listed: false });
  }
  return { blocks, read };
}

function readNotifications(layout: DataLayout, skipped: SkippedRecord[]): { records: FileNotification[]; read: number } {
  const dir = path.join(layout.ledger, 'notified');
  const records: FileNotification[] = [];
  let read = 0;
  for (const name of listDir(dir)) {
    if (!name.endsWith('.json')) continue;
    read += 1;
    const where = `ledger/notified/${name}`;
    const file = readJsonIfExists(path.join(dir, name));
    const r = file !== undefined && !('corrupt' in file) && typeof file.value === 'object' && file.value !== null ? (file.value as Record<string, unknown>) : undefined;
    const address = typeof r?.ip === 'string' ? parseIpAddress(r.ip) : undefined;
    if (r === undefined || !address?.ok || !VERDICTS.includes(r.verdict as Verdict) || !finite(r.notifiedAtMs)) {
      skipped.push({ kind: 'notifications', where, reason: 'not a notification record (ip, verdict, notifiedAtMs)' });
      continue;
    }
    records.push({ address: address.value, verdict: r.verdict as Verdict, notifiedAtMs: r.notifiedAtMs, incidentId: typeof r.incidentId === 'string' && r.incidentId !== '' ? r.incidentId : null });
  }
  return { records, read };
}

/** The newest fresh answer per provider and address; expired, broken and non-address entries are counted, not listed one by one. */
function readIntel(layout: DataLayout, nowMs: number, ttlMs: number, skipped: SkippedRecord[]): { entries: CacheEntry[]; read: number } {
  const cache = new LookupCache(layout.cache, { ttlMs });
  const newest = new Map<string, CacheEntry>();
  let read = 0;
  let stale = 0;
  let broken = 0;
  let subjects = 0;
  for (const name of listDir(layout.cache)) {
    if (!name.endsWith('.json')) continue;
    read += 1;
    const file = readJsonIfExists(path.join(layout.cache, name));
    const e = file !== undefined && !('corrupt' in file) && typeof file.value === 'object' && file.value !== null ? (file.value as Record<string, unknown>) : undefined;
    const provider = INTEL_PROVIDERS.find((p) => p === e?.provider);
    if (e === undefined || provider === undefined || typeof e.address !== 'string' || typeof e.keyHash !== 'string') {
      broken += 1;
      continue;
    }
    const address = parseIpAddress(e.address);
    if (!address.ok || address.value.text !== e.address) {
      // The CLI's answers about domains and files (reputation): the KV store caches addresses.
      subjects += 1;
      continue;
    }
    // The cache's own read: the same checks (format, key, freshness) as a lookup makes.
    const entry = cache.get(provider, e.address, e.keyHash, nowMs);
    if (entry === undefined) {
      if (finite(e.storedAtMs)) stale += 1;
      else broken += 1;
      continue;
    }
    const id = `${provider}\n${entry.address}`;
    const before = newest.get(id);
    if (before === undefined || entry.storedAtMs > before.storedAtMs) {
      if (before !== undefined) stale += 1;
      newest.set(id, entry);
    } else stale += 1;
  }
  if (stale > 0) skipped.push({ kind: 'intel', where: 'cache/', reason: `${stale} answers expired or superseded by a newer answer (a lookup asks the provider again)` });
  if (broken > 0) skipped.push({ kind: 'intel', where: 'cache/', reason: `${broken} files are not cache entries, or not whole` });
  if (subjects > 0) skipped.push({ kind: 'intel', where: 'cache/', reason: `${subjects} answers about domains or files stay in the file cache (the KV store caches addresses)` });
  return { entries: [...newest.values()], read };
}

/** A cell as it was before safeCsvCell guarded it against formulas (`'=…` → `=…`): sid and rid must hash as the alert gave them. */
function unguarded(cell: string | undefined): string {
  const v = cell ?? '';
  return /^' *[=+\-@\t\r]/.test(v) ? v.slice(1) : v;
}

/**
 * The soar_incidents document of one incidents.csv row: the fields kv-state's incidentDocument
 * writes, with status `imported`; updated is the incident's own time, so importing again
 * gives the same document.
 */
export function incidentDocumentFromRow(row: Readonly<Record<string, string>>): Result<KvDocument, 'unkeyed' | 'invalid_row'> {
  const sid = unguarded(row.sid);
  const rid = unguarded(row.rid);
  const incidentId = row.incident_id ?? '';
  if (sid === '' || rid === '') return fail('unkeyed', 'no sid or rid: the KV store keys an incident by the alert result it was recorded for');
  const timeMs = Date.parse(row.time ?? '');
  if (incidentId === '' || !Number.isFinite(timeMs)) return fail('invalid_row', 'no incident_id, or a time that is not a date');
  const action = row.action ?? '';
  const expiresMs = action === 'blocked' ? Date.parse(row.expires ?? '') : Number.NaN;
  return ok({
    _key: resultKeyHash(sid, rid),
    incident_id: incidentId,
    sid,
    rid,
    time: seconds(timeMs),
    updated: seconds(timeMs),
    src_ip: row.src_ip ?? '',
    verdict: row.verdict ?? '',
    status: 'imported',
    action,
    expires: Number.isFinite(expiresMs) ? seconds(expiresMs) : null,
    discord_message_id: '',
  });
}

function readIncidents(layout: DataLayout, skipped: SkippedRecord[]): { docs: KvDocument[]; read: number } {
  const text = readTextIfExists(layout.incidents);
  if (text === undefined || text.trim() === '') return { docs: [], read: 0 };
  // A row being appended right now has no line end yet: it is left for a later import.
  const whole = text.slice(0, text.lastIndexOf('\n') + 1);
  let rows: Record<string, string>[];
  try {
    rows = parseCsv(whole, { columns: true, skip_empty_lines: true, relax_column_count: true }) as Record<string, string>[];
  } catch (e) {
    skipped.push({ kind: 'incidents', where: 'incidents.csv', reason: `not valid CSV (${(e as Error).message}); no incident is imported` });
    return { docs: [], read: 0 };
  }
  const docs = new Map<string, KvDocument>();
  let unkeyed = 0;
  for (const [i, row] of rows.entries()) {
    const doc = incidentDocumentFromRow(row);
    if (!doc.ok) {
      if (doc.error.kind === 'unkeyed') unkeyed += 1;
      else skipped.push({ kind: 'incidents', where: `incidents.csv row ${i + 2}`, reason: doc.error.message });
      continue;
    }
    // One incident per result: a second row of the same result is the same incident.
    if (docs.has(doc.value._key)) skipped.push({ kind: 'incidents', where: `incidents.csv row ${i + 2}`, reason: `a second row for sid ${JSON.stringify(doc.value.sid)} rid ${JSON.stringify(doc.value.rid)}; the first is imported` });
    else docs.set(doc.value._key, doc.value);
  }
  if (unkeyed > 0) skipped.push({ kind: 'incidents', where: 'incidents.csv', reason: `${unkeyed} rows without sid or rid (the KV store keys an incident by its alert result); they stay in incidents.csv` });
  return { docs: [...docs.values()], read: rows.length };
}

/** Everything the import takes from a data directory (reads only). Throws on file-system errors. */
export function readFileStore(layout: DataLayout, nowMs: number, cacheTtlMs: number = DEFAULT_TTL_MS): FileStoreSnapshot {
  const skipped: SkippedRecord[] = [];
  const blocks = readBlocks(layout, skipped);
  const notifications = readNotifications(layout, skipped);
  const intel = readIntel(layout, nowMs, cacheTtlMs, skipped);
  const incidents = readIncidents(layout, skipped);
  return {
    blocks: blocks.blocks,
    notifications: notifications.records,
    intel: intel.entries,
    incidents: incidents.docs,
    read: { blocklist: blocks.read, notifications: notifications.read, intel: intel.read, incidents: incidents.read },
    skipped,
  };
}

// ------------------------------------------------------------------------------ merging (pure)

/** The fields a document has besides the KV store's and kv-revision's bookkeeping. */
function content(doc: KvDocument | Record<string, unknown>): Record<string, unknown> {
  const { _key: _k, _user: _u, rev: _r, gen: _g, ...rest } = doc as Record<string, unknown>;
  return rest;
}

function sameContent(a: Record<string, unknown>, b: Record<string, unknown>): boolean {
  const ka = Object.keys(a).sort();
  const kb = Object.keys(b).sort();
  return ka.length === kb.length && ka.every((k, i) => k === kb[i] && JSON.stringify(a[k]) === JSON.stringify(b[k]));
}

/**
 * A block from the files merged with the cluster's document for the address: the later
 * expiry, the larger count, the union of the offences (latest kept), the earliest first and
 * latest last block; the verdict and reason of the later block. Active while the merged
 * expiry lies ahead and one side holds it in force. undefined: the document stays as it is.
 */
export function mergedBlock(existing: KvDocument | undefined, block: FileBlock, nowMs: number): Record<string, unknown> | undefined {
  const stored = existing === undefined ? undefined : blockFromDocument(existing);
  const ours = block.entry;
  if (stored === undefined) return blockDocument(ours, block.history, block.listed && ours.expiresMs > nowMs ? 'active' : 'expired');
  const theirs = stored.entry;
  const later = ours.lastSeenMs > theirs.lastSeenMs ? ours : theirs;
  const entry: BlockEntry = {
    address: theirs.address,
    firstSeenMs: Math.min(ours.firstSeenMs, theirs.firstSeenMs),
    lastSeenMs: Math.max(ours.lastSeenMs, theirs.lastSeenMs),
    expiresMs: Math.max(ours.expiresMs, theirs.expiresMs),
    count: Math.max(ours.count, theirs.count),
    verdict: later.verdict,
    reason: later.reason,
  };
  const known = stored.history.offences ?? [];
  const offences = [...known, ...(block.history.offences ?? []).filter((o) => !known.includes(o))].slice(-MAX_OFFENCES_KEPT);
  const active = entry.expiresMs > nowMs && (stored.active || block.listed);
  const next = blockDocument(entry, { count: entry.count, firstSeenMs: entry.firstSeenMs, expiresMs: entry.expiresMs, offences }, active ? 'active' : 'expired');
  return sameContent(content(existing!), next) ? undefined : next;
}

/** The soar_state notification ledger document, as kv-state's claim writes it. */
export function notificationDocument(n: FileNotification): Record<string, unknown> {
  return { kind: 'notified', ip: n.address.text, verdict: n.verdict, notified_at_ms: n.notifiedAtMs, incident_id: n.incidentId ?? '' };
}

/** The newer notification wins; undefined: the cluster's is as new or newer. */
export function mergedNotification(existing: KvDocument | undefined, n: FileNotification): Record<string, unknown> | undefined {
  if (existing !== undefined && finite(existing.notified_at_ms) && existing.notified_at_ms >= n.notifiedAtMs) return undefined;
  return notificationDocument(n);
}

const PREFIX: Record<IntelProvider, string> = { virustotal: 'vt', abuseipdb: 'abuse' };

/**
 * One address's soar_intel document: the cluster's, with each provider's answer replaced by
 * the file's where the file's is newer, and the summary fields (verdict, fetched, expires) as
 * kv-state writes them. undefined: the cluster's answers are all as new or newer.
 */
export function mergedIntel(existing: KvDocument | undefined, address: string, entries: readonly CacheEntry[], ttlMs: number): KvDocument | undefined {
  const doc: Record<string, unknown> = { ...(existing === undefined ? {} : content(existing)), ip: address };
  let changed = false;
  for (const e of entries) {
    const theirs = existing?.[`${PREFIX[e.provider]}_fetched`];
    if (finite(theirs) && theirs >= seconds(e.storedAtMs)) continue;
    Object.assign(doc, intelFields(e.provider, e.keyHash, e.value, e.storedAtMs, ttlMs));
    changed = true;
  }
  if (!changed) return undefined;
  const times = (suffix: string) => INTEL_PROVIDERS.map((p) => doc[`${PREFIX[p]}_${suffix}`]).filter(finite);
  const merged: KvDocument = { ...doc, _key: address };
  return { ...merged, verdict: combinedVerdict(merged), fetched: Math.max(...times('fetched')), expires: Math.max(...times('expires')) };
}

// ------------------------------------------------------------------------------ writing

const BATCH = 1000;

const chunks = <T>(items: readonly T[]): T[][] => Array.from({ length: Math.ceil(items.length / BATCH) }, (_, i) => items.slice(i * BATCH, (i + 1) * BATCH));

/** The documents of `keys` the collection has, by key (one batch_find per 1000 keys). */
async function existingDocuments(kv: KvStoreClient, collection: string, keys: readonly string[], fields?: readonly string[]): Promise<Result<Map<string, KvDocument>, ImportErrorKind>> {
  const found = new Map<string, KvDocument>();
  for (const part of chunks(keys)) {
    const r = await kv.batchFind(collection, part.map((k) => ({ query: { _key: k }, limit: 1, ...(fields ? { fields } : {}) })));
    if (!r.ok) return r;
    for (const list of r.value) for (const d of list) found.set(d._key, d);
  }
  return ok(found);
}

async function saveAll(kv: KvStoreClient, collection: string, docs: readonly KvDocument[]): Promise<Result<void, ImportErrorKind>> {
  for (const part of chunks(docs)) {
    const r = await kv.batchSave(collection, part);
    if (!r.ok) return r;
  }
  return ok(undefined);
}

type Tally = { written: number; unchanged: number };

async function importBlocks(kv: KvStoreClient, blocks: readonly FileBlock[], nowMs: number, revise: ReviseOptions): Promise<Result<Tally, ImportErrorKind>> {
  const tally = { written: 0, unchanged: 0 };
  for (const block of blocks) {
    const r = await reviseDocument(kv, BLOCKLIST_COLLECTION, block.entry.address.text, (doc) => {
      const next = mergedBlock(doc, block, nowMs);
      return { next, result: next !== undefined };
    }, revise);
    if (!r.ok) return r;
    tally[r.value ? 'written' : 'unchanged'] += 1;
  }
  return ok(tally);
}

async function importNotifications(kv: KvStoreClient, records: readonly FileNotification[], revise: ReviseOptions): Promise<Result<Tally, ImportErrorKind>> {
  const tally = { written: 0, unchanged: 0 };
  for (const n of records) {
    const r = await reviseDocument(kv, STATE_COLLECTION, `notified:${n.address.text}`, (doc) => {
      const next = mergedNotification(doc, n);
      return { next, result: next !== undefined };
    }, revise);
    if (!r.ok) return r;
    tally[r.value ? 'written' : 'unchanged'] += 1;
  }
  return ok(tally);
}

async function importIntel(kv: KvStoreClient, entries: readonly CacheEntry[], ttlMs: number): Promise<Result<Tally, ImportErrorKind>> {
  const byAddress = new Map<string, CacheEntry[]>();
  for (const e of entries) byAddress.set(e.address, [...(byAddress.get(e.address) ?? []), e]);
  const existing = await existingDocuments(kv, INTEL_COLLECTION, [...byAddress.keys()]);
  if (!existing.ok) return existing;
  const docs: KvDocument[] = [];
  let unchanged = 0;
  for (const [address, list] of byAddress) {
    const doc = mergedIntel(existing.value.get(address), address, list, ttlMs);
    if (doc === undefined) unchanged += list.length;
    else docs.push(doc);
  }
  const saved = await saveAll(kv, INTEL_COLLECTION, docs);
  if (!saved.ok) return saved;
  // Counted per answer (a document holds up to one per provider), as they were read.
  return ok({ written: entries.length - unchanged, unchanged });
}

/**
 * Incidents the cluster does not have yet; one it has is left as it is: the KV store's copy was
 * written by an earlier import or by a run since, which may have changed its status.
 */
async function importIncidents(kv: KvStoreClient, docs: readonly KvDocument[]): Promise<Result<Tally, ImportErrorKind>> {
  const existing = await existingDocuments(kv, INCIDENTS_COLLECTION, docs.map((d) => d._key), ['_key']);
  if (!existing.ok) return existing;
  const missing = docs.filter((d) => !existing.value.has(d._key));
  const saved = await saveAll(kv, INCIDENTS_COLLECTION, missing);
  if (!saved.ok) return saved;
  return ok({ written: missing.length, unchanged: docs.length - missing.length });
}

function stopped(kind: ImportedKind, error: { kind: ImportErrorKind; message: string }): Result<never, ImportErrorKind> {
  return fail(
    error.kind,
    `importing the file store into the KV store stopped at the ${kind}: ${error.message}. Nothing is lost: the files stay as they are and no marker was written, so the import runs again (the next alert run on this member, or \`soar-edr state import\`); what was imported already is merged again, not duplicated`,
  );
}

/**
 * Import this member's file store into the KV store, once: with the marker present (and no
 * `force`) nothing is read or written. On a KV store failure the marker is not written and the
 * error says so; what was written already is kept (every write is an idempotent merge).
 */
export async function importFileStore(layout: DataLayout, kv: KvStoreClient, options: ImportOptions): Promise<Result<ImportReport, ImportErrorKind>> {
  const marker = importMarkerFile(layout);
  let done: ImportMarker | undefined;
  try {
    done = options.force ? undefined : readImportMarker(layout);
  } catch (e) {
    return fail('io_error', `reading ${marker}: ${(e as Error).message}`);
  }
  if (done !== undefined) return ok({ status: 'already_imported', importedAtMs: done.importedAtMs, version: done.version, marker });

  const nowMs = options.now();
  const ttlMs = options.cacheTtlMs ?? DEFAULT_TTL_MS;
  let snapshot: FileStoreSnapshot;
  try {
    snapshot = readFileStore(layout, nowMs, ttlMs);
  } catch (e) {
    const err = e as NodeJS.ErrnoException;
    return fail('io_error', `reading the file store in ${layout.root}: ${err.code ?? ''} ${err.message}; nothing was imported`.replace(/ {2,}/g, ' '));
  }
  const revise: ReviseOptions = {
    now: options.now,
    sleep: options.sleep ?? ((ms) => new Promise<void>((r) => setTimeout(r, ms))),
    random: options.random ?? Math.random,
  };

  const tallies = {} as Record<ImportedKind, Tally>;
  const steps: Record<ImportedKind, () => Promise<Result<Tally, ImportErrorKind>>> = {
    blocklist: () => importBlocks(kv, snapshot.blocks, nowMs, revise),
    notifications: () => importNotifications(kv, snapshot.notifications, revise),
    intel: () => importIntel(kv, snapshot.intel, ttlMs),
    incidents: () => importIncidents(kv, snapshot.incidents),
  };
  for (const kind of IMPORTED_KINDS) {
    const r = await steps[kind]();
    if (!r.ok) return stopped(kind, r.error);
    tallies[kind] = r.value;
  }

  const counts = Object.fromEntries(
    IMPORTED_KINDS.map((kind) => {
      const t = tallies[kind];
      return [kind, { read: snapshot.read[kind], written: t.written, unchanged: t.unchanged, skipped: Math.max(0, snapshot.read[kind] - t.written - t.unchanged) }];
    }),
  ) as Record<ImportedKind, KindCount>;
  const importedAtMs = options.now();
  try {
    writeFileAtomic(marker, `${JSON.stringify({ importedAtMs, version: options.version, counts } satisfies ImportMarker)}\n`);
  } catch (e) {
    const err = e as NodeJS.ErrnoException;
    return fail('io_error', `the file store was imported, but its marker ${marker} could not be written (${err.code ?? err.message}); the next run imports again (a merge: no duplicates)`);
  }
  return ok({ status: 'imported', importedAtMs, counts, skipped: snapshot.skipped, marker });
}
