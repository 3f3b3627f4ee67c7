/**
 * `soar-edr drain`, `replay` and `unblock` from the built CLI bundle (dist/cli/soar-edr.cjs),
 * against state the PACKAGED alert action produced through the splunkd emulator, with
 * loopback VirusTotal, Discord and splunkd REST stubs and a temporary SOAR_DATA_DIR.
 */
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { gzipSync } from 'node:zlib';
import { parse as parseCsv } from 'csv-parse/sync';
import { EnrichmentQueue } from '../../src/intel/enrichment-queue';
import { blockAddress } from '../../src/respond/blocklist';
import { writeDeadLetter } from '../../src/respond/outbox';
import { dataLayout } from '../../src/store/data-dir';
import type { DiscordStub } from '../support/discord-stub';
import { IntelStub, startAbuseIpdbStub, VT_OPENCTI_IP } from '../support/intel-stubs';
import { BuiltCliRun, CLI, runBuiltCli, summaryOf } from '../support/built-cli';
import { withSignature } from '../support/splunk-log';
import { actionConfiguration, ActionRun, buildPayload, InstalledApp, resultsCsv, Row, runAction, writeDispatch } from '../support/splunkd-emulator';
import { RestStub, startRestStub } from '../support/splunkd-rest-stub';
import { closeActionWorld, startActionWorld } from '../support/action-world';
import { incidentRows } from '../support/data-files';
import { ip } from '../support/ip-address';

/** Public, unknown to the VirusTotal stub (404 NotFound → UNKNOWN). */
const UNKNOWN_IP = '183.62.140.253';


function report(dataDir: string, incidentId: string): string {
  return readFileSync(path.join(dataDir, 'reports', `${incidentId}.txt`), 'utf8');
}

function reportVerdict(text: string): string {
  const m = /^Verdict[ \t]*:[ \t]*(\S+)/m.exec(text);
  assert.ok(m, `no Verdict line in the report:\n${text}`);
  return m[1]!;
}

/** `key=value` pairs of drain's stdout summary line. */
function deadLetterFiles(dataDir: string): string[] {
  const dir = path.join(dataDir, 'dead-letters');
  return existsSync(dir) ? readdirSync(dir).sort() : [];
}

