/**
 * runReputation in-process against the loopback VirusTotal and AbuseIPDB stubs (real corpus
 * bodies), with a temporary data directory and a clock the test moves: quota waits of
 * minutes take no time, and every request is stamped with the time the limiter saw.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { Readable } from 'node:stream';
import { parse as parseCsv } from 'csv-parse/sync';
import { REPUTATION_EXIT, ReputationRunOptions, ReputationWorld, runReputation } from '../../src/cli/reputation-command';
import { progressDisplay, ProgressState } from '../../src/cli/reputation-progress';
import type { CliIO } from '../../src/cli/runtime';
import { apiKeyHash, LookupCache } from '../../src/intel/lookup-cache';
import { QuotaLimiter } from '../../src/intel/quota-limiter';
import { dataLayout } from '../../src/store/data-dir';
import { VT_OPENCTI_IP } from '../support/intel-stubs';
import { CapturedOutput } from '../support/writables';
import { capturedObjects, corpusJson, useReputationStubs } from './reputation-fixtures';
import { DEFAULT_HOST_LIMITS } from '../../src/pipeline/settings';

interface Run {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
  readonly rows: Record<string, string | number | null>[];
}

/** The 42 addresses of the real AbuseIPDB /check responses, in file order. */
const RECORDED = Object.keys(corpusJson('abuseipdb', 'realworld_check_responses_ioc_cache.json') as Record<string, unknown>);
/** The seven of them that are not public (corpus README: isPublic false for five; two are multicast). */
const NOT_PUBLIC = ['172.17.0.255', '255.255.255.255', '172.17.0.17', '0.0.0.0', '224.0.0.252', '172.17.0.99', '224.0.0.251'];
const PUBLIC = RECORDED.filter((ip) => !NOT_PUBLIC.includes(ip));
const MINUTE = 60_000;


/** A host whose admin raised the VirusTotal minute limit (soar_edr.conf [quota]) for a premium key. */
const PREMIUM_HOST = { limits: { ...DEFAULT_HOST_LIMITS, vtPerMinute: 100 }, problems: [], files: [] };

