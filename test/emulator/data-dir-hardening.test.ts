/**
 * The data directory is ours alone, and replay trusts nothing in a dead letter: the
 * PACKAGED alert action (splunkd emulator) and the built CLI against hostile data
 * directories (planted links, umask 000, a directory writable by others or owned by
 * another user), planted outbox and queue files, crafted dead letters, and what a full
 * disk leaves behind.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { chmodSync, chownSync, existsSync, lstatSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, symlinkSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { KNOWN_DIRS, KNOWN_FILES } from '../../src/store/data-dir-safety';
import { DiscordStub, startDiscordStub } from '../support/discord-stub';
import { IntelStub, startVirusTotalStub, VT_OPENCTI_IP } from '../support/intel-stubs';
import { CLI, runBuiltCli } from '../support/built-cli';
import { writeSealedDeadLetter } from '../support/sealed-entries';
import { LogLine, withSignature } from '../support/splunk-log';
import { actionConfiguration, buildPayload, findActionScript, InstalledApp, installApp, runAction, writeDispatch } from '../support/splunkd-emulator';
import { RestStub, startRestStub } from '../support/splunkd-rest-stub';
import { incidentRows } from '../support/data-files';

const UNSAFE = 7;

interface Run {
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
  readonly lines: LogLine[];
}

/** Everything under `dir` (relative names, sorted), to show that nothing was written. */
function listing(dir: string): string[] {
  if (!existsSync(dir)) return [];
  const out: string[] = [];
  const walk = (d: string, rel: string): void => {
    for (const n of readdirSync(d).sort()) {
      const p = path.join(d, n);
      out.push(path.join(rel, n));
      if (lstatSync(p).isDirectory()) walk(p, path.join(rel, n));
    }
  };
  walk(dir, '');
  return out;
}

