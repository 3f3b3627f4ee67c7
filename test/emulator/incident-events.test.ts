/**
 * Incidents as events, through the packaged app: per-result and digest runs append one JSON
 * line per change to <data>/events/incidents.json; every line parses, its `time` is read by
 * the packaged props.conf (TIME_PREFIX, TIME_FORMAT, MAX_TIMESTAMP_LOOKAHEAD applied here, as
 * splunkd would), the packaged eventtype matches it and tags it `alert` (CIM Alerts). A CLI
 * unblock adds its event; a file that cannot be written costs one WARN, never the incident.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import type { ConfStanza } from '../support/conf-file';
import { incidentRows } from '../support/data-files';
import { DiscordStub, startDiscordStub } from '../support/discord-stub';
import { IntelStub, startVirusTotalStub, VT_OPENCTI_IP, VtAnswer } from '../support/intel-stubs';
import { REPO_ROOT } from '../support/paths';
import { withSignature } from '../support/splunk-log';
import { actionConfiguration, ActionRun, buildPayload, InstalledApp, installApp, Row, runAction, writeDispatch } from '../support/splunkd-emulator';
import { RestStub, startRestStub } from '../support/splunkd-rest-stub';
import { pcreToJs } from '../detections/pcre';
import { matchSearch, parseSearch } from '../detections/spl-search';
import { parseConf } from '../support/conf-file';

const CLI = path.join(REPO_ROOT, 'dist', 'cli', 'soar-edr.cjs');
const SOURCETYPE = 'soar_edr:incident';

type Json = Record<string, unknown>;

function settings(stanzas: readonly ConfStanza[], name: string): Map<string, string> {
  const s = stanzas.find((x) => x.name === name);
  assert.ok(s, `no [${name}]`);
  return new Map(s.entries.map((e) => [e.key, e.value]));
}

/**
 * splunkd's timestamp step for one line: TIME_PREFIX must match, then TIME_FORMAT must match
 * within MAX_TIMESTAMP_LOOKAHEAD characters after it. strptime with the directives the props use
 * (%Y %m %d %H %M %S %3N) and literal characters; in the zone of TZ (UTC).
 */
function splunkTime(raw: string, props: Map<string, string>): number {
  const prefix = pcreToJs(props.get('TIME_PREFIX')!).exec(raw);
  assert.ok(prefix && prefix.index === 0, `TIME_PREFIX does not match at the start of ${raw.slice(0, 60)}`);
  const text = raw.slice(prefix[0].length, prefix[0].length + Number(props.get('MAX_TIMESTAMP_LOOKAHEAD')));
  const parts: Record<string, number> = {};
  const directive: Record<string, [string, RegExp]> = { Y: ['Y', /^\d{4}/], m: ['m', /^\d\d/], d: ['d', /^\d\d/], H: ['H', /^\d\d/], M: ['M', /^\d\d/], S: ['S', /^\d\d/], '3N': ['N', /^\d{3}/] };
  const format = props.get('TIME_FORMAT')!;
  let at = 0;
  for (let i = 0; i < format.length; ) {
    if (format[i] === '%') {
      const key = format.startsWith('3N', i + 1) ? '3N' : format[i + 1]!;
      const d = directive[key];
      assert.ok(d, `TIME_FORMAT directive %${key} is not emulated`);
      const m = d[1].exec(text.slice(at));
      assert.ok(m, `TIME_FORMAT ${format} fails at %${key} in ${text}`);
      parts[d[0]] = Number(m[0]);
      at += m[0].length;
      i += 1 + key.length;
    } else {
      assert.equal(text[at], format[i], `TIME_FORMAT literal ${format[i]} in ${text}`);
      at += 1;
      i += 1;
    }
  }
  assert.equal(props.get('TZ'), 'UTC');
  return Date.UTC(parts.Y!, parts.m! - 1, parts.d!, parts.H!, parts.M!, parts.S!, parts.N!);
}

