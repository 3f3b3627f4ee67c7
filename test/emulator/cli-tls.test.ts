/**
 * splunkd's certificate, from the built CLI: `secrets`, `drain` and `reputation` against
 * loopback HTTPS stubs whose certificates openssl makes at test time. A refused certificate
 * means no request at all reached the stub: no login, no password, no key.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { runBuiltCli } from '../support/built-cli';
import { RestStub, startRestStub } from '../support/splunkd-rest-stub';
import { KeyAndCert, makeTestCerts, TestCerts } from '../support/test-certs';

const PASSWORD = 'changeme-Adm1n';
const SECRET_VALUE = 'vt-secret-value-tls-42';

interface CliRun {
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

describe('soar-edr and splunkd certificates', function () {
  this.timeout(60_000);
  let certs: TestCerts;
  let dataDir: string;
  const stubs: RestStub[] = [];
  before(() => {
    certs = makeTestCerts();
  });
  after(() => certs.remove());
  beforeEach(() => {
    dataDir = mkdtempSync(path.join(tmpdir(), 'soar-cli-tls-'));
  });
  afterEach(async () => {
    for (const s of stubs.splice(0)) await s.close();
    rmSync(dataDir, { recursive: true, force: true });
  });

  async function stubWith(kc: KeyAndCert): Promise<RestStub> {
    // With the KV store, as every splunkd: drain works on its outbox.
    const stub = await startRestStub({ tls: { key: kc.key, cert: kc.cert }, admin: { user: 'admin', password: PASSWORD }, kvstore: true });
    stubs.push(stub);
    return stub;
  }

  // The stubs run in this process, so the CLI must run asynchronously.
  function run(args: string[], input: string, env: Record<string, string> = {}): Promise<CliRun> {
    // Providers on a closed loopback port: nothing may leave the host, whatever a test stores.
    const providers = { SOAR_VIRUSTOTAL_URL: 'http://127.0.0.1:1', SOAR_ABUSEIPDB_URL: 'http://127.0.0.1:1' };
    return runBuiltCli(args, { env: { SOAR_DATA_DIR: dataDir, ...providers, ...env }, input });
  }
  const at = (stub: RestStub) => ['--host', '127.0.0.1', '--port', String(stub.port)];
  const withPassword = { SPLUNK_PASSWORD: PASSWORD };

  /** The three commands that talk to splunkd, each with its connection exit code. */
  const commands = (stub: RestStub, extra: string[] = []) => [
    { name: 'secrets set', args: ['secrets', 'set', 'virustotal_api_key', ...at(stub), ...extra], input: SECRET_VALUE, exit: 4 },
    { name: 'secrets list', args: ['secrets', 'list', ...at(stub), ...extra], input: '', exit: 4 },
    { name: 'drain', args: ['drain', ...at(stub), ...extra], input: '', exit: 4 },
    // A private address: the gate keeps it home, so a run that gets this far asks no provider.
    { name: 'reputation', args: ['reputation', '10.0.0.1', '--no-wait', ...at(stub), ...extra], input: '', exit: 7 },
  ];

  function assertNoSecretShown(r: CliRun): void {
    for (const secret of [PASSWORD, SECRET_VALUE]) assert.ok(!(r.stdout + r.stderr).includes(secret), `${secret} appeared in the output`);
  }

  it('a self-signed certificate for another name on 127.0.0.1: every command is refused, and the stub receives nothing', async () => {
    const stub = await stubWith(certs.selfSigned);
    for (const c of commands(stub)) {
      const r = await run(c.args, c.input, withPassword);
      assert.equal(r.code, c.exit, `${c.name}: ${r.stderr}`);
      assert.match(r.stderr, /certificate at 127\.0\.0\.1:\d+ is not trusted: the certificate is self-signed; nothing was sent/, c.name);
      for (const way of [/--ca-file FILE/, /real certificate/, /--insecure/]) assert.match(r.stderr, way, c.name);
      assertNoSecretShown(r);
    }
    assert.deepEqual(stub.requests, [], 'no login, no password, no key');
    assert.equal(stub.handshakes, 0);
    assert.deepEqual(stub.passwords, []);
  });

  it('--ca-file with the right CA but a certificate for another name is still refused; one for 127.0.0.1 works', async () => {
    const wrong = await stubWith(certs.wrongName);
    const refused = await run(['secrets', 'set', 'virustotal_api_key', ...at(wrong), '--ca-file', certs.ca.certFile], SECRET_VALUE, withPassword);
    assert.equal(refused.code, 4, refused.stderr);
    assert.match(refused.stderr, /the certificate is for another name/);
    assert.deepEqual(wrong.requests, []);

    const right = await stubWith(certs.loopback);
    const ok = await run(['secrets', 'set', 'virustotal_api_key', ...at(right), '--ca-file', certs.ca.certFile], SECRET_VALUE, withPassword);
    assert.equal(ok.code, 0, ok.stderr);
    assert.deepEqual(right.passwords.map((p) => p.password), [SECRET_VALUE]);
    assertNoSecretShown(ok);
  });

  it('SPLUNK_CA_FILE works like --ca-file, for drain and reputation too', async () => {
    const wrong = await stubWith(certs.wrongName);
    const refused = await run(['drain', ...at(wrong)], '', { ...withPassword, SPLUNK_CA_FILE: certs.ca.certFile });
    assert.equal(refused.code, 4, refused.stderr);
    assert.match(refused.stderr, /another name/);
    assert.deepEqual(wrong.requests, []);

    const right = await stubWith(certs.loopback);
    const list = await run(['secrets', 'list', ...at(right)], '', { ...withPassword, SPLUNK_CA_FILE: certs.ca.certFile });
    assert.equal(list.code, 0, list.stderr);
    const drain = await run(['drain', ...at(right)], '', { ...withPassword, SPLUNK_CA_FILE: certs.ca.certFile });
    assert.equal(drain.code, 0, drain.stderr);
    const reputation = await run(['reputation', '10.0.0.1', '--no-wait', ...at(right)], '', { ...withPassword, SPLUNK_CA_FILE: certs.ca.certFile });
    assert.equal(reputation.code, 0, reputation.stderr);
    assert.equal(right.requests.filter((q) => q.path.endsWith('/auth/login')).length, 3, 'list, drain and reputation each logged in over the verified connection');
  });

  it('a CA file that cannot be read or holds no certificate is a usage error naming it, before anything is sent', async () => {
    const stub = await stubWith(certs.loopback);
    const missing = path.join(dataDir, 'no-such-ca.pem');
    const notPem = path.join(dataDir, 'not-a-ca.txt');
    writeFileSync(notPem, 'hello\n');
    for (const [args, env] of [
      [['secrets', 'list', ...at(stub), '--ca-file', missing], withPassword],
      [['reputation', '10.0.0.1', '--no-wait', ...at(stub)], { ...withPassword, SPLUNK_CA_FILE: notPem }],
      [['drain', ...at(stub), '--ca-file', notPem], withPassword],
    ] as const) {
      const r = await run([...args], '', { ...env });
      assert.equal(r.code, 2, r.stderr);
      assert.ok(r.stderr.includes(args.includes('--ca-file') ? args[args.indexOf('--ca-file') + 1]! : notPem), r.stderr);
    }
    assert.deepEqual(stub.requests, []);
  });

  it('--insecure works against the self-signed stub and writes one WARN line; the password never appears', async () => {
    const stub = await stubWith(certs.selfSigned);
    for (const c of commands(stub, ['--insecure'])) {
      const r = await run(c.args, c.input, withPassword);
      assert.equal(r.code, 0, `${c.name}: ${r.stderr}`);
      const warnings = r.stderr.split('\n').filter((l) => /WARN/.test(l) && /--insecure/.test(l));
      assert.equal(warnings.length, 1, `${c.name}: ${r.stderr}`);
      assert.match(warnings[0]!, /certificate at 127\.0\.0\.1:\d+ is not checked/);
      assertNoSecretShown(r);
    }
    // The password as an argument is not echoed either.
    const argv = await run(['secrets', 'list', ...at(stub), '--insecure', '--password', PASSWORD], '');
    assert.equal(argv.code, 0, argv.stderr);
    assertNoSecretShown(argv);
    assert.deepEqual(stub.passwords.map((p) => p.password), [SECRET_VALUE]);
  });

  it("the loopback rule: a certificate of the fake SPLUNK_HOME's cacert.pem is accepted on 127.0.0.1 despite naming no host", async () => {
    const stub = await stubWith(certs.splunkDefault);
    const r = await run(['secrets', 'set', 'virustotal_api_key', ...at(stub)], SECRET_VALUE, { ...withPassword, SPLUNK_HOME: certs.splunkHome });
    assert.equal(r.code, 0, r.stderr);
    assert.doesNotMatch(r.stderr, /WARN/);
    assert.deepEqual(stub.passwords.map((p) => p.password), [SECRET_VALUE]);
    // Another SPLUNK_HOME, without that CA: refused.
    const other = await stubWith(certs.splunkDefault);
    const refused = await run(['secrets', 'list', ...at(other)], '', { ...withPassword, SPLUNK_HOME: path.join(certs.dir, 'elsewhere') });
    assert.equal(refused.code, 4, refused.stderr);
    assert.match(refused.stderr, /unknown CA/);
    assert.deepEqual(other.requests, []);
  });

  it('--help of every command that takes --password discourages it and names the prompt and SPLUNK_PASSWORD', async () => {
    for (const args of [['secrets', 'set'], ['secrets', 'list'], ['drain'], ['reputation']]) {
      const r = await run([...args, '--help'], '');
      assert.equal(r.code, 0, r.stderr);
      const text = r.stdout.replace(/\s+/g, ' ');
      assert.match(text, /--password <password> Splunk password; discouraged: other local users can read it in \/proc and ps/, args.join(' '));
      assert.match(text, /prompt/);
      assert.match(text, /SPLUNK_PASSWORD/);
      assert.match(text, /--ca-file/);
      assert.match(text, /--insecure/);
    }
  });
});
