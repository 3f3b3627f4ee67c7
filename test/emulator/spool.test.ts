/**
 * Nothing lost from a large digest (issue 11, item 5), through the packaged app and the
 * built CLI: a run whose time budget runs short spools the rows it has not handled (a copy
 * of the results file and a sealed entry), says how many in its closing line and exits 6;
 * later alert runs and `soar-edr drain` record them with the original sid and rids, each
 * exactly once, through a drain killed mid-way too; a forged entry is never processed.
 *
 * The full 1,000,000-row run-and-drain takes minutes: it is bench/spool.bench.ts. Here the
 * 1,000,000-row run is cut short and spools, and a partial drain resumes at the right index;
 * a complete round trip runs on 80,000 rows.
 */
import assert from 'node:assert/strict';
import { ChildProcess, spawn } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { forgetInstallKeys, installKey, seal, unseal } from '../../src/store/entry-seal';
import { incidentRows } from '../support/data-files';
import { REPO_ROOT } from '../support/paths';
import { LogLine, parseLogLines, withSignature } from '../support/splunk-log';
import { actionConfiguration, ActionRun, buildPayload, InstalledApp, installApp, Row, runAction, writeDispatch } from '../support/splunkd-emulator';

const CLI = path.join(REPO_ROOT, 'dist', 'cli', 'soar-edr.cjs');
const SESSION_KEY = 'spool-test-session-key-not-to-be-kept';
/** Few distinct addresses, private and public, no provider keys: rows cost only their record. */
const ADDRESSES = ['10.20.30.40', '192.168.7.8', '203.0.113.50', '198.51.100.77'];

interface CliRun {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
  readonly stdout: string;
  readonly stderr: string;
  readonly lines: LogLine[];
}

function digestRows(n: number): Row[] {
  return Array.from({ length: n }, (_, i) => ({ src_ip: ADDRESSES[i % ADDRESSES.length]!, failure_count: String(11 + (i % 40)) }));
}

function closing(run: { lines: LogLine[]; stderr: string }): Record<string, string> {
  const last = run.lines[run.lines.length - 1];
  assert.equal(last?.fields.signature, 'Modular action script duration', `the closing line is the last line:\n${run.stderr.slice(-3000)}`);
  return last!.fields;
}

/** `key=value` pairs of drain's stdout line. */
function summaryOf(run: CliRun): Record<string, string> {
  return Object.fromEntries(run.stdout.trim().split(' ').map((kv) => kv.split('=') as [string, string]));
}

/** rid → times recorded, for one sid, straight from incidents.csv (every row, however many). */
function ridCounts(dataDir: string, sid: string): Map<string, number> {
  const counts = new Map<string, number>();
  for (const row of incidentRows(dataDir)) {
    if (row.sid !== sid) continue;
    counts.set(row.rid!, (counts.get(row.rid!) ?? 0) + 1);
  }
  return counts;
}

function spoolFiles(dataDir: string, sub = ''): string[] {
  const dir = path.join(dataDir, 'spool', sub);
  return existsSync(dir) ? readdirSync(dir).filter((n) => n !== 'claimed').sort() : [];
}

