/**
 * Issue 11, items 4, 6, 8 and part of 9, through the packaged app (bin/soar_response.sh
 * --execute from the installed .tgz) and the built CLI, with the hostile input itself:
 *   - field names are data: every Object.prototype member name as an address field name, a
 *     result column and a param name;
 *   - the quota is the host's: a digest asking vt_requests_per_minute=100000 makes no more
 *     VirusTotal requests than the host's limit (shipped, or raised by the admin in
 *     local/soar_edr.conf), and says so in one WARN;
 *   - spreadsheet safety inside cells: separators followed by formula triggers, and a 31 MB
 *     users value (cut at the edge, memory bounded);
 *   - one firing is one offence: 50 per-result runs of one address and one sid block once.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { parse as parseCsv } from 'csv-parse/sync';
import { classifyAddress } from '../../src/intel/address-gate';
import { parseIpAddress } from '../../src/address/ip-address';
import { MAX_CSV_CELL_CHARS } from '../../src/respond/safe-text';
import { incidentRows } from '../support/data-files';
import { IntelStub, startVirusTotalStub, VT_OPENCTI_IP, VtAnswer } from '../support/intel-stubs';
import { corpusPath, REPO_ROOT } from '../support/paths';
import { LogLine, withSignature } from '../support/splunk-log';
import { actionConfiguration, ActionRun, buildPayload, InstalledApp, installApp, Row, runAction, writeDispatch } from '../support/splunkd-emulator';
import { RestStub, startRestStub } from '../support/splunkd-rest-stub';

function isPublicAddress(text: string): boolean {
  const parsed = parseIpAddress(text);
  return parsed.ok && classifyAddress(parsed.value).public;
}

const PARAM = 'action.soar_response.param.';
const PROTOTYPE_NAMES = ['constructor', '__proto__', 'toString', 'hasOwnProperty', 'valueOf', 'prototype', 'isPrototypeOf'];
const CLI = path.join(REPO_ROOT, 'dist', 'cli', 'soar-edr.cjs');
/** Public addresses (by the app's gate) without a canned VirusTotal body: each lookup is one request. */
function publicAddresses(count: number): string[] {
  const recorded = JSON.parse(readFileSync(corpusPath('abuseipdb', 'realworld_check_responses_ioc_cache.json'), 'utf8')) as Record<string, unknown>;
  const out = Object.keys(recorded).filter((ip) => isPublicAddress(ip) && ip !== VT_OPENCTI_IP && ip !== '185.220.101.33');
  assert.ok(out.length >= count, `only ${out.length} public addresses in the corpus`);
  return out.slice(0, count);
}

function exitCodeLogged(run: { lines: readonly LogLine[] }): string | undefined {
  return withSignature(run.lines, 'Modular action script duration')[0]?.fields.exit_code;
}

/** An own, enumerable key on a plain object, `__proto__` included (assignment would set the prototype). */
function withOwn<T extends object>(o: T, key: string, value: unknown): T {
  Object.defineProperty(o, key, { value, enumerable: true, writable: true, configurable: true });
  return o;
}

/** A spreadsheet could split a cell on any of , ; | TAB: no piece may start (after spaces) with a formula trigger. */
function assertSpreadsheetSafe(cell: string, where: string): void {
  if (/^(?:[+-]?\d+(?:\.\d+)?|-)$/.test(cell)) return;
  for (const piece of cell.split(/[,;|\t]/)) assert.doesNotMatch(piece.replace(/^ */, ''), /^[=+\-@\t\r]/, `${where}: ${JSON.stringify(cell.slice(0, 80))}`);
}