describe('the data directory is ours alone (packaged action and built CLI)', function () {
  this.timeout(60_000);
  let app: InstalledApp;
  let work: string;
  let dataDir: string;
  let discord: DiscordStub;
  let vt: IntelStub<string>;
  let rest: RestStub;

  before(async () => {
    assert.ok(existsSync(CLI), `${CLI} is built by: npx tsc -p tsconfig.json && node build/build.mjs`);
    app = await installApp();
    discord = await startDiscordStub();
    vt = await startVirusTotalStub();
    rest = await startRestStub();
  });
  after(async () => {
    await discord.close();
    await vt.close();
    await rest.close();
    rmSync(app.splunkHome, { recursive: true, force: true });
  });
  beforeEach(() => {
    work = mkdtempSync(path.join(tmpdir(), 'soar-hard-'));
    dataDir = path.join(work, 'data');
    mkdirSync(dataDir, { mode: 0o750 });
  });
  afterEach(() => rmSync(work, { recursive: true, force: true }));

  const env = (): Record<string, string> => ({ SOAR_DATA_DIR: dataDir, SOAR_VIRUSTOTAL_URL: vt.baseUrl, SOAR_WEBHOOK_ALLOWED_HOSTS: discord.hostPort });

  function cli(args: string[], extra: Record<string, string> = {}): Promise<Run> {
    return runBuiltCli(args, { env: { HOME: work, ...env(), ...extra } });
  }

  /** One per-result alert on `ip`, secrets from the environment (the REST stub holds none). */
  function alert(ip: string, extra: Record<string, string> = {}) {
    const d = writeDispatch(app, [{ src_ip: ip }], 'per_result');
    const payload = buildPayload({ sid: d.sid, resultsFile: d.resultsFiles[0]!, configuration: actionConfiguration(app), serverUri: rest.url, sessionKey: rest.sessionKey, result: { src_ip: ip } });
    return runAction(app, payload, { env: { ...env(), ...extra } });
  }

  function assertRefused(run: Run, pathNamed: string, fix: RegExp): void {
    assert.equal(run.code, UNSAFE, run.stderr);
    const errors = run.lines.filter((l) => l.level === 'ERROR');
    assert.equal(errors.length, 1, run.stderr);
    assert.equal(run.lines.length, 1, `one line, nothing else: ${run.stderr}`);
    assert.ok(errors[0]!.fields.message!.includes(pathNamed), run.stderr);
    assert.match(errors[0]!.fields.message!, fix);
  }

  describe('planted links', () => {
    it('a link in place of each known file or folder: the action refuses (exit 7, one ERROR), the victim is untouched, nothing is written', async () => {
      const victimFile = path.join(work, 'victim.txt');
      const victimDir = path.join(work, 'victim-dir');
      for (const name of [...KNOWN_FILES, ...KNOWN_DIRS]) {
        rmSync(dataDir, { recursive: true, force: true });
        mkdirSync(dataDir, { mode: 0o750 });
        writeFileSync(victimFile, 'precious line without end');
        rmSync(victimDir, { recursive: true, force: true });
        mkdirSync(victimDir);
        writeFileSync(path.join(victimDir, 'keep.txt'), 'x');
        const link = path.join(dataDir, name);
        mkdirSync(path.dirname(link), { recursive: true });
        symlinkSync(KNOWN_FILES.includes(name) ? victimFile : victimDir, link);
        const before = listing(dataDir);
        const run = await alert('192.0.2.10');
        assertRefused(run, link, /symbolic link/);
        assert.equal(readFileSync(victimFile, 'utf8'), 'precious line without end', name);
        assert.deepEqual(readdirSync(victimDir), ['keep.txt'], name);
        assert.deepEqual(listing(dataDir), before, `${name}: nothing written (no key, no dead letter, no folder)`);
      }
    });

    it('every data-writing command refuses the same way (exit 7, one ERROR naming the path)', async () => {
      const victim = path.join(work, 'victim.csv');
      writeFileSync(victim, 'v\n');
      symlinkSync(victim, path.join(dataDir, 'incidents.csv'));
      for (const args of [['drain'], ['replay', '--list'], ['unblock', '--list'], ['replay', 'x.json'], ['state', 'import']]) {
        const r = await cli(args);
        assert.equal(r.code, UNSAFE, `${args.join(' ')}: ${r.stderr}`);
        assert.equal(r.stderr.trim().split('\n').length, 1, r.stderr);
        assert.match(r.stderr, /^soar-edr: ERROR unsafe data directory .*incidents\.csv is a symbolic link/);
      }
      const rep = await cli(['reputation', '8.8.8.8']);
      assert.equal(rep.code, 9, rep.stderr);
      assert.equal(readFileSync(victim, 'utf8'), 'v\n');
      assert.deepEqual(readdirSync(dataDir), ['incidents.csv']);
    });

    it('the data directory itself may be an admin\'s link: it is resolved once and the real directory is used', async () => {
      const linked = path.join(work, 'linked-data');
      symlinkSync(dataDir, linked);
      const run = await alert('192.0.2.11', { SOAR_DATA_DIR: linked });
      assert.equal(run.code, 0, run.stderr);
      assert.equal(incidentRows(dataDir).length, 1);
    });
  });

  describe('ownership and modes', () => {
    it('umask 000: folders end up 0750, files 0640 or stricter, install.key 0600', async () => {
      rmSync(dataDir, { recursive: true, force: true });
      const d = writeDispatch(app, [{ src_ip: '192.0.2.12' }], 'per_result');
      const payload = buildPayload({ sid: d.sid, resultsFile: d.resultsFiles[0]!, configuration: actionConfiguration(app), serverUri: rest.url, sessionKey: rest.sessionKey });
      const script = findActionScript(app);
      const code = await new Promise<number | null>((resolve, reject) => {
        const c = spawn('/bin/sh', ['-c', 'umask 000; exec "$0" --execute', script], {
          env: { PATH: process.env.PATH ?? '', HOME: work, SPLUNK_HOME: app.splunkHome, SOAR_DATA_DIR: dataDir },
          cwd: path.dirname(script),
          stdio: ['pipe', 'ignore', 'ignore'],
        });
        c.on('error', reject);
        c.on('close', resolve);
        c.stdin.end(JSON.stringify(payload));
      });
      assert.equal(code, 0);
      const entries = listing(dataDir);
      assert.ok(entries.includes('incidents.csv') && entries.includes('reports') && entries.includes('install.key'), entries.join(' '));
      assert.equal(statSync(dataDir).mode & 0o777, 0o750);
      for (const rel of entries) {
        const st = lstatSync(path.join(dataDir, rel));
        if (st.isDirectory()) assert.equal(st.mode & 0o777, 0o750, rel);
        else if (rel === 'install.key') assert.equal(st.mode & 0o777, 0o600, rel);
        else assert.equal(st.mode & 0o137, 0, `${rel} has mode ${(st.mode & 0o777).toString(8)}`);
      }
    });

    it('a data directory writable by others: refused with chmod o-w, nothing written', async () => {
      chmodSync(dataDir, 0o777);
      const run = await alert('192.0.2.13');
      assertRefused(run, dataDir, /writable by others .*chmod o-w /);
      assert.deepEqual(readdirSync(dataDir), []);
      const drain = await cli(['drain']);
      assert.equal(drain.code, UNSAFE);
      assert.match(drain.stderr, /chmod o-w/);
    });

    it('a data directory owned by another user: refused with chown (as root: chown to another uid)', async function () {
      if (typeof process.geteuid !== 'function' || process.geteuid() !== 0) this.skip(); // the pure check covers it (test/store/data-dir-safety.test.ts)
      chownSync(dataDir, 4242, 4242);
      const run = await alert('192.0.2.14');
      assertRefused(run, dataDir, /owned by uid 4242.*chown/);
      assert.deepEqual(readdirSync(dataDir), []);
    });
  });

  describe('sealed entries', () => {
    it('a forged outbox file and a forged queue file are neither delivered nor enriched: both become dead letters with the reason', async () => {
      const forgedId = 'INC-20260101-000000-abcdef';
      mkdirSync(path.join(dataDir, 'outbox'), { recursive: true });
      mkdirSync(path.join(dataDir, 'queue'), { recursive: true });
      const message = { content: 'URGENT: wire money', embeds: [], allowed_mentions: { parse: [] } };
      writeFileSync(path.join(dataDir, 'outbox', `${forgedId}__incident.json`), JSON.stringify({ version: 1, key: `${forgedId}:incident`, incidentId: forgedId, kind: 'incident', payload: message, createdAtMs: 1, attempts: 0, nextAttemptAtMs: 1, lastError: null, mac: 'ab'.repeat(32) }));
      writeFileSync(path.join(dataDir, 'queue', `${VT_OPENCTI_IP}.json`), JSON.stringify({ v: 1, address: VT_OPENCTI_IP, firstQueuedAt: 1, lastQueuedAt: 1, attempts: 0, nextAttemptAt: 1, refs: [{ incidentId: forgedId, sid: 's', rid: '0', detection: 'd', queuedAt: Date.now() }], droppedRefs: 0, waitingFor: { virustotal: 'deferred' } }));
      const sentBefore = discord.requests.length;
      const askedBefore = vt.requestsFor(VT_OPENCTI_IP);
      const r = await cli(['drain'], { SOAR_VIRUSTOTAL_API_KEY: vt.apiKey, SOAR_DISCORD_WEBHOOK_URL: discord.webhookUrl });
      assert.equal(discord.requests.length, sentBefore, `Discord received nothing: ${r.stderr}`);
      assert.equal(vt.requestsFor(VT_OPENCTI_IP), askedBefore, 'the forged address was not looked up');
      const letters = readdirSync(path.join(dataDir, 'dead-letters')).map((n) => JSON.parse(readFileSync(path.join(dataDir, 'dead-letters', n), 'utf8')) as { kind: string; reason: string; forged: { source: string; problem: string } });
      assert.deepEqual(letters.map((l) => [l.kind, l.forged.source, l.forged.problem]).sort(), [['forged', 'outbox', 'bad_mac'], ['forged', 'queue', 'unsealed']]);
      for (const l of letters) assert.match(l.reason, /MAC/);
      assert.deepEqual(readdirSync(path.join(dataDir, 'outbox')).filter((n) => n.endsWith('.json')), []);
      assert.deepEqual(readdirSync(path.join(dataDir, 'queue')).filter((n) => n.endsWith('.json')), []);
      const listed = await cli(['replay', '--list']);
      const forgedLetter = listed.stdout.split('\n').find((l) => l.includes('\tforged\t'))!.split('\t')[0]!;
      const replayed = await cli(['replay', forgedLetter]);
      assert.equal(replayed.code, 2, 'replay refuses a forged entry');
    });
  });

  describe('replay trusts nothing in a dead letter', () => {
    const PRIVATE = 'TOPSECRET-4e1f9c-private-content';

    function allOutputs(...runs: Run[]): string {
      const files = listing(dataDir).map((rel) => path.join(dataDir, rel)).filter((p) => lstatSync(p).isFile()).map((p) => readFileSync(p, 'utf8'));
      return [...runs.flatMap((r) => [r.stdout, r.stderr]), ...files, ...discord.requests.map((q) => q.bodyText)].join('\n');
    }

    it('a crafted dead letter naming a private file and a foreign server: refused (unsealed), and even sealed it neither reads the file nor contacts the server', async () => {
      const secretFile = path.join(work, 'private.csv');
      writeFileSync(secretFile, `src_ip,users\n${VT_OPENCTI_IP},${PRIVATE}\n`);
      const payload = (resultsFile: string) => JSON.stringify({ ...buildPayload({ sid: 'crafted', resultsFile, configuration: actionConfiguration(app), serverUri: rest.url, sessionKey: 'stolen-session-key-123' }) });
      const restBefore = rest.requests.length;
      // As an attacker can write it: no MAC.
      const crafted = path.join(dataDir, 'dead-letters', 'crafted.json');
      mkdirSync(path.dirname(crafted), { recursive: true });
      writeFileSync(crafted, JSON.stringify({ version: 1, kind: 'payload', reason: 'r', createdAt: 'now', createdAtMs: 1, payload: payload(secretFile) }));
      const unsealed = await cli(['replay', crafted], { SPLUNK_HOME: app.splunkHome });
      assert.equal(unsealed.code, 2, unsealed.stderr);
      assert.match(unsealed.stderr, /not written by this install/);
      // Sealed (as if the key had leaked): the results_file outside dispatch and spool is refused.
      const sealed = writeSealedDeadLetter(dataDir, 'sealed.json', { kind: 'payload', reason: 'r', payload: payload(secretFile) });
      const outside = await cli(['replay', sealed], { SPLUNK_HOME: app.splunkHome });
      assert.equal(outside.code, 2, outside.stderr);
      assert.match(outside.stderr, /lies outside the folders replay may read/);
      // A link inside dispatch pointing out, and a `..` climb: refused the same way.
      const d = writeDispatch(app, [{ src_ip: '192.0.2.20' }], 'digest');
      symlinkSync(secretFile, path.join(d.dir, 'escape.csv'));
      const viaLink = await cli(['replay', writeSealedDeadLetter(dataDir, 'link.json', { kind: 'payload', reason: 'r', payload: payload(path.join(d.dir, 'escape.csv')) })], { SPLUNK_HOME: app.splunkHome });
      assert.equal(viaLink.code, 2, viaLink.stderr);
      const climb = await cli(['replay', writeSealedDeadLetter(dataDir, 'climb.json', { kind: 'payload', reason: 'r', payload: payload(`${d.dir}/../../../../../../${path.relative('/', secretFile)}`) })], { SPLUNK_HOME: app.splunkHome });
      assert.equal(climb.code, 2, climb.stderr);
      assert.match(climb.stderr, /climbs out with \.\./);
      // A results file inside dispatch runs, without the server_uri and session_key of the file.
      const inside = await cli(['replay', writeSealedDeadLetter(dataDir, 'inside.json', { kind: 'payload', reason: 'r', payload: payload(d.resultsFiles[0]!) })], { SPLUNK_HOME: app.splunkHome });
      assert.equal(inside.code, 0, inside.stderr);
      assert.equal(incidentRows(dataDir).length, 1);
      assert.equal(rest.requests.length, restBefore, 'no request reached the server the dead letter named');
      const everything = allOutputs(unsealed, outside, viaLink, climb, inside);
      assert.ok(!everything.includes(PRIVATE), 'the private file\'s content appears nowhere');
      for (const r of [unsealed, outside, viaLink, climb, inside]) assert.ok(!(r.stdout + r.stderr).includes('stolen-session-key-123'), 'the file\'s session key is never shown or used');
    });

    it('a dead letter holding terminal escapes: --list and replay print no raw ESC, BEL, C1 or bidi override', async () => {
      const evil = '\x1b]0;pwned\x07\x1b[2J\u009b31m\u202Eevil';
      writeSealedDeadLetter(dataDir, 'esc.json', { kind: 'payload', reason: evil, payload: evil });
      writeSealedDeadLetter(dataDir, 'kind.json', { kind: evil, reason: evil, payload: 1, notification: { incidentId: evil, kind: evil, attempts: 1 } });
      const unsealedFile = path.join(dataDir, 'dead-letters', 'raw.json');
      writeFileSync(unsealedFile, JSON.stringify({ version: 1, kind: evil, reason: evil, createdAt: evil, createdAtMs: 1, payload: evil }));
      const runs = [await cli(['replay', '--list'])];
      for (const n of readdirSync(path.join(dataDir, 'dead-letters'))) runs.push(await cli(['replay', path.join(dataDir, 'dead-letters', n)], { SPLUNK_HOME: app.splunkHome }));
      assert.equal(runs[0]!.code, 0);
      assert.equal(runs[0]!.stdout.trim().split('\n').length, 3, runs[0]!.stdout);
      for (const r of runs) {
        const out = r.stdout + r.stderr;
        assert.doesNotMatch(out, /[\x07\x1b\u0080-\u009f\u202a-\u202e\u2066-\u2069]/, JSON.stringify(out));
      }
      assert.match(runs[0]!.stdout, /<U\+001B>\]0;pwned<U\+0007>/);
    });
  });

  describe('session key blanking', () => {
    it('a payload spelling the key "session\\u005fkey" is kept as a dead letter without it', async () => {
      const d = writeDispatch(app, [{ src_ip: '192.0.2.30' }], 'digest');
      const key = 'pAyLoAdSeSsIoNkEy_0123456789abcdef';
      const text = `{"session\\u005fkey":"${key}","sid":"${d.sid}","results_file":"${path.join(d.dir, 'missing.csv.gz')}","server_uri":"${rest.url}","configuration":{}}`;
      const run = await runAction(app, undefined, { env: env(), stdin: text });
      assert.equal(run.code, 3, run.stderr);
      const kept = withSignature(run.lines, 'Payload kept as a dead letter')[0]!.fields.file!;
      const onDisk = readFileSync(kept, 'utf8');
      assert.ok(!onDisk.includes(key), onDisk);
      assert.ok(!run.stderr.includes(key));
    });
  });

  describe('after a full disk', () => {
    it('drain removes stray .tmp files older than a few minutes and moves a report without a row to reports/orphaned/ with one WARN', async () => {
      const recorded = await alert('192.0.2.40');
      assert.equal(recorded.code, 0, recorded.stderr);
      const [row] = incidentRows(dataDir);
      const old = (Date.now() - 30 * 60_000) / 1000;
      const orphanId = `INC-${new Date(Date.now() - 30 * 60_000).toISOString().replace(/[-:]/g, '').replace('T', '-').slice(0, 15)}-0badc0`;
      const orphan = path.join(dataDir, 'reports', `${orphanId}.txt`);
      writeFileSync(orphan, 'Incident report (the run stopped before its row)\n');
      utimesSync(orphan, old, old);
      const staleTmp = path.join(dataDir, 'ledger', 'incidents', 'x.json.123.456.0.tmp');
      writeFileSync(staleTmp, '{"half');
      utimesSync(staleTmp, old, old);
      const freshTmp = path.join(dataDir, 'cache', 'y.json.1.2.0.tmp');
      mkdirSync(path.dirname(freshTmp), { recursive: true });
      writeFileSync(freshTmp, '{');
      const rowReport = path.join(dataDir, 'reports', `${row!.incident_id}.txt`);
      utimesSync(rowReport, old, old);
      const r = await cli(['drain']);
      const warns = withSignature(r.lines, 'Incident reports without an incidents.csv row moved aside');
      assert.equal(warns.length, 1, r.stderr);
      assert.equal(warns[0]!.fields.incident_ids, orphanId);
      assert.ok(existsSync(path.join(dataDir, 'reports', 'orphaned', `${orphanId}.txt`)) && !existsSync(orphan));
      assert.ok(existsSync(rowReport), 'a report with its row stays');
      assert.ok(!existsSync(staleTmp), 'the old .tmp is gone');
      assert.ok(existsSync(freshTmp), 'a fresh .tmp (a write in progress) is left alone');
      assert.equal(statSync(path.join(dataDir, 'reports', 'orphaned')).mode & 0o777, 0o750);
      const again = await cli(['drain']);
      assert.equal(withSignature(again.lines, 'Incident reports without an incidents.csv row moved aside').length, 0, 'nothing left to move');
    });
  });
});

