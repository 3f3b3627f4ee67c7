/**
 * Maintenance runs of the PACKAGED action through the splunkd emulator: the payload the app's
 * scheduled search "SOAR-EDR - Maintenance" makes (`| makeresults | sendalert soar_response
 * param.mode="maintenance"`: one row without an address, mode=maintenance in the
 * configuration), with loopback VirusTotal, Discord and splunkd REST stubs and a temporary
 * SOAR_DATA_DIR. A card left in the outbox while Discord was down goes out with no new alert
 * (once its backoff has passed), an expired block is removed with its 'expired' event, spooled
 * rows of an earlier digest are recorded, two
 * runs at once deliver once (the lease), an unknown mode is a configuration error, and a run
 * with nothing to do writes one INFO line and nothing else.
 */
import { ip } from '../support/ip-address';
import assert from 'node:assert/strict';
import { closeSync, existsSync, mkdtempSync, openSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { blockAddress, listBlocks } from '../../src/respond/blocklist';
import { dataLayout } from '../../src/store/data-dir';
import { spoolStore } from '../../src/store/spool';
import { incidentRows } from '../support/data-files';
import type { DiscordStub } from '../support/discord-stub';
import type { IntelStub } from '../support/intel-stubs';
import { writeSealed } from '../support/sealed-entries';
import { LogLine, withSignature } from '../support/splunk-log';
import { actionConfiguration, ActionRun, buildPayload, InstalledApp, Row, runAction, writeDispatch } from '../support/splunkd-emulator';
import type { RestStub } from '../support/splunkd-rest-stub';
import { closeActionWorld, startActionWorld } from '../support/action-world';

/** Public, unknown to the VirusTotal stub (404 NotFound → UNKNOWN, no block). */
const UNKNOWN_IP = '183.62.140.253';
const CLOSING = 'Modular action script duration';
const LEASE_HELD = 'Maintenance already running elsewhere; nothing done';

describe('maintenance mode (param mode=maintenance), packaged action', function () {
  this.timeout(90_000);
  let app: InstalledApp;
  let rest: RestStub;
  let vt: IntelStub<string>;
  let discord: DiscordStub;
  let dataDir: string;

  before(async () => {
    ({ app, rest, vt, discord } = await startActionWorld());
  });
  after(() => closeActionWorld({ app, rest, vt, discord }));
  beforeEach(() => {
    dataDir = mkdtempSync(path.join(tmpdir(), 'soar-maintenance-'));
  });
  afterEach(() => rmSync(dataDir, { recursive: true, force: true }));

  const env = (): Record<string, string> => ({
    SOAR_DATA_DIR: dataDir,
    SOAR_VIRUSTOTAL_URL: vt.baseUrl,
    SOAR_VIRUSTOTAL_API_KEY: vt.apiKey,
    SOAR_WEBHOOK_ALLOWED_HOSTS: discord.hostPort,
    SOAR_DISCORD_WEBHOOK_URL: discord.webhookUrl,
  });

  async function alertRun(rows: Row[]): Promise<ActionRun> {
    const d = writeDispatch(app, rows, 'digest');
    const payload = buildPayload({ sid: d.sid, resultsFile: d.resultsFiles[0]!, configuration: actionConfiguration(app), serverUri: rest.url, sessionKey: rest.sessionKey, result: rows[0] });
    return runAction(app, payload, { env: env() });
  }

  /** What splunkd hands the action for `| makeresults | sendalert soar_response param.mode=...`: one row, only _time. */
  function maintenancePayload(mode = 'maintenance'): Record<string, unknown> {
    const sid = `scheduler__nobody_c29hcl9lZHI__RMD5${Date.now().toString(16)}_at_1764000060_${Math.floor(Math.random() * 1000)}`;
    const row: Row = { _time: '1764000060' };
    const d = writeDispatch(app, [row], 'digest', sid);
    return buildPayload({ sid, resultsFile: d.resultsFiles[0]!, configuration: { ...actionConfiguration(app), mode }, searchName: 'SOAR-EDR - Maintenance', serverUri: rest.url, sessionKey: rest.sessionKey, result: row });
  }

  function maintenanceRun(mode?: string): Promise<ActionRun> {
    return runAction(app, maintenancePayload(mode), { env: env() });
  }

  const outboxFiles = (): string[] => (existsSync(path.join(dataDir, 'outbox')) ? readdirSync(path.join(dataDir, 'outbox')).filter((n) => n.endsWith('.json')) : []);

  /** The time passing that a test cannot wait for: every outbox item's backoff ends now (re-sealed as the app would). */
  function backoffPassed(): void {
    for (const name of outboxFiles()) {
      const file = path.join(dataDir, 'outbox', name);
      const { mac: _mac, ...item } = JSON.parse(readFileSync(file, 'utf8')) as Record<string, unknown>;
      writeSealed(dataDir, 'outbox', file, { ...item, nextAttemptAtMs: Date.now() - 1 });
    }
  }

  function events(): Record<string, unknown>[] {
    const file = path.join(dataDir, 'events', 'incidents.json');
    return existsSync(file) ? readFileSync(file, 'utf8').trim().split('\n').filter(Boolean).map((l) => JSON.parse(l) as Record<string, unknown>) : [];
  }

  const above = (lines: readonly LogLine[], ...levels: string[]): LogLine[] => lines.filter((l) => levels.includes(l.level));

  /** An alert run while Discord is down (four 500s: every attempt of one delivery): the card waits in the outbox with its backoff. */
  async function cardLeftInOutbox(): Promise<string> {
    discord.script(...Array.from({ length: 4 }, () => ({ type: 'server_error' as const, status: 500 })));
    const run = await alertRun([{ src_ip: UNKNOWN_IP, failure_count: '9' }]);
    assert.equal(run.code, 6, run.stderr);
    assert.equal(outboxFiles().length, 1);
    return incidentRows(dataDir).find((r) => r.src_ip === UNKNOWN_IP)!.incident_id!;
  }

  it('delivers a card left in the outbox after Discord recovers, with no new alert, once its backoff has passed', async () => {
    const incidentId = await cardLeftInOutbox();
    const before = discord.requests.length;

    // Discord is back, but the card's backoff has not passed: it keeps waiting (maintenance paces retries like alert runs).
    const early = await maintenanceRun();
    assert.equal(early.code, 0, early.stderr);
    assert.equal(discord.requests.length, before, 'not tried before its backoff');
    assert.equal(outboxFiles().length, 1);

    backoffPassed();
    const run = await maintenanceRun();
    assert.equal(run.code, 0, run.stderr);
    const sent = discord.requests.slice(before);
    assert.deepEqual(sent.map((r) => r.answered), [200]);
    assert.ok(JSON.stringify(sent[0]!.body).includes(incidentId), 'the card of the incident');
    assert.deepEqual(outboxFiles(), []);
    const closing = withSignature(run.lines, CLOSING);
    assert.equal(closing.length, 1, run.stderr);
    assert.deepEqual([closing[0]!.fields.mode, closing[0]!.fields.delivered, closing[0]!.fields.exit_code], ['maintenance', '1', '0']);
    assert.ok(events().some((e) => e.event === 'notified' && e.incident_id === incidentId), 'a notified event');
    // The makeresults row is no incident: nothing rejected, nothing recorded.
    assert.equal(incidentRows(dataDir).length, 1);
    assert.deepEqual(above(run.lines, 'WARN', 'ERROR', 'FATAL'), []);
    assert.ok(!run.stderr.includes(discord.token), 'the webhook token never reaches the log');
  });

  it('removes a block whose expiry passed and writes its expired event', async () => {
    const layout = dataLayout(dataDir);
    const now = Date.now();
    assert.ok(blockAddress(layout, ip('198.51.100.7'), 'MALICIOUS', 'old block', now - 7_200_000, { baseSeconds: 60, maxSeconds: 60 }).ok);
    assert.ok(blockAddress(layout, ip('198.51.100.8'), 'MALICIOUS', 'current block', now, { baseSeconds: 3600, maxSeconds: 3600 }).ok);

    const run = await maintenanceRun();
    assert.equal(run.code, 0, run.stderr);
    const left = listBlocks(layout, Number.MIN_SAFE_INTEGER + 1);
    assert.ok(left.ok);
    assert.deepEqual(left.value.map((b) => b.address.text), ['198.51.100.8'], 'the expired block is gone from blocklist.csv, the current one stays');
    const expired = events().filter((e) => e.event === 'expired');
    assert.deepEqual(expired.map((e) => e.src_ip), ['198.51.100.7']);
    assert.equal(withSignature(run.lines, 'Expired simulated blocks removed')[0]?.fields.ips, '198.51.100.7');
    assert.equal(withSignature(run.lines, CLOSING)[0]!.fields.expired_blocks, '1');
  });

  it('records the rows an earlier digest spooled, with that alert\'s sid, and leaves the spool empty', async () => {
    // A digest of three addresses whose run (as if out of time) spooled the last two.
    const rows: Row[] = [{ src_ip: '10.20.30.41', failure_count: '12' }, { src_ip: '10.20.30.42', failure_count: '13' }, { src_ip: '10.20.30.43', failure_count: '14' }];
    const d = writeDispatch(app, rows, 'digest');
    const fd = openSync(d.resultsFiles[0]!, 'r');
    try {
      const put = spoolStore(dataLayout(dataDir)).put(fd, true, { sid: d.sid, searchName: 'SOAR-EDR - SSH brute force', app: 'search', owner: 'admin', resultsLink: '', configuration: actionConfiguration(app), mode: 'digest', baseRid: null }, 1, 3);
      assert.ok(put.ok, JSON.stringify(put));
    } finally {
      closeSync(fd);
    }
    const run = await maintenanceRun();
    assert.equal(run.code, 0, run.stderr);
    assert.deepEqual(incidentRows(dataDir).map((r) => [r.src_ip, r.sid]), [['10.20.30.42', d.sid], ['10.20.30.43', d.sid]]);
    assert.equal(spoolStore(dataLayout(dataDir)).waiting(), 0);
    assert.equal(withSignature(run.lines, CLOSING)[0]!.fields.spool_recorded, '2');
  });

  it('two maintenance runs started at once: the card goes out once, and one run finds the lease held', async () => {
    await cardLeftInOutbox();
    backoffPassed();
    const before = discord.requests.length;
    // A slow Discord keeps the first run (and its lease) busy while the second starts.
    discord.script({ type: 'slow', delayMs: 3000 });
    const runs = await Promise.all([maintenanceRun(), maintenanceRun()]);
    for (const r of runs) assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(discord.requests.slice(before).map((r) => r.answered), [200], 'delivered exactly once');
    const held = runs.filter((r) => withSignature(r.lines, LEASE_HELD).length > 0);
    assert.equal(held.length, 1, runs.map((r) => r.stderr).join('\n---\n'));
    // The run that found the lease held says so in one INFO line and nothing else.
    assert.deepEqual(held[0]!.lines.map((l) => [l.level, l.fields.signature]), [['INFO', LEASE_HELD]]);
    assert.deepEqual(outboxFiles(), []);
    // The lease is given back: the next run works.
    const next = await maintenanceRun();
    assert.equal(withSignature(next.lines, LEASE_HELD).length, 0, next.stderr);
  });

  it('an unknown mode is a configuration error (exit 3) naming the param and what to set', async () => {
    const run = await maintenanceRun('maintenence');
    assert.equal(run.code, 3, run.stderr);
    const bad = withSignature(run.lines, 'Invalid action configuration');
    assert.equal(bad.length, 1, run.stderr);
    assert.equal(bad[0]!.level, 'ERROR');
    assert.match(bad[0]!.fields.message!, /param mode "maintenence" is not one of maintenance, alert or empty/);
    assert.match(bad[0]!.fields.message!, /param\.mode="maintenance"/);
    assert.equal(incidentRows(dataDir).length, 0, 'no incident from the makeresults row');
  });

  it('a run with nothing to do writes one INFO line (the closing one, mode=maintenance), no WARN or ERROR, no incident, and asks splunkd nothing', async () => {
    const restBefore = rest.requests.length;
    const discordBefore = discord.requests.length;
    const run = await maintenanceRun();
    assert.equal(run.code, 0, run.stderr);
    assert.deepEqual(above(run.lines, 'WARN', 'ERROR', 'FATAL'), []);
    assert.deepEqual(run.lines.map((l) => [l.level, l.fields.signature, l.fields.mode]), [['INFO', CLOSING, 'maintenance']]);
    assert.equal(incidentRows(dataDir).length, 0);
    assert.ok(!existsSync(path.join(dataDir, 'incidents.csv')));
    assert.equal(rest.requests.length, restBefore, 'no storage/passwords request when nothing needs a secret');
    assert.equal(discord.requests.length, discordBefore);
    assert.equal(run.stdout, '');
  });
});
