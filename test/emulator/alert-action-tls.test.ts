/**
 * The alert action and the server_uri splunkd gives it: a stub there with a certificate the
 * action does not trust gets no session key, and the run goes on with the SOAR_* environment
 * secrets and one WARN that names the reason. splunkd's usual case, its default certificate on
 * 127.0.0.1 (the CA at $SPLUNK_HOME/etc/auth/cacert.pem), keeps working.
 */
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { IntelStub, startVirusTotalStub, VT_OPENCTI_IP, VtAnswer } from '../support/intel-stubs';
import { withSignature } from '../support/splunk-log';
import { actionConfiguration, buildPayload, InstalledApp, installApp, runAction, writeDispatch } from '../support/splunkd-emulator';
import { RestStub, startRestStub } from '../support/splunkd-rest-stub';
import { KeyAndCert, makeTestCerts, TestCerts } from '../support/test-certs';

const FALLBACK = 'Cannot read storage/passwords; using SOAR_* environment variables';

describe('alert action: the certificate at server_uri', function () {
  this.timeout(60_000);
  let app: InstalledApp;
  let certs: TestCerts;
  let vt: IntelStub<VtAnswer>;
  let dataDir: string;
  const stubs: RestStub[] = [];

  before(async () => {
    certs = makeTestCerts();
    app = await installApp();
    vt = await startVirusTotalStub();
    // splunkd's default CA, where splunkd keeps it in this fake SPLUNK_HOME.
    mkdirSync(path.join(app.splunkHome, 'etc', 'auth'), { recursive: true });
    writeFileSync(path.join(app.splunkHome, 'etc', 'auth', 'cacert.pem'), certs.splunkCa.cert);
  });
  after(async () => {
    await vt.close();
    certs.remove();
    rmSync(app.splunkHome, { recursive: true, force: true });
  });
  beforeEach(() => {
    dataDir = mkdtempSync(path.join(tmpdir(), 'soar-data-tls-'));
  });
  afterEach(async () => {
    for (const s of stubs.splice(0)) await s.close();
    rmSync(dataDir, { recursive: true, force: true });
  });

  async function splunkdWith(kc: KeyAndCert): Promise<RestStub> {
    const stub = await startRestStub({ tls: { key: kc.key, cert: kc.cert } });
    stub.passwords.push({ app: 'soar_edr', realm: 'soar_edr', username: 'virustotal_api_key', password: vt.apiKey });
    stubs.push(stub);
    return stub;
  }

  async function fire(stub: RestStub, env: Record<string, string>) {
    const d = writeDispatch(app, [{ src_ip: VT_OPENCTI_IP }], 'per_result');
    const payload = buildPayload({ sid: d.sid, resultsFile: d.resultsFiles[0]!, configuration: actionConfiguration(app), serverUri: stub.url, sessionKey: stub.sessionKey });
    return runAction(app, payload, { env: { SOAR_DATA_DIR: dataDir, SOAR_VIRUSTOTAL_URL: vt.baseUrl, ...env } });
  }

  for (const [name, cert, reason] of [
    ['self-signed, for another name', 'selfSigned', /self-signed/],
    ['of an unknown CA, for another name', 'wrongName', /unknown CA/],
  ] as const) {
    it(`a certificate ${name} gets no session key; the run uses the environment secrets, with one WARN naming the reason`, async () => {
      const stub = await splunkdWith(certs[cert]);
      const run = await fire(stub, { SOAR_VIRUSTOTAL_API_KEY: vt.apiKey });
      assert.equal(run.code, 0, run.stderr);
      assert.deepEqual(stub.requests, [], 'the session key must not be sent');
      assert.equal(stub.handshakes, 0);
      const warn = withSignature(run.lines, FALLBACK);
      assert.equal(warn.length, 1, run.stderr);
      assert.equal(warn[0]!.level, 'WARN');
      assert.equal(warn[0]!.fields.reason, 'certificate');
      assert.match(warn[0]!.fields.message!, reason);
      assert.match(warn[0]!.fields.message!, /nothing was sent.*sslRootCAPath/);
      assert.equal(withSignature(run.lines, 'Incident recorded')[0]!.fields.verdict, 'MALICIOUS', 'enriched with the key from the environment');
      assert.ok(!run.stderr.includes(stub.sessionKey) && !run.stderr.includes(vt.apiKey));
    });
  }

  it("splunkd's default certificate on 127.0.0.1 (CA in $SPLUNK_HOME/etc/auth/cacert.pem) is trusted: secrets come from storage/passwords", async () => {
    const stub = await splunkdWith(certs.splunkDefault);
    const run = await fire(stub, {});
    assert.equal(run.code, 0, run.stderr);
    assert.equal(withSignature(run.lines, FALLBACK).length, 0, run.stderr);
    assert.equal(stub.requests.length, 1);
    assert.equal(stub.requests[0]!.auth, `Splunk ${stub.sessionKey}`);
    assert.equal(withSignature(run.lines, 'Incident recorded')[0]!.fields.verdict, 'MALICIOUS', 'enriched with the key from storage/passwords');
  });

  it('a CA named by server.conf [sslConfig] sslRootCAPath is trusted too', async () => {
    const local = path.join(app.splunkHome, 'etc', 'system', 'local');
    mkdirSync(local, { recursive: true });
    writeFileSync(path.join(local, 'server.conf'), `[sslConfig]\nsslRootCAPath = ${certs.ca.certFile}\n`);
    try {
      const stub = await splunkdWith(certs.loopback);
      const run = await fire(stub, {});
      assert.equal(run.code, 0, run.stderr);
      assert.equal(withSignature(run.lines, FALLBACK).length, 0, run.stderr);
      assert.equal(stub.requests.length, 1);
    } finally {
      rmSync(path.join(local, 'server.conf'));
    }
  });
});
