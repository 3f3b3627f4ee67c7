/**
 * Two members of one search head cluster (issue 12): two SPLUNK_HOMEs with their own data
 * folders, one splunkd stub serving storage/passwords and the KV store, the VirusTotal and
 * Discord stubs. Each member runs the packaged action as splunkd would, with its state in the
 * KV store ([state] store = kvstore). What a cluster must agree on is checked across the pair:
 * one incident per result, one VirusTotal request per address, one card per address, the
 * per-minute quota, blocks seen by both, an unblock seen by both; and a KV store that goes
 * down in the middle: the rows are spooled and recorded once it is back, exactly once; a card
 * one member could not send, delivered by the maintenance search on the other, once.
 */
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { blockAddress } from '../../src/respond/blocklist';
import { dataLayout } from '../../src/store/data-dir';
import { runBuiltCli } from '../support/built-cli';
import { ip } from '../support/ip-address';
import { DiscordStub, startDiscordStub } from '../support/discord-stub';
import { IntelStub, startVirusTotalStub, VtAnswer, VT_OPENCTI_IP } from '../support/intel-stubs';
import { withSignature } from '../support/splunk-log';
import { actionConfiguration, buildPayload, InstalledApp, installApp, runAction, writeDispatch } from '../support/splunkd-emulator';
import { RestStub, startRestStub } from '../support/splunkd-rest-stub';

const ADMIN_PASSWORD = 'changeme-Adm1n';
/** Blocked by member B while it ran 0.1.0 (its file store). */
const LEGACY_BLOCK = '198.51.100.77';
/** Ten public addresses: the OpenCTI capture's (MALICIOUS) and nine the stub does not know (UNKNOWN). */
const ADDRESSES = [VT_OPENCTI_IP, '45.155.205.233', '185.220.101.4', '103.145.13.87', '61.177.172.160', '218.92.0.107', '193.32.162.38', '141.98.11.11', '92.63.197.153', '80.94.95.115'];

