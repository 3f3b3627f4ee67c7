/**
 * The CLI on a Splunk host (issue 12): with a connection option, `block`, `unblock` and
 * `incidents` act on splunkd's KV store (what every search head cluster member sees); without
 * one, on this host's data directory as before. The built CLI bundle (dist/cli/soar-edr.cjs)
 * against the loopback splunkd REST stub serving the KV store, with two data directories
 * standing for two cluster members.
 */
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { parse as parseCsv } from 'csv-parse/sync';
import { BuiltCliRun, CLI, runBuiltCli } from '../support/built-cli';
import { RestStub, startRestStub } from '../support/splunkd-rest-stub';
import type { StubDocument } from '../support/kvstore-stub';
import { eventsFile } from '../../src/respond/incident-event-file';
import { writeDeadLetter } from '../../src/respond/outbox';
import { dataLayout } from '../../src/store/data-dir';

const ADMIN_PASSWORD = 'changeme-Adm1n';
const BLOCKED_IP = '183.62.140.50';

describe('soar-edr on a Splunk host: block, unblock and incidents on the KV store with a connection', function () {
  this.timeout(60_000);
  let rest: RestStub;
  let memberA: string;
  let memberB: string;

  before(async () => {
    assert.ok(existsSync(CLI), `${CLI} is built by: npx tsc -p tsconfig.json && node build/build.mjs`);
    rest = await startRestStub({ kvstore: true });
  });
  after(async () => rest.close());
  beforeEach(() => {
    memberA = mkdtempSync(path.join(tmpdir(), 'soar-cli-kv-a-'));
    memberB = mkdtempSync(path.join(tmpdir(), 'soar-cli-kv-b-'));
    rest.kv!.collections.clear();
    rest.requests.length = 0;
    rest.kv!.requests.length = 0;
  });
  afterEach(() => {
    rmSync(memberA, { recursive: true, force: true });
    rmSync(memberB, { recursive: true, force: true });
  });

  const connection = (): string[] => ['--host', '127.0.0.1', '--port', String(rest.port), '--scheme', 'http', '--user', 'admin'];
  const where = (): string => `KV store at http://127.0.0.1:${rest.port}`;

  /** The CLI as run on one member: its own data directory, the password in the environment only. */
  function cli(dataDir: string, args: string[], env: Record<string, string> = {}): Promise<BuiltCliRun> {
    return runBuiltCli(args, { env: { HOME: dataDir, SOAR_DATA_DIR: dataDir, ...env } });
  }
  const onKv = (dataDir: string, args: string[], password = ADMIN_PASSWORD) => cli(dataDir, [...args, ...connection()], { SPLUNK_PASSWORD: password });

  const kvRequests = () => rest.requests.filter((r) => r.path.includes('/storage/collections/data/'));
  const logins = () => rest.requests.filter((r) => r.path.endsWith('/auth/login'));

  function assertNoSecrets(run: BuiltCliRun, password = ADMIN_PASSWORD): void {
    for (const text of [run.stdout, run.stderr]) {
      assert.ok(!text.includes(rest.sessionKey), 'the session key is never printed');
      assert.ok(!text.includes(password), 'the password is never printed');
    }
  }

  describe('block and unblock', () => {
    it('a block made on one member is a soar_blocklist document another member lists and lifts; no blocklist.csv anywhere', async () => {
      const blocked = await onKv(memberA, ['block', BLOCKED_IP, '--reason', 'seen in our honeypot', '--for', '2h']);
      assert.equal(blocked.code, 0, blocked.stderr);
      assertNoSecrets(blocked);
      assert.ok(blocked.stderr.includes(`added to the simulated blocklist in the ${where()} (what every cluster member sees)`), blocked.stderr);
      assert.match(blocked.stdout.split('\n')[0]!, /^iptables -I INPUT -s 183\.62\.140\.50 /);
      assert.equal(logins().length, 1, 'one login for the session key');
      for (const r of kvRequests()) assert.equal(r.auth, `Splunk ${rest.sessionKey}`, 'the KV store is asked with the session key of the login');

      const docs = rest.kv!.docs('soar_blocklist').filter((d) => !d._key.includes('@'));
      assert.equal(docs.length, 1, JSON.stringify(rest.kv!.docs('soar_blocklist')));
      const doc = docs[0]!;
      assert.equal(doc._key, BLOCKED_IP);
      assert.equal(doc.status, 'active');
      assert.equal(doc.verdict, 'MALICIOUS');
      assert.equal(doc.reason, 'manual: seen in our honeypot');
      assert.equal(doc.count, 1);
      const lengthS = (doc.expires as number) - (doc.last_seen as number);
      assert.ok(Math.abs(lengthS - 7200) <= 1, `a 2h block, got ${lengthS}s`);
      assert.ok(!existsSync(path.join(memberA, 'blocklist.csv')), 'nothing in this host\'s blocklist.csv');

      // Member B has never seen this address: the KV store is what it lists.
      const listed = await onKv(memberB, ['unblock', '--list']);
      assert.equal(listed.code, 0, listed.stderr);
      assert.match(listed.stdout.split('\n')[1]!, /^183\.62\.140\.50\s+\S+\s+1\s+MALICIOUS\s+manual: seen in our honeypot$/);
      // Without a connection, member B's own (empty) data directory.
      const local = await cli(memberB, ['unblock', '--list']);
      assert.equal(local.code, 0, local.stderr);
      assert.equal(local.stdout, 'no simulated blocks in force\n');

      const lifted = await onKv(memberB, ['unblock', BLOCKED_IP]);
      assert.equal(lifted.code, 0, lifted.stderr);
      assertNoSecrets(lifted);
      assert.ok(lifted.stderr.includes(`removed from the simulated blocklist in the ${where()}`), lifted.stderr);
      assert.match(lifted.stdout.split('\n')[0]!, /^iptables -D INPUT -s 183\.62\.140\.50 /);
      assert.deepEqual(rest.kv!.docs('soar_blocklist').filter((d) => d._key === BLOCKED_IP), [], 'the document is gone');
      // The unblock is an incident event on the member that made it, as without the KV store.
      const events = readFileSync(eventsFile({ root: memberB }), 'utf8');
      assert.match(events, /183\.62\.140\.50/);

      const again = await onKv(memberA, ['unblock', BLOCKED_IP]);
      assert.equal(again.code, 1, again.stderr);
      assert.ok(again.stderr.includes(`is not blocked (not in the ${where()}, collection soar_blocklist)`), again.stderr);
      const empty = await onKv(memberA, ['unblock', '--list']);
      assert.equal(empty.stdout, `no simulated blocks in force in the ${where()}\n`);
    });

    it('--purge on the KV store removes expired blocks only', async () => {
      const nowS = Date.now() / 1000;
      const block = (ip: string, expires: number): StubDocument => ({ _key: ip, ip, first_seen: nowS - 7200, last_seen: nowS - 7200, expires, count: 1, verdict: 'MALICIOUS', reason: 'manual: t', status: 'active', family: 4, offences: '[]' });
      rest.kv!.collections.set('soar_blocklist', new Map([block('198.51.100.7', nowS - 60), block('198.51.100.8', nowS + 3600)].map((d) => [d._key, d])));
      const purged = await onKv(memberA, ['unblock', '--purge', '--list']);
      assert.equal(purged.code, 0, purged.stderr);
      assert.equal(purged.stdout.split('\n')[0], 'purged 1 expired block(s): 198.51.100.7');
      assert.match(purged.stdout, /198\.51\.100\.8\s/);
      const docs = new Map(rest.kv!.docs('soar_blocklist').map((d) => [d._key, d]));
      assert.equal(docs.get('198.51.100.7')?.status, 'expired', 'kept for the repeat-offender count, no longer in force');
      assert.equal(docs.get('198.51.100.8')?.status, 'active');
    });

    it('a wrong password: the auth exit code (3), nothing asked of the KV store, nothing written; the password never printed', async () => {
      const wrong = 'not-the-Password-42';
      for (const args of [['block', BLOCKED_IP, '--reason', 'r'], ['unblock', BLOCKED_IP], ['unblock', '--list'], ['incidents']]) {
        const r = await onKv(memberA, args, wrong);
        assert.equal(r.code, 3, `${args.join(' ')}: ${r.stderr}`);
        assert.match(r.stderr, /rejected the credentials of user "admin" \(401: Login failed\)/);
        assertNoSecrets(r, wrong);
      }
      assert.equal(logins().length, 4);
      assert.deepEqual(kvRequests(), [], 'no KV store request without a session key');
      assert.deepEqual(rest.kv!.docs('soar_blocklist'), []);
      assert.ok(!existsSync(path.join(memberA, 'blocklist.csv')));
    });

    it('splunkd not listening: exit 4, nothing written', async () => {
      const r = await cli(memberA, ['block', BLOCKED_IP, '--reason', 'r', '--host', '127.0.0.1', '--port', '1', '--scheme', 'http'], { SPLUNK_PASSWORD: ADMIN_PASSWORD });
      assert.equal(r.code, 4, r.stderr);
      assert.match(r.stderr, /cannot reach splunkd at http:\/\/127\.0\.0\.1:1 to log in/);
      assert.ok(!existsSync(path.join(memberA, 'blocklist.csv')));
    });

    it('without a connection option: this host\'s blocklist.csv, and splunkd is never asked', async () => {
      const blocked = await cli(memberA, ['block', BLOCKED_IP, '--reason', 'local only']);
      assert.equal(blocked.code, 0, blocked.stderr);
      assert.ok(!blocked.stderr.includes('KV store'), blocked.stderr);
      const rows = parseCsv(readFileSync(path.join(memberA, 'blocklist.csv'), 'utf8'), { columns: true }) as Record<string, string>[];
      assert.deepEqual(rows.map((r) => r.ip), [BLOCKED_IP]);
      const lifted = await cli(memberA, ['unblock', BLOCKED_IP]);
      assert.equal(lifted.code, 0, lifted.stderr);
      assert.deepEqual(rest.requests, [], 'no request to splunkd');
      assert.deepEqual(rest.kv!.docs('soar_blocklist'), []);
    });
  });

  describe('incidents', () => {
    const HOUR_S = 3600;
    /** soar_incidents documents as kv-state.ts writes them (incidentDocument), one per (hours ago, verdict). */
    function seedIncidents(specs: readonly [hoursAgo: number, verdict: string][]): StubDocument[] {
      const nowS = Math.floor(Date.now() / 1000);
      const docs = specs.map(([hoursAgo, verdict], i): StubDocument => ({
        _key: `k${String(i).padStart(3, '0')}`,
        incident_id: `INC-20260101-${String(i).padStart(4, '0')}`,
        sid: `scheduler__admin__soar_edr__RMD5${i}`,
        rid: String(i),
        time: nowS - hoursAgo * HOUR_S,
        updated: nowS - hoursAgo * HOUR_S + 5,
        src_ip: `203.0.113.${i + 1}`,
        verdict,
        status: verdict === 'MALICIOUS' ? 'blocked' : 'notified',
        action: verdict === 'MALICIOUS' ? 'blocked' : 'none',
        expires: verdict === 'MALICIOUS' ? nowS + HOUR_S : null,
        discord_message_id: i % 2 === 0 ? `11223344556677${i}` : '',
      }));
      rest.kv!.collections.set('soar_incidents', new Map(docs.map((d) => [d._key, d])));
      return docs;
    }

    it('lists soar_incidents (what every member recorded) oldest first, filtered by --since and --verdict, as table, csv and json; a page at a time', async () => {
      // Inserted newest first: the listing sorts by time.
      const docs = seedIncidents([[1, 'SAFE'], [2, 'MALICIOUS'], [30, 'MALICIOUS'], [5, 'SUSPICIOUS'], [48, 'UNKNOWN']]);
      const byTime = [...docs].sort((a, b) => (a.time as number) - (b.time as number)).map((d) => d.incident_id);

      const all = await onKv(memberB, ['incidents', '--format', 'json']);
      assert.equal(all.code, 0, all.stderr);
      assertNoSecrets(all);
      const listed = JSON.parse(all.stdout) as Record<string, string>[];
      assert.deepEqual(listed.map((r) => r.incident_id), byTime);
      const first = listed.find((r) => r.incident_id === docs[1]!.incident_id)!;
      assert.deepEqual(Object.keys(first), ['time', 'incident_id', 'src_ip', 'verdict', 'action', 'status', 'expires', 'updated', 'discord_message_id', 'rid', 'sid']);
      assert.equal(first.time, new Date((docs[1]!.time as number) * 1000).toISOString());
      assert.equal(first.expires, new Date((docs[1]!.expires as number) * 1000).toISOString());
      assert.equal(first.verdict, 'MALICIOUS');
      assert.equal(first.status, 'blocked');
      assert.equal(first.rid, '1');
      assert.equal(listed.find((r) => r.incident_id === docs[0]!.incident_id)!.expires, '', 'no expiry: an empty cell');

      const recent = await onKv(memberB, ['incidents', '--since', '24h', '--verdict', 'malicious', '--format', 'csv']);
      assert.equal(recent.code, 0, recent.stderr);
      const rows = parseCsv(recent.stdout, { columns: true }) as Record<string, string>[];
      assert.deepEqual(rows.map((r) => r.incident_id), [docs[1]!.incident_id], 'MALICIOUS within 24h only (not the one 30h ago)');
      // The filter is the KV store's query, not a filter over every document read.
      const sent = rest.kv!.requests.filter((r) => r.path.endsWith('/soar_incidents') && r.method === 'GET');
      const query = JSON.parse(new URLSearchParams(sent.at(-1)!.search).get('query') ?? '{}') as { verdict?: string; time?: { $gte?: number } };
      assert.equal(query.verdict, 'MALICIOUS');
      assert.ok(typeof query.time?.$gte === 'number' && Math.abs(query.time.$gte - (Date.now() / 1000 - 24 * HOUR_S)) < 60, JSON.stringify(query));

      const table = await onKv(memberB, ['incidents', '--since', '6h']);
      assert.equal(table.code, 0, table.stderr);
      const lines = table.stdout.trimEnd().split('\n');
      assert.deepEqual(lines[0]!.split(/\s+/), ['time', 'incident_id', 'src_ip', 'verdict', 'action', 'status', 'expires', 'updated', 'discord_message_id', 'rid', 'sid']);
      assert.equal(lines.length, 4, table.stdout);

      const none = await onKv(memberB, ['incidents', '--verdict', 'SAFE', '--since', '10m']);
      assert.equal(none.code, 0, none.stderr);
      assert.match(none.stdout, /no incidents match/);
    });

    it('pages through a collection larger than max_rows_per_query with limit and skip, each document once', async () => {
      const specs = Array.from({ length: 7 }, (_, i): [number, string] => [i + 1, 'UNKNOWN']);
      seedIncidents(specs);
      const before = rest.kv!.limits.maxRowsPerQuery;
      rest.kv!.limits.maxRowsPerQuery = 3;
      try {
        const r = await onKv(memberA, ['incidents', '--format', 'json']);
        assert.equal(r.code, 0, r.stderr);
        const listed = JSON.parse(r.stdout) as Record<string, string>[];
        assert.equal(listed.length, 7);
        assert.equal(new Set(listed.map((x) => x.incident_id)).size, 7, 'each once');
        const times = listed.map((x) => Date.parse(x.time!));
        assert.deepEqual(times, [...times].sort((a, b) => a - b), 'oldest first');
      } finally {
        rest.kv!.limits.maxRowsPerQuery = before;
      }
      const queries = rest.kv!.requests.filter((q) => q.path.endsWith('/soar_incidents') && q.method === 'GET');
      const skips = queries.map((q) => new URLSearchParams(q.search).get('skip'));
      assert.deepEqual(skips, ['0', '3', '6', '7'], 'pages until an empty one: a short page is not the last when splunkd caps the rows');
    });

    it('without a connection option: this host\'s incidents.csv, and splunkd is never asked', async () => {
      seedIncidents([[1, 'MALICIOUS']]);
      const r = await cli(memberA, ['incidents']);
      assert.equal(r.code, 0, r.stderr);
      assert.match(r.stdout, /no incidents match/);
      assert.deepEqual(rest.requests, []);
    });
  });

  describe('drain and replay', () => {
    it('drain with a connection logs in for the KV store; with a wrong password it stops with exit 3 before any KV request', async () => {
      const wrong = await onKv(memberA, ['drain'], 'not-the-Password-42');
      assert.equal(wrong.code, 3, wrong.stderr);
      assertNoSecrets(wrong, 'not-the-Password-42');
      assert.deepEqual(kvRequests(), []);

      rest.requests.length = 0;
      const ok = await onKv(memberA, ['drain']);
      assert.equal(ok.code, 0, ok.stderr);
      assertNoSecrets(ok);
      assert.ok(logins().length >= 1, 'logged in');
      assert.match(ok.stdout, /^delivered=0 enriched=0 /);
    });

    it('replay takes the connection options; --list reads this host\'s dead letters without a login', async () => {
      const help = await cli(memberA, ['replay', '--help']);
      assert.equal(help.code, 0, help.stderr);
      for (const text of ['--host', '--scheme', 'KV store']) assert.ok(help.stdout.includes(text), text);
      const list = await onKv(memberA, ['replay', '--list']);
      assert.equal(list.code, 0, list.stderr);
      assert.deepEqual(rest.requests, [], '--list reads this host\'s dead letters only');
    });

    it("replay of a refused card with a connection puts it into the KV store's outbox (any member delivers it) and removes the dead letter", async () => {
      const card = { content: 'MALICIOUS 203.0.113.9', embeds: [{ title: 'SSH Brute Force' }] };
      const letter = writeDeadLetter(dataLayout(memberA), 'notification', card, 'Discord refused the message (HTTP 400)', Date.now(), { incidentId: 'INC-20261206-120000-00000a', kind: 'incident', attempts: 1 });
      assert.ok(letter.ok);
      const replayed = await onKv(memberA, ['replay', letter.value]);
      assert.equal(replayed.code, 0, replayed.stderr);
      assert.match(replayed.stdout, /INC-20261206-120000-00000a:incident queued in the outbox/);
      assertNoSecrets(replayed);
      assert.equal(existsSync(letter.value), false, 'the dead letter is removed once queued');
      const outbox = rest.kv!.docs('soar_state').filter((d) => d.kind === 'outbox');
      assert.deepEqual(outbox.map((d) => [d._key, JSON.parse(String(d.payload))]), [['outbox:INC-20261206-120000-00000a:incident', card]]);
      assert.equal(existsSync(path.join(memberA, 'outbox')) && readdirSync(path.join(memberA, 'outbox')).some((n) => n.endsWith('.json')), false, "not in this member's outbox folder");
    });
  });
});
