/**
 * The packaged app run the way splunkd runs it: unpacked from dist/soar_edr-<v>.tgz,
 * bin/soar_response.sh --execute with a JSON payload on stdin, a gzip CSV results file in a
 * dispatch directory, secrets from a loopback storage/passwords stub.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { gzipSync } from 'node:zlib';
import { DiscordStub, startDiscordStub } from '../support/discord-stub';
import { IntelStub, startVirusTotalStub } from '../support/intel-stubs';
import { corpusPath } from '../support/paths';
import { withSignature } from '../support/splunk-log';
import {
  actionConfiguration,
  ActionRun,
  buildPayload,
  InstalledApp,
  installApp,
  resultsCsv,
  Row,
  runAction,
  writeDispatch,
} from '../support/splunkd-emulator';
import { RestStub, startRestStub } from '../support/splunkd-rest-stub';
import { incidentRows } from '../support/data-files';

const HANDED_OFF = 'Incident recorded';
const REJECTED = 'Result row rejected';

function handedOff(run: ActionRun) {
  return withSignature(run.lines, HANDED_OFF);
}

function summary(run: ActionRun) {
  const s = withSignature(run.lines, 'Modular action script duration');
  assert.equal(s.length, 1, `one summary line expected:\n${run.stderr}`);
  return s[0]!.fields;
}

let secretsToHide: string[] = [];
function assertCleanOutput(run: ActionRun): void {
  assert.equal(run.stdout, '', 'stdout must stay empty');
  for (const line of run.lines) {
    assert.match(line.level, /^(DEBUG|INFO|WARN|ERROR|FATAL)$/, `line without a Splunk level: ${line.raw}`);
  }
  for (const secret of secretsToHide) {
    assert.ok(!run.stderr.includes(secret), 'a secret leaked into the log');
  }
}


describe('alert action through the splunkd emulator', function () {
  this.timeout(60_000);
  let app: InstalledApp;
  let rest: RestStub;
  let vt: IntelStub<string>;
  let discord: DiscordStub;
  let dataDir: string;

  before(async () => {
    app = await installApp();
    rest = await startRestStub();
    vt = await startVirusTotalStub();
    discord = await startDiscordStub();
    rest.passwords.push(
      { app: 'soar_edr', realm: 'soar_edr', username: 'virustotal_api_key', password: vt.apiKey },
      { app: 'soar_edr', realm: 'soar_edr', username: 'discord_webhook_url', password: discord.webhookUrl },
      { app: 'soar_edr', realm: 'other_app', username: 'abuseipdb_api_key', password: 'not-ours-000000000' },
    );
    secretsToHide = [vt.apiKey, discord.token, rest.sessionKey];
  });
  after(async () => {
    await rest.close();
    await vt.close();
    await discord.close();
    rmSync(app.splunkHome, { recursive: true, force: true });
  });
  beforeEach(() => {
    dataDir = mkdtempSync(path.join(tmpdir(), 'soar-data-'));
  });
  afterEach(() => rmSync(dataDir, { recursive: true, force: true }));
  /** The environment splunkd would pass, plus where the stubs are. */
  const env = (extra: Record<string, string> = {}) => ({
    SOAR_DATA_DIR: dataDir,
    SOAR_VIRUSTOTAL_URL: vt.baseUrl,
    SOAR_WEBHOOK_ALLOWED_HOSTS: discord.hostPort,
    ...extra,
  });
  const exec = (payload: Record<string, unknown> | undefined, options: Parameters<typeof runAction>[2] = {}) =>
    runAction(app, payload, { ...options, env: { ...env(), ...options.env } });

  function payloadFor(resultsFile: string, sid: string, extra: Partial<Parameters<typeof buildPayload>[0]> = {}, saved: Record<string, string> = {}) {
    return buildPayload({ sid, resultsFile, configuration: actionConfiguration(app, saved), serverUri: rest.url, sessionKey: rest.sessionKey, ...extra });
  }

  it('per-result mode: each result is its own run, recorded with rid = N of tmp_N, enriched and notified with secrets from storage/passwords', async () => {
    const rows: Row[] = [
      { src_ip: '138.128.150.133', failure_count: '14', users: ['root', 'admin'], attack_type: 'SSH Brute Force', severity: 'high' },
      { src_ip: '2001:db8::bad:1', failure_count: '11', users: ['oracle'] },
      { src_ip: '183.62.140.253', failure_count: '286', users: ['root', 'a$b'] },
    ];
    const d = writeDispatch(app, rows, 'per_result');
    for (let i = 0; i < rows.length; i++) {
      const r = await exec(payloadFor(d.resultsFiles[i]!, d.sid, { result: rows[i] }));
      assert.equal(r.code, 0, r.stderr);
      assertCleanOutput(r);
      const h = handedOff(r);
      assert.equal(h.length, 1);
      assert.equal(h[0]!.fields.rid, String(i));
      assert.equal(h[0]!.fields.src_ip, rows[i]!.src_ip);
      assert.equal(h[0]!.fields.sid, d.sid);
      assert.equal(h[0]!.fields.digest_mode, '0');
      assert.equal(h[0]!.fields.action_mode, 'saved');
      assert.equal(summary(r).exit_code, '0');
    }
    const csv = incidentRows(dataDir);
    assert.deepEqual(csv.map((c) => [c.rid, c.src_ip, c.verdict, c.failure_count]), [
      ['0', '138.128.150.133', 'MALICIOUS', '14'],
      ['1', '2001:db8::bad:1', 'UNKNOWN', '11'],
      ['2', '183.62.140.253', 'UNKNOWN', '286'],
    ]);
    assert.deepEqual([csv[0]!.users, csv[2]!.users], ['root;admin', 'root;a$b'], 'multivalue users from the __mv_ column');
    // The VirusTotal key came from storage/passwords (realm soar_edr); the documentation address was never sent.
    assert.deepEqual(vt.requests.map((q) => q.ip).sort(), ['138.128.150.133', '183.62.140.253']);
    assert.ok(vt.requests.every((q) => q.headers['x-apikey'] === vt.apiKey));
    assert.equal(discord.delivered().length, 3);
    const reads = rest.requests.filter((r) => /^\/servicesNS\/nobody\/soar_edr\/storage\/passwords\/?$/.test(r.path));
    assert.ok(reads.length >= rows.length, JSON.stringify(rest.requests.slice(-3)));
    assert.ok(reads.every((r) => r.auth === `Splunk ${rest.sessionKey}`));
  });

  it('uses the payload result_id as rid when splunkd sends one', async () => {
    const d = writeDispatch(app, [{ src_ip: '198.51.100.7' }], 'per_result');
    const run = await exec(payloadFor(d.resultsFiles[0]!, d.sid, { resultId: '17' }));
    assert.equal(run.code, 0, run.stderr);
    assert.equal(handedOff(run)[0]!.fields.rid, '17');
  });

  it('merges savedsearches.conf param overrides over alert_actions.conf defaults', async () => {
    const d = writeDispatch(app, [{ src_ip: '10.1.1.1', attacker: '192.0.2.66' }], 'per_result');
    const run = await exec(payloadFor(d.resultsFiles[0]!, d.sid, {}, { 'action.soar_response.param.address_fields': 'attacker,src_ip' }));
    assert.equal(run.code, 0, run.stderr);
    const h = handedOff(run)[0]!;
    assert.equal(h.fields.src_ip, '192.0.2.66');
    assert.equal(h.fields.address_field, 'attacker');
  });

  it('digest mode: every row handed off with its row number as rid; bad rows rejected alone (exit 4)', async () => {
    const tenMb = 'A'.repeat(10 * 1024 * 1024);
    const rows: Row[] = [
      { src_ip: '203.0.113.10', users: ['root'] },
      { src_ip: '999.1.1.1' },
      { src_ip: '1.2.3.4; rm -rf /' },
      { src_ip: '::ffff:1.2.3.4' },
      { src_ip: 'fe80::1%eth0' },
      { src_ip: tenMb },
      { user: 'root', failure_count: '3' },
      { src: '2001:DB8:0:0:0:0:0:1' },
      { ip: '203.0.113.11' },
    ];
    const d = writeDispatch(app, rows, 'digest');
    const run = await exec(payloadFor(d.resultsFiles[0]!, d.sid, { result: rows[0] }));
    assert.equal(run.code, 4, run.stderr.slice(0, 3000));
    assertCleanOutput(run);
    const h = handedOff(run);
    assert.deepEqual(
      h.map((l) => [l.fields.rid, l.fields.src_ip]),
      [['0', '203.0.113.10'], ['3', '1.2.3.4'], ['7', '2001:db8::1'], ['8', '203.0.113.11']],
    );
    const rejected = withSignature(run.lines, REJECTED);
    assert.deepEqual(rejected.map((l) => [l.level, l.fields.rid, l.fields.reason]), [
      ['ERROR', '1', 'invalid_address'],
      ['ERROR', '2', 'invalid_address'],
      ['ERROR', '4', 'invalid_address'],
      ['ERROR', '5', 'invalid_address'],
      ['ERROR', '6', 'no_address'],
    ]);
    assert.match(rejected[2]!.fields.message!, /zone id/);
    assert.match(rejected[3]!.fields.message!, /10485760 chars/);
    assert.ok(run.stderr.split('\n').every((l) => l.length < 4000), 'no log line carries the 10 MB value');
    const s = summary(run);
    assert.deepEqual([s.rows, s.handed_off, s.rejected, s.exit_code], ['9', '4', '5', '4']);
  });

  it('refuses a secret given as a plain param, says where it belongs, and still handles the rows (exit 3)', async () => {
    const d = writeDispatch(app, [{ src_ip: '203.0.113.20' }], 'per_result');
    const payload = payloadFor(d.resultsFiles[0]!, d.sid);
    (payload.configuration as Record<string, string>).virustotal_api_key = vt.apiKey;
    (payload.configuration as Record<string, string>).notify_url = discord.webhookUrl;
    const run = await exec(payload);
    assert.equal(run.code, 3, run.stderr);
    assertCleanOutput(run);
    const errors = withSignature(run.lines, 'Invalid action configuration');
    assert.equal(errors.length, 2);
    assert.ok(errors.every((e) => e.level === 'ERROR' && e.fields.reason === 'secret_in_param'));
    assert.match(errors[0]!.fields.message!, /soar-edr secrets set virustotal_api_key/);
    assert.match(errors[1]!.fields.message!, /soar-edr secrets set discord_webhook_url/);
    assert.equal(handedOff(run).length, 1);
  });

  it('falls back to SOAR_* environment secrets when splunkd rejects the session key (401)', async () => {
    const d = writeDispatch(app, [{ src_ip: '138.128.150.133' }], 'per_result');
    const run = await exec(payloadFor(d.resultsFiles[0]!, d.sid, { sessionKey: 'wrong-session-key' }), {
      env: { SOAR_VIRUSTOTAL_API_KEY: vt.apiKey },
    });
    assert.equal(run.code, 0, run.stderr);
    assertCleanOutput(run);
    assert.ok(!run.stderr.includes('wrong-session-key'));
    const warn = withSignature(run.lines, 'Cannot read storage/passwords; using SOAR_* environment variables');
    assert.equal(warn.length, 1);
    assert.equal(warn[0]!.fields.reason, 'auth');
    assert.match(warn[0]!.fields.message!, /401.*call not properly authenticated/);
    assert.equal(handedOff(run)[0]!.fields.verdict, 'MALICIOUS', 'enriched with the key from the environment');
    // No webhook in the environment: the card waits in the outbox.
    assert.equal(withSignature(run.lines, 'No Discord webhook configured; notification kept in the outbox').length, 1);
  });

  it('reads an XML payload when an admin sets payload_format = xml', async () => {
    const d = writeDispatch(app, [{ src_ip: '198.51.100.23' }], 'per_result');
    const xml = `<?xml version="1.0" encoding="UTF-8"?>
<alert>
  <app>search</app><owner>admin</owner>
  <results_file>${d.resultsFiles[0]}</results_file>
  <results_link>http://splunk-test:8000/app/search/@go?sid=${d.sid}</results_link>
  <server_uri>${rest.url}</server_uri><session_key>${rest.sessionKey}</session_key>
  <sid>${d.sid}</sid><search_name>XML alert</search_name>
  <configuration><stanza name="soar_response"><param name="address_fields">src_ip</param><param name="log_level">INFO</param></stanza></configuration>
</alert>`;
    const run = await exec(undefined, { stdin: xml });
    assert.equal(run.code, 0, run.stderr);
    const h = handedOff(run)[0]!;
    assert.equal(h.fields.src_ip, '198.51.100.23');
    assert.equal(h.fields.search_name, 'XML alert');
  });

  it('accepts the real TA-pushover payload shape (corpus) and reports its missing results file', async () => {
    const real = JSON.parse(readFileSync(corpusPath('splunk', 'yaleman_TA-pushover_stdin_payload.json'), 'utf8')) as Record<string, unknown>;
    const run = await exec({ ...real, server_uri: rest.url, session_key: rest.sessionKey });
    // The captured payload's dispatch directory does not exist here, and its result row has no address.
    assert.equal(run.code, 3, run.stderr);
    const err = withSignature(run.lines, 'Cannot read results_file')[0]!;
    assert.equal(err.fields.reason, 'missing');
    assert.equal(err.fields.search_name, 'spam');
    assert.equal(withSignature(run.lines, REJECTED)[0]!.fields.reason, 'no_address');
  });

  describe('bad invocations and payloads, each with its ERROR and exit code', () => {
    it('no --execute: FATAL with usage, exit 2', async () => {
      const run = await exec({ sid: 'x' }, { args: [] });
      assert.equal(run.code, 2);
      assert.equal(run.lines[0]!.level, 'FATAL');
      assert.match(run.lines[0]!.fields.message!, /missing --execute.*usage:/);
    });
    it('an unknown argument: FATAL, exit 2', async () => {
      const run = await exec({ sid: 'x' }, { args: ['--execute', '--debug'] });
      assert.equal(run.code, 2);
      assert.match(run.lines[0]!.fields.message!, /unsupported argument.*--debug/);
    });
    it('empty stdin: exit 3', async () => {
      const run = await exec(undefined, { stdin: '' });
      assert.equal(run.code, 3);
      assert.deepEqual([run.lines[0]!.level, run.lines[0]!.fields.reason], ['ERROR', 'empty']);
    });
    it('stdin that is not JSON: exit 3', async () => {
      const run = await exec(undefined, { stdin: 'results_file=/tmp/x\n' });
      assert.equal(run.code, 3);
      assert.deepEqual([run.lines[0]!.level, run.lines[0]!.fields.reason], ['ERROR', 'syntax']);
      assert.match(run.lines[0]!.fields.message!, /payload_format = json/);
    });
    it('a payload without results_file: exit 3, names the key', async () => {
      const run = await exec({ sid: 'scheduler__x', configuration: {} });
      assert.equal(run.code, 3);
      assert.equal(run.lines[0]!.fields.reason, 'missing_key');
      assert.match(run.lines[0]!.fields.message!, /results_file/);
    });
    it('a payload that is a JSON array: exit 3', async () => {
      const run = await exec(undefined, { stdin: '[1,2]' });
      assert.equal(run.code, 3);
      assert.equal(run.lines[0]!.fields.reason, 'shape');
    });

    async function runWithFile(name: string, content: Buffer | undefined, result: Row = { src_ip: '192.0.2.200' }): Promise<ActionRun> {
      const d = writeDispatch(app, [{ src_ip: '192.0.2.1' }], 'digest');
      const file = path.join(d.dir, name);
      if (content !== undefined) writeFileSync(file, content);
      return exec(payloadFor(file, d.sid, { result }));
    }
    function assertFileError(run: ActionRun, reason: string): void {
      assert.equal(run.code, 3, run.stderr);
      const err = withSignature(run.lines, 'Cannot read results_file');
      assert.equal(err.length, 1, run.stderr);
      assert.equal(err[0]!.level, 'ERROR');
      assert.equal(err[0]!.fields.reason, reason);
    }

    it('results_file missing: ERROR, the payload result row is still handed off', async () => {
      const run = await runWithFile('gone.csv.gz', undefined);
      assertFileError(run, 'missing');
      assert.equal(handedOff(run)[0]!.fields.src_ip, '192.0.2.200');
    });
    it('results_file not gzip: ERROR', async () => {
      const run = await runWithFile('plain.csv.gz', Buffer.from('src_ip\n192.0.2.5\n'));
      assertFileError(run, 'not_gzip');
      assert.equal(handedOff(run).length, 1);
    });
    it('results_file empty (0 bytes): ERROR', async () => {
      assertFileError(await runWithFile('empty.csv.gz', Buffer.alloc(0)), 'empty');
    });
    it('results_file with a header only: ERROR', async () => {
      assertFileError(await runWithFile('header.csv.gz', gzipSync('_time,src_ip,__mv__time,__mv_src_ip\n')), 'no_rows');
    });
    it('results_file truncated: ERROR, the rows before the cut are handed off, no half row', async () => {
      const rows: Row[] = Array.from({ length: 2000 }, (_, i) => ({ src_ip: `203.0.${Math.floor(i / 250)}.${i % 250}`, note: 'x'.repeat(50) }));
      const full = gzipSync(resultsCsv(rows), { level: 1 });
      const run = await runWithFile('cut.csv.gz', full.subarray(0, Math.floor(full.length / 2)));
      assertFileError(run, 'truncated');
      const h = handedOff(run);
      assert.ok(h.length > 100 && h.length < 2000, `handed off ${h.length}`);
      h.forEach((l, i) => {
        assert.equal(l.fields.rid, String(i));
        assert.equal(l.fields.src_ip, rows[i]!.src_ip);
      });
    });
  });
});
