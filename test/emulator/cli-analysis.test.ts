/**
 * `soar-edr authlog`, `winlog` and `iocs` from the built CLI bundle (dist/cli/soar-edr.cjs)
 * over the real corpus files, with loopback VirusTotal and AbuseIPDB stubs for --enrich.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { gzipSync } from 'node:zlib';
import { parse as parseCsv } from 'csv-parse/sync';
import { refang } from '../../src/analysis/iocs';
import { ABUSE_DOCS_IP, AbuseAnswer, IntelStub, startAbuseIpdbStub, startVirusTotalStub, VtAnswer } from '../support/intel-stubs';
import { isoTime } from '../../src/cli/failure-summary';
import { lookBackSeconds, packagedMacros } from '../support/packaged-conf';
import { corpusPath, REPO_ROOT } from '../support/paths';

const CLI = path.join(REPO_ROOT, 'dist', 'cli', 'soar-edr.cjs');

const SSH = corpusPath('sshd', 'loghub_SSH_2k.log');
const SSH_CRLF = corpusPath('sshd', 'loghub_OpenSSH_2k.log');
const LINUX = corpusPath('sshd', 'loghub_Linux_2k.log');
const WIN_CSV = corpusPath('windows', 'deepbluecli_smb-password-guessing-security_4625_all.csv');
const WIN_XML = corpusPath('windows', 'deepbluecli_smb-password-guessing-security_4625_first100.xml');
const WIN_BEAT = corpusPath('windows', 'elastic_beats_security-windows2012r2-logon_4625_event.json');
const IOC = (name: string): string => corpusPath('iocs', name);
const TRICKBOT = IOC('unit42_2020-08-24-IOCs-for-Trickbot-gtag-ono66.txt');
const PRIVATE_SOURCE = '192.168.198.149';

interface Run {
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

function run(args: string[], options: { stdin?: Buffer | string; env?: Record<string, string> } = {}): Promise<Run> {
  return new Promise((resolve, reject) => {
    const c = spawn(process.execPath, [CLI, ...args], { env: { PATH: process.env.PATH ?? '', ...options.env } });
    let stdout = '';
    let stderr = '';
    c.stdout.on('data', (d: Buffer) => (stdout += d.toString('utf8')));
    c.stderr.on('data', (d: Buffer) => (stderr += d.toString('utf8')));
    c.on('error', reject);
    c.on('close', (code) => resolve({ code, stdout, stderr }));
    c.stdin.end(options.stdin ?? '');
  });
}

/** The JSON report without its `inputs` (names and byte counts differ between copies of a log). */
function withoutInputs(json: string): unknown {
  const doc = JSON.parse(json) as Record<string, unknown>;
  delete doc.inputs;
  return doc;
}

type Doc = Record<string, any>;