describe('soar-edr drain, replay and unblock', function () {
  this.timeout(60_000);
  let app: InstalledApp;
  let rest: RestStub;
  let vt: IntelStub<string>;
  let discord: DiscordStub;
  let dataDir: string;

  before(async () => {
    assert.ok(existsSync(CLI), `${CLI} is built by: npx tsc -p tsconfig.json && node build/build.mjs`);
    ({ app, rest, vt, discord } = await startActionWorld());
  });
  after(() => closeActionWorld({ app, rest, vt, discord }));
  beforeEach(() => {
    dataDir = mkdtempSync(path.join(tmpdir(), 'soar-cli-data-'));
    rest.passwords.length = 0;
  });
  afterEach(() => rmSync(dataDir, { recursive: true, force: true }));

  /** Where the stubs are; secrets only when a test passes them. */
  const baseEnv = (): Record<string, string> => ({ SOAR_DATA_DIR: dataDir, SOAR_VIRUSTOTAL_URL: vt.baseUrl, SOAR_WEBHOOK_ALLOWED_HOSTS: discord.hostPort });
  const vtKey = (): Record<string, string> => ({ SOAR_VIRUSTOTAL_API_KEY: vt.apiKey });
  const webhook = (): Record<string, string> => ({ SOAR_DISCORD_WEBHOOK_URL: discord.webhookUrl });

  // The stubs run in this process, so the CLI must run asynchronously.
  function cli(args: string[], env: Record<string, string> = {}): Promise<BuiltCliRun> {
    return runBuiltCli(args, { env: { HOME: dataDir, ...baseEnv(), ...env } });
  }

  /** The packaged alert action on a digest of `rows`, secrets from the environment only. */
  async function alertRun(rows: Row[], options: { env?: Record<string, string>; saved?: Record<string, string> } = {}): Promise<ActionRun> {
    const d = writeDispatch(app, rows, 'digest');
    // The REST stub holds no secret of ours: the action falls back to SOAR_* (and never reaches a real splunkd).
    const payload = buildPayload({ sid: d.sid, resultsFile: d.resultsFiles[0]!, configuration: actionConfiguration(app, options.saved), serverUri: rest.url, sessionKey: rest.sessionKey, result: rows[0] });
    return runAction(app, payload, { env: { ...baseEnv(), ...options.env } });
  }

  describe('drain', () => {
    it('delivers a notification left in the outbox to Discord exactly once; a second drain sends nothing', async () => {
      const run = await alertRun([{ src_ip: VT_OPENCTI_IP, failure_count: '14', users: ['root'] }], { env: vtKey() });
      assert.equal(run.code, 0, run.stderr);
      assert.equal(withSignature(run.lines, 'No Discord webhook configured; notification kept in the outbox').length, 1, run.stderr);
      const [incident] = incidentRows(dataDir);
      const before = discord.requests.length;

      const first = await cli(['drain'], webhook());
      assert.equal(first.code, 0, first.stderr);
      assert.deepEqual(summaryOf(first), { delivered: '1', enriched: '0', dead_lettered: '0', outbox_left: '0', queue_left: '0', queue_waiting: '0' });
      const sent = discord.requests.slice(before);
      assert.equal(sent.length, 1);
      assert.equal(sent[0]!.answered, 200);
      assert.ok(JSON.stringify(sent[0]!.body).includes(VT_OPENCTI_IP), 'the card names the attacker');
      assert.ok(JSON.stringify(sent[0]!.body).includes(incident!.incident_id), 'the card names the incident');
      assert.equal(withSignature(first.lines, 'Outbox delivered')[0]!.fields.delivered, '1');
      assert.ok(!first.stderr.includes(discord.token), 'the webhook token never reaches the log');

      const second = await cli(['drain'], webhook());
      assert.equal(second.code, 0, second.stderr);
      assert.equal(summaryOf(second).delivered, '0');
      assert.equal(discord.requests.length, before + 1, 'nothing sent twice');
    });

    it('enriches an address the quota deferred, updates its report to the new verdict and sends the update', async () => {
      // vt_requests_per_day = 1: the first address spends the day's request, the second is queued.
      const askedUnknown = vt.requestsFor(UNKNOWN_IP);
      const run = await alertRun([{ src_ip: UNKNOWN_IP }, { src_ip: VT_OPENCTI_IP, failure_count: '30' }], {
        env: { ...vtKey(), ...webhook() },
        saved: { 'action.soar_response.param.vt_requests_per_day': '1' },
      });
      assert.equal(run.code, 0, run.stderr);
      const asked = vt.requestsFor(VT_OPENCTI_IP);
      assert.equal(vt.requestsFor(UNKNOWN_IP), askedUnknown + 1, 'the first address spent the request');
      const queued = incidentRows(dataDir).find((r) => r.src_ip === VT_OPENCTI_IP)!;
      assert.equal(queued.verdict, 'UNKNOWN');
      assert.equal(reportVerdict(report(dataDir, queued.incident_id!)), 'UNKNOWN');
      assert.equal(withSignature(run.lines, 'Enrichment queued for a later run or soar-edr drain').length, 1, run.stderr);

      // Not due before the UTC day's quota resets: a plain drain leaves it waiting, asks nothing, exits 0.
      const waiting = await cli(['drain'], { ...vtKey(), ...webhook() });
      assert.equal(waiting.code, 0, waiting.stderr);
      const w = summaryOf(waiting);
      assert.deepEqual([w.enriched, w.queue_left, w.queue_waiting], ['0', '1', '1']);
      const midnight = Math.floor(Date.now() / 86_400_000) * 86_400_000 + 86_400_000;
      assert.equal(w.next_retry, new Date(midnight).toISOString());
      assert.equal(vt.requestsFor(VT_OPENCTI_IP), asked);

      // The admin raised the quota (default 500/day here) and asks for it now.
      const updatesBefore = discord.delivered().length;
      const drained = await cli(['drain', '--retry-waiting'], { ...vtKey(), ...webhook() });
      assert.equal(drained.code, 0, drained.stderr);
      const s = summaryOf(drained);
      assert.deepEqual([s.enriched, s.queue_left, s.queue_waiting, s.outbox_left], ['1', '0', '0', '0']);
      assert.equal(vt.requestsFor(VT_OPENCTI_IP), asked + 1);
      const done = withSignature(drained.lines, 'Deferred enrichment completed');
      assert.equal(done.length, 1, drained.stderr);
      assert.deepEqual([done[0]!.fields.incident_id, done[0]!.fields.previous_verdict, done[0]!.fields.verdict], [queued.incident_id, 'UNKNOWN', 'MALICIOUS']);
      assert.equal(reportVerdict(report(dataDir, queued.incident_id!)), 'MALICIOUS');
      const updates = discord.delivered().slice(updatesBefore);
      assert.equal(updates.length, 1, 'one update message');
      assert.ok(JSON.stringify(updates[0]).includes(VT_OPENCTI_IP));
      // MALICIOUS is blocked (simulated) when the update decides it.
      assert.match(readFileSync(path.join(dataDir, 'blocklist.csv'), 'utf8'), new RegExp(`^${VT_OPENCTI_IP.replace(/\./g, '\\.')},`, 'm'));
    });

    it('No key: a public address is queued and, once a key is configured, drain enriches it and updates its incident', async () => {
      const abuse = await startAbuseIpdbStub();
      try {
        // A digest without a VirusTotal key: two public addresses (one named three times) and a private one.
        const vtAsked = vt.requests.length;
        const run = await alertRun(
          [
            { src_ip: VT_OPENCTI_IP, failure_count: '30', users: ['root'] },
            { src_ip: UNKNOWN_IP, failure_count: '12' },
            { src_ip: '10.1.2.3', failure_count: '9' },
            { src_ip: VT_OPENCTI_IP, failure_count: '8' },
            { src_ip: VT_OPENCTI_IP, failure_count: '5' },
          ],
          { env: webhook() },
        );
        assert.equal(run.code, 0, run.stderr);
        const warns = run.lines.filter((l) => l.level === 'WARN');
        assert.deepEqual(warns.map((l) => l.fields.signature), ['VirusTotal key not configured; public addresses queued for enrichment'], 'one WARN for the run, not one per row');
        assert.deepEqual([warns[0]!.fields.queued, warns[0]!.fields.waiting], ['2', '2']);
        assert.match(warns[0]!.fields.message!, /soar-edr secrets set virustotal_api_key; outside Splunk set SOAR_VIRUSTOTAL_API_KEY\. The next alert run or soar-edr drain then enriches the queued incidents/);
        assert.equal(vt.requests.length, vtAsked, 'nothing sent to VirusTotal without a key');

        const rows = incidentRows(dataDir);
        assert.equal(rows.length, 5);
        const publicRows = rows.filter((r) => r.src_ip !== '10.1.2.3');
        for (const r of publicRows) assert.deepEqual([r.verdict, r.vt_state, r.reason], ['UNKNOWN', 'deferred', 'enrichment pending: no VirusTotal key configured']);
        assert.match(rows.find((r) => r.src_ip === '10.1.2.3')!.reason!, /private/);
        const queueDir = path.join(dataDir, 'queue');
        const queued = (): string[] => readdirSync(queueDir).filter((n) => n.endsWith('.json')).sort();
        assert.deepEqual(queued(), [`${VT_OPENCTI_IP}.json`, `${UNKNOWN_IP}.json`].sort(), 'the private address is never queued');
        const entryText = (ip: string): string => readFileSync(path.join(queueDir, `${ip}.json`), 'utf8');
        const entry = JSON.parse(entryText(VT_OPENCTI_IP)) as { waitingFor: unknown; attempts: number; refs: { incidentId: string }[] };
        assert.deepEqual(entry.waitingFor, { virustotal: 'no-key' });
        assert.deepEqual(entry.refs.map((r) => r.incidentId), rows.filter((r) => r.src_ip === VT_OPENCTI_IP).map((r) => r.incident_id));

        // A drain still without the VirusTotal key (an AbuseIPDB key alone does not do: they wait for VirusTotal).
        const before = [entryText(VT_OPENCTI_IP), entryText(UNKNOWN_IP)];
        const idle = await cli(['drain'], { ...webhook(), SOAR_ABUSEIPDB_API_KEY: abuse.apiKey, SOAR_ABUSEIPDB_URL: abuse.baseUrl });
        assert.equal(idle.code, 6, idle.stderr);
        const i = summaryOf(idle);
        assert.deepEqual([i.enriched, i.queue_left, i.waiting_for_key], ['0', '2', '2']);
        assert.deepEqual(idle.lines.filter((l) => l.level === 'WARN').map((l) => [l.fields.signature, l.fields.waiting]), [['VirusTotal key not configured; public addresses queued for enrichment', '2']]);
        assert.deepEqual([vt.requests.length, abuse.requests.length], [vtAsked, 0], 'nothing spent');
        assert.deepEqual([entryText(VT_OPENCTI_IP), entryText(UNKNOWN_IP)], before, 'left exactly as it was: no attempt counted, no retry time');
        assert.ok(!existsSync(path.join(dataDir, 'quota', 'virustotal.json')) || JSON.parse(readFileSync(path.join(dataDir, 'quota', 'virustotal.json'), 'utf8')).dayCount === 0);

        // The key is configured: drain enriches both addresses and updates their incidents.
        const updatesBefore = discord.delivered().length;
        const drained = await cli(['drain'], { ...vtKey(), ...webhook() });
        assert.equal(drained.code, 0, drained.stderr);
        const s = summaryOf(drained);
        assert.deepEqual([s.enriched, s.queue_left, s.waiting_for_key, s.outbox_left], ['2', '0', undefined, '0']);
        assert.equal(drained.lines.filter((l) => l.level === 'WARN' && /key not configured/.test(l.fields.signature ?? '')).length, 0);
        assert.deepEqual([vt.requestsFor(VT_OPENCTI_IP), vt.requestsFor(UNKNOWN_IP)].map((n) => n > 0), [true, true]);
        assert.equal(vt.requests.length, vtAsked + 2, 'one request per address, however many incidents wait for it');
        assert.deepEqual(queued(), []);

        const completed = withSignature(drained.lines, 'Deferred enrichment completed');
        assert.equal(completed.length, 4, drained.stderr);
        for (const r of rows.filter((x) => x.src_ip === VT_OPENCTI_IP)) {
          const text = report(dataDir, r.incident_id!);
          assert.equal(reportVerdict(text), 'MALICIOUS');
          assert.match(text, /^Malicious Score: +4$/m);
          assert.match(text, /^One-time nftables setup \(run once per host/m, 'the block it now has comes with the nft setup');
          const snapshot = JSON.parse(readFileSync(path.join(dataDir, 'ledger', 'incident-data', `${r.incident_id}.json`), 'utf8')) as { verdict: string; vt: { malicious: number } };
          assert.deepEqual([snapshot.verdict, snapshot.vt.malicious], ['MALICIOUS', 4]);
        }
        const unknown = rows.find((r) => r.src_ip === UNKNOWN_IP)!;
        const unknownReport = report(dataDir, unknown.incident_id!);
        assert.equal(reportVerdict(unknownReport), 'UNKNOWN');
        assert.match(unknownReport, /^Status: +not found \(unknown to VirusTotal\)$/m);
        assert.doesNotMatch(unknownReport, /enrichment pending/);

        // One update per incident whose verdict changed (UNKNOWN -> MALICIOUS), none for the one still UNKNOWN.
        const updates = discord.delivered().slice(updatesBefore).map((b) => JSON.stringify(b));
        assert.equal(updates.length, 3, updates.join('\n'));
        for (const u of updates) assert.match(u, new RegExp(`Update · ${VT_OPENCTI_IP.replace(/\./g, '\\.')}: UNKNOWN → MALICIOUS`));
        // incidents.csv keeps what was known when the detection fired (the report and the update carry the rest).
        assert.deepEqual(incidentRows(dataDir).map((r) => r.verdict), rows.map((r) => r.verdict));
        assert.match(readFileSync(path.join(dataDir, 'blocklist.csv'), 'utf8'), new RegExp(`^${VT_OPENCTI_IP.replace(/\./g, '\\.')},`, 'm'));
      } finally {
        await abuse.close();
      }
    });

    it('leaves an address waiting for an AbuseIPDB key that is gone (one WARN), and expires what was queued over 7 days ago', async () => {
      const queue = new EnrichmentQueue(path.join(dataDir, 'queue'));
      const now = Date.now();
      const ref = (n: number) => ({ incidentId: `INC-${n}`, sid: 'scheduler__admin__earlier', rid: String(n), detection: 'SSH Brute Force' });
      // Queued while an AbuseIPDB key was set (its quota deferred it); the key has since been removed.
      queue.enqueue(VT_OPENCTI_IP, ref(1), now, now, { abuseipdb: 'deferred' });
      const eightDaysAgo = now - 8 * 86_400_000;
      queue.enqueue(UNKNOWN_IP, ref(2), eightDaysAgo, eightDaysAgo, { virustotal: 'no-key' });
      const asked = vt.requests.length;
      const r = await cli(['drain'], vtKey());
      assert.equal(r.code, 6, r.stderr);
      const s = summaryOf(r);
      assert.deepEqual([s.enriched, s.queue_left, s.waiting_for_key], ['0', '1', '1']);
      assert.deepEqual(r.lines.filter((l) => l.level === 'WARN').map((l) => [l.fields.signature, l.fields.waiting]), [['AbuseIPDB key not configured; queued addresses waiting for it', '1']]);
      const expired = withSignature(r.lines, 'Queued enrichment expired');
      assert.deepEqual(expired.map((l) => [l.fields.addresses, l.fields.incidents]), [['1', '1']]);
      assert.equal(vt.requests.length, asked, 'nothing asked: the one address left waits for AbuseIPDB');
      assert.deepEqual(readdirSync(path.join(dataDir, 'queue')).filter((n) => n.endsWith('.json')), [`${VT_OPENCTI_IP}.json`]);
    });

    it('reads the webhook from storage/passwords with --host/--user/--password', async () => {
      const run = await alertRun([{ src_ip: UNKNOWN_IP }], { env: vtKey() });
      assert.equal(run.code, 0, run.stderr);
      // The drain's splunkd has the KV store (every splunkd has); the alert run above had none, so
      // its card waits in this host's outbox files: a drain on the KV store delivers those too.
      const splunkd = await startRestStub({ kvstore: true });
      try {
        splunkd.passwords.push({ app: 'soar_edr', realm: 'soar_edr', username: 'discord_webhook_url', password: discord.webhookUrl });
        const before = discord.delivered().length;
        const conn = ['--scheme', 'http', '--host', '127.0.0.1', '--port', String(splunkd.port), '--user', 'admin'];
        const drained = await cli(['drain', ...conn, '--password', 'changeme-Adm1n']);
        assert.equal(drained.code, 0, drained.stderr);
        assert.equal(summaryOf(drained).delivered, '1');
        assert.equal(summaryOf(drained).outbox_left, '0');
        assert.equal(discord.delivered().length, before + 1);
        assert.match(withSignature(drained.lines, 'Draining the outbox and the enrichment queue')[0]!.fields.secrets!, /discord_webhook_url:storage\/passwords/);

        const wrong = await cli(['drain', ...conn, '--password', 'wrong']);
        assert.equal(wrong.code, 3, wrong.stderr);
        assert.match(wrong.stderr, /401/);
        const down = await cli(['drain', '--scheme', 'http', '--host', '127.0.0.1', '--port', '1', '--password', 'x']);
        assert.equal(down.code, 4, down.stderr);
        const noPassword = await cli(['drain', '--host', '127.0.0.1']);
        assert.equal(noPassword.code, 2);
        assert.match(noPassword.stderr, /no Splunk password/);
      } finally {
        await splunkd.close();
      }
    });

    it('exits 6 when something due is left: no webhook for the outbox, or Discord failing', async () => {
      const run = await alertRun([{ src_ip: UNKNOWN_IP }], { env: vtKey() });
      assert.equal(run.code, 0, run.stderr);
      const noWebhook = await cli(['drain']);
      assert.equal(noWebhook.code, 6, noWebhook.stderr);
      assert.equal(summaryOf(noWebhook).outbox_left, '1');
      assert.match(withSignature(noWebhook.lines, 'Outbox not delivered')[0]!.fields.message!, /no Discord webhook configured/);

      const refused = await cli(['drain'], { SOAR_DISCORD_WEBHOOK_URL: 'https://hooks.example.com/api/webhooks/1/abc' });
      assert.equal(refused.code, 6);
      assert.match(withSignature(refused.lines, 'Outbox not delivered')[0]!.fields.message!, /not a Discord webhook host/);

      discord.script({ type: 'server_error', status: 500 }, { type: 'server_error', status: 500 }, { type: 'server_error', status: 500 }, { type: 'server_error', status: 500 });
      const failing = await cli(['drain', '--time-budget', '20s'], webhook());
      assert.equal(failing.code, 6, failing.stderr);
      assert.equal(summaryOf(failing).outbox_left, '1', 'kept for a later retry');
      assert.equal(withSignature(failing.lines, 'Outbox delivered')[0]!.fields.retry_later, '1');
    });

    it('refuses bad options and params with exit 2, before doing anything', async () => {
      const cases: [string[], RegExp][] = [
        [['drain', '--max-items', '0'], /--max-items must be a whole number/],
        [['drain', '--max-items', 'many'], /--max-items must be a whole number/],
        [['drain', '--time-budget', 'soon'], /--time-budget: "soon" is not a duration/],
        [['drain', '--time-budget', '5s'], /param time_budget: 5s is outside 10s\.\.86400s/],
        [['drain', '--param', 'vt_requests_per_day'], /is not key=value/],
        [['drain', '--param', 'vt_requests_per_day=lots'], /param vt_requests_per_day: "lots" is not a whole number/],
        [['drain', '--param', 'virustotal_api_key=abcdef0123456789'], /holds a secret/],
        [['drain', '--bogus'], /unknown option '--bogus'/],
        [['drain', '--max-items'], /argument missing/],
      ];
      for (const [args, message] of cases) {
        const r = await cli(args, webhook());
        assert.equal(r.code, 2, `${args.join(' ')}: ${r.stderr}`);
        assert.match(r.stderr, message, args.join(' '));
        assert.equal(r.stdout, '');
      }
      assert.ok(!existsSync(path.join(dataDir, 'outbox')) && !existsSync(path.join(dataDir, 'queue')), 'nothing touched');
    });

    it('documents its options and exit codes in --help (exit 0)', async () => {
      const r = await cli(['drain', '--help']);
      assert.equal(r.code, 0);
      for (const text of ['--max-items', '--time-budget', '--param', '--retry-waiting', 'Exit codes:', '6  something due is left']) assert.ok(r.stdout.includes(text), text);
    });
  });

  describe('replay', () => {
    /** A digest run whose results file is unreadable: the payload is kept as a dead letter. */
    async function deadLetteredRun(): Promise<{ file: string; resultsFile: string; sid: string }> {
      const d = writeDispatch(app, [{ src_ip: '192.0.2.1' }], 'digest');
      const resultsFile = path.join(d.dir, 'results_later.csv.gz');
      const payload = buildPayload({ sid: d.sid, resultsFile, configuration: actionConfiguration(app), serverUri: rest.url, sessionKey: rest.sessionKey });
      const run = await runAction(app, payload, { env: { ...baseEnv(), ...vtKey() } });
      assert.equal(run.code, 3, run.stderr);
      const kept = withSignature(run.lines, 'Payload kept as a dead letter');
      assert.equal(kept.length, 1, run.stderr);
      assert.equal(incidentRows(dataDir).length, 0);
      return { file: kept[0]!.fields.file!, resultsFile, sid: d.sid };
    }

    it('runs a kept payload through the alert action once its results file is readable, records the incident, moves the letter aside', async () => {
      const { file, resultsFile, sid } = await deadLetteredRun();
      const letter = JSON.parse(readFileSync(file, 'utf8')) as { kind: string; payload: string };
      assert.equal(letter.kind, 'payload');
      assert.ok(!letter.payload.includes(rest.sessionKey), 'the session key is blanked on disk');

      // Still unreadable: the alert action's exit code (3), and the letter stays.
      // Replay reads results files only inside $SPLUNK_HOME/var/run/splunk/dispatch (or the spool).
      const again = await cli(['replay', file], { ...vtKey(), SPLUNK_HOME: app.splunkHome });
      assert.equal(again.code, 3, again.stderr);
      assert.match(again.stdout, /exit_code=3 .*dead letter left in place/);
      assert.ok(existsSync(file));
      assert.equal(withSignature(again.lines, 'Replaying a dead-lettered payload')[0]!.fields.secrets_from_env, 'virustotal_api_key');
      assert.deepEqual(deadLetterFiles(dataDir), [path.basename(file)], 'no second dead letter');

      writeFileSync(resultsFile, gzipSync(resultsCsv([{ src_ip: VT_OPENCTI_IP, failure_count: '9' }, { src_ip: UNKNOWN_IP, failure_count: '4' }])));
      const replayed = await cli(['replay', path.basename(file)], { ...vtKey(), SPLUNK_HOME: app.splunkHome });
      assert.equal(replayed.code, 0, replayed.stderr);
      assert.match(replayed.stdout, /exit_code=0 rows=2 handed_off=2 rejected=0 failed=0 degraded=0; moved to .*\.replayed/);
      assert.match(withSignature(replayed.lines, 'Replaying a dead-lettered payload')[0]!.fields.message!, /session key was blanked.*SOAR_\* environment variables/);
      const rows = incidentRows(dataDir);
      assert.deepEqual(rows.map((r) => [r.sid, r.rid, r.src_ip, r.verdict]), [
        [sid, '0', VT_OPENCTI_IP, 'MALICIOUS'],
        [sid, '1', UNKNOWN_IP, 'UNKNOWN'],
      ]);
      assert.ok(!existsSync(file) && existsSync(file + '.replayed'));
      assert.equal(reportVerdict(report(dataDir, rows[0]!.incident_id!)), 'MALICIOUS');

      // Replaying the same payload again records nothing twice; --keep leaves the file.
      const twice = await cli(['replay', '--keep', file + '.replayed'], { ...vtKey(), SPLUNK_HOME: app.splunkHome });
      assert.equal(twice.code, 0, twice.stderr);
      assert.match(twice.stdout, /dead letter left in place/);
      assert.equal(incidentRows(dataDir).length, 2);
      assert.ok(existsSync(file + '.replayed'));
    });

    it('puts a notification Discord refused back into the outbox, and drain delivers it', async () => {
      discord.script({ type: 'unknown_webhook' });
      const run = await alertRun([{ src_ip: UNKNOWN_IP }], { env: { ...vtKey(), ...webhook() } });
      assert.equal(run.code, 6, run.stderr);
      const [letterName] = deadLetterFiles(dataDir);
      assert.ok(letterName, 'the refused notification is a dead letter');
      const file = path.join(dataDir, 'dead-letters', letterName);

      const listed = await cli(['replay', '--list']);
      assert.equal(listed.code, 0);
      assert.match(listed.stdout, new RegExp(`^${file.replace(/[.\\]/g, '\\$&')}\tnotification INC-[^:]+:incident\t.*Unknown Webhook`, 'm'));

      const requeued = await cli(['replay', file]);
      assert.equal(requeued.code, 0, requeued.stderr);
      assert.match(requeued.stdout, /notification INC-.*:incident queued in the outbox; soar-edr drain delivers it/);
      assert.ok(!existsSync(file));
      const before = discord.delivered().length;
      const drained = await cli(['drain'], webhook());
      assert.equal(drained.code, 0, drained.stderr);
      assert.equal(summaryOf(drained).delivered, '1');
      assert.equal(discord.delivered().length, before + 1);
    });

    it('refuses with exit 2: no FILE, a missing file, not JSON, not a dead letter, a kind it cannot replay', async () => {
      const layout = dataLayout(dataDir);
      mkdirSync(layout.deadLetters, { recursive: true });
      const notJson = path.join(layout.deadLetters, 'broken.json');
      writeFileSync(notJson, '{"version":1,');
      const notLetter = path.join(dataDir, 'other.json');
      writeFileSync(notLetter, JSON.stringify({ hello: 'world' }));
      const outboxFile = writeDeadLetter(layout, 'outbox_file', null, 'outbox file is not JSON (Unexpected end)', Date.now());
      assert.ok(outboxFile.ok);
      const cases: [string[], RegExp][] = [
        [['replay'], /replay needs a dead-letter FILE/],
        [['replay', path.join(dataDir, 'nope.json')], /no dead letter at/],
        [['replay', notJson], /is not JSON/],
        [['replay', notLetter], /not a SOAR-EDR dead letter/],
        [['replay', outboxFile.value], /kind "outbox_file", which cannot be replayed/],
        [['replay', '--list', notJson], /--list takes no FILE/],
        [['replay', '--nope'], /unknown option/],
      ];
      for (const [args, message] of cases) {
        const r = await cli(args);
        assert.equal(r.code, 2, `${args.join(' ')}: ${r.stderr}`);
        assert.match(r.stderr, message, args.join(' '));
      }
      const listed = await cli(['replay', '--list']);
      assert.match(listed.stdout, /broken\.json\t\(unreadable\)/);
    });
  });

  describe('unblock', () => {
    it('lifts a MALICIOUS block: removed from blocklist.csv, prints the iptables/nft delete commands matching the block', async () => {
      const run = await alertRun([{ src_ip: VT_OPENCTI_IP, failure_count: '22' }], { env: vtKey() });
      assert.equal(run.code, 0, run.stderr);
      const [incident] = incidentRows(dataDir);
      assert.equal(incident!.verdict, 'MALICIOUS');
      const blocklistFile = path.join(dataDir, 'blocklist.csv');
      const blocked = parseCsv(readFileSync(blocklistFile, 'utf8'), { columns: true }) as Record<string, string>[];
      assert.deepEqual(blocked.map((b) => [b.ip, b.verdict, b.count]), [[VT_OPENCTI_IP, 'MALICIOUS', '1']]);

      const list = await cli(['unblock', '--list']);
      assert.equal(list.code, 0, list.stderr);
      const [header, row, ...rest] = list.stdout.trimEnd().split('\n');
      assert.deepEqual(header!.split(/\s+/), ['ip', 'expires', 'count', 'verdict', 'reason']);
      assert.deepEqual(row!.split(/\s{2,}/).slice(0, 4), [VT_OPENCTI_IP, new Date(blocked[0]!.expires!).toISOString(), '1', 'MALICIOUS']);
      assert.equal(rest.length, 0);

      const r = await cli(['unblock', VT_OPENCTI_IP]);
      assert.equal(r.code, 0, r.stderr);
      const commands = r.stdout.trimEnd().split('\n');
      // The block's own commands, from the incident report: iptables deletes by the exact rule it inserted.
      const blockCommands = report(dataDir, incident!.incident_id!).split('\n').map((l) => l.trim()).filter((l) => /^(iptables|nft) /.test(l));
      const insert = blockCommands.find((c) => c.startsWith('iptables -I '))!;
      assert.ok(insert, 'the report lists the iptables command');
      assert.deepEqual(commands, [insert.replace('iptables -I ', 'iptables -D '), `nft 'delete element inet soar_edr ${/add element inet soar_edr (\S+)/.exec(blockCommands[1]!)![1]} { ${VT_OPENCTI_IP} }'`]);
      assert.match(commands[0]!, /--datestop \d{4}-\d\d-\d\dT\d\d:\d\d:\d\d -j DROP$/);
      assert.match(r.stderr, /removed from the simulated blocklist \(MALICIOUS, blocked 1 time\(s\)/);
      assert.match(r.stderr, /Simulation only: nothing was run/);
      assert.deepEqual(parseCsv(readFileSync(blocklistFile, 'utf8'), { columns: true }), []);

      const again = await cli(['unblock', VT_OPENCTI_IP]);
      assert.equal(again.code, 1);
      assert.match(again.stderr, /is not blocked/);
      assert.equal(again.stdout, '');
      const empty = await cli(['unblock', '--list']);
      assert.equal(empty.stdout, 'no simulated blocks in force\n');
    });

    it('takes an IPv6 address in any spelling, and --purge drops only expired blocks', async () => {
      const layout = dataLayout(dataDir);
      const now = Date.now();
      assert.ok(blockAddress(layout, ip('2001:db8::1'), 'MALICIOUS', 'test block', now, { baseSeconds: 3600, maxSeconds: 3600 }).ok);
      assert.ok(blockAddress(layout, ip('198.51.100.7'), 'SUSPICIOUS', 'old block', now - 7200_000, { baseSeconds: 60, maxSeconds: 60 }).ok);
      const purge = await cli(['unblock', '--purge', '--list']);
      assert.equal(purge.code, 0, purge.stderr);
      const lines = purge.stdout.trimEnd().split('\n');
      assert.equal(lines[0], 'purged 1 expired block(s): 198.51.100.7');
      assert.equal(lines.length, 3, purge.stdout);
      assert.match(lines[2]!, /^2001:db8::1\s+\S+\s+1\s+MALICIOUS\s+test block$/);

      const r = await cli(['unblock', '2001:DB8:0:0::0001']);
      assert.equal(r.code, 0, r.stderr);
      const commands = r.stdout.trimEnd().split('\n');
      assert.match(commands[0]!, /^ip6tables -D INPUT -s 2001:db8::1 .* -j DROP$/);
      assert.match(commands[1]!, /^nft 'delete element inet soar_edr \S+ \{ 2001:db8::1 \}'$/);
    });

    it('refuses an invalid address or no request (exit 2); a corrupt blocklist is exit 5', async () => {
      const cases: [string[], RegExp][] = [
        [['unblock', '999.1.1.1'], /"999\.1\.1\.1" is not an IPv4 or IPv6 address/],
        [['unblock', '1.2.3.4; rm -rf /'], /is not an IPv4 or IPv6 address/],
        [['unblock', 'fe80::1%eth0'], /zone id/],
        [['unblock'], /needs an IP address, --list or --purge/],
        [['unblock', '--all'], /unknown option/],
      ];
      for (const [args, message] of cases) {
        const r = await cli(args);
        assert.equal(r.code, 2, `${args.join(' ')}: ${r.stderr}`);
        assert.match(r.stderr, message);
      }
      writeFileSync(path.join(dataDir, 'blocklist.csv'), 'ip,first_seen,last_seen,expires,count,verdict,reason\nnot-an-ip,x,y,z,1,MALICIOUS,r\n');
      for (const args of [['unblock', '--list'], ['unblock', '203.0.113.9'], ['unblock', '--purge']]) {
        const r = await cli(args);
        assert.equal(r.code, 5, `${args.join(' ')}: ${r.stderr}`);
        assert.match(r.stderr, /row 2 is not a valid block entry/);
      }
      const help = await cli(['unblock', '--help']);
      assert.equal(help.code, 0);
      assert.match(help.stdout, /1 {2}the address is not blocked/);
    });
  });
});