describe('soar-edr reputation (in-process, loopback stubs, test clock)', function () {
  this.timeout(60_000);
  const stubs = useReputationStubs();
  let dataDir: string;
  let clock: number;
  /** Requests as the providers received them, stamped with the test clock. */
  let sent: { provider: 'virustotal' | 'abuseipdb'; url: string; at: number }[];

  beforeEach(() => {
    dataDir = mkdtempSync(path.join(tmpdir(), 'soar-rep-'));
    clock = Date.UTC(2026, 0, 5, 12, 0, 0);
    sent = [];
  });
  afterEach(() => rmSync(dataDir, { recursive: true, force: true }));

  const world = (): Omit<ReputationWorld, 'progress'> => ({
    layout: dataLayout(dataDir),
    fetch: (input, init) => {
      const url = String(input);
      sent.push({ provider: url.startsWith(stubs.vt.baseUrl) ? 'virustotal' : 'abuseipdb', url, at: clock });
      return globalThis.fetch(input, init);
    },
    now: () => clock,
    sleep: async (ms) => {
      clock += ms;
    },
    random: () => 0,
  });
  const env = (): Record<string, string> => ({ SOAR_VIRUSTOTAL_URL: stubs.vt.baseUrl, SOAR_ABUSEIPDB_URL: stubs.abuse.baseUrl });
  const bothKeys = () => ({ virustotal_api_key: stubs.vt.apiKey, abuseipdb_api_key: stubs.abuse.apiKey });

  async function run(targets: readonly string[], options: ReputationRunOptions = {}, stderr = new CapturedOutput()): Promise<Run> {
    const stdout = new CapturedOutput();
    const io: CliIO = {
      env: env(),
      stdin: Readable.from([]) as unknown as NodeJS.ReadStream,
      stdout: stdout as unknown as NodeJS.WriteStream,
      stderr: stderr as unknown as NodeJS.WriteStream,
      setExitCode: () => undefined,
    };
    const code = await runReputation(io, targets, { format: 'json', secrets: bothKeys(), world: world(), ...options });
    const json = (options.format ?? 'json') === 'json' && !options.out && stdout.text !== '';
    return { code, stdout: stdout.text, stderr: stderr.text, rows: json ? (JSON.parse(stdout.text) as Run['rows']) : [] };
  }

  const vtSent = () => sent.filter((s) => s.provider === 'virustotal');
  const abuseSent = () => sent.filter((s) => s.provider === 'abuseipdb');
  const statusOf = (r: Run) => Object.fromEntries(r.rows.map((row) => [row.target, row.status]));

  describe('the shared quota limiter', () => {
    it('waits for slots but never lets more than 4 VirusTotal requests into any rolling minute; the ETA counts the waits', async () => {
      const targets = PUBLIC.slice(0, 10);
      const states: ProgressState[] = [];
      let stopped = 0;
      const r = await run(targets, { world: { ...world(), progress: { update: (p) => states.push(p), stop: () => stopped++ } } });
      assert.equal(r.code, REPUTATION_EXIT.OK, r.stderr);
      assert.equal(r.rows.length, 10);
      assert.ok(r.rows.every((row) => row.status === 'looked_up'), JSON.stringify(statusOf(r)));

      const times = vtSent().map((s) => s.at);
      assert.equal(times.length, 10);
      for (const t of times) {
        const inWindow = times.filter((u) => u > t - MINUTE && u <= t).length;
        assert.ok(inWindow <= 4, `${inWindow} VirusTotal requests in the minute before ${t}`);
      }
      // Three windows: 4 now, 4 a minute later, 2 two minutes later.
      assert.ok(times[9]! - times[0]! >= 2 * MINUTE, `${times[9]! - times[0]!} ms from first to last`);
      // AbuseIPDB has no per-minute limit: one request per address.
      assert.equal(abuseSent().length, 10);

      // The first estimate, before any request, already counts the two minute-long waits
      // (10 requests guessed at 1 s each: 0-3 s, 60-63 s, 120-121 s).
      const first = states[0]!;
      assert.deepEqual([first.done, first.total, first.estimate.finishMs - first.nowMs], [0, 10, 122_000]);
      // While waiting the display counts down to the slot the limiter will grant.
      const waits = states.filter((p) => p.waiting !== undefined);
      assert.ok(waits.length >= 2 * 60, `${waits.length} waiting updates`);
      assert.ok(waits.every((p) => p.waiting!.provider === 'VirusTotal' && p.estimate.finishMs >= p.waiting!.untilMs));
      // Within the default 30-minute wait bound nothing is expected to be deferred.
      assert.ok(states.every((p) => p.estimate.beyondBound === 0));
      assert.equal(states[states.length - 1]!.done, 10);
      assert.equal(stopped, 1);
    });

    it('on a terminal the bar shows the count and that ETA; the summary line follows a cleared line', async () => {
      const terminal = new CapturedOutput(true);
      const r = await run(PUBLIC.slice(0, 10), { maxWaitMs: 0, world: { ...world(), progress: progressDisplay(terminal) } }, terminal);
      assert.equal(r.code, REPUTATION_EXIT.DEFERRED);
      // AbuseIPDB's 10 requests (guessed at 1 s each) decide the ETA; VirusTotal's 6 past the minute will be deferred.
      assert.match(terminal.text, /^\x1b7.*reputation -+ 0\/10 · 23\.220\.251\.153 · ETA 10s \(6 will be deferred: quota\)/);
      assert.match(terminal.text, /\x1b\[2Kreputation: 10 targets: /);
    });

    it('--no-wait: 4 requests, the other 6 listed as "deferred: quota" with the time to retry, exit 3', async () => {
      const targets = PUBLIC.slice(0, 10);
      const r = await run(targets, { maxWaitMs: 0 });
      assert.equal(r.code, REPUTATION_EXIT.DEFERRED);
      assert.equal(vtSent().length, 4);
      assert.deepEqual(stubs.vt.requests.map((q) => q.ip), targets.slice(0, 4));
      const deferred = r.rows.filter((row) => row.status === 'deferred');
      assert.deepEqual(deferred.map((row) => row.target), targets.slice(4));
      for (const row of deferred) {
        assert.equal(row.verdict, 'UNKNOWN');
        assert.match(String(row.reason), /^deferred: quota \(minute\); retry after 2026-01-05T12:01:00Z$/);
      }
      assert.match(r.stderr, /reputation: 10 targets: 4 looked up, 0 cached, 0 skipped, 6 deferred, 0 failed, 0 without key; requests: VirusTotal 4, AbuseIPDB 10; run again after 2026-01-05T12:01:00Z/);
    });

    it('a re-run resumes from the cache: cached targets cost no request, only what is missing is asked', async () => {
      const targets = PUBLIC.slice(0, 10);
      await run(targets, { maxWaitMs: 0 });
      const firstVt = stubs.vt.requests.length;
      const firstAbuse = stubs.abuse.requests.length;

      // At once: nothing new can be asked (the minute is spent) and nothing cached is asked again.
      const again = await run(targets, { maxWaitMs: 0 });
      assert.equal(again.code, REPUTATION_EXIT.DEFERRED);
      assert.equal(stubs.vt.requests.length, firstVt);
      assert.equal(stubs.abuse.requests.length, firstAbuse);
      assert.deepEqual(again.rows.slice(0, 4).map((row) => row.status), ['cached', 'cached', 'cached', 'cached']);

      // A minute later: exactly the next four, none of the cached ones.
      clock += MINUTE;
      await run(targets, { maxWaitMs: 0 });
      assert.deepEqual(stubs.vt.requests.slice(firstVt).map((q) => q.ip), targets.slice(4, 8));
      assert.equal(stubs.abuse.requests.length, firstAbuse);

      clock += MINUTE;
      const last = await run(targets, { maxWaitMs: 0 });
      assert.deepEqual(stubs.vt.requests.slice(firstVt + 4).map((q) => q.ip), targets.slice(8));
      assert.equal(last.code, REPUTATION_EXIT.OK);

      const final = await run(targets, { maxWaitMs: 0 });
      assert.equal(final.code, REPUTATION_EXIT.OK);
      assert.ok(final.rows.every((row) => row.status === 'cached'));
      assert.equal(stubs.vt.requests.length, 10);
      assert.equal(stubs.abuse.requests.length, 10);
    });

    it('shares the budget with the alert action: slots it spent this minute are not spent again', async () => {
      const quota = new QuotaLimiter(dataLayout(dataDir).quota);
      for (let i = 0; i < 3; i++) assert.ok(quota.tryAcquire('virustotal', clock - 1_000).granted);
      const r = await run(PUBLIC.slice(0, 3), { maxWaitMs: 0 });
      assert.equal(vtSent().length, 1);
      assert.deepEqual(r.rows.map((row) => row.status), ['looked_up', 'deferred', 'deferred']);
    });

    it('a 429 from VirusTotal penalizes the shared limiter: the rest is deferred without another request', async () => {
      stubs.vt.script('*', 'quota_json');
      const r = await run(PUBLIC.slice(0, 3), { maxWaitMs: 0, secrets: { virustotal_api_key: stubs.vt.apiKey } });
      assert.equal(r.code, REPUTATION_EXIT.DEFERRED);
      assert.equal(stubs.vt.requests.length, 1);
      assert.ok(r.rows.every((row) => row.status === 'deferred'));
      assert.match(String(r.rows[0]!.reason), /^deferred: quota \(virustotal answered 429\)/);
      assert.ok(new QuotaLimiter(dataLayout(dataDir).quota).usage('virustotal', clock).penaltyUntilMs > clock);
    });

    it('an interruption while waiting stops at once and lists the rest as deferred', async () => {
      const abort = new AbortController();
      const w = world();
      const r = await run(PUBLIC.slice(0, 6), {
        secrets: { virustotal_api_key: stubs.vt.apiKey },
        signal: abort.signal,
        world: { ...w, sleep: async (ms) => { abort.abort(); clock += ms; } },
      });
      assert.equal(r.code, REPUTATION_EXIT.DEFERRED);
      assert.equal(stubs.vt.requests.length, 4);
      assert.deepEqual(r.rows.map((row) => row.status), ['looked_up', 'looked_up', 'looked_up', 'looked_up', 'deferred', 'deferred']);
      assert.deepEqual(r.rows.slice(4).map((row) => row.reason), ['deferred: interrupted', 'deferred: interrupted']);
    });
  });

  describe('the address gate and the verdict', () => {
    it('the 42 real addresses: the 7 private/reserved ones are skipped with the reason and never reach a stub', async () => {
      const r = await run(RECORDED, { params: { vt_requests_per_minute: '100' }, hostLimits: PREMIUM_HOST });
      assert.equal(r.code, REPUTATION_EXIT.OK, r.stderr);
      const skipped = r.rows.filter((row) => row.status === 'skipped');
      assert.deepEqual(skipped.map((row) => row.target).sort(), [...NOT_PUBLIC].sort());
      const reasons = Object.fromEntries(skipped.map((row) => [row.target, row.reason]));
      assert.equal(reasons['172.17.0.17'], 'private (RFC 1918): never sent out');
      assert.equal(reasons['0.0.0.0'], 'unspecified (RFC 1122): never sent out');
      assert.equal(reasons['224.0.0.251'], 'multicast (RFC 5771): never sent out');
      assert.ok(skipped.every((row) => row.verdict === 'UNKNOWN'));
      const asked = new Set([...stubs.vt.requests, ...stubs.abuse.requests].map((q) => q.ip));
      for (const ip of NOT_PUBLIC) assert.ok(!asked.has(ip), `${ip} was sent out`);
      assert.equal(stubs.vt.requests.length, 35);
      assert.equal(stubs.abuse.requests.length, 35);
    });

    it('verdicts use the alert action\'s thresholds and params: 52.113.194.132 (AbuseIPDB 26) is SUSPICIOUS, UNKNOWN above 26', async () => {
      const r = await run(['52.113.194.132', VT_OPENCTI_IP], { params: { vt_requests_per_minute: '100' }, hostLimits: PREMIUM_HOST });
      const row = r.rows[0]!;
      assert.deepEqual([row.verdict, row.abuse_score, row.country, row.reason], ['SUSPICIOUS', 26, 'US', 'VirusTotal: not found; AbuseIPDB 26']);
      // The OpenCTI capture: 4/93 malicious over the default 3, AbuseIPDB has no record (the stub's 404 is an error).
      const opencti = r.rows[1]!;
      assert.deepEqual([opencti.verdict, opencti.status, opencti.malicious, opencti.harmless, opencti.undetected, opencti.reputation, opencti.country, opencti.as_owner], ['MALICIOUS', 'failed', 4, 77, 12, 1, 'GB', 'CLOUD-SOUTH']);

      const stricter = await run(['52.113.194.132'], { params: { abuse_suspicious_score: '30', abuse_malicious_score: '80' } });
      assert.equal(stricter.rows[0]!.verdict, 'UNKNOWN');
      assert.equal(stricter.rows[0]!.status, 'cached');
    });

    it('an allowlisted address is skipped like a private one', async () => {
      const r = await run(['52.113.194.132', '::ffff:52.113.194.132'], { params: { allowlist: '52.113.194.0/24' } });
      assert.equal(r.rows.length, 1);
      assert.deepEqual([r.rows[0]!.status, r.rows[0]!.reason], ['skipped', 'allowlisted (52.113.194.0/24): never sent out']);
      assert.equal(sent.length, 0);
    });
  });

  describe('domains and file hashes', () => {
    it('go to VirusTotal only, with the verdict rule; internal names stay here; a re-run is all cache', async () => {
      const c = capturedObjects();
      const targets = [c.domain, c.md5, c.sha256, 'fileserver.corp.local', 'unknown-to-the-stub.net'];
      const r = await run(targets);
      assert.equal(r.code, REPUTATION_EXIT.OK, r.stderr);
      const by = Object.fromEntries(r.rows.map((row) => [row.target, row]));
      assert.deepEqual([by[c.domain]!.type, by[c.domain]!.verdict, by[c.domain]!.malicious, by[c.domain]!.reputation, by[c.domain]!.reason], ['domain', 'MALICIOUS', 6, -37, '6/93 engines malicious']);
      assert.deepEqual([by[c.md5]!.type, by[c.md5]!.verdict, by[c.md5]!.malicious, by[c.md5]!.undetected, by[c.md5]!.reason], ['md5', 'MALICIOUS', 47, 18, '47/67 engines malicious']);
      assert.equal(by[c.sha256]!.type, 'sha256');
      assert.deepEqual([by['fileserver.corp.local']!.status, by['fileserver.corp.local']!.reason], ['skipped', 'multicast DNS .local (RFC 6762): never sent out']);
      assert.deepEqual([by['unknown-to-the-stub.net']!.verdict, by['unknown-to-the-stub.net']!.reason], ['UNKNOWN', 'VirusTotal: not found']);
      assert.deepEqual(stubs.vt.requests.map((q) => q.path), [`/api/v3/domains/${c.domain}`, `/api/v3/files/${c.md5}`, `/api/v3/files/${c.sha256}`, '/api/v3/domains/unknown-to-the-stub.net']);
      assert.equal(stubs.abuse.requests.length, 0);

      const again = await run(targets);
      assert.equal(stubs.vt.requests.length, 4);
      assert.deepEqual(again.rows.map((row) => row.status), ['cached', 'cached', 'cached', 'skipped', 'cached']);
    });

    it('answers are the alert action\'s cache files, keyed by the API key hash: another key asks again', async () => {
      const c = capturedObjects();
      await run([c.domain]);
      const files = readdirSync(path.join(dataDir, 'cache'));
      assert.equal(files.length, 1);
      const cache = new LookupCache(dataLayout(dataDir).cache);
      assert.equal(files[0], path.basename(cache.fileFor('virustotal', `domain:${c.domain}`, apiKeyHash(stubs.vt.apiKey))));
      const entry = JSON.parse(readFileSync(path.join(dataDir, 'cache', files[0]!), 'utf8')) as { address: string; keyHash: string; value: { report: { kind: string } } };
      assert.deepEqual([entry.address, entry.keyHash, entry.value.report.kind], [`domain:${c.domain}`, apiKeyHash(stubs.vt.apiKey), 'domain']);
      assert.ok(!JSON.stringify(entry).includes(stubs.vt.apiKey), 'the key itself is never stored');
      // The stub refuses another key (401): that key has no cache entry, so it is asked.
      const other = await run([c.domain], { secrets: { virustotal_api_key: `${stubs.vt.apiKey}-other` } });
      assert.equal(stubs.vt.requests.length, 2);
      assert.equal(other.rows[0]!.status, 'failed');
    });
  });

  describe('keys, failures, input and exit codes', () => {
    it('no key at all: a clear message, exit 4, the public target reported without key, nothing looked up', async () => {
      const r = await run(['8.8.8.8', '192.168.198.149'], { secrets: {} });
      assert.equal(r.code, REPUTATION_EXIT.NO_KEY);
      assert.match(r.stderr, /no VirusTotal or AbuseIPDB key: set SOAR_VIRUSTOTAL_API_KEY/);
      assert.deepEqual(r.rows.map((x) => [x.target, x.verdict, x.status]), [['8.8.8.8', 'UNKNOWN', 'no_key'], ['192.168.198.149', 'UNKNOWN', 'skipped']]);
      assert.equal(sent.length, 0);
    });

    it('no key, but only private targets: nothing had to leave the host, exit 0', async () => {
      const r = await run(['192.168.198.149', '::1'], { secrets: {} });
      assert.equal(r.code, REPUTATION_EXIT.OK);
      assert.ok(r.rows.every((x) => x.status === 'skipped'));
      assert.equal(sent.length, 0);
    });

    it('only an AbuseIPDB key: addresses are judged by it, a domain has no key (exit 4)', async () => {
      const r = await run(['52.113.194.132', 'tawuhoju.com'], { secrets: { abuseipdb_api_key: stubs.abuse.apiKey } });
      assert.equal(r.code, REPUTATION_EXIT.NO_KEY);
      assert.deepEqual([r.rows[0]!.verdict, r.rows[0]!.status], ['SUSPICIOUS', 'looked_up']);
      assert.match(String(r.rows[0]!.reason), /^VirusTotal not looked up: no VirusTotal key configured/);
      assert.deepEqual([r.rows[1]!.verdict, r.rows[1]!.status], ['UNKNOWN', 'no_key']);
      assert.equal(stubs.vt.requests.length, 0);
    });

    it('a refused key fails the lookups (exit 1) and says so per row', async () => {
      stubs.vt.script('*', 'unauthorized', 'unauthorized');
      const r = await run(['8.8.8.8', '9.9.9.9'], { secrets: { virustotal_api_key: stubs.vt.apiKey } });
      assert.equal(r.code, REPUTATION_EXIT.FAILED);
      assert.ok(r.rows.every((row) => row.status === 'failed' && /AuthenticationRequiredError/.test(String(row.reason))));
    });

    it('invalid targets are reported with their position; the rest is looked up (exit 5); duplicates once', async () => {
      const r = await run(['52.113.194.132', 'not-a-target!', '::ffff:52.113.194.132']);
      assert.equal(r.code, REPUTATION_EXIT.INVALID_INPUT);
      assert.match(r.stderr, /^soar-edr: argument 2: "not-a-target!" is not an IP address, domain, or MD5\/SHA1\/SHA256 hash$/m);
      assert.match(r.stderr, /input: 1 invalid, 1 duplicate/);
      assert.equal(r.rows.length, 1);
    });

    it('unknown or bad params are usage errors (exit 2) before any lookup', async () => {
      const unknown = await run(['8.8.8.8'], { params: { block_duration: '1h' } });
      assert.equal(unknown.code, REPUTATION_EXIT.USAGE);
      assert.match(unknown.stderr, /--param block_duration: not a param reputation uses/);
      const bad = await run(['8.8.8.8'], { params: { vt_malicious_threshold: 'lots' } });
      assert.equal(bad.code, REPUTATION_EXIT.USAGE);
      assert.match(bad.stderr, /vt_malicious_threshold is "lots"; expected a whole number from 1 to 1000 or "off"/);
      assert.equal(sent.length, 0);
    });

    it('csv and table render the same rows; --out writes the file and nothing to stdout', async () => {
      const out = path.join(dataDir, 'verdicts.csv');
      const r = await run(['52.113.194.132', '10.1.2.3'], { format: 'csv', out });
      assert.equal(r.stdout, '');
      const rows = parseCsv(readFileSync(out, 'utf8'), { columns: true }) as Record<string, string>[];
      assert.deepEqual(Object.keys(rows[0]!), ['target', 'type', 'verdict', 'status', 'reason', 'malicious', 'suspicious', 'harmless', 'undetected', 'reputation', 'abuse_score', 'country', 'as_owner']);
      assert.deepEqual(rows.map((row) => [row.target, row.verdict, row.status, row.abuse_score]), [['52.113.194.132', 'SUSPICIOUS', 'looked_up', '26'], ['10.1.2.3', 'UNKNOWN', 'skipped', '']]);
      const table = await run(['52.113.194.132', '10.1.2.3'], { format: 'table' });
      const lines = table.stdout.trimEnd().split('\n');
      assert.equal(lines.length, 4);
      assert.match(lines[0]!, /^target +type +verdict +status +reason +malicious +suspicious +harmless +undetected +reputation +abuse_score +country +as_owner$/);
      assert.match(lines[2]!, /^52\.113\.194\.132 +ip +SUSPICIOUS +cached +VirusTotal: not found; AbuseIPDB 26 +26 +US$/);
    });
  });
});
