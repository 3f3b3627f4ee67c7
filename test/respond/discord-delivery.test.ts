import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import * as https from 'node:https';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { buildDiscordMessage, discordMessageViolations } from '../../src/respond/discord-embed';
import { deliverDiscordMessage, DeliveryOptions, FetchFunction, rateLimitWaitMs } from '../../src/respond/discord-delivery';
import { nodeWebhookPost } from '../../src/respond/webhook-post';
import { parseAllowedHosts, parseWebhookTarget, WebhookTarget } from '../../src/respond/webhook-target';
import { DiscordStub, startDiscordStub } from '../support/discord-stub';
import { realisticIncident } from './corpus';

/** Both transports the product uses for the webhook: fetch (the interface's model) and node:http(s). */
const TRANSPORTS: ReadonlyArray<readonly [string, FetchFunction]> = [
  ['fetch', (url, init) => fetch(url, init)],
  ['node:http', nodeWebhookPost],
];

function targetFor(stub: DiscordStub, url = stub.webhookUrl): WebhookTarget {
  const t = parseWebhookTarget(url, parseAllowedHosts(stub.hostPort));
  if (!t.ok) throw new Error(t.error.message);
  return t.value;
}

/** Fast retries for tests; the deadline is what bounds them. */
function options(deadlineInMs: number, extra: Partial<DeliveryOptions> = {}): DeliveryOptions {
  return { deadlineMs: Date.now() + deadlineInMs, backoffBaseMs: 20, backoffMaxMs: 80, minRequestMs: 50, ...extra };
}

