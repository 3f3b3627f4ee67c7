/**
 * `soar-edr drain` and `soar-edr replay` with a connection option run the pipeline on the KV
 * store's shared state (issue 12 item 6): the commands log in and pass
 * `PipelineDeps.stateFor` (src/cli/kvstore-connection.ts cliPipelineDeps); what lands in the
 * KV store is the pipeline's doing. The login and exit 3 on a wrong password before any KV
 * request are in cli-kvstore.test.ts.
 */
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { gzipSync } from 'node:zlib';
import { resultKeyHash } from '../../src/respond/incident-store';
import { BuiltCliRun, CLI, runBuiltCli } from '../support/built-cli';
import { IntelStub, startVirusTotalStub, VT_OPENCTI_IP } from '../support/intel-stubs';
import { actionConfiguration, buildPayload, InstalledApp, installApp, resultsCsv, Row, runAction, writeDispatch } from '../support/splunkd-emulator';
import { RestStub, startRestStub } from '../support/splunkd-rest-stub';

const ADMIN_PASSWORD = 'changeme-Adm1n';
/** Public, unknown to the VirusTotal stub (404 NotFound → UNKNOWN). */
const UNKNOWN_IP = '183.62.140.253';

describe('soar-edr drain and replay on the KV store with a connection', function () {
  this.timeout(90_000);
  let app: InstalledApp;
  let rest: RestStub;
  let vt: IntelStub<string>;
  let dataDir: string;

  before(async () => {
    assert.ok(existsSync(CLI), `${CLI} is built by: npx tsc -p tsconfig.json && node build/build.mjs`);
    app = await installApp();
    rest = await startRestStub({ kvstore: true });
    vt = await startVirusTotalStub();
  });
  after(async () => {
    await rest.close();
    await vt.close();
    rmSync(app.splunkHome, { recursive: true, force: true });
  });
  beforeEach(() => {
    dataDir = mkdtempSync(path.join(tmpdir(), 'soar-cli-kv-drain-'));
    rest.kv!.collections.clear();
  });
  afterEach(() => rmSync(dataDir, { recursive: true, force: true }));

  const baseEnv = (): Record<string, string> => ({ SOAR_DATA_DIR: dataDir, SOAR_VIRUSTOTAL_URL: vt.baseUrl });
  const connection = (): string[] => ['--host', '127.0.0.1', '--port', String(rest.port), '--scheme', 'http', '--user', 'admin'];
  function onKv(args: string[], env: Record<string, string> = {}): Promise<BuiltCliRun> {
    return runBuiltCli([...args, ...connection()], { env: { HOME: dataDir, ...baseEnv(), SPLUNK_PASSWORD: ADMIN_PASSWORD, ...env } });
  }

  async function alertRun(rows: Row[], resultsFile?: string): Promise<{ code: number | null; stderr: string; sid: string }> {
    const d = writeDispatch(app, rows, 'digest');
    const payload = buildPayload({ sid: d.sid, resultsFile: resultsFile ?? d.resultsFiles[0]!, configuration: actionConfiguration(app), serverUri: rest.url, sessionKey: rest.sessionKey, result: rows[0] });
    const run = await runAction(app, payload, { env: baseEnv() });
    return { code: run.code, stderr: run.stderr, sid: d.sid };
  }

  it('drain --host enriches the queued addresses into the KV store\'s soar_intel and counts the requests in its quota', async () => {
    // Recorded without a VirusTotal key: both addresses wait in the queue.
    const run = await alertRun([{ src_ip: VT_OPENCTI_IP, failure_count: '8' }, { src_ip: UNKNOWN_IP, failure_count: '3' }]);
    assert.equal(run.code, 0, run.stderr);
    rest.kv!.collections.delete('soar_intel');

    const drained = await onKv(['drain'], { SOAR_VIRUSTOTAL_API_KEY: vt.apiKey });
    // Exit 6: no webhook here, the cards stay in the outbox; the enrichment is what this test is about.
    assert.equal(drained.code, 6, drained.stderr);
    assert.match(drained.stdout, /^delivered=0 enriched=2 /);
    assert.ok(!drained.stderr.includes(rest.sessionKey) && !drained.stderr.includes(ADMIN_PASSWORD));
    const intel = new Map(rest.kv!.docs('soar_intel').map((d) => [d._key, d]));
    assert.equal(intel.get(VT_OPENCTI_IP)?.vt_state, 'report', 'the enrichment cache every member reads');
    assert.equal(intel.get(UNKNOWN_IP)?.vt_state, 'not_found');
    const grants = rest.kv!.docs('soar_state').filter((d) => d.kind === 'quota' && d.provider === 'virustotal');
    assert.equal(grants.length, 2, 'one cluster-wide quota grant per VirusTotal request');
  });

  it('replay --host records a kept payload\'s incidents in soar_incidents, once', async () => {
    const d = writeDispatch(app, [{ src_ip: '192.0.2.1' }], 'digest');
    const resultsFile = path.join(d.dir, 'results_later.csv.gz');
    const payload = buildPayload({ sid: d.sid, resultsFile, configuration: actionConfiguration(app), serverUri: rest.url, sessionKey: rest.sessionKey });
    const kept = await runAction(app, payload, { env: baseEnv() });
    assert.equal(kept.code, 3, kept.stderr);
    const letters = readdirSync(path.join(dataDir, 'dead-letters')).filter((n) => n.endsWith('.json'));
    assert.equal(letters.length, 1);
    writeFileSync(resultsFile, gzipSync(resultsCsv([{ src_ip: VT_OPENCTI_IP, failure_count: '9' }, { src_ip: UNKNOWN_IP, failure_count: '4' }])));

    const replayed = await onKv(['replay', letters[0]!], { SOAR_VIRUSTOTAL_API_KEY: vt.apiKey, SPLUNK_HOME: app.splunkHome });
    assert.equal(replayed.code, 0, replayed.stderr);
    const docs = new Map(rest.kv!.docs('soar_incidents').map((x) => [x._key, x]));
    assert.equal(docs.get(resultKeyHash(d.sid, '0'))?.src_ip, VT_OPENCTI_IP);
    assert.equal(docs.get(resultKeyHash(d.sid, '1'))?.src_ip, UNKNOWN_IP);

    const again = await onKv(['replay', '--keep', path.join(dataDir, 'dead-letters', letters[0]! + '.replayed')], { SOAR_VIRUSTOTAL_API_KEY: vt.apiKey, SPLUNK_HOME: app.splunkHome });
    assert.equal(again.code, 0, again.stderr);
    assert.equal(rest.kv!.docs('soar_incidents').length, 2, 'recorded once, cluster-wide');
  });
});