describe('hardening (issue 11: field names, host quota, CSV cells, offences), packaged action', function () {
  this.timeout(180_000);
  let app: InstalledApp;
  let dataDir: string;

  before(async () => {
    app = await installApp();
  });
  after(() => rmSync(app.splunkHome, { recursive: true, force: true }));
  beforeEach(() => {
    dataDir = mkdtempSync(path.join(tmpdir(), 'soar-hardening-'));
  });
  afterEach(() => {
    rmSync(dataDir, { recursive: true, force: true });
    rmSync(path.join(app.appDir, 'local'), { recursive: true, force: true });
  });

  /** A run without splunkd secrets (no server_uri): keys, if any, come from SOAR_* variables. */
  function offlinePayload(resultsFile: string, sid: string, configuration: Record<string, string>, result: Row = {}): Record<string, unknown> {
    return buildPayload({ sid, resultsFile, configuration, serverUri: '', sessionKey: '', result });
  }
  const offlineEnv = (extra: Record<string, string> = {}): Record<string, string> => ({ SOAR_DATA_DIR: dataDir, ...extra });

  describe('field names are data (item 4)', () => {
    const FROM_COLUMN = '45.33.32.156';
    const FROM_SRC_IP = '8.8.4.4';

    for (const name of PROTOTYPE_NAMES) {
      it(`${JSON.stringify(name)} as address field, result column and param name: rows recorded, no crash, documented exit code`, async () => {
        const splunkName = !name.startsWith('_');
        const configuration = withOwn(actionConfiguration(app, { [`${PARAM}address_fields`]: `${name},src_ip` }), name, '1');
        // 1. The column exists and holds the address: it is used (a refused name falls back to the defaults).
        const withColumn = withOwn<Row>({ src_ip: FROM_SRC_IP }, name, FROM_COLUMN);
        const d1 = writeDispatch(app, [withColumn], 'digest');
        const run1 = await runAction(app, offlinePayload(d1.resultsFiles[0]!, d1.sid, configuration, withColumn), { env: offlineEnv() });
        // 2. The column is absent (what crashed: Object.prototype answered the lookup).
        const d2 = writeDispatch(app, [{ src_ip: FROM_SRC_IP }], 'per_result');
        const run2 = await runAction(app, offlinePayload(d2.resultsFiles[0]!, d2.sid, configuration), { env: offlineEnv() });

        for (const run of [run1, run2]) {
          assert.doesNotMatch(run.stderr, /TypeError|is not a function|Incident pipeline crashed/);
          assert.equal(exitCodeLogged(run), String(run.code));
          const refused = withSignature(run.lines, 'Invalid action configuration');
          if (splunkName) {
            assert.equal(run.code, 0, run.stderr);
            assert.deepEqual(refused, []);
          } else {
            // Not a Splunk field name: one ERROR naming it, the defaults used, exit 3 (a misconfigured param).
            assert.equal(run.code, 3, run.stderr);
            assert.equal(refused.length, 1);
            assert.equal(refused[0]!.level, 'ERROR');
            assert.ok(refused[0]!.fields.message?.includes(JSON.stringify(name)), refused[0]!.fields.message);
          }
        }
        const rows = incidentRows(dataDir);
        assert.equal(rows.length, 2);
        const bySid = new Map(rows.map((r) => [r.sid, r.src_ip]));
        assert.equal(bySid.get(d1.sid), splunkName ? FROM_COLUMN : FROM_SRC_IP);
        assert.equal(bySid.get(d2.sid), FROM_SRC_IP);
      });
    }
  });

  describe('the quota is the host\'s (item 6)', () => {
    let rest: RestStub;
    let vt: IntelStub<VtAnswer>;
    beforeEach(async () => {
      rest = await startRestStub();
      vt = await startVirusTotalStub();
      rest.passwords.push({ app: 'soar_edr', realm: 'soar_edr', username: 'virustotal_api_key', password: vt.apiKey });
    });
    afterEach(async () => {
      await rest.close();
      await vt.close();
    });

    async function digest(addresses: readonly string[], params: Record<string, string>): Promise<ActionRun> {
      const saved: Record<string, string> = {};
      for (const [k, v] of Object.entries(params)) saved[`${PARAM}${k}`] = v;
      const d = writeDispatch(app, addresses.map((ip) => ({ src_ip: ip, failure_count: '9' })), 'digest');
      const payload = buildPayload({ sid: d.sid, resultsFile: d.resultsFiles[0]!, configuration: actionConfiguration(app, saved), serverUri: rest.url, sessionKey: rest.sessionKey });
      return runAction(app, payload, { env: { SOAR_DATA_DIR: dataDir, SOAR_VIRUSTOTAL_URL: vt.baseUrl } });
    }

    function quotaState(): { dayCount: number; minute: number[] } {
      return JSON.parse(readFileSync(path.join(dataDir, 'quota', 'virustotal.json'), 'utf8')) as { dayCount: number; minute: number[] };
    }

    it('a digest asking vt_requests_per_minute=100000 makes no more requests than the shipped host limit (4), with one WARN naming param, value and limit', async () => {
      const addresses = publicAddresses(12);
      const run = await digest(addresses, { vt_requests_per_minute: '100000', vt_requests_per_day: '100000' });
      assert.equal(vt.requests.length, 4, `requests: ${vt.requests.length}`);
      assert.ok(quotaState().dayCount <= 4);
      const warns = withSignature(run.lines, 'Param above the host limit');
      assert.deepEqual(warns.map((w) => [w.level, w.fields.param, w.fields.asked, w.fields.limit]), [
        ['WARN', 'vt_requests_per_minute', '100000', '4'],
        ['WARN', 'vt_requests_per_day', '100000', '500'],
      ]);
      // Every row is still recorded; the rest wait in the queue for a later run.
      assert.equal(incidentRows(dataDir).length, addresses.length);
      assert.equal(withSignature(run.lines, 'Invalid action configuration').length, 0);
    });

    it('the admin raises the limit in local/soar_edr.conf: the same digest may use that many and no more; a lower param still lowers it', async () => {
      mkdirSync(path.join(app.appDir, 'local'), { recursive: true });
      writeFileSync(path.join(app.appDir, 'local', 'soar_edr.conf'), '[quota]\nvt_requests_per_minute = 7\n');
      const addresses = publicAddresses(12);
      const raised = await digest(addresses, { vt_requests_per_minute: '100000' });
      assert.equal(vt.requests.length, 7, raised.stderr);
      assert.deepEqual(withSignature(raised.lines, 'Param above the host limit').map((w) => [w.fields.param, w.fields.limit]), [['vt_requests_per_minute', '7']]);

      rmSync(dataDir, { recursive: true, force: true });
      mkdirSync(dataDir);
      vt.requests.length = 0;
      const lowered = await digest(addresses, { vt_requests_per_minute: '2' });
      assert.equal(vt.requests.length, 2);
      assert.deepEqual(withSignature(lowered.lines, 'Param above the host limit'), []);
    });

    it('a bad value in soar_edr.conf is one ERROR naming file, stanza and key; the shipped limit applies', async () => {
      mkdirSync(path.join(app.appDir, 'local'), { recursive: true });
      writeFileSync(path.join(app.appDir, 'local', 'soar_edr.conf'), '[quota]\nvt_requests_per_minute = plenty\n');
      const run = await digest(publicAddresses(6), {});
      const errors = withSignature(run.lines, 'Invalid app configuration');
      assert.equal(errors.length, 1);
      assert.match(errors[0]!.fields.message!, /local\/soar_edr\.conf \[quota\] vt_requests_per_minute: "plenty"/);
      assert.equal(vt.requests.length, 4);
    });

    it('soar-edr reputation under SPLUNK_HOME reads the same conf: a raised --param is clamped to it, with a warning', async () => {
      mkdirSync(path.join(app.appDir, 'local'), { recursive: true });
      writeFileSync(path.join(app.appDir, 'local', 'soar_edr.conf'), '[quota]\nvt_requests_per_minute = 3\n');
      const addresses = publicAddresses(8);
      const r = await new Promise<{ code: number | null; stderr: string }>((resolve, reject) => {
        const c = spawn(process.execPath, [CLI, 'reputation', ...addresses, '--param', 'vt_requests_per_minute=100000', '--no-wait', '--format', 'csv'], {
          env: { PATH: process.env.PATH ?? '', HOME: dataDir, SPLUNK_HOME: app.splunkHome, SOAR_DATA_DIR: dataDir, SOAR_VIRUSTOTAL_URL: vt.baseUrl, SOAR_VIRUSTOTAL_API_KEY: vt.apiKey },
        });
        let stderr = '';
        c.stderr.on('data', (d: Buffer) => (stderr += d.toString('utf8')));
        c.stdout.resume();
        c.on('error', reject);
        c.on('close', (code) => resolve({ code, stderr }));
      });
      assert.equal(vt.requests.length, 3, r.stderr);
      assert.match(r.stderr, /param vt_requests_per_minute = 100000 is above this host's limit \(3\)/);
      assert.equal(r.code, 3, 'deferred: quota');
    });
  });

  describe('spreadsheet safety inside cells (item 8)', () => {
    it('a separator followed by a formula trigger is neutralised in every incidents.csv cell; genuine numbers stay numbers', async () => {
      const hostile = ['a;=1+1', 'x|@SUM(1)', 'a,-2+3', 'b\t=cmd'];
      const rows: Row[] = hostile.map((h, i) => ({ src_ip: `8.8.8.${i + 1}`, attack_type: h, severity: h, users: ['root', h], failure_count: '12' }));
      const d = writeDispatch(app, rows, 'per_result');
      for (const f of d.resultsFiles) {
        const run = await runAction(app, offlinePayload(f, d.sid, actionConfiguration(app)), { env: offlineEnv() });
        assert.equal(run.code, 0, run.stderr);
      }
      const csv = incidentRows(dataDir);
      assert.equal(csv.length, hostile.length);
      const expected: Record<string, string> = { 'a;=1+1': "a;'=1+1", 'x|@SUM(1)': "x|'@SUM(1)", 'a,-2+3': "a,'-2+3", 'b\t=cmd': "b<U+0009>'=cmd" };
      for (const r of csv) {
        assert.equal(r.attack_type, r.severity);
        assert.ok(Object.values(expected).includes(r.attack_type!), r.attack_type);
        assert.equal(r.failure_count, '12');
        for (const [column, cell] of Object.entries(r)) assertSpreadsheetSafe(cell, column);
      }
      assert.deepEqual(csv.map((r) => r.attack_type).sort(), Object.values(expected).sort());
    });

    it('a 31 MB users value: the CSV cell is capped with a marker, every other output stays small, peak memory bounded', async () => {
      const big = 'u'.repeat(31 * 1024 * 1024);
      const d = writeDispatch(app, [{ src_ip: '8.8.8.8', users: big, attack_type: `${'z'.repeat(40_000)};=1` }], 'per_result');
      const run = await runAction(app, offlinePayload(d.resultsFiles[0]!, d.sid, actionConfiguration(app)), { env: offlineEnv() });
      assert.equal(run.code, 0, run.stderr.slice(0, 2000));
      const [row] = incidentRows(dataDir);
      assert.ok(row);
      assert.ok(row.users!.length <= MAX_CSV_CELL_CHARS, `users cell ${row.users!.length} chars`);
      assert.match(row.users!, /…\[cut: \d+ chars\]$/);
      assert.ok(row.attack_type!.length <= MAX_CSV_CELL_CHARS);
      assert.match(row.attack_type!, /…\[cut: \d+ chars\]$/);
      assert.ok(statSync(path.join(dataDir, 'incidents.csv')).size < 64 * 1024);
      for (const report of readdirSync(path.join(dataDir, 'reports'))) assert.ok(statSync(path.join(dataDir, 'reports', report)).size < 128 * 1024, report);
      const closing = withSignature(run.lines, 'Modular action script duration')[0]!;
      const rssMb = Number(closing.fields.max_rss_kb) / 1024;
      // Reading the 31 MB row itself costs a few copies of it; nothing after the edge may (1.2 GB before).
      assert.ok(rssMb < 400, `peak RSS ${rssMb.toFixed(0)} MB`);
    });

    it('CLI --format csv outputs use the same rule (authlog --attempts, attacker-chosen user names)', async () => {
      const log = path.join(dataDir, 'auth.log');
      writeFileSync(
        log,
        ['a;=1+1', 'x|@SUM(1)', 'a,-2+3'].map((u, i) => `Dec 10 06:55:4${i} LabSZ sshd[2415${i}]: Failed password for invalid user ${u} from 203.0.113.9 port 4100${i} ssh2`).join('\n') + '\n',
      );
      const out = await new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve, reject) => {
        const c = spawn(process.execPath, [CLI, 'authlog', log, '--year', '2017', '--attempts', '--format', 'csv'], { env: { PATH: process.env.PATH ?? '' } });
        let stdout = '';
        let stderr = '';
        c.stdout.on('data', (d: Buffer) => (stdout += d.toString('utf8')));
        c.stderr.on('data', (d: Buffer) => (stderr += d.toString('utf8')));
        c.on('error', reject);
        c.on('close', (code) => resolve({ code, stdout, stderr }));
      });
      assert.equal(out.code, 0, out.stderr);
      const rows = parseCsv(out.stdout, { columns: true }) as Record<string, string>[];
      assert.deepEqual(rows.map((r) => r.user), ["a;'=1+1", "x|'@SUM(1)", "a,'-2+3"]);
      for (const r of rows) for (const [column, cell] of Object.entries(r)) assertSpreadsheetSafe(cell, column);
    });
  });

  describe('one firing is one offence (item 9)', () => {
    it('50 per-result runs of one address with one sid give count 1 and the base duration; a second firing (new sid) escalates', async function () {
      this.timeout(300_000);
      const address = '8.8.8.8';
      // No key: a public address is UNKNOWN; block_verdicts = UNKNOWN makes every row a block.
      const configuration = actionConfiguration(app, { [`${PARAM}block_verdicts`]: 'UNKNOWN', [`${PARAM}block_duration`]: '1h' });
      const first = writeDispatch(app, Array.from({ length: 50 }, (_, i) => ({ src_ip: address, failure_count: String(i + 5) })), 'per_result');
      for (const f of first.resultsFiles) {
        const run = await runAction(app, offlinePayload(f, first.sid, configuration), { env: offlineEnv() });
        assert.equal(run.code, 0, run.stderr);
      }
      const blocklist = (): Record<string, string>[] => parseCsv(readFileSync(path.join(dataDir, 'blocklist.csv'), 'utf8'), { columns: true }) as Record<string, string>[];
      assert.equal(incidentRows(dataDir).length, 50);
      let entries = blocklist();
      assert.equal(entries.length, 1);
      assert.deepEqual(Object.keys(entries[0]!).slice(0, 7), ['ip', 'first_seen', 'last_seen', 'expires', 'count', 'verdict', 'reason']);
      assert.equal(entries[0]!.count, '1');
      assert.equal(Date.parse(entries[0]!.expires!) - Date.parse(entries[0]!.first_seen!), 3600 * 1000);

      const second = writeDispatch(app, [{ src_ip: address }], 'per_result');
      const run = await runAction(app, offlinePayload(second.resultsFiles[0]!, second.sid, configuration), { env: offlineEnv() });
      assert.equal(run.code, 0, run.stderr);
      const block = withSignature(run.lines, `[SIMULATION] Blocking IP ${address}`)[0];
      assert.deepEqual([block?.fields.count, block?.fields.duration_s, block?.fields.repeat_offender], ['2', '7200', 'yes']);
      entries = blocklist();
      assert.equal(entries[0]!.count, '2');
      assert.ok(existsSync(path.join(dataDir, 'blocklist.csv')));
    });
  });
});