for (const [transportName, nodeFetch] of TRANSPORTS) {
describe(`respond/discord-delivery over ${transportName} (against the loopback Discord stub)`, () => {
  let stub: DiscordStub;
  const message = buildDiscordMessage(realisticIncident());
  beforeEach(async () => {
    stub = await startDiscordStub();
  });
  afterEach(() => stub.close());

  it('200 with ?wait=true: delivered, message id from the body, the JSON posted is the message', async () => {
    const r = await deliverDiscordMessage(targetFor(stub), message, nodeFetch, options(5000));
    assert.equal(r.status, 'delivered');
    assert.ok(r.status === 'delivered' && /^\d{19}$/.test(r.messageId ?? ''));
    assert.equal(stub.requests.length, 1);
    const req = stub.requests[0];
    assert.equal(req.query.get('wait'), 'true');
    assert.equal(req.headers['content-type'], 'application/json');
    assert.deepEqual(req.body, JSON.parse(JSON.stringify(message)));
    assert.equal(req.answered, 200);
  });

  it('204 No Content: delivered without a message id', async () => {
    stub.script({ type: 'no_content' });
    const r = await deliverDiscordMessage(targetFor(stub), message, nodeFetch, options(5000));
    assert.deepEqual(r, { status: 'delivered', messageId: null, httpStatus: 204, attempts: 1 });
  });

  it('500 then 502 then 200: retried with backoff, delivered once on the third attempt', async () => {
    stub.script({ type: 'server_error' }, { type: 'server_error', status: 502 });
    const r = await deliverDiscordMessage(targetFor(stub), message, nodeFetch, options(5000));
    assert.equal(r.status, 'delivered');
    assert.equal(r.attempts, 3);
    assert.deepEqual(stub.requests.map((q) => q.answered), [500, 502, 200]);
    assert.equal(stub.delivered().length, 1);
  });

  it('429 with retry_after 0.35: waits at least 350 ms, then delivers', async () => {
    stub.script({ type: 'rate_limited', retryAfter: 0.35 });
    const started = Date.now();
    const r = await deliverDiscordMessage(targetFor(stub), message, nodeFetch, options(5000));
    assert.equal(r.status, 'delivered');
    assert.equal(stub.requests.length, 2);
    const gap = stub.requests[1].receivedAtMs - stub.requests[0].receivedAtMs;
    assert.ok(gap >= 350, `second request ${gap} ms after the 429`);
    assert.ok(Date.now() - started >= 350);
  });

  it('429 whose retry_after does not fit before the deadline: deferred with the retry time, no second request', async () => {
    stub.script({ type: 'rate_limited', retryAfter: 5 });
    const before = Date.now();
    const r = await deliverDiscordMessage(targetFor(stub), message, nodeFetch, options(1000));
    assert.equal(r.status, 'deferred');
    assert.ok(r.status === 'deferred' && r.retryAtMs >= before + 5000 && r.retryAtMs <= Date.now() + 5000);
    assert.match(r.status === 'deferred' ? r.reason : '', /rate limited by Discord \(route\); retry after 5000 ms/);
    assert.equal(stub.requests.length, 1);
  });

  it('reads the wait from retry_after, else X-RateLimit-Reset-After, else Retry-After (seconds or date)', () => {
    const headers = (h: Record<string, string>) => ({ get: (n: string) => h[n.toLowerCase()] ?? null });
    assert.equal(rateLimitWaitMs({ retry_after: 64.57 }, headers({ 'retry-after': '65' }), 0), 64_570);
    assert.equal(rateLimitWaitMs(null, headers({ 'x-ratelimit-reset-after': '1.5', 'retry-after': '65' }), 0), 1500);
    assert.equal(rateLimitWaitMs(null, headers({ 'retry-after': '65' }), 0), 65_000);
    const now = Date.parse('2026-11-24T10:00:00Z');
    assert.equal(rateLimitWaitMs(null, headers({ 'retry-after': 'Tue, 24 Nov 2026 10:00:30 GMT' }), now), 30_000);
    assert.equal(rateLimitWaitMs({ retry_after: 'soon' }, headers({}), 0), null);
  });

  for (const [reply, status, code] of [
    [{ type: 'unknown_webhook' }, 404, 10015],
    [{ type: 'unauthorized' }, 401, 0],
    [{ type: 'forbidden' }, 403, 50001],
  ] as const) {
    it(`${status}: rejected (webhook) after one request, never retried, token not in the reason`, async () => {
      stub.script(reply);
      const r = await deliverDiscordMessage(targetFor(stub), message, nodeFetch, options(5000));
      assert.equal(r.status, 'rejected');
      assert.ok(r.status === 'rejected');
      assert.equal(r.cause, 'webhook');
      assert.equal(r.httpStatus, status);
      assert.equal(r.discordCode, code);
      assert.equal(stub.requests.length, 1);
      assert.ok(!r.reason.includes(stub.token));
      assert.match(r.reason, /\/api\/webhooks\/1180000000000000001\/\[redacted\]/);
    });
  }

  it('a webhook URL with a wrong token is answered 404 Unknown Webhook by the stub itself', async () => {
    const r = await deliverDiscordMessage(targetFor(stub, `${stub.origin}/api/webhooks/${stub.webhookId}/WrongToken`), message, nodeFetch, options(5000));
    assert.ok(r.status === 'rejected' && r.httpStatus === 404 && r.discordCode === 10015 && /Unknown Webhook/.test(r.reason));
    assert.ok(!r.reason.includes('WrongToken'));
  });

  it('400 Invalid Form Body: rejected (payload) with Discord\'s field errors, not retried', async () => {
    stub.script({ type: 'invalid_form' });
    const r = await deliverDiscordMessage(targetFor(stub), message, nodeFetch, options(5000));
    assert.ok(r.status === 'rejected');
    assert.equal(r.cause, 'payload');
    assert.equal(r.discordCode, 50035);
    assert.match(r.reason, /Invalid Form Body \(code 50035\).*embeds\.0: Must be 1024 or fewer in length/);
    assert.equal(stub.requests.length, 1);
  });

  it('a payload over Discord\'s limits is rejected locally, listing the violations, and never sent', async () => {
    const tooLong = { ...message, embeds: [{ ...message.embeds[0], title: 'T'.repeat(300) }] };
    const r = await deliverDiscordMessage(targetFor(stub), tooLong, nodeFetch, options(5000));
    assert.ok(r.status === 'rejected' && r.cause === 'payload' && r.attempts === 0);
    assert.match(r.reason, /embed 0 title has 300 characters \(limit 256\)/);
    assert.equal(stub.requests.length, 0);
  });

  it('the stub itself answers 400 like Discord to an over-limit embed (checked with discordMessageViolations)', async () => {
    const tooLong = { ...message, embeds: [{ ...message.embeds[0], description: 'd'.repeat(4097) }] };
    assert.ok(discordMessageViolations(tooLong).length > 0);
    const res = await fetch(`${stub.webhookUrl}?wait=true`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(tooLong) });
    assert.equal(res.status, 400);
    const body = (await res.json()) as { code: number; errors: unknown };
    assert.equal(body.code, 50035);
    assert.match(JSON.stringify(body.errors), /description has 4097 characters/);
  });

  it('a reset connection is a network error: retried, then delivered', async () => {
    stub.script({ type: 'reset' });
    const r = await deliverDiscordMessage(targetFor(stub), message, nodeFetch, options(5000));
    assert.equal(r.status, 'delivered');
    assert.deepEqual(stub.requests.map((q) => q.answered), ['reset', 200]);
  });

  it('a slow answer past the request timeout is retried; all slow → failed within the deadline', async () => {
    stub.script({ type: 'slow', delayMs: 1000 });
    const r = await deliverDiscordMessage(targetFor(stub), message, nodeFetch, options(5000, { requestTimeoutMs: 200 }));
    assert.equal(r.status, 'delivered');
    assert.equal(r.attempts, 2);

    stub.script(...Array.from({ length: 10 }, () => ({ type: 'slow', delayMs: 2000 }) as const));
    const started = Date.now();
    const f = await deliverDiscordMessage(targetFor(stub), message, nodeFetch, options(900, { requestTimeoutMs: 250 }));
    assert.equal(f.status, 'failed');
    assert.ok(Date.now() - started < 1500, 'stops at the deadline (900 ms) plus scheduling slack');
    assert.match(f.status === 'failed' ? f.reason : '', /request timed out after \d attempt/);
    assert.ok(f.attempts >= 2 && f.attempts <= 4);
  });

  it('5xx every time: bounded by maxAttempts, then failed; no time left: failed without a request', async () => {
    stub.script(...Array.from({ length: 10 }, () => ({ type: 'server_error' }) as const));
    const r = await deliverDiscordMessage(targetFor(stub), message, nodeFetch, options(5000, { maxAttempts: 3 }));
    assert.ok(r.status === 'failed' && r.attempts === 3 && r.httpStatus === 500);
    assert.equal(stub.requests.length, 3);
    const late = await deliverDiscordMessage(targetFor(stub), message, nodeFetch, { deadlineMs: Date.now() + 10 });
    assert.ok(late.status === 'failed' && late.attempts === 0);
    assert.equal(stub.requests.length, 3);
  });

  it('a refused connection fails with a reason that names the redacted URL, never the token', async () => {
    const port = Number(stub.hostPort.split(':')[1]);
    await stub.close();
    const url = `http://127.0.0.1:${port}/api/webhooks/${stub.webhookId}/${stub.token}`;
    const t = parseWebhookTarget(url, parseAllowedHosts(`127.0.0.1:${port}`));
    assert.ok(t.ok);
    const r = await deliverDiscordMessage(t.value, message, nodeFetch, options(600, { maxAttempts: 2 }));
    assert.equal(r.status, 'failed');
    assert.ok(r.status === 'failed' && /ECONNREFUSED/.test(r.reason) && r.reason.includes('[redacted]'));
    assert.ok(!r.reason.includes(stub.token));
    stub = await startDiscordStub();
  });
});
}

