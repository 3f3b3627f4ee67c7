/**
 * `soar-edr drain` run by hand (tries what waits in the outbox now), `soar-edr incidents` and
 * `soar-edr block`, from the built CLI bundle (dist/cli/soar-edr.cjs), against state the
 * PACKAGED alert action produced through the splunkd emulator, with loopback VirusTotal and
 * Discord stubs and a temporary SOAR_DATA_DIR.
 */
import assert from 'node:assert/strict';
import { appendFileSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { parse as parseCsv } from 'csv-parse/sync';
import type { DiscordStub } from '../support/discord-stub';
import { type IntelStub, VT_OPENCTI_IP } from '../support/intel-stubs';
import { BuiltCliRun, CLI, runBuiltCli, summaryOf } from '../support/built-cli';
import { withSignature } from '../support/splunk-log';
import { actionConfiguration, ActionRun, buildPayload, InstalledApp, Row, runAction, writeDispatch } from '../support/splunkd-emulator';
import type { RestStub } from '../support/splunkd-rest-stub';
import { closeActionWorld, startActionWorld } from '../support/action-world';
import { incidentRows } from '../support/data-files';

/** Public, unknown to the VirusTotal stub (404 NotFound → UNKNOWN). */
const UNKNOWN_IP = '183.62.140.253';
const OTHER_UNKNOWN_IP = '183.62.140.254';

describe('soar-edr drain (now), incidents and block', function () {
  this.timeout(90_000);
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
    dataDir = mkdtempSync(path.join(tmpdir(), 'soar-cli-state-'));
  });
  afterEach(() => rmSync(dataDir, { recursive: true, force: true }));

  const baseEnv = (): Record<string, string> => ({ SOAR_DATA_DIR: dataDir, SOAR_VIRUSTOTAL_URL: vt.baseUrl, SOAR_WEBHOOK_ALLOWED_HOSTS: discord.hostPort, SOAR_VIRUSTOTAL_API_KEY: vt.apiKey });
  const webhook = (): Record<string, string> => ({ SOAR_DISCORD_WEBHOOK_URL: discord.webhookUrl });

  function cli(args: string[], env: Record<string, string> = {}, nodeArgs: string[] = []): Promise<BuiltCliRun> {
    return runBuiltCli(args, { env: { HOME: dataDir, ...baseEnv(), ...env }, nodeArgs });
  }

  async function alertRun(rows: Row[], env: Record<string, string> = {}): Promise<ActionRun> {
    const d = writeDispatch(app, rows, 'digest');
    const payload = buildPayload({ sid: d.sid, resultsFile: d.resultsFiles[0]!, configuration: actionConfiguration(app), serverUri: rest.url, sessionKey: rest.sessionKey, result: rows[0] });
    return runAction(app, payload, { env: { ...baseEnv(), ...env } });
  }

  /** An alert run whose card fails (four 500s: every attempt of one delivery), leaving it in the outbox with its backoff. */
  async function failedCard(ip: string): Promise<string> {
    const before = discord.requests.length;
    discord.script(...Array.from({ length: 4 }, () => ({ type: 'server_error' as const, status: 500 })));
    const run = await alertRun([{ src_ip: ip, failure_count: '9' }], webhook());
    assert.equal(run.code, 6, run.stderr);
    // Exactly the four scripted answers were used: nothing scripted is left for the drain.
    assert.deepEqual(discord.requests.slice(before).map((r) => r.answered), [500, 500, 500, 500]);
    const incident = incidentRows(dataDir).find((r) => r.src_ip === ip)!;
    return `${incident.incident_id}:incident`;
  }

  describe('drain run by hand', () => {
    it('delivers a card waiting for its backoff at once after Discord recovers, and exits 0', async () => {
      const key = await failedCard(UNKNOWN_IP);
      const before = discord.requests.length;
      const startedMs = Date.now();
      const drained = await cli(['drain'], webhook());
      assert.equal(drained.code, 0, drained.stderr);
      assert.equal(summaryOf(drained).delivered, '1');
      assert.equal(summaryOf(drained).outbox_left, '0');
      // Well inside the 30 s the outbox backoff would have made it wait.
      assert.ok(Date.now() - startedMs < 25_000);
      const sent = discord.requests.slice(before);
      assert.deepEqual(sent.map((r) => r.answered), [200]);
      assert.ok(JSON.stringify(sent[0]!.body).includes(key.split(':')[0]!), 'the card of the incident');
      assert.equal(withSignature(drained.lines, 'Left in the outbox').length, 0);
    });

    it('while Discord still fails: exits 6 and names each notification left, with its last error', async () => {
      const key = await failedCard(OTHER_UNKNOWN_IP);
      discord.script(...Array.from({ length: 4 }, () => ({ type: 'server_error' as const, status: 503 })));
      const before = discord.requests.length;
      const failing = await cli(['drain'], webhook());
      assert.equal(failing.code, 6, failing.stderr);
      assert.equal(discord.requests.length - before, 4, 'tried now, despite its backoff');
      assert.equal(summaryOf(failing).outbox_left, '1');
      const left = withSignature(failing.lines, 'Left in the outbox');
      assert.equal(left.length, 1, failing.stderr);
      assert.equal(left[0]!.fields.notification, key);
      assert.equal(left[0]!.fields.attempts, '8');
      assert.match(left[0]!.fields.last_error!, /503/);
      assert.match(left[0]!.fields.next_automatic_retry!, /^\d{4}-\d\d-\d\dT/);
      assert.ok(!failing.stderr.includes(discord.token), 'the webhook token never reaches the log');
    });
  });

  describe('incidents', () => {
    it('lists the recorded incidents as table, csv and json, filtered by verdict and time; CSV cells are formula-safe', async () => {
      const run = await alertRun([{ src_ip: VT_OPENCTI_IP, failure_count: '14' }, { src_ip: UNKNOWN_IP, failure_count: '5' }]);
      assert.equal(run.code, 0, run.stderr);
      const recorded = incidentRows(dataDir);
      assert.equal(recorded.length, 2);
      // An old incident (for --since) whose sid someone edited into a formula (for the CSV guard).
      const old = { ...recorded[1]!, incident_id: 'INC-20200101-000000-old', time: '2020-01-01T00:00:00.000Z', sid: '=HYPERLINK("http://x")' };
      appendFileSync(path.join(dataDir, 'incidents.csv'), Object.values(old).map((v) => `"${String(v).replace(/"/g, '""')}"`).join(',') + '\n');

      const json = await cli(['incidents', '--format', 'json']);
      assert.equal(json.code, 0, json.stderr);
      const all = JSON.parse(json.stdout) as Record<string, string>[];
      assert.deepEqual(all.map((r) => r.incident_id), [...recorded.map((r) => r.incident_id), old.incident_id]);
      assert.deepEqual(Object.keys(all[0]!), ['time', 'incident_id', 'src_ip', 'verdict', 'action', 'failure_count', 'expires', 'sid']);

      const malicious = JSON.parse((await cli(['incidents', '--verdict', 'malicious', '--format', 'json'])).stdout) as Record<string, string>[];
      assert.deepEqual(malicious.map((r) => [r.src_ip, r.verdict, r.action]), [[VT_OPENCTI_IP, 'MALICIOUS', 'blocked']]);
      const recent = JSON.parse((await cli(['incidents', '--since', '1h', '--format', 'json'])).stdout) as Record<string, string>[];
      assert.deepEqual(recent.map((r) => r.incident_id), recorded.map((r) => r.incident_id));

      const csv = await cli(['incidents', '--format', 'csv', '--verdict', 'UNKNOWN']);
      assert.equal(csv.code, 0, csv.stderr);
      const rows = parseCsv(csv.stdout, { columns: true }) as Record<string, string>[];
      assert.deepEqual(rows.map((r) => r.src_ip), [UNKNOWN_IP, UNKNOWN_IP]);
      assert.equal(rows[1]!.sid, `'=HYPERLINK("http://x")`);

      const table = await cli(['incidents', '--since', '24h']);
      assert.equal(table.code, 0, table.stderr);
      const lines = table.stdout.trimEnd().split('\n');
      assert.deepEqual(lines[0]!.split(/\s+/), ['time', 'incident_id', 'src_ip', 'verdict', 'action', 'failure_count', 'expires', 'sid']);
      assert.equal(lines.length, 3);
      assert.match(lines[1]!, new RegExp(`${recorded[0]!.incident_id}\\s+${VT_OPENCTI_IP.replace(/\./g, '\\.')}\\s+MALICIOUS`));
      const none = await cli(['incidents', '--verdict', 'SAFE']);
      assert.equal(none.code, 0);
      assert.match(none.stdout, /no incidents match\n$/);
    });

    it('reads a large incidents.csv as a stream, in a 40 MB heap', async function () {
      this.timeout(120_000);
      const header = 'incident_id,time,src_ip,verdict,vt_malicious,vt_suspicious,abuse_score,failure_count,users,detection,action,reason,sid,rid\n';
      const filler = 'x'.repeat(150);
      const lines = Array.from({ length: 400_000 }, (_, i) => `INC-${i},2026-01-01T00:00:00.000Z,198.51.100.${i % 250},UNKNOWN,0,0,,5,root,${filler},not_blocked,r,sid${i},${i}\n`);
      lines.push('INC-safe,2026-01-01T00:00:00.000Z,198.51.100.7,SAFE,0,0,,5,root,d,not_blocked,r,sid,0\n');
      writeFileSync(path.join(dataDir, 'incidents.csv'), header + lines.join(''));
      lines.length = 0;
      const r = await cli(['incidents', '--verdict', 'SAFE', '--format', 'csv'], {}, ['--max-old-space-size=40']);
      assert.equal(r.code, 0, r.stderr);
      assert.deepEqual((parseCsv(r.stdout, { columns: true }) as Record<string, string>[]).map((x) => x.incident_id), ['INC-safe']);
    });

    it('with nothing recorded lists nothing (exit 0); refuses a bad --since, --verdict or --format (exit 2); documents itself', async () => {
      const empty = await cli(['incidents', '--format', 'json']);
      assert.equal(empty.code, 0, empty.stderr);
      assert.deepEqual(JSON.parse(empty.stdout), []);
      const cases: [string[], RegExp][] = [
        [['incidents', '--since', 'yesterday'], /--since: "yesterday" is not a duration/],
        [['incidents', '--verdict', 'EVIL'], /--verdict must be one of MALICIOUS, SUSPICIOUS, SAFE, UNKNOWN/],
        [['incidents', '--format', 'xml'], /Allowed choices are table, csv, json/],
      ];
      for (const [args, message] of cases) {
        const r = await cli(args);
        assert.equal(r.code, 2, `${args.join(' ')}: ${r.stderr}`);
        assert.match(r.stderr, message);
        assert.equal(r.stdout, '');
      }
      const help = await cli(['incidents', '--help']);
      assert.equal(help.code, 0);
      assert.match(help.stdout, /--since <duration>/);
      assert.match(help.stdout, /5 {2}incidents\.csv or --out could not be read or written/);
    });
  });

  describe('block', () => {
    it('adds a manual simulated block: printed commands, listed by unblock --list, lifted by unblock', async () => {
      const r = await cli(['block', '183.62.140.50', '--reason', 'seen in our honeypot', '--for', '2h']);
      assert.equal(r.code, 0, r.stderr);
      const commands = r.stdout.trimEnd().split('\n');
      assert.match(commands[0]!, /^iptables -I INPUT -s 183\.62\.140\.50 -m comment --comment soar-edr -m time --datestop \d{4}-\d\d-\d\dT\d\d:\d\d:\d\d -j DROP$/);
      assert.equal(commands[1], "nft 'add element inet soar_edr blocked_v4 { 183.62.140.50 timeout 7200s }'");
      assert.match(commands[2]!, /^# One-time nftables setup/);
      assert.equal(commands[3], 'nft add table inet soar_edr');
      assert.match(r.stderr, /Simulation only: nothing was run/);

      const blocked = parseCsv(readFileSync(path.join(dataDir, 'blocklist.csv'), 'utf8'), { columns: true }) as Record<string, string>[];
      assert.deepEqual(blocked.map((b) => [b.ip, b.verdict, b.count, b.reason]), [['183.62.140.50', 'MALICIOUS', '1', 'manual: seen in our honeypot']]);
      const lasts = Date.parse(blocked[0]!.expires!) - Date.parse(blocked[0]!.last_seen!);
      assert.equal(lasts, 7200_000);

      const list = await cli(['unblock', '--list']);
      assert.equal(list.code, 0, list.stderr);
      assert.match(list.stdout.split('\n')[1]!, /^183\.62\.140\.50\s+\S+\s+1\s+MALICIOUS\s+manual: seen in our honeypot$/);
      const lifted = await cli(['unblock', '183.62.140.50']);
      assert.equal(lifted.code, 0, lifted.stderr);
      assert.equal(lifted.stdout.split('\n')[0], commands[0]!.replace('iptables -I ', 'iptables -D '));
      assert.equal((await cli(['unblock', '--list'])).stdout, 'no simulated blocks in force\n');
    });

    it("refuses a private address unless --allow-private, a bad --for, a --for above the host's block_max_duration, no --reason (exit 2)", async () => {
      writeFileSync(path.join(dataDir, 'soar_edr.conf'), '[blocking]\nblock_duration = 30m\nblock_max_duration = 1h\n');
      const cases: [string[], RegExp][] = [
        [['block', '10.0.0.5', '--reason', 'x'], /10\.0\.0\.5 is not public \(.*\): not blocked; pass --allow-private/],
        [['block', '183.62.140.9', '--reason', 'x', '--for', 'soon'], /--for: "soon" is not a duration/],
        [['block', '183.62.140.9', '--reason', 'x', '--for', '0s'], /--for must be at least 1s/],
        [['block', '183.62.140.9', '--reason', 'x', '--for', '2h'], /--for 2h \(7200s\) is longer than this host allows \(block_max_duration = 3600s/],
        [['block', '183.62.140.9'], /block needs --reason TEXT/],
        [['block', '183.62.140.999', '--reason', 'x'], /is not an IPv4 or IPv6 address/],
      ];
      for (const [args, message] of cases) {
        const r = await cli(args);
        assert.equal(r.code, 2, `${args.join(' ')}: ${r.stderr}`);
        assert.match(r.stderr, message);
        assert.equal(r.stdout, '');
      }
      assert.ok(!existsSync(path.join(dataDir, 'blocklist.csv')), 'nothing blocked');

      const atLimit = await cli(['block', '183.62.140.9', '--reason', 'x', '--for', '1h']);
      assert.equal(atLimit.code, 0, atLimit.stderr);
      const privateOk = await cli(['block', '10.0.0.5', '--reason', 'lab box', '--allow-private']);
      assert.equal(privateOk.code, 0, privateOk.stderr);
      // Without --for: the host's block_duration.
      const blocked = parseCsv(readFileSync(path.join(dataDir, 'blocklist.csv'), 'utf8'), { columns: true }) as Record<string, string>[];
      const lab = blocked.find((b) => b.ip === '10.0.0.5')!;
      assert.equal(Date.parse(lab.expires!) - Date.parse(lab.last_seen!), 1800_000);
      assert.match((await cli(['unblock', '--list'])).stdout, /10\.0\.0\.5\s+\S+\s+1\s+MALICIOUS\s+manual: lab box/);
      const help = await cli(['block', '--help']);
      assert.equal(help.code, 0);
      assert.match(help.stdout, /--allow-private/);
    });
  });
});
