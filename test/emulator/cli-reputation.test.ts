/**
 * `soar-edr reputation` from the built CLI bundle (dist/cli/soar-edr.cjs) as a child
 * process, against the loopback VirusTotal and AbuseIPDB stubs (real corpus bodies) with a
 * temporary SOAR_DATA_DIR: the shared limiter is never exceeded, progress appears only on
 * a terminal (a real pseudo-terminal through util-linux `script`), a re-run resumes from
 * the cache, and every exit code.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { parse as parseCsv } from 'csv-parse/sync';
import { QuotaLimiter } from '../../src/intel/quota-limiter';
import { dataLayout } from '../../src/store/data-dir';
import { VT_OPENCTI_IP } from '../support/intel-stubs';
import { REPO_ROOT, corpusPath } from '../support/paths';
import { capturedObjects, useReputationStubs } from '../cli/reputation-fixtures';

const CLI = path.join(REPO_ROOT, 'dist', 'cli', 'soar-edr.cjs');
const SCRIPT = '/usr/bin/script';
/** Any terminal control sequence. */
// eslint-disable-next-line no-control-regex
const ESC = /\x1b/;

interface CliRun {
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

type Row = Record<string, string | number | null>;

/** Public addresses of the real AbuseIPDB /check responses (each has a recorded answer). */
function recordedPublic(): string[] {
  const recorded = Object.keys(JSON.parse(readFileSync(corpusPath('abuseipdb', 'realworld_check_responses_ioc_cache.json'), 'utf8')) as Record<string, unknown>);
  return recorded.filter((ip) => !/^(?:0\.|172\.17\.|224\.|255\.)/.test(ip));
}

describe('soar-edr reputation (built CLI)', function () {
  this.timeout(60_000);
  before(() => {
    assert.ok(existsSync(CLI), `${CLI} is built by: npx tsc -p tsconfig.json && node build/build.mjs`);
  });
  const stubs = useReputationStubs();
  let dataDir: string;
  const ten = recordedPublic().slice(0, 10);

  beforeEach(() => {
    dataDir = mkdtempSync(path.join(tmpdir(), 'soar-cli-rep-'));
  });
  afterEach(() => rmSync(dataDir, { recursive: true, force: true }));

  const keys = (): Record<string, string> => ({ SOAR_VIRUSTOTAL_API_KEY: stubs.vt.apiKey, SOAR_ABUSEIPDB_API_KEY: stubs.abuse.apiKey });
  const baseEnv = (): Record<string, string> => ({ PATH: process.env.PATH ?? '', HOME: dataDir, SOAR_DATA_DIR: dataDir, SOAR_VIRUSTOTAL_URL: stubs.vt.baseUrl, SOAR_ABUSEIPDB_URL: stubs.abuse.baseUrl });

  // The stubs run in this process, so the CLI must run asynchronously.
  function cli(args: string[], env: Record<string, string> = keys(), stdin = ''): Promise<CliRun> {
    return new Promise((resolve, reject) => {
      const c = spawn(process.execPath, [CLI, 'reputation', ...args], { env: { ...baseEnv(), ...env }, cwd: dataDir });
      let stdout = '';
      let stderr = '';
      c.stdout.on('data', (d: Buffer) => (stdout += d));
      c.stderr.on('data', (d: Buffer) => (stderr += d));
      c.on('error', reject);
      c.on('close', (code) => resolve({ code, stdout, stderr }));
      c.stdin.end(stdin);
    });
  }

  /** The CLI on a pseudo-terminal: stdout and stderr both go to it, as in an analyst's shell. */
  function cliOnTerminal(args: string[]): Promise<CliRun> {
    assert.ok(existsSync(SCRIPT), 'util-linux script(1) provides the pseudo-terminal for this test');
    const command = [process.execPath, CLI, 'reputation', ...args].join(' ');
    return new Promise((resolve, reject) => {
      const c = spawn(SCRIPT, ['-qfec', command, '/dev/null'], { env: { ...baseEnv(), SOAR_VIRUSTOTAL_API_KEY: stubs.vt.apiKey, TERM: 'xterm' }, cwd: dataDir });
      let stdout = '';
      c.stdout.on('data', (d: Buffer) => (stdout += d));
      c.on('error', reject);
      c.on('close', (code) => resolve({ code, stdout, stderr: '' }));
      c.stdin.end();
    });
  }

  const json = (run: CliRun): Row[] => JSON.parse(run.stdout) as Row[];

  it('--help documents the targets, the quota behaviour, the columns and every exit code', async () => {
    const help = await cli(['--help']);
    assert.equal(help.code, 0);
    for (const text of ['--no-wait', '--max-wait', '--format', '--out', '--param', '--cache-ttl', 'deferred: quota', 'as_owner', 'abuse_score', 'SOAR_VIRUSTOTAL_API_KEY']) {
      assert.ok(help.stdout.includes(text), `--help mentions ${text}`);
    }
    for (const code of ['0', '1', '2', '3', '4', '5', '6', '7', '8']) assert.match(help.stdout, new RegExp(`^  ${code}  \\S`, 'm'));
  });

  it('a file of 10 public addresses with --no-wait: 4 VirusTotal requests, 6 "deferred: quota", exit 3; piped output has no progress', async () => {
    const file = path.join(dataDir, 'suspects.txt');
    writeFileSync(file, ['# suspects from the SOC queue', ...ten.slice(0, 5), '', `::ffff:${ten[0]}`, 'bogus!', ...ten.slice(5), `${ten[9]}  # again`].join('\n') + '\n');
    const run = await cli([file, '--no-wait', '--format', 'json']);
    assert.equal(run.code, 3, run.stderr);
    assert.equal(stubs.vt.requests.length, 4);
    assert.deepEqual(stubs.vt.requests.map((q) => q.ip), ten.slice(0, 4));
    assert.equal(stubs.abuse.requests.length, 10);
    const rows = json(run);
    assert.deepEqual(rows.map((r) => r.target), ten);
    assert.deepEqual(rows.map((r) => r.status), [...Array(4).fill('looked_up'), ...Array(6).fill('deferred')]);
    assert.ok(rows.slice(4).every((r) => /^deferred: quota \(minute\); retry after \d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/.test(String(r.reason))));
    // The invalid line by its number (9: after the comment, five addresses, a blank line and the mapped duplicate);
    // duplicates (the mapped form, the one with a trailing comment) collapsed.
    assert.match(run.stderr, new RegExp(`^soar-edr: ${file.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')}:9: "bogus!" is not an IP address`, 'm'));
    assert.match(run.stderr, /input: 1 invalid, 2 duplicates/);
    // Piped: no bar, no ETA, no control sequences.
    assert.doesNotMatch(run.stderr, ESC);
    assert.doesNotMatch(run.stderr, /ETA/);
    assert.doesNotMatch(run.stdout, ESC);

    // A re-run at once: every cached answer is reused, nothing new can be asked yet.
    const again = await cli([file, '--no-wait', '--format', 'json']);
    assert.equal(again.code, 3);
    assert.equal(stubs.vt.requests.length, 4);
    assert.equal(stubs.abuse.requests.length, 10);
    assert.deepEqual(json(again).slice(0, 4).map((r) => r.status), ['cached', 'cached', 'cached', 'cached']);

    // With a premium budget (raised by the admin in the app's soar_edr.conf, found through
    // SPLUNK_HOME) the re-run asks for exactly the 6 missing; exit 5 for the invalid line.
    const splunkHome = path.join(dataDir, 'splunk');
    mkdirSync(path.join(splunkHome, 'etc', 'apps', 'soar_edr', 'local'), { recursive: true });
    writeFileSync(path.join(splunkHome, 'etc', 'apps', 'soar_edr', 'local', 'soar_edr.conf'), '[quota]\nvt_requests_per_minute = 100\n');
    const resumed = await cli([file, '--no-wait', '--format', 'json', '--param', 'vt_requests_per_minute=100'], { ...keys(), SPLUNK_HOME: splunkHome });
    assert.equal(resumed.code, 5, resumed.stderr);
    assert.deepEqual(stubs.vt.requests.slice(4).map((q) => q.ip), ten.slice(4));
    assert.equal(stubs.abuse.requests.length, 10);
    assert.deepEqual(json(resumed).map((r) => r.status), [...Array(4).fill('cached'), ...Array(6).fill('looked_up')]);
  });

  it('waits for the next slot of the shared budget (spent by another process) and then looks up; exit 0', async () => {
    // Four VirusTotal requests 58 s ago by, say, the alert action: the next slot frees in about 2 s.
    const quota = new QuotaLimiter(dataLayout(dataDir).quota);
    const spentAt = Date.now() - 58_000;
    for (let i = 0; i < 4; i++) assert.ok(quota.tryAcquire('virustotal', spentAt).granted);
    const started = Date.now();
    const run = await cli([VT_OPENCTI_IP, '--format', 'csv'], { SOAR_VIRUSTOTAL_API_KEY: stubs.vt.apiKey });
    assert.equal(run.code, 0, run.stderr);
    assert.ok(Date.now() - started >= 1_500, 'it waited for the slot');
    assert.equal(stubs.vt.requests.length, 1);
    const rows = parseCsv(run.stdout, { columns: true }) as Record<string, string>[];
    assert.deepEqual([rows[0]!.target, rows[0]!.verdict, rows[0]!.status, rows[0]!.malicious, rows[0]!.country, rows[0]!.as_owner], [VT_OPENCTI_IP, 'MALICIOUS', 'looked_up', '4', 'GB', 'CLOUD-SOUTH']);
    assert.equal(new QuotaLimiter(dataLayout(dataDir).quota).usage('virustotal', Date.now()).dayUsed, 5);
  });

  it('Ctrl-C while waiting for quota stops at once, prints what is known and lists the rest as deferred (exit 3)', async () => {
    const quota = new QuotaLimiter(dataLayout(dataDir).quota);
    for (let i = 0; i < 4; i++) assert.ok(quota.tryAcquire('virustotal', Date.now()).granted);
    const result = new Promise<CliRun & { ms: number }>((resolve, reject) => {
      const c = spawn(process.execPath, [CLI, 'reputation', ...ten.slice(0, 3), '--format', 'json'], { env: { ...baseEnv(), SOAR_VIRUSTOTAL_API_KEY: stubs.vt.apiKey }, cwd: dataDir });
      let stdout = '';
      let stderr = '';
      let signalledAt = 0;
      c.stdout.on('data', (d: Buffer) => (stdout += d));
      c.stderr.on('data', (d: Buffer) => (stderr += d));
      c.on('error', reject);
      c.on('close', (code) => resolve({ code, stdout, stderr, ms: Date.now() - signalledAt }));
      c.stdin.end();
      setTimeout(() => {
        signalledAt = Date.now();
        c.kill('SIGINT');
      }, 1_500);
    });
    const run = await result;
    assert.equal(run.code, 3, run.stderr);
    assert.ok(run.ms < 5_000, `stopped ${run.ms} ms after the signal`);
    assert.deepEqual(json(run).map((r) => [r.status, r.reason]), ten.slice(0, 3).map(() => ['deferred', 'deferred: interrupted']));
    assert.equal(stubs.vt.requests.length, 0);
  });

  it('on a terminal: a progress bar with an ETA that counts the quota wait, cleared before the table', async () => {
    const quota = new QuotaLimiter(dataLayout(dataDir).quota);
    for (let i = 0; i < 4; i++) assert.ok(quota.tryAcquire('virustotal', Date.now() - 57_000).granted);
    const run = await cliOnTerminal([VT_OPENCTI_IP, '8.8.8.8']);
    assert.equal(run.code, 0, run.stdout);
    assert.match(run.stdout, ESC);
    assert.match(run.stdout, /reputation \S+ 0\/2 · 138\.128\.150\.133 · ETA [3-6]s/);
    assert.match(run.stdout, /waiting for VirusTotal \ds/);
    // The bar's line is cleared, then the table.
    assert.match(run.stdout, /\x1b\[2Ktarget +type +verdict/);
    assert.equal(stubs.vt.requests.length, 2);
  });

  it('stdin (-) with --format csv --out FILE: domains and hashes at VirusTotal, the table in the file', async () => {
    const c = capturedObjects();
    const out = path.join(dataDir, 'verdicts.csv');
    const run = await cli(['-', '--format', 'csv', '--out', out], keys(), [c.domain, c.md5.toUpperCase(), c.sha1, 'tawuhoju[.]com', VT_OPENCTI_IP].join('\n'));
    assert.equal(run.code, 1, run.stderr); // AbuseIPDB has no recorded answer for the OpenCTI address: that lookup fails.
    assert.equal(run.stdout, '');
    const rows = parseCsv(readFileSync(out, 'utf8'), { columns: true }) as Record<string, string>[];
    assert.deepEqual(rows.map((r) => [r.target, r.type, r.verdict, r.malicious, r.reputation]), [
      [c.domain, 'domain', 'MALICIOUS', '6', '-37'],
      [c.md5, 'md5', 'MALICIOUS', '47', '-7'],
      [c.sha1, 'sha1', 'MALICIOUS', '47', '-7'],
      [VT_OPENCTI_IP, 'ip', 'MALICIOUS', '4', '1'],
    ]);
    assert.equal(rows[3]!.status, 'failed');
    assert.deepEqual(stubs.vt.requests.map((q) => q.path), [`/api/v3/domains/${c.domain}`, `/api/v3/files/${c.md5}`, `/api/v3/files/${c.sha1}`, `/api/v3/ip_addresses/${VT_OPENCTI_IP}`]);
    assert.deepEqual(stubs.abuse.requests.map((q) => q.ip), [VT_OPENCTI_IP]);
  });

  it('private, reserved and internal targets are skipped with the reason and never reach a stub; table output; exit 0', async () => {
    // 192.168.198.149 is the DeepBlueCLI 4625 source (corpus/windows); ::1 the winlogbeat event's.
    const run = await cli(['192.168.198.149', '::1', 'fe80::1%eth0', '2001:db8::1', '100.64.1.1', 'fileserver.corp.local', 'db.internal']);
    assert.equal(run.code, 0, run.stderr);
    assert.equal(stubs.vt.requests.length + stubs.abuse.requests.length, 0);
    const lines = run.stdout.trimEnd().split('\n');
    assert.match(lines[0]!, /^target +type +verdict +status +reason/);
    assert.equal(lines.length, 2 + 7);
    assert.match(run.stdout, /^192\.168\.198\.149 +ip +UNKNOWN +skipped +private \(RFC 1918\): never sent out$/m);
    assert.match(run.stdout, /^::1 +ip +UNKNOWN +skipped +loopback \(RFC 4291\): never sent out$/m);
    assert.match(run.stdout, /^100\.64\.1\.1 +ip +UNKNOWN +skipped +carrier-grade NAT \(RFC 6598\): never sent out$/m);
    assert.match(run.stdout, /^db\.internal +domain +UNKNOWN +skipped +private-use \.internal \(ICANN 2024\): never sent out$/m);
    assert.match(run.stderr, /7 skipped/);
  });

  it('exit 1 when VirusTotal refuses the key', async () => {
    const run = await cli(['8.8.8.8', '--format', 'json'], { SOAR_VIRUSTOTAL_API_KEY: 'not-the-stub-key' });
    assert.equal(run.code, 1, run.stderr);
    assert.match(String(json(run)[0]!.reason), /AuthenticationRequiredError/);
    assert.ok(!run.stderr.includes('not-the-stub-key') && !run.stdout.includes('not-the-stub-key'), 'the key is never printed');
  });

  it('exit 2 for usage mistakes, before any lookup', async () => {
    const cases: [string[], RegExp][] = [
      [[], /give IP addresses, domains, hashes/],
      [['8.8.8.8', '--param', 'block_duration=1h'], /not a param reputation uses/],
      [['8.8.8.8', '--param', 'vt_requests_per_minute=0'], /vt_requests_per_minute/],
      [['8.8.8.8', '--max-wait', 'soon'], /--max-wait: "soon" is not a duration/],
      [['8.8.8.8', '--format', 'xml'], /Allowed choices are table, csv, json/],
      [['todays-list.txt'], /todays-list\.txt: no such file/],
      [['8.8.8.8', '--cache-ttl', '1y'], /cache_ttl/],
    ];
    for (const [args, message] of cases) {
      const run = await cli(args);
      assert.equal(run.code, 2, `${args.join(' ')}: ${run.stderr}`);
      assert.match(run.stderr, message);
    }
    assert.equal(stubs.vt.requests.length + stubs.abuse.requests.length, 0);
  });

  it('exits 7 when storage/passwords is asked for the keys and splunkd is unreachable', async () => {
    const run = await cli(['8.8.8.8', '--scheme', 'http', '--host', '127.0.0.1', '--port', '1', '--password', 'x']);
    assert.equal(run.code, 7, run.stderr);
    assert.equal(stubs.vt.requests.length + stubs.abuse.requests.length, 0);
  });

  it('exit 4 without any key, with a message that says what to set', async () => {
    const run = await cli(['8.8.8.8'], {});
    assert.equal(run.code, 4);
    assert.match(run.stderr, /no VirusTotal or AbuseIPDB key: set SOAR_VIRUSTOTAL_API_KEY/);
    assert.match(run.stdout, /^8\.8\.8\.8 +ip +UNKNOWN +no_key +not looked up: no VirusTotal or AbuseIPDB key/m);
  });

  it('exit 5 when some lines are invalid and everything else was answered; --cache-ttl 0 asks again', async () => {
    const first = await cli(['52.113.194.132', 'nope_nope', '--format', 'json'], { SOAR_ABUSEIPDB_API_KEY: stubs.abuse.apiKey });
    assert.equal(first.code, 5, first.stderr);
    assert.match(first.stderr, /^soar-edr: argument 2: "nope_nope" is not an IP address/m);
    assert.deepEqual([json(first)[0]!.verdict, json(first)[0]!.abuse_score], ['SUSPICIOUS', 26]);
    const cached = await cli(['52.113.194.132'], { SOAR_ABUSEIPDB_API_KEY: stubs.abuse.apiKey });
    assert.equal(cached.code, 0);
    assert.equal(stubs.abuse.requests.length, 1);
    const fresh = await cli(['52.113.194.132', '--cache-ttl', '0'], { SOAR_ABUSEIPDB_API_KEY: stubs.abuse.apiKey });
    assert.equal(fresh.code, 0);
    assert.equal(stubs.abuse.requests.length, 2);
  });
});
