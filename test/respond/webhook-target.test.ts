import assert from 'node:assert/strict';
import { executeWebhookUrl, parseAllowedHosts, parseWebhookTarget, redactWebhookText } from '../../src/respond/webhook-target';

const TOKEN = 'Xy9_TOKEN-secret-abcdef';
const ID = '1180000000000000001';

describe('respond/webhook-target', () => {
  const none = parseAllowedHosts(undefined);
  const listed = parseAllowedHosts(' 127.0.0.1:8765 , hooks.example.net, [::1]:9000, bad/entry, user@host:1, ');

  it('parses SOAR_WEBHOOK_ALLOWED_HOSTS entries and reports the invalid ones', () => {
    assert.deepEqual(listed.entries, ['127.0.0.1:8765', 'hooks.example.net:', '[::1]:9000']);
    assert.deepEqual(listed.invalid, ['bad/entry', 'user@host:1']);
    assert.deepEqual(none, { entries: [], invalid: [] });
  });

  const accepted: [string, ReturnType<typeof parseAllowedHosts>, string][] = [
    [`https://discord.com/api/webhooks/${ID}/${TOKEN}`, none, 'discord.com'],
    [`https://discordapp.com/api/webhooks/${ID}/${TOKEN}`, none, 'discordapp.com'],
    [`https://ptb.discord.com/api/v10/webhooks/${ID}/${TOKEN}`, none, 'ptb.discord.com'],
    [`https://canary.discord.com/api/webhooks/${ID}/${TOKEN}/`, none, 'canary.discord.com'],
    [`https://DISCORD.com/api/webhooks/${ID}/${TOKEN}?thread_id=123456789012345678`, none, 'discord.com'],
    [`  https://discord.com:443/api/webhooks/${ID}/${TOKEN}  `, none, 'discord.com'],
    [`http://127.0.0.1:8765/api/webhooks/${ID}/${TOKEN}`, listed, '127.0.0.1:8765'],
    [`https://hooks.example.net/api/webhooks/${ID}/${TOKEN}`, listed, 'hooks.example.net'],
    [`http://[::1]:9000/api/webhooks/${ID}/${TOKEN}`, listed, '[::1]:9000'],
  ];
  for (const [url, allowed, host] of accepted) {
    it(`accepts ${url.trim().replace(TOKEN, '<token>')}`, () => {
      const r = parseWebhookTarget(url, allowed);
      assert.ok(r.ok, r.ok ? '' : r.error.message);
      assert.equal(r.value.host, host);
      assert.equal(r.value.webhookId, ID);
      assert.ok(r.value.url.includes(TOKEN));
      assert.ok(!r.value.redacted.includes(TOKEN));
      assert.ok(r.value.redacted.includes('[redacted]'));
    });
  }

  const refused: [string, ReturnType<typeof parseAllowedHosts>, string, RegExp][] = [
    [`http://127.0.0.1:8765/api/webhooks/${ID}/${TOKEN}`, none, 'webhook_host_refused', /not a Discord webhook host/],
    [`http://127.0.0.1:8766/api/webhooks/${ID}/${TOKEN}`, listed, 'webhook_host_refused', /127\.0\.0\.1:8766/],
    [`http://169.254.169.254/api/webhooks/${ID}/${TOKEN}`, listed, 'webhook_host_refused', /169\.254\.169\.254/],
    [`http://169.254.169.254/latest/meta-data/`, none, 'webhook_host_refused', /not a Discord webhook host/],
    [`https://discord.com.evil.example/api/webhooks/${ID}/${TOKEN}`, none, 'webhook_host_refused', /discord\.com\.evil\.example/],
    [`https://evil.example/api/webhooks/${ID}/${TOKEN}?x=discord.com`, none, 'webhook_host_refused', /evil\.example/],
    [`https://discord.com@evil.example/api/webhooks/1/x`, none, 'webhook_host_refused', /credentials/],
    [`https://user:${TOKEN}@discord.com/api/webhooks/${ID}/${TOKEN}`, none, 'webhook_host_refused', /credentials/],
    [`https://discord.com\\@evil.example/api/webhooks/${ID}/${TOKEN}`, none, 'invalid_webhook_url', /path/],
    [`http://discord.com/api/webhooks/${ID}/${TOKEN}`, none, 'webhook_host_refused', /plain http/],
    [`https://discord.com:8443/api/webhooks/${ID}/${TOKEN}`, none, 'webhook_host_refused', /port 8443/],
    [`https://discord.com/api/v10/channels/${ID}/messages`, none, 'invalid_webhook_url', /path/],
    [`https://discord.com/api/webhooks/${ID}/${TOKEN}/slack`, none, 'invalid_webhook_url', /path/],
    [`https://discord.com/api/webhooks/${ID}/${TOKEN}?wait=false`, none, 'invalid_webhook_url', /thread_id/],
    [`https://discord.com/api/webhooks/${ID}/${TOKEN}#frag`, none, 'invalid_webhook_url', /fragment/],
    [`https://hooks.example.net:444/api/webhooks/${ID}/${TOKEN}`, listed, 'webhook_host_refused', /hooks\.example\.net:444/],
    [`ftp://discord.com/api/webhooks/${ID}/${TOKEN}`, none, 'invalid_webhook_url', /only https/],
    [`file:///etc/passwd`, none, 'invalid_webhook_url', /only https/],
    [`discord.com/api/webhooks/${ID}/${TOKEN}`, none, 'invalid_webhook_url', /not a valid URL/],
    ['', none, 'invalid_webhook_url', /empty/],
    [`https://discord.com/api/webhooks/${ID}/${'a'.repeat(2100)}`, none, 'invalid_webhook_url', /longer than 2048/],
  ];
  for (const [url, allowed, kind, message] of refused) {
    it(`refuses ${JSON.stringify(url.replace(TOKEN, '<token>').slice(0, 90))} (${kind})`, () => {
      const r = parseWebhookTarget(url, allowed);
      assert.ok(!r.ok, 'must be refused');
      assert.equal(r.error.kind, kind);
      assert.match(r.error.message, message);
      assert.ok(!r.error.message.includes(TOKEN), 'the token never appears in the reason');
    });
  }

  it('adds wait=true (keeping thread_id) and redacts tokens in any text', () => {
    const r = parseWebhookTarget(`https://discord.com/api/webhooks/${ID}/${TOKEN}?thread_id=42`, none);
    assert.ok(r.ok);
    assert.equal(executeWebhookUrl(r.value), `https://discord.com/api/webhooks/${ID}/${TOKEN}?thread_id=42&wait=true`);
    assert.equal(
      redactWebhookText(`POST https://discord.com/api/v10/webhooks/${ID}/${TOKEN}?wait=true failed`),
      `POST https://discord.com/api/v10/webhooks/${ID}/[redacted]?wait=true failed`,
    );
  });
});