describe('spool: rows a run has no time for are kept and recorded later, exactly once', function () {
  this.timeout(240_000);
  let app: InstalledApp;
  /** The same app with a short maxtime, as an admin might set for a test alert. */
  let shortApp: InstalledApp;
  let dataDir: string;

  before(async () => {
    assert.ok(existsSync(CLI), `${CLI} is built by: npx tsc -p tsconfig.json && node build/build.mjs`);
    app = await installApp();
    shortApp = { ...app, actionStanza: new Map([...app.actionStanza, ['maxtime', '40s']]) };
  });
  after(() => rmSync(app.splunkHome, { recursive: true, force: true }));
  beforeEach(() => {
    dataDir = mkdtempSync(path.join(tmpdir(), 'soar-spool-'));
    forgetInstallKeys();
  });
  afterEach(() => rmSync(dataDir, { recursive: true, force: true }));

  const env = () => ({ SOAR_DATA_DIR: dataDir });

  function shortRun(rows: Row[], sid: string): Promise<ActionRun> {
    const d = writeDispatch(app, rows, 'digest', sid);
    const payload = buildPayload({ sid, resultsFile: d.resultsFiles[0]!, configuration: actionConfiguration(app, { 'action.soar_response.param.time_budget': '10s' }), serverUri: 'https://127.0.0.1:1', sessionKey: SESSION_KEY });
    return runAction(shortApp, payload, { env: env() });
  }

  function drainProcess(args: string[]): { child: ChildProcess; done: Promise<CliRun> } {
    const child = spawn(process.execPath, [CLI, 'drain', ...args], { env: { PATH: process.env.PATH ?? '', HOME: dataDir, ...env() } });
    let stdout = '';
    let stderr = '';
    child.stdout!.on('data', (d: Buffer) => (stdout += d));
    child.stderr!.on('data', (d: Buffer) => (stderr += d));
    const done = new Promise<CliRun>((resolve, reject) => {
      child.on('error', reject);
      child.on('close', (code, signal) => resolve({ code, signal, stdout, stderr, lines: parseLogLines(stderr) }));
    });
    child.stdin!.end();
    return { child, done };
  }
  const drain = (args: string[] = []) => drainProcess(args).done;

  function spoolEntry(): Record<string, unknown> {
    const names = spoolFiles(dataDir).filter((n) => n.endsWith('.json'));
    assert.equal(names.length, 1, `one spool entry expected: ${names.join(', ')}`);
    const text = readFileSync(path.join(dataDir, 'spool', names[0]!), 'utf8');
    assert.ok(!text.includes(SESSION_KEY), 'no session key in a spool entry');
    assert.ok(!text.includes('127.0.0.1:1'), 'no server_uri in a spool entry');
    const key = installKey(dataDir);
    assert.ok(key.ok);
    const opened = unseal(key.value, 'spool', JSON.parse(text));
    assert.ok(opened.ok, 'the entry carries this install\'s MAC');
    return opened.value;
  }

  it('1,000,000 rows, time budget 10 s: the run stops in time, spools the rest (recorded + spooled = 1,000,000), and a drain resumes at the right index', async () => {
    const sid = 'scheduler__admin__search__RMD5million_at_1764000000_1';
    const run = await shortRun(digestRows(1_000_000), sid);
    assert.equal(run.signal, null, 'ended by itself, not by maxtime');
    assert.equal(run.code, 6, run.stderr.slice(-3000));
    const c = closing(run);
    const recorded = Number(c.handed_off);
    const spooled = Number(c.spooled);
    assert.equal(c.rejected, '0');
    assert.ok(recorded > 0 && spooled > 0, `recorded ${recorded}, spooled ${spooled}`);
    assert.equal(recorded + spooled, 1_000_000);
    assert.ok(Number(c.duration) < 10_000, `stopped before the budget: ${c.duration} ms`);
    const warn = withSignature(run.lines, 'Time budget running short; rows spooled for a later run or soar-edr drain');
    assert.equal(warn.length, 1);
    assert.equal(warn[0]!.fields.resume_index, String(recorded));

    const counts = ridCounts(dataDir, sid);
    assert.equal(counts.size, recorded, 'the rows before the resume index are recorded');
    assert.ok([...counts.values()].every((n) => n === 1));
    for (let i = 0; i < recorded; i++) assert.ok(counts.has(String(i)), `rid ${i} recorded`);

    const entry = spoolEntry();
    assert.deepEqual([entry.sid, entry.resumeIndex, entry.indexes, entry.mode, entry.app, entry.owner], [sid, recorded, 1_000_000, 'digest', 'search', 'admin']);
    assert.equal((entry.configuration as Record<string, string>).time_budget, '10s');
    const copy = path.join(dataDir, 'spool', String(entry.copy));
    assert.ok(statSync(copy).isFile() && statSync(copy).size > 1000, 'the results file is copied into the spool');

    const partial = await drain(['--max-spool-rows', '5000']);
    assert.equal(partial.code, 6, partial.stderr.slice(-3000));
    const s = summaryOf(partial);
    assert.deepEqual([s.spool_recorded, s.spool_left, s.spool_entries, s.spool_refused], ['5000', String(spooled - 5000), '1', '0']);
    const after = ridCounts(dataDir, sid);
    assert.equal(after.size, recorded + 5000);
    assert.ok([...after.values()].every((n) => n === 1), 'no row recorded twice');
    for (let i = recorded; i < recorded + 5000; i++) assert.ok(after.has(String(i)), `rid ${i} recorded by the drain`);
    assert.ok(!after.has(String(recorded + 5000)));
    assert.equal(spoolEntry().resumeIndex, recorded + 5000, 'the entry now resumes after the rows the drain recorded');
  });

  it('160,000 rows: spooled, partly recorded by a later alert run, a drain killed mid-way, a second drain: every row exactly once, nothing left', async () => {
    const sid = 'scheduler__admin__search__RMD5eighty_at_1764000000_1';
    // Enough that the 10 s run leaves more than the later run's 20,000 plus a drain's worth on a
    // machine twice as fast as today's fastest (about 13,000 rows/s here).
    const total = 160_000;
    const first = await shortRun(digestRows(total), sid);
    assert.equal(first.code, 6, first.stderr.slice(-3000));
    const recorded = Number(closing(first).handed_off);
    const spooled = Number(closing(first).spooled);
    assert.equal(recorded + spooled, total);
    assert.ok(spooled > 30_000, `enough spooled to exercise every step: ${spooled}`);

    // A later alert (another search) with time to spare records a bounded number of them.
    const otherSid = 'scheduler__admin__search__RMD5later_at_1764000600_2';
    const d = writeDispatch(app, [{ src_ip: '10.9.9.9' }], 'digest', otherSid);
    const later = await runAction(app, buildPayload({ sid: otherSid, resultsFile: d.resultsFiles[0]!, configuration: actionConfiguration(app), serverUri: '', sessionKey: '' }), { env: env() });
    assert.equal(later.code, 0, later.stderr.slice(-3000));
    assert.deepEqual([closing(later).handed_off, closing(later).spool_recorded], ['1', '20000']);
    assert.equal(ridCounts(dataDir, sid).size, recorded + 20_000);

    // A drain killed while recording: its claim is left behind.
    const csv = path.join(dataDir, 'incidents.csv');
    const sizeBefore = statSync(csv).size;
    const killed = drainProcess([]);
    const t0 = Date.now();
    while (statSync(csv).size < sizeBefore + 400_000 && Date.now() - t0 < 60_000) await new Promise((r) => setTimeout(r, 20));
    killed.child.kill('SIGKILL');
    const k = await killed.done;
    assert.equal(k.signal, 'SIGKILL', `the drain ended before the kill: ${k.stdout}`);
    assert.equal(spoolFiles(dataDir, 'claimed').length, 1, 'a stale claim is left');
    assert.equal(spoolFiles(dataDir).filter((n) => n.endsWith('.json')).length, 0);

    const second = await drain();
    assert.ok(second.code === 0 || second.code === 6, second.stderr.slice(-3000));
    const s = summaryOf(second);
    assert.deepEqual([s.spool_left, s.spool_entries, s.spool_refused], ['0', '0', '0']);
    assert.ok(Number(s.spool_recorded) > 0);

    const counts = ridCounts(dataDir, sid);
    assert.equal(counts.size, total, 'every row recorded');
    const twice = [...counts.entries()].filter(([, n]) => n !== 1);
    assert.deepEqual(twice, [], 'no row recorded twice');
    for (let i = 0; i < total; i++) assert.ok(counts.has(String(i)));
    assert.deepEqual(spoolFiles(dataDir), [], 'entry and copy removed');
    assert.deepEqual(spoolFiles(dataDir, 'claimed'), []);
  });

  it('a forged spool entry is not processed: dead-lettered with the reason, nothing recorded, the file it names untouched', async () => {
    const spool = path.join(dataDir, 'spool');
    mkdirSync(spool, { recursive: true });
    const d = writeDispatch(app, digestRows(10), 'digest', 'scheduler__admin__search__RMD5forged_at_1764000000_1');
    const id = `${Date.now()}-4242-0badf00d`;
    copyFileSync(d.resultsFiles[0]!, path.join(spool, `${id}.csv.gz`));
    const body = {
      version: 1, id, sid: 'scheduler__forged', searchName: 'forged', app: 'search', owner: 'admin', resultsLink: '', configuration: {},
      mode: 'digest', baseRid: null, resumeIndex: 0, indexes: 10, copy: `${id}.csv.gz`, createdAtMs: 1, updatedAtMs: 1,
    };
    // Sealed with another key, and one without a MAC naming a file outside the spool.
    writeFileSync(path.join(spool, `${id}.json`), JSON.stringify(seal(randomBytes(32), 'spool', body)));
    const id2 = `${Date.now()}-4243-0badf00e`;
    writeFileSync(path.join(spool, `${id2}.json`), JSON.stringify({ ...body, id: id2, copy: '../incidents.csv' }));

    const r = await drain();
    assert.equal(r.code, 6, r.stderr);
    const s = summaryOf(r);
    assert.deepEqual([s.spool_recorded, s.spool_refused], ['0', '2']);
    const refused = withSignature(r.lines, 'Spool entry refused; not processed');
    assert.equal(refused.length, 2);
    assert.ok(refused.every((l) => l.level === 'ERROR'));
    assert.match(refused.map((l) => l.fields.message).join('\n'), /MAC does not match/);
    assert.match(refused.map((l) => l.fields.message).join('\n'), /carries no MAC/);
    assert.deepEqual(incidentRows(dataDir), [], 'nothing recorded');
    const letters = readdirSync(path.join(dataDir, 'dead-letters'));
    assert.equal(letters.length, 2);
    assert.ok(letters.every((n) => n.includes('-spool-')));
    assert.deepEqual(spoolFiles(dataDir), [`${id}.csv.gz`], 'the forged entries are gone; the copy they named is not touched');
  });
});