describe('incident events (events/incidents.json), packaged action', function () {
  this.timeout(120_000);
  let app: InstalledApp;
  let rest: RestStub;
  let vt: IntelStub<VtAnswer>;
  let discord: DiscordStub;
  let dataDir: string;
  let confs: Map<string, ConfStanza[]>;

  before(async () => {
    app = await installApp();
    confs = new Map(['props.conf', 'eventtypes.conf', 'tags.conf', 'inputs.conf'].map((f) => [f, parseConf(readFileSync(path.join(app.appDir, 'default', f), 'utf8'))]));
  });
  after(() => rmSync(app.splunkHome, { recursive: true, force: true }));
  beforeEach(async () => {
    dataDir = mkdtempSync(path.join(tmpdir(), 'soar-events-run-'));
    rest = await startRestStub();
    vt = await startVirusTotalStub();
    discord = await startDiscordStub();
    rest.passwords.push({ app: 'soar_edr', realm: 'soar_edr', username: 'virustotal_api_key', password: vt.apiKey });
    rest.passwords.push({ app: 'soar_edr', realm: 'soar_edr', username: 'discord_webhook_url', password: discord.webhookUrl });
  });
  afterEach(async () => {
    await rest.close();
    await vt.close();
    await discord.close();
    rmSync(dataDir, { recursive: true, force: true });
  });

  const env = () => ({ SOAR_DATA_DIR: dataDir, SOAR_VIRUSTOTAL_URL: vt.baseUrl, SOAR_WEBHOOK_ALLOWED_HOSTS: discord.hostPort });
  const eventsPath = () => path.join(dataDir, 'events', 'incidents.json');

  async function run(rows: readonly Row[], mode: 'per_result' | 'digest'): Promise<ActionRun[]> {
    const d = writeDispatch(app, rows, mode);
    const runs: ActionRun[] = [];
    for (const f of d.resultsFiles) {
      runs.push(await runAction(app, buildPayload({ sid: d.sid, resultsFile: f, configuration: actionConfiguration(app), serverUri: rest.url, sessionKey: rest.sessionKey }), { env: env() }));
    }
    return runs;
  }

  function events(): { raw: string; json: Json }[] {
    const text = readFileSync(eventsPath(), 'utf8');
    assert.ok(text.endsWith('\n'));
    return text
      .slice(0, -1)
      .split('\n')
      .map((raw) => ({ raw, json: JSON.parse(raw) as Json }));
  }

  it('per-result runs and a digest write one event per change; each line is JSON whose time the packaged props read; the eventtype and tag alert match', async () => {
    const before = Date.now();
    const perResult = await run([{ src_ip: VT_OPENCTI_IP, failure_count: '14', users: ['root', 'admin'] }, { src_ip: '10.0.0.5', users: 'x"\n{"event":"forged"}' }], 'per_result');
    for (const r of perResult) assert.equal(r.code, 0, r.stderr);
    const digest = await run([{ src_ip: '10.0.0.6' }, { src_ip: '192.168.1.7' }, { src_ip: '10.0.0.6' }], 'digest');
    assert.equal(digest[0]!.code, 0, digest[0]!.stderr);
    const after = Date.now();

    const incidents = incidentRows(dataDir);
    assert.equal(incidents.length, 5);
    const all = events();
    const recorded = all.filter((e) => e.json.event === 'recorded');
    assert.deepEqual(recorded.map((e) => e.json.incident_id).sort(), incidents.map((r) => r.incident_id).sort(), 'one recorded event per incident');
    const malicious = incidents.find((r) => r.src_ip === VT_OPENCTI_IP)!;
    const ofMalicious = all.filter((e) => e.json.incident_id === malicious.incident_id).map((e) => e.json.event);
    assert.deepEqual(ofMalicious, ['recorded', 'blocked', 'notified']);
    const rec = recorded.find((e) => e.json.incident_id === malicious.incident_id)!.json;
    assert.deepEqual([rec.verdict, rec.vt_malicious, rec.action, rec.src_ip, rec.failure_count, rec.users], ['MALICIOUS', 4, 'blocked', VT_OPENCTI_IP, 14, ['root', 'admin']]);
    assert.match(String(all.find((e) => e.json.event === 'blocked')!.json.block_expires), /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);

    const props = settings(confs.get('props.conf')!, SOURCETYPE);
    assert.equal(props.get('KV_MODE'), 'json');
    assert.equal(props.get('SHOULD_LINEMERGE'), 'false');
    const breaker = pcreToJs(props.get('LINE_BREAKER')!);
    const et = confs.get('eventtypes.conf')!.find((s) => s.name === 'soar_incident_event')!;
    const search = parseSearch(et.entries.find((e) => e.key === 'search')!.value).filter;
    const tags = settings(confs.get('tags.conf')!, 'eventtype=soar_incident_event');
    assert.equal(tags.get('alert'), 'enabled');
    for (const { raw, json } of all) {
      assert.equal(breaker.exec(raw), null, 'no line break inside an event');
      assert.ok(raw.length < Number(props.get('TRUNCATE')));
      const t = splunkTime(raw, props);
      assert.equal(t, Date.parse(String(json.time)), raw);
      assert.ok(t >= before - 1000 && t <= after + 1000, `time ${json.time} is the moment of the change`);
      const fields = (f: string): string[] => {
        if (f === 'sourcetype') return [SOURCETYPE];
        if (f === 'index') return ['soar_incidents'];
        const v = json[f];
        return v === undefined ? [] : Array.isArray(v) ? v.map(String) : [String(v)];
      };
      assert.ok(matchSearch(search, fields), `eventtype soar_incident_event does not match ${raw}`);
      for (const f of ['app', 'description', 'id', 'severity', 'signature', 'src', 'type']) assert.ok(json[f] !== undefined, `CIM Alerts ${f} missing in ${raw}`);
    }
    const hostile = recorded.find((e) => e.json.src_ip === '10.0.0.5')!.json;
    assert.deepEqual(hostile.users, ['x"<U+000A>{"event":"forged"}']);
    assert.equal(all.filter((e) => e.json.event === 'forged').length, 0);

    // The monitor stanza reads this file and its rotations into the index, with this sourcetype.
    const monitor = confs.get('inputs.conf')!.find((s) => s.name.startsWith('monitor://'))!;
    assert.equal(monitor.name, 'monitor://$SPLUNK_HOME/var/lib/soar_edr/events/incidents.json*');
    assert.deepEqual(new Map(monitor.entries.map((e) => [e.key, e.value])), new Map([['index', 'soar_incidents'], ['sourcetype', SOURCETYPE]]));

    // soar-edr unblock adds its event.
    const cli = spawnSync(process.execPath, [CLI, 'unblock', VT_OPENCTI_IP], { env: { PATH: process.env.PATH ?? '', HOME: dataDir, SOAR_DATA_DIR: dataDir }, encoding: 'utf8' });
    assert.equal(cli.status, 0, cli.stderr);
    const last = events().at(-1)!.json;
    assert.deepEqual([last.event, last.src_ip, last.verdict, last.block_count], ['unblocked', VT_OPENCTI_IP, 'MALICIOUS', 1]);
  });

  it('deferred enrichment writes enriched and verdict_changed events for the incident recorded before the key was there', async () => {
    rest.passwords.splice(0, rest.passwords.length, ...rest.passwords.filter((p) => p.username !== 'virustotal_api_key'));
    await run([{ src_ip: VT_OPENCTI_IP }], 'per_result');
    const [first] = incidentRows(dataDir);
    assert.equal(first!.verdict, 'UNKNOWN');
    rest.passwords.push({ app: 'soar_edr', realm: 'soar_edr', username: 'virustotal_api_key', password: vt.apiKey });
    const [r] = await run([{ src_ip: '10.0.0.8' }], 'per_result');
    assert.equal(r!.code, 0, r!.stderr);
    const mine = events().filter((e) => e.json.incident_id === first!.incident_id).map((e) => e.json);
    assert.deepEqual(mine.map((e) => e.event), ['recorded', 'notified', 'enriched', 'verdict_changed', 'blocked', 'notified']);
    const changed = mine.find((e) => e.event === 'verdict_changed')!;
    assert.deepEqual([changed.previous_verdict, changed.verdict, changed.severity], ['UNKNOWN', 'MALICIOUS', 'high']);
    assert.equal(mine.at(-1)!.notification_kind, 'update');
  });

  it('an events file that cannot be written: the incident is still recorded and notified, with one WARN', async function () {
    mkdirSync(path.dirname(eventsPath()), { recursive: true, mode: 0o750 });
    writeFileSync(eventsPath(), '', { mode: 0o640 });
    const root = typeof process.geteuid === 'function' && process.geteuid() === 0;
    // root writes through any mode: the immutable attribute stops it (where chattr and the file system allow it).
    if (root && spawnSync('chattr', ['+i', eventsPath()]).status !== 0) this.skip();
    if (!root) chmodSync(eventsPath(), 0o440);
    try {
      const [r] = await run([{ src_ip: VT_OPENCTI_IP, failure_count: '3' }], 'per_result');
      assert.equal(r!.code, 0, r!.stderr);
      const rows = incidentRows(dataDir);
      assert.deepEqual(rows.map((x) => [x.src_ip, x.verdict, x.action]), [[VT_OPENCTI_IP, 'MALICIOUS', 'blocked']]);
      assert.equal(discord.requests.length, 1, 'the card still goes out');
      const warned = withSignature(r!.lines, 'Incident events not written');
      assert.equal(warned.length, 1, r!.stderr);
      assert.equal(warned[0]!.level, 'WARN');
      assert.match(warned[0]!.fields.message!, /incidents\.csv/);
      assert.equal(readFileSync(eventsPath(), 'utf8'), '');
    } finally {
      if (root) spawnSync('chattr', ['-i', eventsPath()]);
    }
  });

  it('a file past the size limit is rotated to incidents.json.1 by the next run', async () => {
    mkdirSync(path.dirname(eventsPath()), { recursive: true, mode: 0o750 });
    const old = `${JSON.stringify({ time: '2026-01-01T00:00:00.000Z', event: 'recorded', pad: 'x'.repeat(1000) })}\n`;
    writeFileSync(eventsPath(), old.repeat(Math.ceil((50 * 1024 * 1024) / old.length)), { mode: 0o640 });
    const [r] = await run([{ src_ip: '10.0.0.9' }], 'per_result');
    assert.equal(r!.code, 0, r!.stderr);
    assert.ok(existsSync(`${eventsPath()}.1`));
    assert.ok(readFileSync(`${eventsPath()}.1`, 'utf8').startsWith(old));
    assert.deepEqual(events().map((e) => [e.json.event, e.json.src_ip]), [['recorded', '10.0.0.9'], ['notified', '10.0.0.9']]);
  });
});