describe('two members, one cluster: state in the KV store', function () {
  this.timeout(240_000);
  let rest: RestStub;
  let vt: IntelStub<VtAnswer>;
  let discord: DiscordStub;
  let members: { app: InstalledApp; dataDir: string }[];

  before(async () => {
    rest = await startRestStub({ kvstore: true });
    vt = await startVirusTotalStub();
    discord = await startDiscordStub();
    rest.passwords.push(
      { app: 'soar_edr', realm: 'soar_edr', username: 'virustotal_api_key', password: vt.apiKey },
      { app: 'soar_edr', realm: 'soar_edr', username: 'discord_webhook_url', password: discord.webhookUrl },
    );
    members = [];
    for (const name of ['a', 'b']) {
      members.push({ app: await installApp(undefined, { stateStore: 'kvstore' }), dataDir: mkdtempSync(path.join(tmpdir(), `soar-member-${name}-`)) });
    }
    // Member B was upgraded from 0.1.0: a block in its file store, imported on its first KV store run.
    assert.ok(blockAddress(dataLayout(members[1]!.dataDir), ip(LEGACY_BLOCK), 'MALICIOUS', 'blocked by 0.1.0', Date.now(), { baseSeconds: 86_400, maxSeconds: 86_400 }).ok);
  });
  after(async () => {
    await Promise.all([rest.close(), vt.close(), discord.close()]);
    for (const m of members) {
      rmSync(m.app.splunkHome, { recursive: true, force: true });
      rmSync(m.dataDir, { recursive: true, force: true });
    }
  });

  const env = (m: { dataDir: string }) => ({ SOAR_DATA_DIR: m.dataDir, SOAR_VIRUSTOTAL_URL: vt.baseUrl, SOAR_WEBHOOK_ALLOWED_HOSTS: discord.hostPort });

  /** One firing of a detection on a member: one per-result run per row, all started at once. */
  function fire(m: { app: InstalledApp; dataDir: string }, addresses: readonly string[], sid: string, params: Record<string, string> = {}) {
    const d = writeDispatch(m.app, addresses.map((ip) => ({ src_ip: ip, failure_count: '12', users: 'root' })), 'per_result', sid);
    return d.resultsFiles.map((file) =>
      runAction(m.app, buildPayload({ sid, resultsFile: file, configuration: { ...actionConfiguration(m.app), ...params }, serverUri: rest.url, sessionKey: rest.sessionKey }), { env: env(m) }),
    );
  }

  it('50 per-result runs at once over 10 addresses, split across both: 50 incidents, one VirusTotal request and one card per address, never more than 4 requests a minute', async () => {
    const rows = Array.from({ length: 50 }, (_, i) => ADDRESSES[i % ADDRESSES.length]!);
    // quota_wait 0: a run does not wait for the next minute's slot; what finds none waits in the queue.
    const runs = await Promise.all([
      ...fire(members[0]!, rows.slice(0, 25), 'scheduler__admin__search__RMD5cluster_at_1765000000_1', { quota_wait: '0' }),
      ...fire(members[1]!, rows.slice(25), 'scheduler__admin__search__RMD5cluster_at_1765000000_2', { quota_wait: '0' }),
    ]);
    for (const r of runs) assert.ok(r.code === 0 || r.code === 6, `exit ${r.code}: ${r.stderr.slice(-800)}`);

    const incidents = rest.kv!.docs('soar_incidents');
    assert.equal(incidents.length, 50, 'one incident per result');
    assert.equal(new Set(incidents.map((d) => d.incident_id)).size, 50);

    const asked = ADDRESSES.map((ip) => vt.requestsFor(ip));
    assert.ok(asked.every((n) => n <= 1), `no address asked twice: ${asked.join(',')}`);
    assert.equal(vt.requests.length, 4, "the minute's 4 slots are used across both members; the other addresses wait in the queue for later minutes");
    const grants = rest.kv!.docs('soar_state').filter((d) => d.kind === 'quota').map((d) => d.at_ms as number).sort((x, y) => x - y);
    assert.equal(grants.length, 4, 'one quota grant per request sent');
    for (let i = 4; i < grants.length; i++) assert.ok(grants[i]! - grants[i - 4]! >= 60_000, 'at most 4 grants in any minute');
    const queued = runs.flatMap((r) => withSignature(r.lines, 'Enrichment queued for a later run or soar-edr drain'));
    assert.ok(queued.length >= 6, `the addresses without a slot are queued (${queued.length})`);

    const cards = discord.delivered();
    const cardsPer = ADDRESSES.map((ip) => cards.filter((c) => JSON.stringify(c).includes(ip)).length);
    assert.deepEqual(cardsPer, ADDRESSES.map(() => 1), 'one card per address across both members');

    // Each member recorded its own incidents' TXT reports and CSV rows.
    const recorded = runs.flatMap((r) => withSignature(r.lines, 'Incident recorded'));
    assert.equal(recorded.length, 50);

    // Member B's 0.1.0 block is in the KV store now, imported by one of its runs, once.
    const imports = runs.flatMap((r) => withSignature(r.lines, 'Data directory imported into the KV store'));
    assert.equal(imports.length, 1, JSON.stringify(imports.map((l) => l.fields)));
    assert.deepEqual(rest.kv!.docs('soar_blocklist').filter((d) => d.ip === LEGACY_BLOCK).map((d) => [d.status, d.reason]), [['active', 'blocked by 0.1.0']]);
  });

  it("the enrichment queue is in the KV store: member B's maintenance run enriches the addresses both members queued", async () => {
    const queueDocs = () => rest.kv!.docs('soar_state').filter((d) => d.kind === 'queue');
    const queuedBefore = queueDocs();
    assert.ok(queuedBefore.length >= 1, 'the addresses without a slot wait in soar_state, one document per address');
    const text = JSON.stringify(queuedBefore);
    assert.ok(!text.includes(vt.apiKey) && !text.includes(discord.webhookUrl), 'nothing secret in a queue document');
    const refsOf = (d: Record<string, unknown>) => JSON.parse(String(d.refs)) as { incidentId: string; snapshot?: string }[];
    assert.ok(queuedBefore.every((d) => refsOf(d).every((r) => r.snapshot !== undefined && JSON.parse(r.snapshot).incidentId === r.incidentId)), 'each reference carries its snapshot');
    const fromA = new Set(queuedBefore.flatMap(refsOf).map((r) => r.incidentId).filter((id) => existsSync(path.join(members[0]!.dataDir, 'ledger', 'incident-data', `${id}.json`))));
    assert.ok(fromA.size > 0, "member A's incidents are in the queue");
    // A new minute for the quota: the first test used its 4 slots.
    const state = rest.kv!.collections.get('soar_state')!;
    for (const [key, doc] of state) if (doc.kind === 'quota') state.delete(key);
    // …and the addresses are due (they were queued until the minute's slot frees).
    for (const [key, doc] of state) if (doc.kind === 'queue') state.set(key, { ...doc, next_attempt_ms: Date.now() - 1 });

    const m = members[1]!;
    const maintStarted = Date.now() - 1000;
    const d = writeDispatch(m.app, [{ src_ip: '192.0.2.1' }], 'digest');
    const maint = await runAction(m.app, buildPayload({ sid: 'scheduler__admin__search__RMD5maint_at_1765000030_0', resultsFile: d.resultsFiles[0]!, configuration: { ...actionConfiguration(m.app), mode: 'maintenance' }, searchName: 'SOAR-EDR - Maintenance', serverUri: rest.url, sessionKey: rest.sessionKey }), { env: env(m) });
    assert.equal(maint.code, 0, maint.stderr.slice(-1500));
    const completed = withSignature(maint.lines, 'Deferred enrichment completed').map((l) => l.fields.incident_id);
    assert.ok(completed.some((id) => fromA.has(id!)), `member B enriched member A's incidents: ${completed.join(',')}`);
    const elsewhere = withSignature(maint.lines, 'Incident recorded on another member: its TXT report stays as first written there').map((l) => l.fields.incident_id);
    assert.deepEqual(elsewhere.sort(), completed.filter((id) => fromA.has(id!)).sort(), "the TXT reports stay on member A, and B's log says so");
    // Enriched, then (a verdict that changed) announced with an update card: the document's latest status.
    const enriched = rest.kv!.docs('soar_incidents').filter((x) => (x.status === 'enriched' || x.status === 'notified') && (x.updated as number) * 1000 >= maintStarted).map((x) => x.incident_id);
    for (const id of elsewhere) assert.ok(enriched.includes(id), `soar_incidents has ${id}'s new verdict`);
    assert.ok(queueDocs().length < queuedBefore.length, 'the enriched addresses left the queue');
  });

  it('a block made through member A is seen by member B, and a CLI unblock is seen by both', async () => {
    // The admin raised the VirusTotal limit on both members (the first test used the minute's 4).
    for (const m of members) {
      mkdirSync(path.join(m.app.appDir, 'local'), { recursive: true });
      writeFileSync(path.join(m.app.appDir, 'local', 'soar_edr.conf'), '[quota]\nvt_requests_per_minute = 100\n');
    }
    const blocks = () => rest.kv!.docs('soar_blocklist').filter((d) => d.ip === VT_OPENCTI_IP);
    const before = blocks()[0]?.count ?? 0;
    const [onA] = await Promise.all(fire(members[0]!, [VT_OPENCTI_IP], 'scheduler__admin__search__RMD5cluster_at_1765000060_3', { renotify_window: '0' }));
    assert.ok(onA!.code === 0, onA!.stderr);
    assert.equal(blocks()[0]?.count, (before as number) + 1);
    const [onB] = await Promise.all(fire(members[1]!, [VT_OPENCTI_IP], 'scheduler__admin__search__RMD5cluster_at_1765000070_4', { renotify_window: '0' }));
    assert.ok(onB!.code === 0, onB!.stderr);
    assert.equal(blocks().length, 1, 'one shared block');
    assert.equal(blocks()[0]!.count, (before as number) + 2, "member B's firing escalated member A's block: it saw it");
    assert.match(withSignature(onB!.lines, `[SIMULATION] Blocking IP ${VT_OPENCTI_IP}`)[0]?.fields.repeat_offender ?? '', /yes/);

    const unblock = await runBuiltCli(['unblock', VT_OPENCTI_IP, '--host', '127.0.0.1', '--port', String(rest.port), '--scheme', 'http', '--user', 'admin'], {
      env: { HOME: members[0]!.dataDir, SOAR_DATA_DIR: members[0]!.dataDir, SPLUNK_PASSWORD: ADMIN_PASSWORD },
    });
    assert.equal(unblock.code, 0, unblock.stderr);
    assert.equal(blocks().length, 0);
    // The next firing on either member starts afresh (count 1): neither still sees the old block.
    for (const [i, m] of members.entries()) {
      const [again] = await Promise.all(fire(m, [VT_OPENCTI_IP], `scheduler__admin__search__RMD5cluster_at_1765000090_${5 + i}`, { renotify_window: '0' }));
      assert.ok(again!.code === 0, again!.stderr);
      assert.equal(blocks()[0]?.count, i + 1, `member ${i === 0 ? 'A' : 'B'} after the unblock`);
    }
  });

  it('KV store down in the middle of a run: the row is spooled, recorded once it is back, exactly once, with one card', async () => {
    const m = members[0]!;
    const sid = 'scheduler__admin__search__RMD5cluster_at_1765000120_4';
    const before = discord.delivered().length;
    rest.kv!.unavailable = true;
    const [down] = await Promise.all(fire(m, [VT_OPENCTI_IP], sid, { renotify_window: '0' }));
    rest.kv!.unavailable = false;
    assert.equal(down!.code, 6, down!.stderr);
    assert.equal(withSignature(down!.lines, 'KV store unavailable; rows spooled for a later run or the maintenance search').length, 1);
    assert.equal(rest.kv!.docs('soar_incidents').filter((d) => d.sid === sid).length, 0);
    assert.equal(discord.delivered().length, before, 'nothing announced while nothing is recorded');

    // The KV store is back: a maintenance run records the spooled row.
    const d = writeDispatch(m.app, [{ _time: '1765000180' }], 'per_result', 'scheduler__admin__search__RMD5maint_at_1765000180_0');
    const maint = await runAction(m.app, buildPayload({ sid: 'scheduler__admin__search__RMD5maint_at_1765000180_0', resultsFile: d.resultsFiles[0]!, configuration: { ...actionConfiguration(m.app), mode: 'maintenance' }, searchName: 'SOAR-EDR - Maintenance', serverUri: rest.url, sessionKey: rest.sessionKey }), { env: env(m) });
    assert.ok(maint.code === 0 || maint.code === 6, maint.stderr);
    assert.equal(rest.kv!.docs('soar_incidents').filter((x) => x.sid === sid).length, 1, `recorded once it is back: ${maint.stderr}`);
    // A second maintenance run finds nothing left: exactly once.
    const maint2 = await runAction(m.app, buildPayload({ sid: 'scheduler__admin__search__RMD5maint_at_1765000240_0', resultsFile: d.resultsFiles[0]!, configuration: { ...actionConfiguration(m.app), mode: 'maintenance' }, searchName: 'SOAR-EDR - Maintenance', serverUri: rest.url, sessionKey: rest.sessionKey }), { env: env(m) });
    assert.ok(maint2.code === 0 || maint2.code === 6, maint2.stderr);
    assert.equal(rest.kv!.docs('soar_incidents').filter((x) => x.sid === sid).length, 1);
    assert.equal(discord.delivered().length, before + 1, 'one card, not two');
  });

  it('KV store read-only (as during a KV server upgrade): the row is spooled, not failed, and recorded once writes are back', async () => {
    const m = members[1]!;
    const sid = 'scheduler__admin__search__RMD5cluster_at_1765000150_8';
    rest.kv!.readOnly = true;
    const [ro] = await Promise.all(fire(m, ['185.220.101.4'], sid, { renotify_window: '0', quota_wait: '0' }));
    rest.kv!.readOnly = false;
    assert.equal(ro!.code, 6, ro!.stderr);
    assert.equal(withSignature(ro!.lines, 'KV store unavailable; rows spooled for a later run or the maintenance search').length, 1);
    assert.equal(withSignature(ro!.lines, 'Incident pipeline failed').length, 0);
    const d = writeDispatch(m.app, [{ _time: '1765000200' }], 'per_result', 'scheduler__admin__search__RMD5maint_at_1765000200_7');
    const maint = await runAction(m.app, buildPayload({ sid: 'scheduler__admin__search__RMD5maint_at_1765000200_7', resultsFile: d.resultsFiles[0]!, configuration: { ...actionConfiguration(m.app), mode: 'maintenance' }, searchName: 'SOAR-EDR - Maintenance', serverUri: rest.url, sessionKey: rest.sessionKey }), { env: env(m) });
    assert.ok(maint.code === 0 || maint.code === 6, maint.stderr);
    assert.equal(rest.kv!.docs('soar_incidents').filter((x) => x.sid === sid).length, 1);
  });

  it('maintenance on both members at once: one takes the cluster-wide lease, the other does nothing', async () => {
    const maintenance = (m: { app: InstalledApp; dataDir: string }, i: number) => {
      const sid = `scheduler__admin__soar_edr__RMD5maint_at_1765000300_${i}`;
      const d = writeDispatch(m.app, [{ _time: '1765000300' }], 'per_result', sid);
      return runAction(m.app, buildPayload({ sid, resultsFile: d.resultsFiles[0]!, configuration: { ...actionConfiguration(m.app), mode: 'maintenance' }, searchName: 'SOAR-EDR - Maintenance', serverUri: rest.url, sessionKey: rest.sessionKey }), { env: env(m) });
    };
    // Hold the lease as a run on another member would, so the race is not left to timing.
    const leaseDoc = { _key: 'lease:maintenance', kind: 'lease', holder: 'member-c', claim_id: 'c0ffee', expires_ms: Date.now() + 60_000 };
    rest.kv!.collections.get('soar_state')!.set(leaseDoc._key, leaseDoc);
    const [a, b] = await Promise.all(members.map(maintenance));
    for (const r of [a!, b!]) {
      assert.equal(r.code, 0, r.stderr);
      assert.equal(withSignature(r.lines, 'Maintenance already running elsewhere; nothing done').length, 1, 'the lease is the cluster\'s, not the member\'s');
    }
    rest.kv!.collections.get('soar_state')!.delete(leaseDoc._key);
    const [c, e] = await Promise.all(members.map((m, i) => maintenance(m, i + 2)));
    const held = [c!, e!].filter((r) => withSignature(r.lines, 'Maintenance already running elsewhere; nothing done').length === 1);
    assert.ok(held.length <= 1, 'at most one of two runs at once is turned away');
    assert.equal(rest.kv!.docs('soar_state').filter((d) => d.kind === 'lease').length, 0, 'the lease is given back');
  });

  it("a card member A could not send waits in the KV store's outbox; the maintenance search on member B delivers it, once", async () => {
    const [a, b] = [members[0]!, members[1]!];
    const address = '45.155.205.99';
    const sid = 'scheduler__admin__search__RMD5cluster_at_1765000300_9';
    const before = discord.delivered().length;
    // Member A refuses the stub's host as a webhook (its allowed hosts are Discord's only): the card is queued.
    const d = writeDispatch(a.app, [{ src_ip: address, failure_count: '12', users: 'root' }], 'per_result', sid);
    const onA = await runAction(a.app, buildPayload({ sid, resultsFile: d.resultsFiles[0]!, configuration: { ...actionConfiguration(a.app), renotify_window: '0' }, serverUri: rest.url, sessionKey: rest.sessionKey }), {
      env: { ...env(a), SOAR_WEBHOOK_ALLOWED_HOSTS: 'discord.com' },
    });
    assert.equal(onA.code, 6, onA.stderr);
    assert.equal(withSignature(onA.lines, 'Discord webhook URL refused; notification kept in the outbox').length, 1);
    const queued = rest.kv!.docs('soar_state').filter((x) => x.kind === 'outbox');
    assert.equal(queued.length, 1, 'one outbox document in the KV store');
    assert.match(String(queued[0]!.payload), new RegExp(address.replace(/\./g, '\\.')), 'the card is in the document');
    assert.ok(!JSON.stringify(queued).includes(discord.token), 'no webhook token in the KV store');
    const outboxDir = path.join(a.dataDir, 'outbox');
    assert.deepEqual(existsSync(outboxDir) ? readdirSync(outboxDir).filter((n) => n.endsWith('.json')) : [], [], "nothing in member A's outbox folder");
    assert.equal(discord.delivered().length, before);

    const maintenance = (m: typeof a, n: number) => {
      const msid = `scheduler__admin__search__RMD5maint_at_17650003${n}0_0`;
      const md = writeDispatch(m.app, [{ _time: '1765000300' }], 'per_result', msid);
      return runAction(m.app, buildPayload({ sid: msid, resultsFile: md.resultsFiles[0]!, configuration: { ...actionConfiguration(m.app), mode: 'maintenance' }, searchName: 'SOAR-EDR - Maintenance', serverUri: rest.url, sessionKey: rest.sessionKey }), { env: env(m) });
    };
    const onB = await maintenance(b, 1);
    assert.ok(onB.code === 0 || onB.code === 6, onB.stderr);
    const cards = discord.delivered().slice(before);
    assert.equal(cards.length, 1, `member B delivered the card: ${onB.stderr.slice(-800)}`);
    assert.ok(JSON.stringify(cards[0]).includes(address));
    assert.equal(rest.kv!.docs('soar_state').filter((x) => x.kind === 'outbox').length, 0, 'the outbox document is gone');
    assert.equal(rest.kv!.docs('soar_state').filter((x) => x.kind === 'outbox_delivered' && String(x._key).includes(String(queued[0]!.incident_id))).length, 1, 'the delivered marker is kept');
    // Member A's maintenance finds nothing to send: once.
    const again = await maintenance(a, 2);
    assert.ok(again.code === 0 || again.code === 6, again.stderr);
    assert.equal(discord.delivered().length, before + 1);
  });
});
