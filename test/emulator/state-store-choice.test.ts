/**
 * [state] store in soar_edr.conf, through the packaged action: `auto` (the shipped default)
 * keeps the state in the KV store when splunkd answers, and in the data directory with one WARN
 * when the alert's splunkd cannot be reached; a bad value is one ERROR and auto applies.
 */
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { closedPort } from '../support/net-faults';
import { withSignature } from '../support/splunk-log';
import { actionConfiguration, buildPayload, InstalledApp, installApp, runAction, writeDispatch } from '../support/splunkd-emulator';
import { RestStub, startRestStub } from '../support/splunkd-rest-stub';

const FALLBACK = 'KV store not usable; this run keeps its state in the data directory';
/** A private address: recorded without asking any provider. */
const ADDRESS = '10.20.30.40';

describe('[state] store: where the alert action keeps its state', function () {
  this.timeout(60_000);
  let app: InstalledApp;
  let rest: RestStub;
  let dataDir: string;
  before(async () => {
    app = await installApp(undefined, { stateStore: 'auto' });
    rest = await startRestStub({ kvstore: true });
  });
  after(async () => {
    await rest.close();
    rmSync(app.splunkHome, { recursive: true, force: true });
  });
  beforeEach(() => {
    dataDir = mkdtempSync(path.join(tmpdir(), 'soar-state-choice-'));
  });
  afterEach(() => rmSync(dataDir, { recursive: true, force: true }));

  const run = (serverUri: string, sid: string) => {
    const d = writeDispatch(app, [{ src_ip: ADDRESS, failure_count: '11' }], 'per_result', sid);
    return runAction(app, buildPayload({ sid, resultsFile: d.resultsFiles[0]!, configuration: actionConfiguration(app), serverUri, sessionKey: rest.sessionKey }), { env: { SOAR_DATA_DIR: dataDir } });
  };

  it('auto, splunkd answering: the incident is claimed in the KV store, no WARN about the store', async () => {
    const r = await run(rest.url, 'scheduler__admin__search__RMD5choice_at_1765000000_1');
    assert.equal(r.code, 0, r.stderr);
    assert.equal(withSignature(r.lines, FALLBACK).length, 0);
    assert.equal(rest.kv!.docs('soar_incidents').filter((d) => d.src_ip === ADDRESS).length, 1);
  });

  it('auto, splunkd not reachable: one WARN naming the cause and the setting, the incident recorded in the data directory', async () => {
    const before = rest.kv!.docs('soar_incidents').length;
    const r = await run(`http://127.0.0.1:${await closedPort()}`, 'scheduler__admin__search__RMD5choice_at_1765000000_2');
    assert.equal(r.code, 0, r.stderr);
    const warn = withSignature(r.lines, FALLBACK);
    assert.equal(warn.length, 1, r.stderr);
    assert.equal(warn[0]!.fields.reason, 'io');
    assert.match(warn[0]!.fields.message ?? '', /\[state\] store = kvstore/);
    assert.equal(withSignature(r.lines, 'Incident recorded').length, 1);
    assert.ok(existsSync(path.join(dataDir, 'incidents.csv')));
    assert.equal(rest.kv!.docs('soar_incidents').length, before, 'nothing reached the KV store');
  });

  it('a bad value is one ERROR naming the file and the key, and auto applies', async () => {
    const local = path.join(app.appDir, 'local', 'soar_edr.conf');
    mkdirSync(path.dirname(local), { recursive: true });
    writeFileSync(local, '[state]\nstore = cluster\n');
    try {
      const r = await run(rest.url, 'scheduler__admin__search__RMD5choice_at_1765000000_3');
      assert.equal(withSignature(r.lines, 'Invalid app configuration').filter((l) => /\[state\] store/.test(l.fields.message ?? '')).length, 1, r.stderr);
      assert.equal(rest.kv!.docs('soar_incidents').filter((d) => d.sid === 'scheduler__admin__search__RMD5choice_at_1765000000_3').length, 1, 'auto: the KV store');
    } finally {
      rmSync(local);
    }
  });
});
