import assert from 'node:assert/strict';
import { parseActionConfig } from '../../src/splunk/action-config';
import {
  connectionFromServerUri,
  fetchStoredSecrets,
  listStoredSecrets,
  mergeSecrets,
  secretsFromCredentials,
  secretsFromEnv,
  secretsInParams,
  storeSecret,
  STRICT_TRUST,
} from '../../src/splunk/secrets';
import { RestStub, startRestStub } from '../support/splunkd-rest-stub';

describe('splunk/secrets', () => {
  it('picks only realm soar_edr entries with our names from a storage/passwords listing', () => {
    const s = secretsFromCredentials([
      { realm: 'soar_edr', username: 'virustotal_api_key', clear_password: 'vt' },
      { realm: 'other', username: 'abuseipdb_api_key', clear_password: 'x' },
      { realm: 'soar_edr', username: 'unknown_name', clear_password: 'y' },
      { realm: 'soar_edr', username: 'discord_webhook_url', clear_password: '' },
    ]);
    assert.deepEqual(s, { virustotal_api_key: 'vt' });
  });

  it('reads SOAR_* variables and lets storage/passwords win over them', () => {
    const env = secretsFromEnv({ SOAR_VIRUSTOTAL_API_KEY: ' env-vt ', SOAR_DISCORD_WEBHOOK_URL: 'https://discord.com/api/webhooks/1/t', SOAR_ABUSEIPDB_API_KEY: '' });
    assert.deepEqual(env, { virustotal_api_key: 'env-vt', discord_webhook_url: 'https://discord.com/api/webhooks/1/t' });
    const merged = mergeSecrets({ virustotal_api_key: 'stored-vt' }, env);
    assert.deepEqual(merged.values, { virustotal_api_key: 'stored-vt', discord_webhook_url: 'https://discord.com/api/webhooks/1/t' });
    assert.deepEqual(merged.origin, { virustotal_api_key: 'storage/passwords', discord_webhook_url: 'environment' });
  });

  it('flags secrets given as params by name, by key shape, or by a webhook URL value', () => {
    const found = secretsInParams({
      virustotal_api_key: 'k',
      my_token: 'abc',
      notify: 'https://discord.com/api/webhooks/123/abc-def',
      address_fields: 'src_ip',
      empty_password: '',
    });
    assert.deepEqual(found.map((f) => f.param), ['virustotal_api_key', 'my_token', 'notify']);
    assert.match(found[0]!.problem.message, /soar-edr secrets set virustotal_api_key/);
    assert.match(found[2]!.problem.message, /soar-edr secrets set discord_webhook_url/);
    assert.ok(found.every((f) => !f.problem.message.includes('abc-def')), 'the message never repeats the secret');
  });

  it('parseActionConfig drops refused secrets, reports bad params, keeps defaults', () => {
    const { config, problems } = parseActionConfig({ address_fields: 'src_ip, bad name!', log_level: 'LOUD', discord_webhook_url: 'https://x' });
    assert.deepEqual(config.addressFields, ['src_ip', 'src', 'ip']);
    assert.equal(config.logLevel, 'INFO');
    assert.ok(!('discord_webhook_url' in config.params));
    assert.deepEqual(problems.map((p) => p.kind).sort(), ['invalid_param', 'invalid_param', 'secret_in_param']);
    const good = parseActionConfig({ address_fields: 'attacker ip', log_level: 'debug' }).config;
    assert.deepEqual([good.addressFields, good.logLevel], [['attacker', 'ip'], 'DEBUG']);
  });

  it('parses server_uri into a connection (https default port, IPv6 host)', () => {
    assert.deepEqual(connectionFromServerUri('https://127.0.0.1:8089', 'k', 5), { ok: true, value: { scheme: 'https', host: '127.0.0.1', port: 8089, sessionKey: 'k', timeoutMs: 5, trust: STRICT_TRUST } });
    const v6 = connectionFromServerUri('https://[::1]', 'k', 5);
    assert.ok(v6.ok && v6.value.port === 443 && v6.value.host === '[::1]');
    assert.equal(connectionFromServerUri('not a url', 'k', 5).ok, false);
  });

  describe('through splunk-sdk against a loopback splunkd REST stub', () => {
    let rest: RestStub;
    beforeEach(async () => {
      rest = await startRestStub();
    });
    afterEach(async () => rest.close());
    const withKey = (key: string) => ({ scheme: 'http' as const, host: '127.0.0.1', port: rest.port, sessionKey: key, timeoutMs: 5000 });
    const withLogin = (password: string) => ({ scheme: 'http' as const, host: '127.0.0.1', port: rest.port, username: 'admin', password, timeoutMs: 5000 });

    it('reads stored secrets with the session key in one request', async () => {
      rest.passwords.push({ app: 'soar_edr', realm: 'soar_edr', username: 'abuseipdb_api_key', password: 'abuse-secret-1' });
      const r = await fetchStoredSecrets(withKey(rest.sessionKey));
      assert.deepEqual(r, { ok: true, value: { abuseipdb_api_key: 'abuse-secret-1' } });
      assert.equal(rest.requests.length, 1);
      assert.equal(rest.requests[0]!.auth, `Splunk ${rest.sessionKey}`);
    });
    it('a wrong session key is an auth error with splunkd’s message', async () => {
      const r = await fetchStoredSecrets(withKey('nope'));
      assert.equal(r.ok, false);
      if (!r.ok) {
        assert.equal(r.error.kind, 'auth');
        assert.match(r.error.message, /401: call not properly authenticated/);
      }
    });
    it('403 names the capability the user lacks', async () => {
      rest.failWith = 403;
      const r = await fetchStoredSecrets(withKey(rest.sessionKey));
      assert.ok(!r.ok && r.error.kind === 'forbidden' && /list_storage_passwords/.test(r.error.message));
    });
    it('an unreachable splunkd is reported as such', async () => {
      const port = rest.port;
      await rest.close();
      const r = await fetchStoredSecrets({ scheme: 'http', host: '127.0.0.1', port, sessionKey: 'k', timeoutMs: 2000 });
      assert.ok(!r.ok && r.error.kind === 'unreachable' && /ECONNREFUSED/.test(r.error.message), JSON.stringify(r));
      rest = await startRestStub();
    });
    it('stores a secret (create, then update) and lists names only', async () => {
      assert.deepEqual(await storeSecret(withLogin('changeme-Adm1n'), 'virustotal_api_key', 'first'), { ok: true, value: 'created' });
      assert.deepEqual(await storeSecret(withLogin('changeme-Adm1n'), 'virustotal_api_key', 'second'), { ok: true, value: 'updated' });
      assert.deepEqual(rest.passwords, [{ app: 'soar_edr', realm: 'soar_edr', username: 'virustotal_api_key', password: 'second' }]);
      assert.deepEqual(await listStoredSecrets(withLogin('changeme-Adm1n')), { ok: true, value: ['virustotal_api_key'] });
    });
    it('a wrong admin password is an auth error', async () => {
      const r = await storeSecret(withLogin('wrong'), 'virustotal_api_key', 'x');
      assert.ok(!r.ok && r.error.kind === 'auth', JSON.stringify(r));
      assert.equal(rest.passwords.length, 0);
    });
  });
});
