/**
 * Issue 3 end to end: the incident pipeline as the packaged app runs it (bin/soar_response.sh
 * --execute from the installed .tgz), with loopback VirusTotal / Discord / storage/passwords
 * stubs replaying the corpus, and a fresh SOAR_DATA_DIR per test. Nothing of our own code is
 * mocked: every assertion reads what the real action wrote to disk, logged, or sent.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { gzipSync } from 'node:zlib';
import { parse as parseCsv } from 'csv-parse/sync';
import { classifyAddress } from '../../src/intel/address-gate';
import { parseIpAddress } from '../../src/address/ip-address';
import { DEFAULT_QUEUE_MAX_ADDRESSES, EnrichmentQueue } from '../../src/intel/enrichment-queue';
import { DiscordStub, startDiscordStub } from '../support/discord-stub';
import { IntelStub, startVirusTotalStub, VT_OPENCTI_IP, VtAnswer } from '../support/intel-stubs';
import { closedPort } from '../support/net-faults';
import { corpusPath } from '../support/paths';
import { LogLine, parseLogLines, withSignature } from '../support/splunk-log';
import {
  actionConfiguration,
  ActionRun,
  buildPayload,
  encodeMultivalue,
  findActionScript,
  InstalledApp,
  installApp,
  Row,
  runAction,
  writeDispatch,
} from '../support/splunkd-emulator';
import { RestStub, startRestStub } from '../support/splunkd-rest-stub';
import { CsvRow, incidentRows } from '../support/data-files';

function isPublicAddress(text: string): boolean {
  const parsed = parseIpAddress(text);
  return parsed.ok && classifyAddress(parsed.value).public;
}

const RECORDED = 'Incident recorded';
const PARAM = 'action.soar_response.param.';
const LEVEL_LINE = /^(DEBUG|INFO|WARN|ERROR|FATAL) /;


function filesIn(dir: string, suffix = ''): string[] {
  return existsSync(dir) ? readdirSync(dir).filter((n) => n.endsWith(suffix) && !n.startsWith('.')) : [];
}

function exitCodeLogged(run: { lines: readonly LogLine[] }): string | undefined {
  return withSignature(run.lines, 'Modular action script duration')[0]?.fields.exit_code;
}

/** Public addresses (by the app's own gate) from the recorded AbuseIPDB answers. */
function publicCorpusAddresses(count: number): string[] {
  const recorded = JSON.parse(readFileSync(corpusPath('abuseipdb', 'realworld_check_responses_ioc_cache.json'), 'utf8')) as Record<string, unknown>;
  const out = Object.keys(recorded).filter((ip) => isPublicAddress(ip) && ip !== VT_OPENCTI_IP);
  assert.ok(out.length >= count, `only ${out.length} public addresses in the corpus`);
  return out.slice(0, count);
}

/**
 * The action started the way runAction starts it, but handed back while it runs (to kill it)
 * and with stderr kept as raw bytes (to look for invalid UTF-8 passed through).
 */