describe('respond/webhook-post: TLS', () => {
  let dir: string;
  let server: https.Server;
  let requests = 0;
  before(function () {
    dir = mkdtempSync(path.join(tmpdir(), 'soar-tls-'));
    // A self-signed certificate for 127.0.0.1, made fresh so no key material lives in the repo.
    const made = spawnSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', path.join(dir, 'key.pem'), '-out', path.join(dir, 'cert.pem'), '-days', '1', '-subj', '/CN=127.0.0.1', '-addext', 'subjectAltName=IP:127.0.0.1']);
    assert.equal(made.status, 0, String(made.stderr));
  });
  beforeEach(async () => {
    requests = 0;
    server = https.createServer({ key: readFileSync(path.join(dir, 'key.pem')), cert: readFileSync(path.join(dir, 'cert.pem')) }, (_req, res) => {
      requests += 1;
      res.writeHead(204).end();
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  });
  afterEach(() => new Promise<void>((resolve) => server.close(() => resolve())));
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('verifies the certificate: a self-signed webhook host is refused and never sees the message', async () => {
    const port = (server.address() as AddressInfo).port;
    const t = parseWebhookTarget(`https://127.0.0.1:${port}/api/webhooks/1180000000000000001/Token_abcdefghijklmnopqrstuvwxyz`, parseAllowedHosts(`127.0.0.1:${port}`));
    assert.ok(t.ok);
    const r = await deliverDiscordMessage(t.value, buildDiscordMessage(realisticIncident()), nodeWebhookPost, options(600, { maxAttempts: 2 }));
    assert.equal(r.status, 'failed');
    assert.ok(r.status === 'failed' && /self[- ]signed|certificate/i.test(r.reason), r.status === 'failed' ? r.reason : '');
    assert.equal(requests, 0);
  });

  it('the same server with its certificate trusted by the caller answers 204 (the transport speaks TLS)', async () => {
    const port = (server.address() as AddressInfo).port;
    const r = await new Promise<number>((resolve, reject) => {
      const req = https.request({ host: '127.0.0.1', port, method: 'POST', path: '/', ca: readFileSync(path.join(dir, 'cert.pem')) }, (res) => {
        res.resume();
        resolve(res.statusCode ?? 0);
      });
      req.on('error', reject);
      req.end('{}');
    });
    assert.equal(r, 204);
    assert.equal(requests, 1);
  });
});
