/**
 * `soar-edr state import` from the built CLI bundle: a 0.1.0 data directory (written by the
 * file store's own functions) imported through a login to the loopback splunkd stub, which
 * serves the KV store on the same port as splunkd does.
 */
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { blockAddress } from '../../src/respond/blocklist';
import { claimNotification } from '../../src/respond/notify-ledger';
import { IncidentDraft, recordIncident, resultKeyHash } from '../../src/respond/incident-store';
import { dataLayout, DataLayout } from '../../src/store/data-dir';
import { importMarkerFile } from '../../src/state/file-store-import';
import { CLI, runBuiltCli } from '../support/built-cli';
import { ip } from '../support/ip-address';
import { RestStub, startRestStub } from '../support/splunkd-rest-stub';

const PASSWORD = 'changeme-Adm1n';
const T0 = Date.now() - 60_000;

function oldDataDir(layout: DataLayout): void {
  const ok = <T>(r: { ok: true; value: T } | { ok: false; error: { message: string } }): T => {
    if (!r.ok) throw new Error(r.error.message);
    return r.value;
  };
  ok(blockAddress(layout, ip('198.51.100.7'), 'MALICIOUS', 'brute force', T0, { baseSeconds: 3600, maxSeconds: 86_400 }, { offence: 'sid-1' }));
  ok(claimNotification(layout, ip('198.51.100.7'), 'MALICIOUS', T0, 3600, 'INC-20261206-120000-000001'));
  const draft = {
    time: new Date(T0).toISOString(),
    srcIp: '198.51.100.7',
    verdict: 'MALICIOUS',
    reason: 'test',
    detection: 'SSH Brute Force',
    sid: 'sid-1',
    rid: '0',
    users: ['root'],
    vt: { state: 'not_looked_up', message: 'test' },
    action: { kind: 'not_blocked', reason: 'test' },
  } as IncidentDraft;
  ok(recordIncident(layout, draft, () => 'INC-20261206-120000-000001'));
}

describe('soar-edr state import', function () {
  this.timeout(60_000);
  let rest: RestStub;
  let dataDir: string;

  before(async () => {
    assert.ok(existsSync(CLI), `${CLI} is built by: npx tsc -p tsconfig.json && node build/build.mjs`);
    rest = await startRestStub({ kvstore: true });
  });
  after(async () => rest.close());
  beforeEach(() => {
    dataDir = mkdtempSync(path.join(tmpdir(), 'soar-cli-import-'));
    oldDataDir(dataLayout(dataDir));
  });
  afterEach(() => {
    rest.kv!.unavailable = false;
    for (const docs of rest.kv!.collections.values()) docs.clear();
    rmSync(dataDir, { recursive: true, force: true });
  });

  const conn = () => ['--scheme', 'http', '--host', '127.0.0.1', '--port', String(rest.port), '--user', 'admin'];
  const run = (args: string[], env: Record<string, string> = {}) => runBuiltCli(['state', 'import', ...conn(), ...args], { env: { HOME: dataDir, SOAR_DATA_DIR: dataDir, SPLUNK_PASSWORD: PASSWORD, ...env } });

  it('logs in, imports once (one line per kind), then says it was done; --force imports the same again', async () => {
    const r = await run([]);
    assert.equal(r.code, 0, r.stderr);
    const lines = r.stdout.trim().split('\n');
    assert.deepEqual(lines.slice(0, 4), [
      'blocklist: read=1 written=1 unchanged=0 skipped=0',
      'notifications: read=1 written=1 unchanged=0 skipped=0',
      'intel: read=0 written=0 unchanged=0 skipped=0',
      'incidents: read=1 written=1 unchanged=0 skipped=0',
    ]);
    assert.match(r.stdout, /not imported: quota, queue, outbox, spool/);
    assert.ok(!(r.stdout + r.stderr).includes(PASSWORD), 'the password is never printed');
    assert.ok(!(r.stdout + r.stderr).includes(rest.sessionKey), 'nor the session key');
    assert.ok(rest.requests.some((q) => q.path === '/services/auth/login'), 'a login');
    assert.deepEqual(rest.kv!.docs('soar_blocklist').map((d) => d._key), ['198.51.100.7']);
    assert.deepEqual(rest.kv!.docs('soar_incidents').map((d) => [d._key, d.incident_id]), [[resultKeyHash('sid-1', '0'), 'INC-20261206-120000-000001']]);
    assert.ok(existsSync(importMarkerFile(dataLayout(dataDir))));

    const again = await run([]);
    assert.equal(again.code, 0, again.stderr);
    assert.match(again.stdout, /^already imported at \d{4}-\d\d-\d\dT.*--force imports again\n$/);

    const forced = await run(['--force']);
    assert.equal(forced.code, 0, forced.stderr);
    assert.match(forced.stdout, /^blocklist: read=1 written=0 unchanged=1 skipped=0$/m);
    assert.match(forced.stdout, /^incidents: read=1 written=0 unchanged=1 skipped=0$/m);
    assert.equal(rest.kv!.docs('soar_incidents').length, 1);
  });

  it('KV store unavailable: exit 5, the reason and what to do on stderr, no marker', async () => {
    rest.kv!.unavailable = true;
    const r = await run([]);
    assert.equal(r.code, 5, r.stderr);
    assert.match(r.stderr, /ERROR importing the file store into the KV store stopped at the blocklist/);
    assert.match(r.stderr, /soar-edr state import/);
    assert.equal(existsSync(importMarkerFile(dataLayout(dataDir))), false);
  });

  it('a wrong password is exit 3, no password exit 2, no splunkd exit 4; nothing imported', async () => {
    const wrong = await run([], { SPLUNK_PASSWORD: 'wrong' });
    assert.equal(wrong.code, 3, wrong.stderr);
    assert.match(wrong.stderr, /401/);
    const none = await runBuiltCli(['state', 'import', ...conn()], { env: { HOME: dataDir, SOAR_DATA_DIR: dataDir } });
    assert.equal(none.code, 2, none.stderr);
    assert.match(none.stderr, /SPLUNK_PASSWORD/);
    const down = await runBuiltCli(['state', 'import', '--scheme', 'http', '--host', '127.0.0.1', '--port', '1'], { env: { HOME: dataDir, SOAR_DATA_DIR: dataDir, SPLUNK_PASSWORD: PASSWORD } });
    assert.equal(down.code, 4, down.stderr);
    assert.equal(rest.kv!.docs('soar_blocklist').length, 0);
    assert.equal(existsSync(importMarkerFile(dataLayout(dataDir))), false);
  });

  it('--help says what is imported, what is not, the marker and the exit codes', async () => {
    const r = await runBuiltCli(['state', 'import', '--help']);
    assert.equal(r.code, 0);
    for (const text of ['--force', 'soar_blocklist', 'quota/', 'kvstore-import.json', 'Exit codes', '--host']) assert.ok(r.stdout.includes(text), text);
  });
});
