/**
 * Upgrading from 0.1.0: a data directory written by the file store's own functions (blocks,
 * notifications, cached answers, incidents) imported into the KV store stub, then read back
 * through the KV store state as an alert run would read it.
 */
import { incidentDraft } from '../support/incident-draft';
import { strict as assert } from 'node:assert';
import { appendFileSync, existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { parseVirusTotalIp, VtIpReport } from '../../src/intel/virustotal-report';
import { LookupCache } from '../../src/intel/lookup-cache';
import { blockAddress, purgeExpired } from '../../src/respond/blocklist';
import { claimNotification } from '../../src/respond/notify-ledger';
import { IncidentDraft, recordIncident, resultKeyHash } from '../../src/respond/incident-store';
import { dataLayout, DataLayout } from '../../src/store/data-dir';
import { KvDocument, kvStoreClient, KvStoreClient } from '../../src/store/kvstore-client';
import { importFileStore, importMarkerFile, ImportReport } from '../../src/state/file-store-import';
import { blockDocument, intelFromDocument, kvState } from '../../src/state/kv-state';
import { KvStoreStub, startKvStoreStub } from '../support/kvstore-stub';
import { ip } from '../support/ip-address';

const corpus = (...p: string[]) => path.join(__dirname, '..', '..', '..', 'test', 'fixtures', 'corpus', ...p);
const unwrap = <T>(r: { ok: true; value: T } | { ok: false; error: { kind: string; message: string } }): T => {
  if (!r.ok) throw new Error(`${r.error.kind}: ${r.error.message}`);
  return r.value;
};

/** The OpenCTI capture of 138.128.150.133, as the cache keeps it. */
const VT_IP = '138.128.150.133';
const VT_REPORT: VtIpReport = unwrap(parseVirusTotalIp(JSON.parse(readFileSync(corpus('virustotal', 'opencti_vt_test_ipv4.json'), 'utf8')), VT_IP));

const HOUR = 3_600_000;
const T0 = Date.UTC(2026, 11, 6, 12, 0, 0);
const NOW = T0 + 60_000;
const POLICY = { baseSeconds: 3600, maxSeconds: 86_400 };
const BLOCKED = '198.51.100.7';
const LAPSED = '2001:db8::9';
const NOTIFIED = '203.0.113.50';
const STALE_IP = '192.0.2.77';
const fast = { now: () => NOW, version: '0.2.0-test', sleep: () => Promise.resolve(), random: () => 0 };

const draft = (sid: string, rid: string, srcIp: string): IncidentDraft =>
  incidentDraft(sid, rid, srcIp, T0, { kind: 'blocked', reason: 'malicious', expires: new Date(T0 + HOUR).toISOString() });

/** What 0.1.0 leaves: two offences of one address, a lapsed block, a notification, cached answers, incidents. */
function fileStore020(layout: DataLayout): { incidentIds: string[] } {
  unwrap(blockAddress(layout, ip(BLOCKED), 'MALICIOUS', 'brute force', T0 - HOUR, POLICY, { offence: 'sid-1' }));
  unwrap(blockAddress(layout, ip(BLOCKED), 'MALICIOUS', 'brute force again', T0, POLICY, { offence: 'sid-2' }));
  unwrap(blockAddress(layout, ip(LAPSED), 'SUSPICIOUS', 'scan', T0 - 3 * 24 * HOUR, POLICY, { offence: 'sid-0' }));
  assert.equal(unwrap(purgeExpired(layout, T0)).length, 1, 'the lapsed block left blocklist.csv; its history stays');
  unwrap(claimNotification(layout, ip(NOTIFIED), 'SUSPICIOUS', T0, 3600, 'INC-20261206-120000-00000a'));
  const cache = new LookupCache(layout.cache);
  cache.put('virustotal', VT_IP, 'k1', { state: 'report', report: VT_REPORT }, T0 - HOUR);
  cache.put('virustotal', VT_IP, 'k0', { state: 'not_found' }, T0 - 2 * HOUR);
  cache.put('abuseipdb', VT_IP, 'a1', { state: 'not_found' }, T0 - 30 * 60_000);
  cache.put('virustotal', STALE_IP, 'k1', { state: 'not_found' }, T0 - 2 * 24 * HOUR);
  cache.put('virustotal', 'domain:example.com', 'k1', { state: 'not_found' }, T0);
  let n = 0;
  const newId = () => `INC-20261206-120000-${(++n).toString(16).padStart(6, '0')}`;
  const incidentIds = [
    unwrap(recordIncident(layout, draft('scheduler__admin__search__RMD5a_at_1765022400_1', '0', BLOCKED), newId)).incidentId,
    unwrap(recordIncident(layout, draft('scheduler__admin__search__RMD5a_at_1765022400_1', '1', NOTIFIED), newId)).incidentId,
  ];
  // A row someone wrote by hand, without the result it came from.
  appendFileSync(layout.incidents, 'INC-20261206-120000-0000ff,2026-12-06T12:00:00.000Z,192.0.2.1,SAFE,,,,,,,,,,\n');
  return { incidentIds };
}

/** Every collection's documents, keyed, for comparing two imports. */
function snapshot(stub: KvStoreStub): Record<string, Record<string, unknown>> {
  const out: Record<string, Record<string, unknown>> = {};
  for (const [name, docs] of stub.collections) out[name] = Object.fromEntries([...docs.entries()].filter(([k]) => !k.startsWith('rev:')).sort(([a], [b]) => (a < b ? -1 : 1)));
  return out;
}

function imported(r: Awaited<ReturnType<typeof importFileStore>>): Extract<ImportReport, { status: 'imported' }> {
  const report = unwrap(r);
  assert.equal(report.status, 'imported');
  return report as Extract<ImportReport, { status: 'imported' }>;
}

describe('importing a 0.1.0 file store into the KV store', () => {
  let root: string;
  let layout: DataLayout;
  let stub: KvStoreStub;
  let kv: KvStoreClient;

  beforeEach(async () => {
    root = mkdtempSync(path.join(tmpdir(), 'soar-import-'));
    layout = dataLayout(root);
    stub = await startKvStoreStub();
    kv = kvStoreClient({ baseUrl: stub.url, sessionKey: stub.sessionKey });
  });
  afterEach(async () => {
    kv.close();
    await stub.close();
    rmSync(root, { recursive: true, force: true });
  });

  it('writes one document per block, notification, address and keyed incident, with the fields the KV store path writes', async () => {
    const { incidentIds } = fileStore020(layout);
    const report = imported(await importFileStore(layout, kv, fast));

    assert.deepEqual(report.counts, {
      blocklist: { read: 2, written: 2, unchanged: 0, skipped: 0 },
      notifications: { read: 1, written: 1, unchanged: 0, skipped: 0 },
      // 5 files: VT_IP's two providers imported; an older answer superseded, one expired, one about a domain.
      intel: { read: 5, written: 2, unchanged: 0, skipped: 3 },
      incidents: { read: 3, written: 2, unchanged: 0, skipped: 1 },
    });
    assert.ok(report.skipped.some((s) => s.kind === 'incidents' && /1 rows without sid or rid/.test(s.reason)), JSON.stringify(report.skipped));

    const blocks = new Map(stub.docs('soar_blocklist').map((d) => [d._key, d]));
    assert.deepEqual([...blocks.keys()].sort(), [BLOCKED, LAPSED].sort());
    const active = blocks.get(BLOCKED)!;
    assert.equal(active.status, 'active');
    assert.equal(active.count, 2);
    assert.equal(active.expires, (T0 + 2 * HOUR) / 1000, 'the second block lasts twice as long');
    assert.equal(active.first_seen, (T0 - HOUR) / 1000);
    assert.deepEqual(JSON.parse(String(active.offences)), ['sid-1', 'sid-2']);
    assert.equal(active.family, 4);
    const lapsed = blocks.get(LAPSED)!;
    assert.equal(lapsed.status, 'expired');
    assert.equal(lapsed.count, 1);
    assert.equal(lapsed.family, 6);

    const notified = stub.docs('soar_state').find((d) => d._key === `notified:${NOTIFIED}`);
    assert.deepEqual({ ...notified, rev: undefined, gen: undefined }, { _key: `notified:${NOTIFIED}`, kind: 'notified', ip: NOTIFIED, verdict: 'SUSPICIOUS', notified_at_ms: T0, incident_id: 'INC-20261206-120000-00000a', rev: undefined, gen: undefined });

    const intel = stub.docs('soar_intel');
    assert.deepEqual(intel.map((d) => d._key), [VT_IP], 'the expired answer and the domain are left out');
    const doc = intel[0]! as KvDocument;
    assert.equal(doc.vt_state, 'report');
    assert.equal(doc.vt_key_hash, 'k1', 'the newer of two answers');
    assert.equal(doc.vt_malicious, VT_REPORT.stats.malicious);
    assert.equal(doc.vt_fetched, (T0 - HOUR) / 1000);
    assert.equal(doc.abuse_state, 'not_found');
    assert.equal(doc.fetched, (T0 - 30 * 60_000) / 1000);
    assert.equal(typeof doc.verdict, 'string');
    const hit = intelFromDocument(doc, 'virustotal', 'k1', NOW);
    assert.deepEqual(hit?.state === 'report' ? hit.report.stats : undefined, VT_REPORT.stats);

    const incidents = stub.docs('soar_incidents');
    assert.equal(incidents.length, 2);
    const first = incidents.find((d) => d._key === resultKeyHash('scheduler__admin__search__RMD5a_at_1765022400_1', '0'))!;
    assert.deepEqual(
      { ...first },
      {
        _key: resultKeyHash('scheduler__admin__search__RMD5a_at_1765022400_1', '0'),
        incident_id: incidentIds[0],
        sid: 'scheduler__admin__search__RMD5a_at_1765022400_1',
        rid: '0',
        time: T0 / 1000,
        updated: T0 / 1000,
        src_ip: BLOCKED,
        verdict: 'MALICIOUS',
        status: 'imported',
        action: 'blocked',
        expires: (T0 + HOUR) / 1000,
        discord_message_id: '',
      },
    );

    const marker = JSON.parse(readFileSync(importMarkerFile(layout), 'utf8')) as Record<string, unknown>;
    assert.deepEqual(marker, { importedAtMs: NOW, version: '0.2.0-test', counts: report.counts });
    assert.ok(existsSync(layout.blocklist) && existsSync(layout.incidents), 'the files stay');
  });

  it('what was imported is what a KV store run then sees: the incident recorded, the block in force, the notification within its window', async () => {
    const { incidentIds } = fileStore020(layout);
    imported(await importFileStore(layout, kv, fast));
    const state = kvState(kvStoreClient({ baseUrl: stub.url, sessionKey: stub.sessionKey }), dataLayout(mkdtempSync(path.join(root, 'member-b-'))), { now: () => NOW });
    try {
      assert.equal(unwrap(await state.incidents.recorded('scheduler__admin__search__RMD5a_at_1765022400_1', '1')), incidentIds[1]);
      assert.deepEqual(unwrap(await state.blocklist.list(NOW)).map((e) => [e.address.text, e.count]), [[BLOCKED, 2]]);
      const decision = unwrap(await state.notifications.claim(ip(NOTIFIED), 'SUSPICIOUS', NOW, 3600, null));
      assert.equal(decision.notify, false, decision.reason);
      // The lapsed block still counts: blocking the address again escalates to the second length.
      const again = unwrap(await state.blocklist.block(ip(LAPSED), 'MALICIOUS', 'again', NOW, POLICY, 'sid-5'));
      assert.equal(again.entry.count, 2);
      assert.equal(again.durationSeconds, 7200);
    } finally {
      state.close();
    }
  });

  it('runs once: with the marker present nothing is read or sent; --force imports the same documents again', async () => {
    fileStore020(layout);
    const first = imported(await importFileStore(layout, kv, fast));
    const before = snapshot(stub);
    const requests = stub.requests.length;

    const second = unwrap(await importFileStore(layout, kv, { ...fast, now: () => NOW + HOUR }));
    assert.deepEqual(second, { status: 'already_imported', importedAtMs: NOW, version: '0.2.0-test', marker: importMarkerFile(layout) });
    assert.equal(stub.requests.length, requests, 'nothing sent');

    const forced = imported(await importFileStore(layout, kv, { ...fast, force: true }));
    assert.deepEqual(snapshot(stub), before, 'the same documents, none added, none changed');
    for (const kind of ['blocklist', 'notifications', 'intel', 'incidents'] as const) {
      const a = first.counts[kind];
      const b = forced.counts[kind];
      assert.deepEqual(b, { read: a.read, written: 0, unchanged: a.written, skipped: a.skipped }, kind);
    }
  });

  it("merges with what the cluster already has: the later expiry, the larger count, both offences; the newer notification; an incident's later status", async () => {
    fileStore020(layout);
    const key = resultKeyHash('scheduler__admin__search__RMD5a_at_1765022400_1', '0');
    const laterBlock = blockDocument(
      { address: ip(BLOCKED), firstSeenMs: T0 - 30 * 60_000, lastSeenMs: T0 + 30_000, expiresMs: T0 + 10 * HOUR, count: 1, verdict: 'SUSPICIOUS', reason: 'another member' },
      { count: 1, firstSeenMs: T0 - 30 * 60_000, expiresMs: T0 + 10 * HOUR, offences: ['sid-9', 'sid-2'] },
      'active',
    );
    unwrap(await kv.insert('soar_blocklist', { ...laterBlock, _key: BLOCKED, rev: 3, gen: 'g1' }));
    unwrap(await kv.insert('soar_state', { _key: `notified:${NOTIFIED}`, kind: 'notified', ip: NOTIFIED, verdict: 'MALICIOUS', notified_at_ms: T0 + 1000, incident_id: 'INC-later', rev: 1, gen: 'g2' }));
    unwrap(await kv.insert('soar_incidents', { _key: key, incident_id: 'INC-20261206-120000-000001', sid: 'scheduler__admin__search__RMD5a_at_1765022400_1', rid: '0', status: 'notified', discord_message_id: '1234' }));

    const report = imported(await importFileStore(layout, kv, fast));
    assert.deepEqual(report.counts.blocklist, { read: 2, written: 2, unchanged: 0, skipped: 0 });
    assert.deepEqual(report.counts.notifications, { read: 1, written: 0, unchanged: 1, skipped: 0 });
    assert.deepEqual(report.counts.incidents, { read: 3, written: 1, unchanged: 1, skipped: 1 });

    const merged = stub.docs('soar_blocklist').find((d) => d._key === BLOCKED)!;
    assert.equal(merged.expires, (T0 + 10 * HOUR) / 1000, "the cluster's later expiry");
    assert.equal(merged.count, 2, "the file's larger count");
    assert.equal(merged.first_seen, (T0 - HOUR) / 1000, 'the earliest first block');
    assert.equal(merged.last_seen, (T0 + 30_000) / 1000);
    assert.equal(merged.verdict, 'SUSPICIOUS', 'of the later block');
    assert.deepEqual(JSON.parse(String(merged.offences)), ['sid-9', 'sid-2', 'sid-1']);
    assert.equal(merged.status, 'active');
    assert.equal(merged.rev, 4, 'changed through a revision, like any concurrent writer');

    assert.equal(stub.docs('soar_state').find((d) => d._key === `notified:${NOTIFIED}`)!.incident_id, 'INC-later');
    const incident = stub.docs('soar_incidents').find((d) => d._key === key)!;
    assert.equal(incident.status, 'notified');
    assert.equal(incident.discord_message_id, '1234');
  });

  it('KV store unavailable: an error that says what to do, and no marker, so the next run imports', async () => {
    fileStore020(layout);
    stub.unavailable = true;
    const r = await importFileStore(layout, kv, fast);
    assert.equal(r.ok, false);
    if (r.ok) return;
    assert.equal(r.error.kind, 'unavailable');
    assert.match(r.error.message, /stopped at the blocklist/);
    assert.match(r.error.message, /soar-edr state import/);
    assert.match(r.error.message, /kvstore-status/);
    assert.equal(existsSync(importMarkerFile(layout)), false);

    stub.unavailable = false;
    imported(await importFileStore(layout, kv, fast));
    assert.ok(existsSync(importMarkerFile(layout)));
  });

  it('an empty data directory: nothing to write, the marker all the same', async () => {
    const report = imported(await importFileStore(layout, kv, fast));
    for (const c of Object.values(report.counts)) assert.deepEqual(c, { read: 0, written: 0, unchanged: 0, skipped: 0 });
    assert.ok(existsSync(importMarkerFile(layout)));
  });

  it('a corrupt blocklist.csv is skipped with its reason; the rest is imported', async () => {
    fileStore020(layout);
    appendFileSync(layout.blocklist, 'not-an-ip,x,y,z,0,,\n');
    const report = imported(await importFileStore(layout, kv, fast));
    assert.ok(report.skipped.some((s) => s.where === 'blocklist.csv' && /--force/.test(s.reason)), JSON.stringify(report.skipped));
    // The history still counts for escalation; without blocklist.csv no block is known to be in force.
    assert.deepEqual(stub.docs('soar_blocklist').map((d) => [d._key, d.status]).sort(), [[BLOCKED, 'expired'], [LAPSED, 'expired']].sort());
    assert.equal(report.counts.incidents.written, 2);
  });
});
