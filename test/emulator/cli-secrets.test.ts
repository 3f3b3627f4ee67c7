/**
 * `soar-edr secrets set|list` from the built CLI bundle against the loopback splunkd REST stub.
 */
import assert from 'node:assert/strict';
import { runBuiltCli } from '../support/built-cli';
import { RestStub, startRestStub } from '../support/splunkd-rest-stub';


describe('soar-edr secrets', function () {
  this.timeout(30_000);
  let rest: RestStub;
  before(async () => {
    rest = await startRestStub();
  });
  after(async () => rest.close());

  // The stub runs in this process, so the CLI must run asynchronously.
  const run = (args: string[], input: string, env: Record<string, string> = {}) => runBuiltCli(args, { env, input });
  const conn = () => ['--scheme', 'http', '--host', '127.0.0.1', '--port', String(rest.port), '--user', 'admin'];

  it('set stores the value read from stdin in realm soar_edr, and never prints it', async () => {
    const r = await run(['secrets', 'set', 'virustotal_api_key', ...conn()], 'vt-secret-value-123\n', { SPLUNK_PASSWORD: 'changeme-Adm1n' });
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /virustotal_api_key created in storage\/passwords \(realm soar_edr/);
    assert.ok(!(r.stdout + r.stderr).includes('vt-secret-value-123'));
    assert.deepEqual(rest.passwords, [{ app: 'soar_edr', realm: 'soar_edr', username: 'virustotal_api_key', password: 'vt-secret-value-123' }]);
    const again = await run(['secrets', 'set', 'virustotal_api_key', ...conn(), '--password', 'changeme-Adm1n'], 'rotated');
    assert.equal(again.code, 0, again.stderr);
    assert.match(again.stdout, /updated/);
    assert.equal(rest.passwords[0]!.password, 'rotated');
  });

  it('list shows names and whether each is stored, never values', async () => {
    const r = await run(['secrets', 'list', ...conn()], '', { SPLUNK_PASSWORD: 'changeme-Adm1n' });
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout, 'virustotal_api_key\tstored\nabuseipdb_api_key\tnot set\ndiscord_webhook_url\tnot set\n');
  });

  it('refuses an unknown secret name (exit 2), an empty value (exit 2), a wrong password (exit 3), no splunkd (exit 4)', async () => {
    const unknown = await run(['secrets', 'set', 'slack_token', ...conn()], 'x', { SPLUNK_PASSWORD: 'changeme-Adm1n' });
    assert.equal(unknown.code, 2);
    assert.match(unknown.stderr, /unknown secret "slack_token"; expected one of virustotal_api_key/);
    const empty = await run(['secrets', 'set', 'abuseipdb_api_key', ...conn()], '\n', { SPLUNK_PASSWORD: 'changeme-Adm1n' });
    assert.equal(empty.code, 2);
    const wrong = await run(['secrets', 'list', ...conn()], '', { SPLUNK_PASSWORD: 'wrong' });
    assert.equal(wrong.code, 3);
    assert.match(wrong.stderr, /401/);
    const nopass = await run(['secrets', 'list', ...conn()], '');
    assert.equal(nopass.code, 2);
    assert.match(nopass.stderr, /SPLUNK_PASSWORD/);
    const down = await run(['secrets', 'list', '--scheme', 'http', '--host', '127.0.0.1', '--port', '1', '--password', 'x'], '');
    assert.equal(down.code, 4);
  });
});
