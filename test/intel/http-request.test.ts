import { strict as assert } from 'node:assert';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import fc from 'fast-check';
import { DEFAULT_RETRY_POLICY, httpGet, redactSecrets, retryAfterAt, retryDecision } from '../../src/intel/http-request';

describe('intel/http-request', () => {
  describe('retryDecision (pure)', () => {
    const policy = { maxAttempts: 4, baseDelayMs: 500, maxDelayMs: 3_000, minAttemptMs: 1_000 };

    it('full jitter inside an exponentially growing, capped window', () => {
      assert.deepEqual(retryDecision(policy, 1, 0.999, 0, 1e9), { retry: true, delayMs: 499 });
      assert.deepEqual(retryDecision(policy, 2, 0.5, 0, 1e9), { retry: true, delayMs: 500 });
      assert.deepEqual(retryDecision(policy, 3, 0.999, 0, 1e9), { retry: true, delayMs: 1_998 });
      // Window 4 would be 4,000 ms: capped at maxDelayMs.
      assert.deepEqual(retryDecision({ ...policy, maxAttempts: 10 }, 4, 0.999, 0, 1e9), { retry: true, delayMs: 2_997 });
      assert.deepEqual(retryDecision(policy, 1, 0, 0, 1e9), { retry: true, delayMs: 0 });
    });

    it('stops after maxAttempts and when the sleep plus one attempt would pass the deadline', () => {
      assert.deepEqual(retryDecision(policy, 4, 0.1, 0, 1e9), { retry: false, reason: 'attempts' });
      assert.deepEqual(retryDecision(policy, 1, 0.5, 10_000, 11_249), { retry: false, reason: 'deadline' });
      assert.deepEqual(retryDecision(policy, 1, 0.5, 10_000, 11_250), { retry: true, delayMs: 250 });
    });

    it('property: never sleeps past the deadline, never beyond the window, bounded attempts', () => {
      fc.assert(
        fc.property(fc.integer({ min: 1, max: 20 }), fc.double({ min: 0, max: 1, maxExcluded: true, noNaN: true }), fc.integer({ min: 0, max: 1e6 }), fc.integer({ min: 0, max: 1e6 }), (attempt, r, now, left) => {
          const d = retryDecision(DEFAULT_RETRY_POLICY, attempt, r, now, now + left);
          if (!d.retry) return true;
          return attempt < DEFAULT_RETRY_POLICY.maxAttempts && d.delayMs >= 0 && now + d.delayMs + DEFAULT_RETRY_POLICY.minAttemptMs <= now + left &&
            d.delayMs < Math.min(DEFAULT_RETRY_POLICY.maxDelayMs, DEFAULT_RETRY_POLICY.baseDelayMs * 2 ** (attempt - 1));
        }),
      );
    });

    it('Retry-After in seconds and as an HTTP-date', () => {
      assert.equal(retryAfterAt({ 'retry-after': '29241' }, 1_000), 1_000 + 29_241_000);
      assert.equal(retryAfterAt({ 'retry-after': 'Thu, 27 Dec 2018 05:00:00 GMT' }, 0), Date.parse('2018-12-27T05:00:00Z'));
      assert.equal(retryAfterAt({ 'retry-after': 'soon' }, 0), undefined);
      assert.equal(retryAfterAt({}, 0), undefined);
    });

    it('redactSecrets hides every occurrence, longest first', () => {
      assert.equal(redactSecrets('key abcdef and abc', ['abc', 'abcdef']), 'key [redacted] and [redacted]');
    });
  });

  describe('httpGet', () => {
    it('returns status, lower-case headers and the body for any status', async () => {
      const server = createServer((_req, res) => {
        res.writeHead(418, { 'X-Thing': 'v' });
        res.end('teapot');
      });
      await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
      try {
        const r = await httpGet(`http://127.0.0.1:${(server.address() as AddressInfo).port}/x`, { timeoutMs: 2_000 });
        assert.ok(r.ok);
        if (!r.ok) return;
        assert.deepEqual([r.value.status, r.value.headers['x-thing'], r.value.bodyText], [418, 'v', 'teapot']);
      } finally {
        await new Promise((resolve) => server.close(resolve));
      }
    });

    it('a closed port is a connection failure', async () => {
      const server = createServer();
      await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
      const port = (server.address() as AddressInfo).port;
      await new Promise((resolve) => server.close(resolve));
      const r = await httpGet(`http://127.0.0.1:${port}/api`, { timeoutMs: 2_000 });
      assert.equal(r.ok, false);
      if (r.ok) return;
      assert.equal(r.error.kind, 'connection');
      assert.match(r.error.message, /ECONNREFUSED/);
    });

    it('a body over maxBodyBytes is not read', async () => {
      const server = createServer((_req, res) => res.end('x'.repeat(10_000)));
      await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
      try {
        const r = await httpGet(`http://127.0.0.1:${(server.address() as AddressInfo).port}/`, { timeoutMs: 2_000, maxBodyBytes: 1_000 });
        assert.equal(r.ok, false);
        if (!r.ok) assert.equal(r.error.kind, 'oversize');
      } finally {
        await new Promise((resolve) => server.close(resolve));
      }
    });

    it('a key fetch refuses as a header value never reaches the message', async () => {
      const secret = 'abc\nTOPSECRET-123';
      const r = await httpGet('http://127.0.0.1:9/', { timeoutMs: 1_000, headers: { 'x-apikey': secret }, secrets: [secret] });
      assert.equal(r.ok, false);
      if (r.ok) return;
      assert.ok(!r.error.message.includes('TOPSECRET'), r.error.message);
      assert.match(r.error.message, /\[redacted\]/);
    });
  });
});