describe('soar-edr authlog (built CLI, real logs)', function () {
  this.timeout(120_000);
  let dir: string;
  before(() => {
    dir = mkdtempSync(path.join(tmpdir(), 'soar-cli-analysis-'));
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('loghub_SSH_2k.log: 528 failures from 23 addresses, 183.62.140.253 first with 286 (table, csv, json), exit 1', async () => {
    const table = await run(['authlog', SSH, '--year', '2017']);
    assert.equal(table.code, 1, table.stderr);
    assert.equal(table.stderr, '');
    assert.match(table.stdout, /^.*loghub_SSH_2k\.log: 2,000 lines, 528 failed attempts from 23 sources, 63 user names, 1 successful logon\n/);
    assert.match(table.stdout, /\nTop sources \(10 of 23\)\naddress +scope +failures .*\n[- ]+\n183\.62\.140\.253 +public +286 /);
    assert.match(table.stdout, /\nTop user names \(10 of 63\)\nuser +failures\n[- ]+\nroot +378\n/);

    const csv = await run(['authlog', SSH, '--year', '2017', '--format', 'csv', '--top', '50']);
    assert.equal(csv.code, 1);
    const rows = parseCsv(csv.stdout, { columns: true }) as Record<string, string>[];
    assert.equal(rows.length, 23);
    assert.equal(rows.reduce((n, r) => n + Number(r.failures), 0), 528);
    assert.deepEqual([rows[0]!.address, rows[0]!.failures, rows[0]!.scope], ['183.62.140.253', '286', 'public']);

    const json = await run(['authlog', SSH, '--year', '2017', '--format', 'json']);
    assert.equal(json.code, 1);
    const doc = JSON.parse(json.stdout) as Doc;
    assert.equal(doc.totals.failed_attempts, 528);
    assert.equal(doc.totals.sources, 23);
    assert.deepEqual([doc.top_sources[0].address, doc.top_sources[0].failures], ['183.62.140.253', 286]);
    assert.equal(doc.authlog.failed_password_lines, 520);
    assert.equal(doc.authlog.repeated_failed_lines, 2);
    assert.deepEqual(doc.inputs, [{ name: SSH, bytes: 223_217, gzip: false, records: 2000, error: null }]);
    assert.equal(doc.totals.first, '2017-12-10T06:55:48Z');
    assert.ok(doc.brute_force.length > 0);
    assert.equal(doc.totals.brute_force_sources, doc.brute_force.length);
  });

  it('gives identical results for the CRLF copy, a .gz of it, stdin and gzip on stdin', async () => {
    const base = await run(['authlog', SSH, '--year', '2017', '--format', 'json']);
    const expected = withoutInputs(base.stdout);
    const gz = path.join(dir, 'auth.log.2.gz');
    writeFileSync(gz, gzipSync(readFileSync(SSH_CRLF)));
    const variants: [string, Promise<Run>][] = [
      ['CRLF file', run(['authlog', SSH_CRLF, '--year', '2017', '--format', 'json'])],
      ['.gz file', run(['authlog', gz, '--year', '2017', '--format', 'json'])],
      ['- (stdin)', run(['authlog', '-', '--year', '2017', '--format', 'json'], { stdin: readFileSync(SSH_CRLF) })],
      ['no FILE (stdin)', run(['authlog', '--year', '2017', '--format', 'json'], { stdin: readFileSync(SSH) })],
      ['gzip on stdin', run(['authlog', '-', '--year', '2017', '--format', 'json'], { stdin: readFileSync(gz) })],
    ];
    for (const [what, pending] of variants) {
      const r = await pending;
      assert.equal(r.code, 1, `${what}: ${r.stderr}`);
      assert.deepEqual(withoutInputs(r.stdout), expected, what);
    }
    const gzDoc = JSON.parse((await variants[1]![1]).stdout) as Doc;
    assert.deepEqual(gzDoc.inputs, [{ name: gz, bytes: readFileSync(gz).length, gzip: true, records: 2000, error: null }]);
    // Same CSV bytes for the CRLF file.
    const [a, b] = await Promise.all([run(['authlog', SSH, '--year', '2017', '--format', 'csv']), run(['authlog', SSH_CRLF, '--year', '2017', '--format', 'csv'])]);
    assert.equal(a.stdout, b.stdout);
    // The table differs only in the file name of its first line.
    const [t1, t2] = await Promise.all([run(['authlog', SSH, '--year', '2017']), run(['authlog', SSH_CRLF, '--year', '2017'])]);
    assert.equal(t1.stdout.split('\n').slice(1).join('\n'), t2.stdout.split('\n').slice(1).join('\n'));
  });

  it('loghub_Linux_2k.log: 0 "Failed password" lines and 489 sshd(pam_unix) authentication failures', async () => {
    const r = await run(['authlog', LINUX, '--year', '2005', '--format', 'json']);
    assert.equal(r.code, 1, r.stderr);
    const doc = JSON.parse(r.stdout) as Doc;
    assert.equal(doc.authlog.failed_password_lines, 0);
    assert.deepEqual(doc.authlog.failed_by_method, {});
    assert.equal(doc.authlog.legacy_pam_failures, 489);
    assert.equal(doc.totals.failed_attempts, 489);
    assert.deepEqual([doc.top_sources[0].address, doc.top_sources[0].failures], ['150.183.249.110', 80]);
  });

  it('--attempts: CSV of every failed attempt (528 summed counts), JSON Lines, to --out or stdout', async () => {
    const csv = await run(['authlog', SSH, '--year', '2017', '--attempts']);
    assert.equal(csv.code, 1, csv.stderr);
    const rows = parseCsv(csv.stdout, { columns: true }) as Record<string, string>[];
    assert.equal(rows.length, 520);
    assert.equal(rows.reduce((n, r) => n + Number(r.count), 0), 528);
    assert.deepEqual(Object.keys(rows[0]!), ['time', 'source', 'host', 'address', 'user', 'invalid_user', 'method', 'reason', 'port', 'count']);
    assert.equal(rows.filter((r) => r.address === '183.62.140.253').reduce((n, r) => n + Number(r.count), 0), 286);
    assert.ok(rows.some((r) => r.user === ' 0101'), 'the double-space user name is kept');

    const out = path.join(dir, 'attempts.jsonl');
    const jsonl = await run(['authlog', SSH, '--year', '2017', '--attempts', '--format', 'json', '--out', out]);
    assert.equal(jsonl.code, 1);
    assert.equal(jsonl.stdout, '');
    assert.match(jsonl.stderr, /wrote 520 failed-attempt rows \(528 attempts\) to .*attempts\.jsonl/);
    const lines = readFileSync(out, 'utf8').trimEnd().split('\n').map((l) => JSON.parse(l) as Doc);
    assert.equal(lines.length, 520);
    assert.equal(lines.reduce((n, l) => n + (l.count as number), 0), 528);
    assert.equal(lines.filter((l) => l.count === 5).length, 2);
  });

  it('--attempts neutralises hostile user names in the CSV; JSON Lines keep them verbatim', async () => {
    // Real corpus lines with the user name replaced by formula and control-character payloads.
    const template = readFileSync(SSH, 'utf8')
      .split('\n')
      .find((l) => l.includes('Failed password for invalid user webmaster from 173.234.31.186'))!;
    const hostile = ['=HYPERLINK("http://evil.example/","click")', '+1+cmd|calc', '@SUM(A1)', '-2+3', 'x,"y"'];
    const log = path.join(dir, 'hostile.log');
    writeFileSync(log, hostile.map((u) => template.replace('webmaster', u)).join('\n') + '\n');
    const csv = await run(['authlog', log, '--year', '2017', '--attempts']);
    assert.equal(csv.code, 0, csv.stderr);
    const users = (parseCsv(csv.stdout, { columns: true }) as Record<string, string>[]).map((r) => r.user);
    assert.deepEqual(users, hostile.map((u) => (/^[=+@-]/.test(u) ? `'${u}` : u)));
    const jsonl = await run(['authlog', log, '--year', '2017', '--attempts', '--format', 'json']);
    assert.deepEqual(jsonl.stdout.trimEnd().split('\n').map((l) => (JSON.parse(l) as Doc).user), hostile);
  });

  it('--threshold, --window, --year, --timezone change the analysis', async () => {
    const tight = JSON.parse((await run(['authlog', SSH, '--year', '2017', '--format', 'json', '--threshold', '30', '--window', '1m'])).stdout) as Doc;
    assert.deepEqual(tight.brute_force.map((b: Doc) => b.address), ['183.62.140.253']);
    const wide = JSON.parse((await run(['authlog', SSH, '--year', '2017', '--format', 'json', '--threshold', '30', '--window', '10m'])).stdout) as Doc;
    assert.equal(wide.window_seconds, 600);
    assert.ok(wide.brute_force.length > tight.brute_force.length);
    // 31 failures within a minute: more than 30, not more than 31.
    const edge = JSON.parse((await run(['authlog', SSH, '--year', '2017', '--format', 'json', '--threshold', '31', '--window', '1m'])).stdout) as Doc;
    assert.deepEqual(edge.brute_force, []);
    const shifted = JSON.parse((await run(['authlog', SSH, '--year', '2016', '--timezone', '+02:00', '--format', 'json'])).stdout) as Doc;
    assert.equal(shifted.totals.first, '2016-12-10T04:55:48Z');
    const clean = await run(['authlog', SSH, '--year', '2017', '--threshold', '1000']);
    assert.equal(clean.code, 0, 'no candidate, no success after failures');
    assert.match(clean.stdout, /\nBrute-force candidates: 0 \(more than 1,000 failures within 15m\)\n\(none\)\n/);
  });

  it('exit 2 for usage mistakes, before reading anything', async () => {
    const cases: [string[], RegExp][] = [
      [['authlog', SSH, '--threshold', 'ten'], /--threshold must be a whole number/],
      [['authlog', SSH, '--success-window', 'soon'], /--success-window: "soon" is not a duration/],
      [['winlog', WIN_XML, '--year', '2017'], /unknown option '--year'/],
      [['authlog', SSH, '--window', 'soon'], /--window: "soon" is not a duration/],
      [['authlog', SSH, '--top', 'x'], /--top/],
      [['authlog', SSH, '--year', '17'], /--year must be a four-digit year/],
      [['authlog', SSH, '--timezone', 'Nowhere/Else'], /--timezone: unknown time zone/],
      [['authlog', SSH, '--attempts', '--format', 'table'], /not a table/],
      [['authlog', SSH, '--attempts', '--enrich'], /--enrich/],
      [['authlog', '-', '-'], /can be read only once/],
      [['authlog', SSH, '--format', 'xml'], /Allowed choices are table, csv, json/],
      [['authlog', SSH, '--no-such-option'], /unknown option/],
    ];
    for (const [args, message] of cases) {
      const r = await run(args);
      assert.equal(r.code, 2, `${args.join(' ')}: ${r.stderr}`);
      assert.match(r.stderr, message);
      assert.equal(r.stdout, '');
    }
  });

  it('exit 3 for an unreadable input: the report covers the others; a damaged gzip too', async () => {
    const missing = path.join(dir, 'no-such.log');
    const r = await run(['authlog', missing, SSH, '--year', '2017', '--format', 'json']);
    assert.equal(r.code, 3);
    assert.match(r.stderr, /cannot read .*no-such\.log: no such file or directory/);
    const doc = JSON.parse(r.stdout) as Doc;
    assert.equal(doc.totals.failed_attempts, 528);
    assert.equal(doc.inputs[0].error, `cannot read ${missing}: no such file or directory`);
    const damaged = path.join(dir, 'damaged.log.gz');
    const gz = gzipSync(readFileSync(SSH));
    writeFileSync(damaged, gz.subarray(0, gz.length >> 1));
    const d = await run(['authlog', damaged, '--year', '2017']);
    assert.equal(d.code, 3);
    assert.match(d.stderr, /damaged\.log\.gz: .*gzip/);
    assert.match(d.stdout, /\nNot read completely: .*damaged\.log\.gz/);
    const folder = await run(['authlog', dir]);
    assert.equal(folder.code, 3);
    assert.match(folder.stderr, /it is a directory/);
  });

  it('--out writes the report to the file (exit 4 when it cannot)', async () => {
    const out = path.join(dir, 'reports', 'ssh.json');
    const r = await run(['authlog', SSH, '--year', '2017', '--format', 'json', '--out', out]);
    assert.equal(r.code, 1);
    assert.equal(r.stdout, '');
    assert.equal((JSON.parse(readFileSync(out, 'utf8')) as Doc).totals.failed_attempts, 528);
    const blocker = path.join(dir, 'a-file');
    writeFileSync(blocker, 'x');
    for (const extra of [[], ['--attempts']]) {
      const bad = await run(['authlog', SSH, '--year', '2017', '--out', path.join(blocker, 'r.txt'), ...extra]);
      assert.equal(bad.code, 4, `${extra.join(' ')}: ${bad.stderr}`);
      assert.match(bad.stderr, /cannot write .*a-file\/r\.txt/);
      assert.ok(!existsSync(path.join(blocker, 'r.txt')));
    }
  });

  it('--help documents the exit codes; no progress line when stderr is a pipe', async () => {
    for (const cmd of ['authlog', 'winlog', 'iocs']) {
      const h = await run([cmd, '--help']);
      assert.equal(h.code, 0);
      assert.match(h.stdout, /Exit codes/);
      for (const code of ['0', '1', '2', '3', '4', '5']) assert.match(h.stdout, new RegExp(`\\n +${code}  \\S`), `${cmd} --help: exit ${code}`);
    }
    const big = Buffer.concat(Array.from({ length: 40 }, () => readFileSync(SSH)));
    const r = await run(['authlog', '-', '--year', '2017', '--format', 'csv'], { stdin: big });
    assert.equal(r.code, 1);
    assert.equal(r.stderr, '');
  });
});

describe('soar-edr winlog (built CLI, DeepBlueCLI and winlogbeat exports)', function () {
  this.timeout(120_000);

  it('DeepBlueCLI CSV: 3,561 failures from private 192.168.198.149, reasons from Status/SubStatus', async () => {
    const r = await run(['winlog', WIN_CSV, '--format', 'json']);
    assert.equal(r.code, 1, r.stderr);
    const doc = JSON.parse(r.stdout) as Doc;
    assert.equal(doc.totals.failed_attempts, 3561);
    assert.deepEqual([doc.top_sources[0].address, doc.top_sources[0].failures, doc.top_sources[0].scope], [PRIVATE_SOURCE, 3561, 'private']);
    assert.deepEqual(doc.winlog.by_reason.map((x: Doc) => [x.reason, x.failures]), [['bad password', 3558], ['account disabled', 2], ['no such user', 1]]);
    const table = await run(['winlog', WIN_CSV]);
    assert.match(table.stdout, /3,561 records, 3,561 failed attempts from 1 source/);
    assert.match(table.stdout, /\nBrute-force candidates: 1 .*\n.*\n[- ]+\n192\.168\.198\.149 +private /);
  });

  it('DeepBlueCLI XML: 100 failures from 192.168.198.149; --attempts gives one row per event', async () => {
    const r = await run(['winlog', WIN_XML, '--format', 'csv']);
    assert.equal(r.code, 1);
    assert.deepEqual((parseCsv(r.stdout, { columns: true }) as Record<string, string>[]).map((x) => [x.address, x.failures, x.scope]), [[PRIVATE_SOURCE, '100', 'private']]);
    const a = await run(['winlog', WIN_XML, '--attempts']);
    const rows = parseCsv(a.stdout, { columns: true }) as Record<string, string>[];
    assert.equal(rows.length, 100);
    assert.ok(rows.every((x) => x.address === PRIVATE_SOURCE && x.source === '4625' && x.method === 'Network'));
    assert.equal(rows.filter((x) => x.reason === 'bad password').length, 97);
  });

  it("winlogbeat JSON: the source ::1 is loopback; several formats in one run", async () => {
    const r = await run(['winlog', WIN_BEAT, WIN_XML, '--format', 'json']);
    assert.equal(r.code, 1, r.stderr);
    const doc = JSON.parse(r.stdout) as Doc;
    assert.deepEqual(doc.winlog.formats, ['json', 'xml']);
    const beat = doc.top_sources.find((s: Doc) => s.address === '::1');
    assert.deepEqual([beat.scope, beat.public, beat.top_users[0].user], ['loopback', false, 'bosch']);
    assert.equal(doc.totals.failed_attempts, 101);
  });

  it('exit 3 for a file that is no logon export; exit 2 for a bad --input-format', async () => {
    const r = await run(['winlog', SSH]);
    assert.equal(r.code, 3);
    assert.match(r.stderr, /loghub_SSH_2k\.log: input is neither Event XML, JSON nor a CSV with a header row/);
    const forced = await run(['winlog', WIN_XML, '--input-format', 'csv']);
    assert.equal(forced.code, 3, forced.stderr);
    const bad = await run(['winlog', WIN_XML, '--input-format', 'evtx']);
    assert.equal(bad.code, 2);
  });
});

describe('authlog and winlog with their defaults on the edge of the packaged detections', function () {
  this.timeout(120_000);
  let dir: string;
  let macro: (name: string) => string;
  before(async () => {
    dir = mkdtempSync(path.join(tmpdir(), 'soar-cli-edge-'));
    macro = await packagedMacros();
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];
  /** "Mar  1 10:00:00": a syslog time, which has no year. */
  const syslogTime = (ms: number): string => {
    const d = new Date(ms);
    return `${MONTHS[d.getUTCMonth()]} ${String(d.getUTCDate()).padStart(2, ' ')} ${d.toISOString().slice(11, 19)}`;
  };
  const failed = (ms: number, user = 'root'): string => `${syslogTime(ms)} h sshd[1]: Failed password for ${user} from 203.0.113.7 port 22 ssh2`;
  /** `n` times from t0 to t0 + spanSeconds, whole seconds, first and last included. */
  const spread = (t0: number, n: number, spanSeconds: number): number[] =>
    Array.from({ length: n }, (_, i) => t0 + Math.round((i * spanSeconds) / (n - 1)) * 1000);
  const T0 = Date.UTC(2024, 2, 1, 10);
  const runOn = async (name: string, text: string, args: string[]): Promise<{ code: number | null; doc: Doc }> => {
    const file = path.join(dir, name);
    writeFileSync(file, text);
    const r = await run([...args.slice(0, 1), file, ...args.slice(1), '--format', 'json']);
    assert.equal(r.stderr, '');
    return { code: r.code, doc: JSON.parse(r.stdout) as Doc };
  };

  it('authlog: more than soar_ssh_bruteforce_threshold failures within soar_ssh_bruteforce_window fire; that many, or a window wider, do not', async () => {
    const threshold = Number(macro('soar_ssh_bruteforce_threshold'));
    const window = lookBackSeconds(macro('soar_ssh_bruteforce_window'));
    const cases: [string, number[], boolean][] = [
      ['threshold-in-window', spread(T0, threshold, window - 1), false],
      ['one-more-in-window', spread(T0, threshold + 1, window - 1), true],
      ['one-more-a-window-apart', spread(T0, threshold + 1, window), false],
    ];
    for (const [name, times, fires] of cases) {
      const { code, doc } = await runOn(`${name}.log`, times.map((t) => failed(t)).join('\n') + '\n', ['authlog', '--year', '2024']);
      assert.equal(code, fires ? 1 : 0, name);
      assert.deepEqual(doc.brute_force.map((b: Doc) => [b.address, b.max_in_window]), fires ? [['203.0.113.7', threshold + 1]] : [], name);
      assert.deepEqual([doc.threshold, doc.window_seconds], [threshold, window]);
    }
  });

  it('winlog: more than soar_windows_bruteforce_threshold failures against ONE account within the window fire', async () => {
    const threshold = Number(macro('soar_windows_bruteforce_threshold'));
    const window = lookBackSeconds(macro('soar_windows_bruteforce_window'));
    const csv = (rows: [number, string][]): string =>
      'TimeCreated,IpAddress,TargetUserName\n' + rows.map(([t, u]) => `${new Date(t).toISOString()},192.0.2.44,${u}`).join('\n') + '\n';
    const times = spread(T0, threshold + 1, window - 1);
    const one = await runOn('one-account.csv', csv(times.map((t) => [t, 'Administrator'])), ['winlog']);
    assert.equal(one.code, 1);
    assert.deepEqual(one.doc.brute_force.map((b: Doc) => [b.address, b.max_in_window, b.max_window_account]), [['192.0.2.44', threshold + 1, 'Administrator']]);
    // As many failures from the address, but the last against another account: no account passes.
    const two = await runOn('two-accounts.csv', csv(times.map((t, i) => [t, i === threshold ? 'Guest' : 'Administrator'])), ['winlog']);
    assert.equal(two.code, 0);
    assert.deepEqual(two.doc.brute_force, []);
    assert.equal(two.doc.totals.failed_attempts, threshold + 1);
  });

  it('success after more than soar_compromise_failure_threshold failures within soar_compromise_window', async () => {
    const threshold = Number(macro('soar_compromise_failure_threshold'));
    const window = lookBackSeconds(macro('soar_compromise_window'));
    const success = T0 + window * 1000;
    const accepted = `${syslogTime(success)} h sshd[2]: Accepted password for deploy from 203.0.113.7 port 22 ssh2`;
    const cases: [string, number[], boolean][] = [
      ['more-within', spread(success - (window - 1) * 1000, threshold + 1, window - 2), true],
      ['as-many-within', spread(success - (window - 1) * 1000, threshold, window - 2), false],
      ['first-a-window-before', spread(T0, threshold + 1, window - 1), false],
    ];
    for (const [name, times, reported] of cases) {
      const { doc } = await runOn(`${name}.log`, [...times.map((t) => failed(t, 'deploy')), accepted].join('\n') + '\n', ['authlog', '--year', '2024']);
      assert.deepEqual(
        doc.success_after_failures.map((x: Doc) => [x.address, x.user, x.failures_before]),
        reported ? [['203.0.113.7', 'deploy', threshold + 1]] : [],
        name,
      );
    }
  });

  it('without --year, a syslog line that would be in the future is placed in the previous year', async () => {
    const now = Date.now();
    let ahead = now + 3 * 86_400_000;
    if (syslogTime(ahead).startsWith('Feb 29')) ahead += 86_400_000; // the year before has none
    const past = now - 3_600_000;
    const { doc } = await runOn('future.log', `${failed(ahead)}\n${failed(past)}\n`, ['authlog']);
    const a = new Date(ahead);
    const expected = Date.UTC(a.getUTCFullYear() - 1, a.getUTCMonth(), a.getUTCDate(), a.getUTCHours(), a.getUTCMinutes(), a.getUTCSeconds());
    assert.equal(doc.totals.first, isoTime(expected));
    assert.equal(doc.totals.last, isoTime(Math.floor(past / 1000) * 1000), 'a line of the last hour stays in its year');
    assert.equal(doc.authlog.year, null);
    assert.ok(Date.parse(doc.authlog.years_inferred_up_to) >= now + 86_400_000);
    const given = await runOn('future-given.log', `${failed(ahead)}\n`, ['authlog', '--year', String(a.getUTCFullYear())]);
    assert.equal(given.doc.totals.first, isoTime(Math.floor(ahead / 1000) * 1000), '--year is used as given');
    assert.equal(given.doc.authlog.year, a.getUTCFullYear());
  });
});

describe('--enrich against loopback VirusTotal and AbuseIPDB stubs', function () {
  this.timeout(120_000);
  let vt: IntelStub<VtAnswer>;
  let abuse: IntelStub<AbuseAnswer>;
  let dataDir: string;
  const TOP_ATTACKER = '183.62.140.253';
  const env = (withAbuse = true): Record<string, string> => ({
    SOAR_DATA_DIR: dataDir,
    SOAR_VIRUSTOTAL_URL: vt.baseUrl,
    SOAR_VIRUSTOTAL_API_KEY: vt.apiKey,
    ...(withAbuse ? { SOAR_ABUSEIPDB_URL: abuse.baseUrl, SOAR_ABUSEIPDB_API_KEY: abuse.apiKey } : {}),
  });

  beforeEach(async () => {
    dataDir = mkdtempSync(path.join(tmpdir(), 'soar-cli-enrich-'));
    vt = await startVirusTotalStub({ demistoIp: TOP_ATTACKER });
    abuse = await startAbuseIpdbStub();
  });
  afterEach(async () => {
    await Promise.all([vt.close(), abuse.close()]);
    rmSync(dataDir, { recursive: true, force: true });
  });

  it('winlog: the private 192.168.198.149 is never sent out; the report says why', async () => {
    for (const file of [WIN_CSV, WIN_XML]) {
      const r = await run(['winlog', file, '--enrich', '--format', 'json'], { env: env() });
      assert.equal(r.code, 1, r.stderr);
      const doc = JSON.parse(r.stdout) as Doc;
      assert.equal(doc.brute_force[0].address, PRIVATE_SOURCE);
      assert.equal(doc.brute_force[0].reputation.status, 'skipped');
      assert.match(doc.brute_force[0].reputation.reason, /private/);
    }
    assert.equal(vt.requestsFor(PRIVATE_SOURCE), 0);
    assert.equal(abuse.requestsFor(PRIVATE_SOURCE), 0);
    assert.equal(vt.requests.length + abuse.requests.length, 0);
  });

  it('authlog: the candidates get the verdict `soar-edr reputation` gives them (answered once, then cached)', async () => {
    const r = await run(['authlog', SSH, '--year', '2017', '--threshold', '25', '--window', '1m', '--enrich', '--format', 'json'], { env: env(false) });
    assert.equal(r.code, 1, r.stderr);
    const doc = JSON.parse(r.stdout) as Doc;
    assert.deepEqual(doc.brute_force.map((b: Doc) => b.address), [TOP_ATTACKER, '112.95.230.3']);
    assert.match(r.stderr, /^reputation: 2 targets: 2 looked up/m);
    const top = doc.brute_force[0].reputation;
    assert.equal(top.status, 'looked_up');
    assert.equal(top.malicious, 5); // the demisto VirusTotal sample the stub answers for this address
    assert.equal(vt.requestsFor(TOP_ATTACKER), 1);
    assert.equal(vt.requestsFor('183.62.140.254'), 0);

    const rep = await run(['reputation', TOP_ATTACKER, '--format', 'json'], { env: env(false) });
    const row = (JSON.parse(rep.stdout) as Doc[])[0]!;
    assert.equal(row.verdict, top.verdict);
    assert.equal(row.status, 'cached');
    assert.equal(vt.requestsFor(TOP_ATTACKER), 1, 'the second run used the cache');

    const table = await run(['authlog', SSH, '--year', '2017', '--threshold', '25', '--window', '1m', '--enrich'], { env: env(false) });
    assert.match(table.stdout, new RegExp(`\\n183\\.62\\.140\\.253 +public +31 .* ${top.verdict} `));
  });

  it('exit 5 when the candidates could not be looked up (no key), the report still written', async () => {
    const r = await run(['authlog', SSH, '--year', '2017', '--threshold', '25', '--window', '1m', '--enrich', '--format', 'json'], { env: { SOAR_DATA_DIR: dataDir } });
    assert.equal(r.code, 5, r.stderr);
    assert.match(r.stderr, /no VirusTotal or AbuseIPDB key/);
    const doc = JSON.parse(r.stdout) as Doc;
    assert.equal(doc.totals.failed_attempts, 528);
    assert.equal(doc.brute_force[0].reputation.status, 'no_key');
    const refused = await run(['iocs', corpusPath('abuseipdb', 'abuseipdb_docs_check_example_response.json'), '--enrich'], { env: { SOAR_DATA_DIR: dataDir } });
    assert.equal(refused.code, 5);
  });

  it('iocs: public IPs and domains looked up, the private address never sent', async () => {
    const r = await run(['iocs', corpusPath('abuseipdb', 'abuseipdb_docs_check_example_response.json'), '--enrich', '--format', 'json'], { env: env() });
    assert.equal(r.code, 0, r.stderr);
    const doc = JSON.parse(r.stdout) as Doc;
    assert.deepEqual(doc.iocs.ipv4, [ABUSE_DOCS_IP]);
    const row = doc.reputation.find((x: Doc) => x.target === ABUSE_DOCS_IP);
    assert.equal(row.abuse_score, 100);
    assert.equal(abuse.requestsFor(ABUSE_DOCS_IP), 1);
    assert.deepEqual(doc.reputation.map((x: Doc) => x.target).sort(), [...doc.iocs.ipv4, ...doc.iocs.domain].sort());

    const priv = await run(['iocs', WIN_XML, '--type', 'ipv4', '--enrich', '--format', 'csv'], { env: env() });
    assert.equal(priv.code, 0, priv.stderr);
    const rows = parseCsv(priv.stdout, { columns: true }) as Record<string, string>[];
    assert.deepEqual(rows.map((x) => [x.type, x.value, x.verdict]), [['ipv4', PRIVATE_SOURCE, 'skipped']]);
    assert.equal(vt.requestsFor(PRIVATE_SOURCE) + abuse.requestsFor(PRIVATE_SOURCE), 0);
  });
});

describe('soar-edr iocs (built CLI, real threat reports)', function () {
  this.timeout(120_000);
  const json = async (args: string[], stdin?: Buffer): Promise<Doc> => {
    const r = await run(['iocs', ...args, '--format', 'json'], stdin === undefined ? {} : { stdin });
    assert.equal(r.code, 0, r.stderr);
    return JSON.parse(r.stdout) as Doc;
  };
  const everything = (doc: Doc): Set<string> => new Set(Object.values(doc.iocs as Record<string, string[]>).flat());

  it('iocextract lists: every valid item found after refanging, no invalid one', async () => {
    const doc = await json([IOC('iocextract_test_data_input.txt')]);
    const found = everything(doc);
    const valid = readFileSync(IOC('iocextract_test_data_valid.txt'), 'utf8').split(/\r?\n/).filter((l) => l !== '' && l !== '456-7890');
    assert.equal(valid.length, 47);
    const lower = new Set([...found].map((v) => v.toLowerCase()));
    for (const line of valid) {
      const v = refang(line);
      assert.ok(found.has(v) || lower.has(v.toLowerCase()), `valid item ${JSON.stringify(line)} (refanged ${v})`);
    }
    const invalid = readFileSync(IOC('iocextract_test_data_invalid.txt'), 'utf8').split(/\r?\n/).filter((l) => l !== '');
    for (const line of invalid) assert.ok(!found.has(line) && !found.has(refang(line)), `invalid item ${JSON.stringify(line)}`);
  });

  it('Unit 42 Trickbot: 101 unique SHA256 and its defanged IPv4s; stdin gives the same', async () => {
    const text = readFileSync(TRICKBOT, 'utf8');
    const doc = await json([TRICKBOT]);
    assert.equal(doc.counts.sha256, 101);
    const expected = new Set(Array.from(text.matchAll(/(?<![0-9a-fA-F])[0-9a-fA-F]{64}(?![0-9a-fA-F])/g), (m) => m[0].toLowerCase()));
    assert.deepEqual(new Set(doc.iocs.sha256), expected);
    const defanged = new Set(Array.from(text.matchAll(/\b\d{1,3}\.\d{1,3}\.\d{1,3}\[\.\]\d{1,3}\b/g), (m) => m[0].replace('[.]', '.')));
    assert.equal(defanged.size, 9);
    for (const ip of defanged) assert.ok(doc.iocs.ipv4.includes(ip), ip);
    const piped = await json(['-'], readFileSync(TRICKBOT));
    assert.deepEqual(piped.iocs, doc.iocs);
  });

  it('ThreatConnect article: its 7 IPv4s, no IPv6 from the SSH fingerprint', async () => {
    const doc = await json([IOC('ioc-finder_long-article-1_threatconnect_guccifer2.txt')]);
    assert.deepEqual(new Set(doc.iocs.ipv4), new Set(['95.130.15.34', '95.130.15.36', '95.130.15.37', '95.130.15.38', '95.130.15.40', '95.130.15.41', '95.130.9.198']));
    assert.deepEqual(doc.iocs.ipv6, []);
    assert.deepEqual(doc.iocs.md5, []);
  });

  it('ESET Zebrocy report: every SHA-1, URL and email of its MISP export that the text holds', async () => {
    const doc = await json([IOC('eset_2018-11-20_Zebrocy.adoc')]);
    const adoc = readFileSync(IOC('eset_2018-11-20_Zebrocy.adoc'), 'utf8').toLowerCase();
    const misp = JSON.parse(readFileSync(IOC('eset_2018-11-20_Zebrocy.json'), 'utf8')) as { response: { Event: { Attribute: { type: string; value: string }[] } }[] };
    const kinds: Record<string, string> = { sha1: 'sha1', url: 'url', 'email-src': 'email', 'email-dst': 'email' };
    let checked = 0;
    for (const a of misp.response[0]!.Event.Attribute) {
      const type = a.type.replace(/^filename\|/, '');
      const value = (a.type.startsWith('filename|') ? a.value.slice(a.value.lastIndexOf('|') + 1) : a.value).toLowerCase();
      const kind = kinds[type];
      if (kind === undefined || !adoc.includes(value)) continue;
      checked += 1;
      assert.ok((doc.iocs[kind] as string[]).map((v) => v.toLowerCase()).includes(value), `${type} ${value}`);
    }
    assert.ok(checked >= 15, `checked ${checked} MISP attributes`);
  });

  it('--defang and --type: defanged output, only the kinds asked for', async () => {
    const r = await run(['iocs', TRICKBOT, '--type', 'ipv4,url', '--defang']);
    assert.equal(r.code, 0);
    assert.match(r.stdout, /^\d+ indicators: 10 ipv4, 4 url\n/);
    assert.match(r.stdout, /\nipv4 +185\[\.\]10\[\.\]75\[\.\]26\n/);
    assert.match(r.stdout, /\nurl +hxxp:\/\/yektairon\[\.\]com\/brands\/goodmanstory\.php\n/);
    assert.ok(!/\d+\.\d+\.\d+\.\d+/.test(r.stdout));
    const csv = parseCsv((await run(['iocs', TRICKBOT, '--type', 'sha256', '--format', 'csv'])).stdout, { columns: true }) as Record<string, string>[];
    assert.equal(csv.length, 101);
    assert.ok(csv.every((x) => x.type === 'sha256'));
  });

  it('exit codes: 1 none found, 2 usage, 3 unreadable, 4 output; --out writes the file', async () => {
    const none = await run(['iocs', TRICKBOT, '--type', 'cve']);
    assert.equal(none.code, 1);
    assert.equal(none.stdout, 'no indicators found\n');
    const usage = await run(['iocs', TRICKBOT, '--type', 'sha384']);
    assert.equal(usage.code, 2);
    assert.match(usage.stderr, /--type: unknown IOC type 'sha384'/);
    const missing = await run(['iocs', '/nonexistent/report.txt', TRICKBOT, '--format', 'json']);
    assert.equal(missing.code, 3);
    assert.equal((JSON.parse(missing.stdout) as Doc).counts.sha256, 101);
    const dir = mkdtempSync(path.join(tmpdir(), 'soar-cli-iocs-'));
    try {
      const out = path.join(dir, 'iocs.csv');
      const written = await run(['iocs', TRICKBOT, '--format', 'csv', '--out', out]);
      assert.equal(written.code, 0);
      assert.equal(written.stdout, '');
      const total = (JSON.parse((await run(['iocs', TRICKBOT, '--format', 'json'])).stdout) as Doc).total as number;
      assert.equal((parseCsv(readFileSync(out, 'utf8'), { columns: true }) as unknown[]).length, total);
      writeFileSync(path.join(dir, 'file'), 'x');
      const bad = await run(['iocs', TRICKBOT, '--out', path.join(dir, 'file', 'iocs.csv')]);
      assert.equal(bad.code, 4);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