function startAction(app: InstalledApp, payload: Record<string, unknown>, env: Record<string, string>) {
  const child = spawn(findActionScript(app), ['--execute'], {
    env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '', SPLUNK_HOME: app.splunkHome, ...env },
    cwd: path.join(app.appDir, 'bin'),
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  const err: Buffer[] = [];
  child.stderr.on('data', (d: Buffer) => err.push(d));
  child.stdout.resume();
  child.stdin.on('error', () => undefined);
  child.stdin.end(JSON.stringify(payload));
  const done = new Promise<{ code: number | null; signal: NodeJS.Signals | null; stderr: Buffer }>((resolve, reject) => {
    child.on('error', reject);
    child.on('close', (code, signal) => resolve({ code, signal, stderr: Buffer.concat(err) }));
  });
  return { child, done };
}

describe('incident pipeline end to end (issue 3), packaged action', function () {
  this.timeout(120_000);
  let app: InstalledApp;
  let rest: RestStub;
  let vt: IntelStub<VtAnswer>;
  let discord: DiscordStub;
  let dataDir: string;

  before(async () => {
    app = await installApp();
  });
  after(() => rmSync(app.splunkHome, { recursive: true, force: true }));
  beforeEach(async () => {
    dataDir = mkdtempSync(path.join(tmpdir(), 'soar-pipeline-'));
    rest = await startRestStub();
    vt = await startVirusTotalStub();
    discord = await startDiscordStub();
  });
  afterEach(async () => {
    await rest.close();
    await vt.close();
    await discord.close();
    rmSync(dataDir, { recursive: true, force: true });
  });

  const storeSecret = (username: 'virustotal_api_key' | 'discord_webhook_url', password: string) =>
    rest.passwords.push({ app: 'soar_edr', realm: 'soar_edr', username, password });
  const storeVtKey = () => storeSecret('virustotal_api_key', vt.apiKey);
  const storeWebhook = () => storeSecret('discord_webhook_url', discord.webhookUrl);

  const env = (extra: Record<string, string> = {}): Record<string, string> => ({
    SOAR_DATA_DIR: dataDir,
    SOAR_VIRUSTOTAL_URL: vt.baseUrl,
    SOAR_WEBHOOK_ALLOWED_HOSTS: discord.hostPort,
    ...extra,
  });

  function payloadFor(resultsFile: string, sid: string, params: Record<string, string> = {}, extra: Record<string, unknown> = {}) {
    const saved: Record<string, string> = {};
    for (const [k, v] of Object.entries(params)) saved[`${PARAM}${k}`] = v;
    return { ...buildPayload({ sid, resultsFile, configuration: actionConfiguration(app, saved), serverUri: rest.url, sessionKey: rest.sessionKey }), ...extra };
  }

  /** One per-result run per row, one after the other, in one dispatch (rid = row index). */
  async function perResult(rows: readonly Row[], params: Record<string, string> = {}, extraEnv: Record<string, string> = {}): Promise<ActionRun[]> {
    const d = writeDispatch(app, rows, 'per_result');
    const runs: ActionRun[] = [];
    for (const f of d.resultsFiles) runs.push(await runAction(app, payloadFor(f, d.sid, params), { env: env(extraEnv) }));
    return runs;
  }

  function assertReportsExist(rows: readonly CsvRow[]): void {
    for (const r of rows) {
      assert.match(r.report_file!, /^reports\/.+\.txt$/);
      assert.ok(existsSync(path.join(dataDir, r.report_file!)), `report of ${r.incident_id} missing`);
    }
  }

  it('offline default: no key and no webhook still records UNKNOWN with the reason, writes the report, queues the address, keeps the card in the outbox (exit 0)', async () => {
    const [run] = await perResult([{ src_ip: VT_OPENCTI_IP, failure_count: '14', users: ['root'] }]);
    assert.equal(run!.code, 0, run!.stderr);
    const rows = incidentRows(dataDir);
    assert.equal(rows.length, 1);
    const row = rows[0]!;
    assert.equal(row.verdict, 'UNKNOWN');
    assert.equal(row.reason, 'enrichment pending: no VirusTotal key configured');
    assert.equal(row.vt_state, 'deferred');
    assert.equal(row.action, 'not_blocked');
    assertReportsExist(rows);
    const report = readFileSync(path.join(dataDir, row.report_file!), 'utf8');
    assert.match(report, /UNKNOWN/);
    assert.match(report, /Status: +deferred \(enrichment pending: no VirusTotal key configured; queued, looked up once virustotal_api_key is set\)/);
    assert.equal(vt.requests.length, 0, 'nothing asked without a key');
    const queued = JSON.parse(readFileSync(path.join(dataDir, 'queue', `${VT_OPENCTI_IP}.json`), 'utf8')) as { waitingFor: unknown; refs: { incidentId: string }[] };
    assert.deepEqual([queued.waitingFor, queued.refs.map((r) => r.incidentId)], [{ virustotal: 'no-key' }, [row.incident_id]]);
    const warned = run!.lines.filter((l) => l.level === 'WARN' && /VirusTotal key/.test(l.fields.signature ?? ''));
    assert.equal(warned.length, 1, run!.stderr);
    assert.match(warned[0]!.fields.message!, /^1 public address\(es\) queued for enrichment by this run, 1 waiting in the queue; nothing is sent to VirusTotal without a key\. Store the key in Splunk storage\/passwords \(realm soar_edr, name virustotal_api_key\): soar-edr secrets set virustotal_api_key; outside Splunk set SOAR_VIRUSTOTAL_API_KEY\./);
    const outbox = filesIn(path.join(dataDir, 'outbox'), '.json');
    assert.equal(outbox.length, 1, `outbox: ${outbox.join(', ')}`);
    assert.ok(outbox[0]!.startsWith(row.incident_id!));
    const kept = withSignature(run!.lines, 'No Discord webhook configured; notification kept in the outbox');
    assert.equal(kept.length, 1);
    assert.equal(kept[0]!.level, 'INFO');
    assert.equal(discord.requests.length, 0);
    assert.equal(exitCodeLogged(run!), '0');
  });

  describe('golden verdicts', () => {
    async function assertBlockedMalicious(params: Record<string, string>): Promise<void> {
      storeVtKey();
      storeWebhook();
      const [run] = await perResult([{ src_ip: VT_OPENCTI_IP, failure_count: '14', users: ['root', 'admin'] }], params);
      assert.equal(run!.code, 0, run!.stderr);
      assert.equal(vt.requestsFor(VT_OPENCTI_IP), 1);
      const row = incidentRows(dataDir)[0]!;
      assert.deepEqual([row.verdict, row.vt_malicious, row.action], ['MALICIOUS', '4', 'blocked']);
      assert.match(row.reason!, /4\/93 engines malicious/);
      const blocks = parseCsv(readFileSync(path.join(dataDir, 'blocklist.csv'), 'utf8'), { columns: true }) as CsvRow[];
      assert.deepEqual(blocks.map((b) => [b.ip, b.verdict, b.count]), [[VT_OPENCTI_IP, 'MALICIOUS', '1']]);
      assert.ok(Date.parse(blocks[0]!.expires!) > Date.now());
      const report = readFileSync(path.join(dataDir, row.report_file!), 'utf8');
      assert.match(report, new RegExp(`iptables .*${VT_OPENCTI_IP.replace(/\./g, '\\.')}`));
      assert.match(report, /\bnft\b/);
      const sim = withSignature(run!.lines, `[SIMULATION] Blocking IP ${VT_OPENCTI_IP}`);
      assert.equal(sim.length, 1, run!.stderr);
      assert.equal(sim[0]!.level, 'WARN');
      const card = discord.delivered();
      assert.equal(card.length, 1);
      assert.match(JSON.stringify(card[0]), /MALICIOUS/);
    }

    it('138.128.150.133 (opencti_vt_test_ipv4.json): MALICIOUS "4/93 engines malicious" with a simulated block', async () => {
      await assertBlockedMalicious({});
    });

    it('the same with verdict_preset=seed-compatible', async () => {
      await assertBlockedMalicious({ verdict_preset: 'seed-compatible' });
    });

    it('a private and an allowlisted address are never sent to VirusTotal, recorded with the reason, never blocked', async () => {
      storeVtKey();
      const runs = await perResult([{ src_ip: '10.1.2.3' }, { src_ip: VT_OPENCTI_IP }], {
        allowlist: '138.128.150.0/24',
        // Even a verdict that is to be blocked leaves these addresses alone.
        block_verdicts: 'MALICIOUS,UNKNOWN',
      });
      for (const r of runs) assert.equal(r.code, 0, r.stderr);
      assert.equal(vt.requests.length, 0);
      const rows = incidentRows(dataDir);
      assert.deepEqual(rows.map((r) => [r.src_ip, r.verdict, r.action, r.vt_state]), [
        ['10.1.2.3', 'UNKNOWN', 'not_blocked', 'not_looked_up'],
        [VT_OPENCTI_IP, 'UNKNOWN', 'not_blocked', 'not_looked_up'],
      ]);
      assert.match(rows[0]!.reason!, /private/i);
      assert.match(rows[1]!.reason!, /allowlist/i);
      for (const r of rows) assert.match(r.action_reason!, /never blocked/);
      assert.ok(!existsSync(path.join(dataDir, 'blocklist.csv')) || blocklistIsEmpty(dataDir));
      assertReportsExist(rows);
      for (const r of runs) assert.equal(withSignature(r.lines, `[SIMULATION] Blocking IP 10.1.2.3`).length + withSignature(r.lines, `[SIMULATION] Blocking IP ${VT_OPENCTI_IP}`).length, 0);
    });
  });

  describe('faults', () => {
    function assertQueued(address: string): void {
      const queued = filesIn(path.join(dataDir, 'queue'), '.json');
      assert.deepEqual(queued, [`${address}.json`]);
      const entry = JSON.parse(readFileSync(path.join(dataDir, 'queue', queued[0]!), 'utf8')) as { address: string; refs: { incidentId: string }[] };
      assert.equal(entry.address, address);
      assert.deepEqual(entry.refs.map((r) => r.incidentId), incidentRows(dataDir).map((r) => r.incident_id));
    }

    it('VirusTotal answering 503 every time: UNKNOWN, incident recorded, exit 6, address queued', async () => {
      storeVtKey();
      storeWebhook();
      vt.script('*', ...Array<VtAnswer>(20).fill('transient'));
      const [run] = await perResult([{ src_ip: VT_OPENCTI_IP }]);
      assert.equal(run!.code, 6, run!.stderr);
      const asked = vt.requestsFor(VT_OPENCTI_IP);
      assert.ok(asked >= 1 && asked <= 3, `${asked} requests: retried within the client's 3 attempts`);
      const rows = incidentRows(dataDir);
      assert.equal(rows.length, 1);
      assert.equal(rows[0]!.verdict, 'UNKNOWN');
      assert.equal(rows[0]!.vt_state, 'error');
      assertReportsExist(rows);
      assertQueued(VT_OPENCTI_IP);
      const warn = withSignature(run!.lines, 'Enrichment failed');
      assert.equal(warn.length, 1);
      assert.equal(warn[0]!.fields.provider, 'virustotal');
      assert.equal(discord.delivered().length, 1, 'the incident is still notified');
    });

    it('VirusTotal on a closed port: UNKNOWN, incident recorded, exit 6, address queued', async () => {
      storeVtKey();
      const port = await closedPort();
      const [run] = await perResult([{ src_ip: VT_OPENCTI_IP }], {}, { SOAR_VIRUSTOTAL_URL: `http://127.0.0.1:${port}/api/v3` });
      assert.equal(run!.code, 6, run!.stderr);
      const rows = incidentRows(dataDir);
      assert.deepEqual(rows.map((r) => [r.verdict, r.vt_state]), [['UNKNOWN', 'error']]);
      assertReportsExist(rows);
      assertQueued(VT_OPENCTI_IP);
      // Three refused attempts, no request reached VirusTotal: the slot was given back.
      const quota = JSON.parse(readFileSync(path.join(dataDir, 'quota', 'virustotal.json'), 'utf8')) as { dayCount: number; minute: number[] };
      assert.deepEqual([quota.dayCount, quota.minute], [0, []]);
    });

    it('Discord 500 then 200: delivered exactly once, also after a second run\'s follow-up', async () => {
      storeWebhook();
      discord.script({ type: 'server_error' });
      const [first, second] = await perResult([{ src_ip: '203.0.113.50' }, { src_ip: '203.0.113.50' }]);
      assert.equal(first!.code, 0, first!.stderr);
      assert.equal(second!.code, 0, second!.stderr);
      assert.deepEqual(discord.requests.map((r) => r.answered), [500, 200]);
      assert.equal(discord.delivered().length, 1);
      assert.equal(filesIn(path.join(dataDir, 'outbox'), '.json').length, 0);
      assert.equal(withSignature(second!.lines, 'Not notified again').length, 1);
      assert.equal(incidentRows(dataDir).length, 2);
    });

    it('Discord 429 with retry_after: delivered after the delay', async () => {
      storeWebhook();
      const retryAfter = 1.25;
      discord.script({ type: 'rate_limited', retryAfter });
      const [run] = await perResult([{ src_ip: '203.0.113.51' }]);
      assert.equal(run!.code, 0, run!.stderr);
      assert.deepEqual(discord.requests.map((r) => r.answered), [429, 200]);
      const elapsed = discord.requests[1]!.receivedAtMs - discord.requests[0]!.receivedAtMs;
      assert.ok(elapsed >= retryAfter * 1000, `retried after ${elapsed} ms`);
      assert.equal(discord.delivered().length, 1);
    });

    it('Discord 404/10015 (unknown webhook): ERROR, no retries, dead-lettered, exit 6', async () => {
      storeWebhook();
      discord.script({ type: 'unknown_webhook' });
      const [run] = await perResult([{ src_ip: '203.0.113.52' }]);
      assert.equal(run!.code, 6, run!.stderr);
      assert.equal(discord.requests.length, 1, 'no retry of a 404');
      assert.equal(discord.requests[0]!.answered, 404);
      const refused = withSignature(run!.lines, 'Discord refused the notification; kept as a dead letter');
      assert.equal(refused.length, 1);
      assert.equal(refused[0]!.level, 'ERROR');
      const letters = filesIn(path.join(dataDir, 'dead-letters'), '.json');
      assert.equal(letters.length, 1);
      const letter = JSON.parse(readFileSync(path.join(dataDir, 'dead-letters', letters[0]!), 'utf8')) as { reason: string; notification?: { incidentId: string } };
      assert.match(letter.reason, /10015|Unknown Webhook|404/);
      assert.equal(letter.notification?.incidentId, incidentRows(dataDir)[0]!.incident_id);
      assert.equal(filesIn(path.join(dataDir, 'outbox'), '.json').length, 0);
      assert.equal(exitCodeLogged(run!), '6');
    });

    it('a full enrichment queue (10,000 addresses): the incident is recorded, not queued, and the run says so once', async () => {
      const queueDir = path.join(dataDir, 'queue');
      const ref = { incidentId: 'INC-0', sid: 'earlier', rid: '0', detection: 'SSH Brute Force' };
      new EnrichmentQueue(queueDir).enqueue('198.18.0.0', ref, Date.now(), Date.now(), { virustotal: 'no-key' });
      const template = readFileSync(path.join(queueDir, '198.18.0.0.json'), 'utf8');
      for (let i = 1; i < DEFAULT_QUEUE_MAX_ADDRESSES; i++) {
        const ip = `198.18.${i >> 8}.${i & 255}`;
        writeFileSync(path.join(queueDir, `${ip}.json`), template.split('198.18.0.0').join(ip));
      }
      const [run] = await perResult([{ src_ip: VT_OPENCTI_IP }]);
      assert.equal(run!.code, 0, run!.stderr);
      assert.deepEqual(incidentRows(dataDir).map((r) => [r.src_ip, r.vt_state]), [[VT_OPENCTI_IP, 'deferred']]);
      assert.ok(!existsSync(path.join(queueDir, `${VT_OPENCTI_IP}.json`)), 'not queued');
      assert.equal(filesIn(queueDir, '.json').length, DEFAULT_QUEUE_MAX_ADDRESSES);
      const full = withSignature(run!.lines, 'Enrichment queue full; addresses not queued');
      assert.deepEqual(full.map((l) => [l.level, l.fields.not_queued]), [['WARN', '1']]);
      const key = withSignature(run!.lines, 'VirusTotal key not configured; public addresses queued for enrichment');
      assert.deepEqual(key.map((l) => [l.fields.queued, l.fields.waiting]), [['0', String(DEFAULT_QUEUE_MAX_ADDRESSES)]]);
    });

    it('SIGKILL in the middle of a digest run: incidents.csv parses with no half row and every row has its report', async () => {
      storeVtKey();
      vt.slowMs = 150;
      vt.script('*', ...Array<VtAnswer>(400).fill('slow'));
      const publics = publicCorpusAddresses(30);
      const rows: Row[] = Array.from({ length: 300 }, (_, i) => ({
        src_ip: i % 3 === 0 ? publics[(i / 3) % publics.length]! : `10.${Math.floor(i / 250)}.${i % 250}.${i % 7}`,
        failure_count: String(5 + i),
        users: ['root', `user${i}`],
      }));
      const d = writeDispatch(app, rows, 'digest');
      const { child, done } = startAction(app, payloadFor(d.resultsFiles[0]!, d.sid, { vt_requests_per_minute: '1000' }), env());
      // About 1 s in, and in any case only once rows are being written (a slow start on a busy host).
      const t0 = Date.now();
      const dataRows = () => (existsSync(path.join(dataDir, 'incidents.csv')) ? readFileSync(path.join(dataDir, 'incidents.csv'), 'utf8').split('\n').length - 2 : 0);
      while (Date.now() - t0 < 1_000 || (dataRows() < 2 && Date.now() - t0 < 20_000)) await new Promise((resolve) => setTimeout(resolve, 50));
      child.kill('SIGKILL');
      const ended = await done;
      assert.equal(ended.signal, 'SIGKILL', `the run ended before the kill: ${ended.stderr.toString('utf8').slice(-2000)}`);
      const text = readFileSync(path.join(dataDir, 'incidents.csv'), 'utf8');
      assert.ok(text.endsWith('\n'), 'the file ends with a whole row');
      // The launcher execs node, so the kill stopped the writer itself: nothing is added later.
      await new Promise((resolve) => setTimeout(resolve, 300));
      assert.equal(readFileSync(path.join(dataDir, 'incidents.csv'), 'utf8'), text);
      const recorded = incidentRows(dataDir);
      assert.ok(recorded.length > 0 && recorded.length < rows.length, `${recorded.length} rows recorded before the kill`);
      recorded.forEach((r, i) => {
        assert.equal(r.rid, String(i));
        assert.equal(r.src_ip, rows[i]!.src_ip);
        assert.equal(r.failure_count, rows[i]!.failure_count);
      });
      assertReportsExist(recorded);
      console.log(`      (killed after 1 s: ${recorded.length} of ${rows.length} rows recorded, ${vt.requests.length} VirusTotal requests)`);

      // The same payload run again (soar-edr replay does this) finishes the job: every row once.
      vt.slowMs = 0;
      const again = await runAction(app, payloadFor(d.resultsFiles[0]!, d.sid, { vt_requests_per_minute: '1000' }), { env: env() });
      assert.equal(again.code, 0, again.stderr.slice(-3000));
      const all = incidentRows(dataDir);
      assert.deepEqual(all.map((r) => r.rid), rows.map((_, i) => String(i)));
      assert.deepEqual(all.slice(0, recorded.length).map((r) => r.incident_id), recorded.map((r) => r.incident_id));
      assertReportsExist(all);
      // Rows recorded before the kill are either seen as already recorded, or (killed between a
      // batch's append and its markers) finished from the batch journal under their first id.
      const firstIds = new Set(recorded.map((r) => r.incident_id));
      const seen = withSignature(again.lines, 'Incident already recorded for this result; not handled again').length;
      const finished = withSignature(again.lines, 'Incident recorded').filter((l) => firstIds.has(l.fields.incident_id!)).length;
      assert.equal(seen + finished, recorded.length);
      console.log(`      (the re-run added ${all.length - recorded.length} rows in ${again.ms} ms)`);
    });
  });

  describe('concurrency', () => {
    /** `count` per-result runs of one dispatch, all started at once. */
    async function startTogether(rows: readonly Row[], params: Record<string, string>): Promise<ActionRun[]> {
      const d = writeDispatch(app, rows, 'per_result');
      return Promise.all(d.resultsFiles.map((f) => runAction(app, payloadFor(f, d.sid, params), { env: env() })));
    }

    it('50 per-result runs at once over 10 public IPs: 50 rows, header once, 50 reports, one VirusTotal request per IP', async () => {
      storeVtKey();
      storeWebhook();
      const ips = publicCorpusAddresses(10);
      const rows: Row[] = Array.from({ length: 50 }, (_, i) => ({ src_ip: ips[i % 10]!, failure_count: String(i + 1) }));
      const started = Date.now();
      // 50 processes on a small CI machine: a stub answer can take seconds, and a request timeout
      // would be retried (a second request that says nothing about single-flight).
      // The admin's budget (a param may only lower it).
      mkdirSync(path.join(app.appDir, 'local'), { recursive: true });
      writeFileSync(path.join(app.appDir, 'local', 'soar_edr.conf'), '[quota]\nvt_requests_per_minute = 100\n');
      let runs: ActionRun[];
      try {
        runs = await startTogether(rows, { request_timeout: '60' });
      } finally {
        rmSync(path.join(app.appDir, 'local'), { recursive: true, force: true });
      }
      const ms = Date.now() - started;
      for (const r of runs) assert.equal(r.code, 0, r.stderr.slice(-3000));
      const text = readFileSync(path.join(dataDir, 'incidents.csv'), 'utf8');
      assert.equal(text.split('\n').filter((l) => l.startsWith('incident_id,')).length, 1, 'header once');
      const recorded = incidentRows(dataDir);
      assert.equal(recorded.length, 50);
      assert.deepEqual(recorded.map((r) => Number(r.rid)).sort((a, b) => a - b), rows.map((_, i) => i));
      assert.equal(new Set(recorded.map((r) => r.incident_id)).size, 50);
      assertReportsExist(recorded);
      assert.equal(filesIn(path.join(dataDir, 'reports'), '.txt').length, 50);
      const retried = runs.flatMap((r) => r.stderr.split('\n').filter((l) => /timed out|retry/i.test(l)));
      for (const ip of ips) assert.equal(vt.requestsFor(ip), 1, `VirusTotal asked about ${ip} ${vt.requestsFor(ip)} times; ${retried.slice(0, 3).join(' | ')}`);
      assert.equal(vt.requests.length, 10);
      const quota = JSON.parse(readFileSync(path.join(dataDir, 'quota', 'virustotal.json'), 'utf8')) as { minute: number[]; dayCount: number };
      assert.equal(quota.dayCount, 10);
      assert.ok(quota.minute.length <= 100);
      assert.equal(discord.delivered().length, 10, 'one card per address within renotify_window');
      console.log(`      (50 concurrent runs took ${ms} ms)`);
    });

    it('the public tier (4/min) with quota_wait=0: at most 4 VirusTotal requests, the rest UNKNOWN "enrichment deferred: quota" and queued', async () => {
      storeVtKey();
      const ips = publicCorpusAddresses(10);
      const rows: Row[] = Array.from({ length: 20 }, (_, i) => ({ src_ip: ips[i % 10]! }));
      const runs = await startTogether(rows, { quota_wait: '0' });
      assert.ok(vt.requests.length <= 4 && vt.requests.length > 0, `${vt.requests.length} VirusTotal requests`);
      const asked = new Set(vt.requests.map((q) => q.ip));
      const recorded = incidentRows(dataDir);
      assert.equal(recorded.length, 20);
      assertReportsExist(recorded);
      const deferred = recorded.filter((r) => !asked.has(r.src_ip!));
      assert.ok(deferred.length >= 12);
      for (const r of deferred) {
        assert.equal(r.verdict, 'UNKNOWN');
        assert.equal(r.reason, 'enrichment deferred: quota');
      }
      for (const r of recorded.filter((x) => asked.has(x.src_ip!))) assert.notEqual(r.reason, 'enrichment deferred: quota');
      const queued = filesIn(path.join(dataDir, 'queue'), '.json').map((n) => n.slice(0, -5)).sort();
      assert.deepEqual(queued, [...new Set(deferred.map((r) => r.src_ip!))].sort());
      const byRid = new Map(recorded.map((r) => [r.rid, r]));
      runs.forEach((run, i) => {
        const wasDeferred = !asked.has(byRid.get(String(i))!.src_ip!);
        assert.equal(run.code, 0, run.stderr.slice(-2000));
        if (wasDeferred) assert.equal(withSignature(run.lines, 'Enrichment queued for a later run or soar-edr drain').length, 1);
      });
      const quota = JSON.parse(readFileSync(path.join(dataDir, 'quota', 'virustotal.json'), 'utf8')) as { minute: number[]; dayCount: number };
      assert.ok(quota.minute.length <= 4 && quota.dayCount === vt.requests.length);
    });
  });

  describe('idempotency and noise', () => {
    it('the same sid + rid again creates no second incident and no second Discord message', async () => {
      storeVtKey();
      storeWebhook();
      const d = writeDispatch(app, [{ src_ip: VT_OPENCTI_IP }], 'per_result');
      const payload = payloadFor(d.resultsFiles[0]!, d.sid);
      const first = await runAction(app, payload, { env: env() });
      const again = await runAction(app, payload, { env: env() });
      assert.equal(first.code, 0, first.stderr);
      assert.equal(again.code, 0, again.stderr);
      assert.equal(incidentRows(dataDir).length, 1);
      assert.equal(filesIn(path.join(dataDir, 'reports'), '.txt').length, 1);
      assert.equal(discord.delivered().length, 1);
      assert.equal(withSignature(again.lines, RECORDED).length, 0);
      assert.equal(withSignature(again.lines, 'Incident already recorded for this result; not handled again').length, 1);
      const blocks = parseCsv(readFileSync(path.join(dataDir, 'blocklist.csv'), 'utf8'), { columns: true }) as CsvRow[];
      assert.equal(blocks[0]!.count, '1', 'not blocked a second time');
    });

    it('an address alerted within renotify_window is recorded but not notified again', async () => {
      storeVtKey();
      storeWebhook();
      const runs = await perResult([{ src_ip: VT_OPENCTI_IP }, { src_ip: VT_OPENCTI_IP }, { src_ip: VT_OPENCTI_IP }], { renotify_window: '1h' });
      for (const r of runs) assert.equal(r.code, 0, r.stderr);
      assert.equal(incidentRows(dataDir).length, 3);
      assert.equal(discord.delivered().length, 1);
      assert.equal(withSignature(runs[1]!.lines, 'Not notified again').length, 1);
      assert.equal(withSignature(runs[2]!.lines, 'Not notified again').length, 1);
    });

    it('UNKNOWN then MALICIOUS within the window: notified again because the verdict got worse', async () => {
      storeWebhook();
      const d = writeDispatch(app, [{ src_ip: VT_OPENCTI_IP }, { src_ip: VT_OPENCTI_IP }], 'per_result');
      const params = { renotify_window: '1h' };
      const first = await runAction(app, payloadFor(d.resultsFiles[0]!, d.sid, params), { env: env() });
      storeVtKey();
      const second = await runAction(app, payloadFor(d.resultsFiles[1]!, d.sid, params), { env: env() });
      assert.equal(first.code, 0, first.stderr);
      assert.equal(second.code, 0, second.stderr);
      const rows = incidentRows(dataDir);
      assert.deepEqual(rows.map((r) => r.verdict), ['UNKNOWN', 'MALICIOUS']);
      const cards = discord.delivered();
      assert.equal(cards.length, 3);
      assert.match(JSON.stringify(cards[0]), /UNKNOWN/);
      assert.match(JSON.stringify(cards[1]), /MALICIOUS/);
      assert.equal(withSignature(second.lines, 'Not notified again').length, 0);
      // The first incident waited for the key; the second run's follow-up enriched it (from the
      // cache: one request in all) and sent its update.
      assert.match(JSON.stringify(cards[2]), /Update · .*UNKNOWN → MALICIOUS/);
      assert.ok(JSON.stringify(cards[2]).includes(rows[0]!.incident_id!));
      assert.equal(vt.requestsFor(VT_OPENCTI_IP), 1);
      assert.match(readFileSync(path.join(dataDir, rows[0]!.report_file!), 'utf8'), /^Threat Level: +MALICIOUS$/m);
    });
  });

  it('hostile strings come out neutralised in incidents.csv, the TXT report, the Discord body and the log', async () => {
    storeWebhook();
    const longName = 'n'.repeat(2000);
    const INVALID = '\u0001INVALID\u0001';
    const users = ['=HYPERLINK("http://x")', '@everyone', '**bold**', longName, `bad${INVALID}user`, 'root\nFATAL signature="forged user"'];
    const searchName = '-SSH\nFATAL signature="forged" action_status="success"';
    const fields: Record<string, string | string[]> = { src_ip: '203.0.113.77', users, attack_type: '@everyone', severity: '+1+cmd|calc' };
    // The results CSV written by hand so one user name carries bytes that are not UTF-8.
    const names = ['_time', ...Object.keys(fields)];
    const cell = (v: string) => (/[",\r\n]/.test(v) ? `"${v.replace(/"/g, '""')}"` : v);
    const plain = names.map((n) => (n === '_time' ? '1764000000' : ([] as string[]).concat(fields[n]!).join('\n')));
    const mv = names.map((n) => (Array.isArray(fields[n]) ? encodeMultivalue(fields[n] as string[]) : ''));
    const csvText = [[...names, ...names.map((n) => `__mv_${n}`)].join(','), [...plain, ...mv].map(cell).join(',')].join('\n') + '\n';
    const bytes = Buffer.concat(csvText.split(INVALID).flatMap((part, i) => (i === 0 ? [Buffer.from(part, 'utf8')] : [Buffer.from([0xff, 0xfe, 0xc3]), Buffer.from(part, 'utf8')])));
    const d = writeDispatch(app, [{ src_ip: '192.0.2.1' }], 'per_result');
    const file = path.join(d.dir, 'per_result_alert', 'hostile_0.csv.gz');
    writeFileSync(file, gzipSync(bytes));

    const { done } = startAction(app, payloadFor(file, d.sid, {}, { search_name: searchName }), env());
    const ended = await done;
    const stderr = ended.stderr.toString('utf8');
    assert.equal(ended.code, 0, stderr);

    // incidents.csv: no formula trigger at a cell start, no raw line break, no invalid byte.
    const csvBytes = readFileSync(path.join(dataDir, 'incidents.csv'));
    assert.ok(!csvBytes.includes(0xff), 'invalid UTF-8 passed into incidents.csv');
    const [row] = incidentRows(dataDir);
    for (const [column, value] of Object.entries(row!)) {
      assert.doesNotMatch(value, /^[=+\-@]/, `${column} starts with a formula trigger: ${value.slice(0, 40)}`);
      assert.doesNotMatch(value, /[\r\n]/, `${column} holds a line break`);
    }
    assert.ok(row!.users!.startsWith(`'=HYPERLINK`), row!.users!.slice(0, 40));
    assert.ok(row!.users!.includes('bad\uFFFD'), 'invalid bytes shown as U+FFFD');
    assert.ok(row!.users!.includes('<U+000A>FATAL'), 'the line break is made visible');
    assert.equal(row!.attack_type, `'@everyone`);
    assert.equal(row!.severity, `'+1+cmd|calc`);
    assert.ok(row!.detection!.startsWith(`'-SSH<U+000A>FATAL`), row!.detection);

    // The TXT report: evidence readable, no forged lines, no raw invalid bytes.
    const reportBytes = readFileSync(path.join(dataDir, row!.report_file!));
    assert.ok(!reportBytes.includes(0xff));
    const report = reportBytes.toString('utf8');
    for (const line of report.split('\n')) assert.doesNotMatch(line, /^\s*FATAL signature=/, `forged report line: ${line}`);
    assert.match(report, /root<U\+000A>FATAL signature=\\"forged user\\"/, 'the line break in a user name is made visible');
    assert.ok(report.includes('bad\uFFFD'));

    // The Discord body: one delivery Discord accepted (within its limits), nothing that pings or links.
    const cards = discord.delivered();
    assert.equal(cards.length, 1);
    assert.deepEqual(cards[0].allowed_mentions, { parse: [] });
    const body = discord.requests[0]!.bodyText;
    assert.doesNotMatch(body, /@everyone/, 'a live @everyone');
    assert.ok(body.includes('@\u200Beveryone') || body.includes('@\\u200beveryone'), 'the mention is defused, not dropped');
    assert.doesNotMatch(body, /http:\/\/x/, 'attacker text turned into a link');
    assert.doesNotMatch(body, /(?<!\\)\*\*bold/, 'markdown bold not escaped');
    assert.ok(!JSON.stringify(cards[0]).includes(longName), 'the 2,000-character name is capped');

    // The log: every line is one real log line; the newline in the search name cannot forge one.
    assert.ok(!ended.stderr.includes(0xff));
    const lines = stderr.split('\n').filter((l) => l !== '');
    for (const l of lines) {
      assert.match(l, LEVEL_LINE, `not a log line: ${l.slice(0, 120)}`);
      assert.doesNotMatch(l, /^FATAL signature="forged/);
    }
    const parsed = parseLogLines(stderr);
    const recorded = withSignature(parsed, RECORDED);
    assert.equal(recorded.length, 1);
    assert.equal(recorded[0]!.fields.search_name, searchName, 'the search name round-trips through the escaped log field');
  });
});

/** True when blocklist.csv holds no block (a header at most). */
function blocklistIsEmpty(dataDir: string): boolean {
  return (parseCsv(readFileSync(path.join(dataDir, 'blocklist.csv'), 'utf8'), { columns: true }) as CsvRow[]).length === 0;
}
