import { strict as assert } from 'node:assert';
import { channel } from 'node:diagnostics_channel';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import fc from 'fast-check';
import { DEFAULT_RETRY_POLICY, FetchFn, httpGet, mayHaveReachedProvider, NetworkFailure, redactSecrets, retryAfterAt, retryDecision } from '../../src/intel/http-request';
import { closedPort, startResetOnAccept } from '../support/net-faults';

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

    it('a closed port is a connection failure; the request was never sent', async () => {
      const r = await httpGet(`http://127.0.0.1:${await closedPort()}/api`, { timeoutMs: 2_000 });
      assert.equal(r.ok, false);
      if (r.ok) return;
      assert.equal(r.error.kind, 'connection');
      assert.equal(r.error.sent, 'no');
      assert.match(r.error.message, /ECONNREFUSED/);
    });

    it('a listener that resets on accept: reset, the request was never sent', async () => {
      const server = await startResetOnAccept();
      try {
        const r = await httpGet(`http://127.0.0.1:${server.port}/api/v3/ip_addresses/203.0.113.9`, { timeoutMs: 2_000 });
        assert.equal(r.ok, false);
        if (r.ok) return;
        assert.deepEqual([r.error.kind, r.error.sent], ['reset', 'no']);
        assert.equal(server.accepted(), 1, 'the connection was made and reset');
      } finally {
        await server.close();
      }
    });

    it('a server that reads the request, then hangs up or stays silent: the request was sent', async () => {
      const server = createServer((req) => {
        if (req.url === '/hangup') req.socket.destroy();
      });
      await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
      const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
      try {
        const hangup = await httpGet(`${base}/hangup`, { timeoutMs: 2_000 });
        assert.ok(!hangup.ok);
        if (!hangup.ok) assert.deepEqual([hangup.error.kind, hangup.error.sent], ['reset', 'yes']);
        const silent = await httpGet(`${base}/silent?ipAddress=203.0.113.9`, { timeoutMs: 200 });
        assert.ok(!silent.ok);
        if (!silent.ok) assert.deepEqual([silent.error.kind, silent.error.sent], ['timeout', 'yes']);
      } finally {
        server.closeAllConnections();
        await new Promise((resolve) => server.close(resolve));
      }
    });

    it('a fetch that is not undici says nothing: unknown; a request undici created but never wrote: not sent', async () => {
      const refused: FetchFn = () => Promise.reject(Object.assign(new TypeError('fetch failed'), { cause: { code: 'ECONNREFUSED', message: 'connect ECONNREFUSED' } }));
      const r = await httpGet('http://127.0.0.1:9/x', { timeoutMs: 1_000, fetch: refused });
      assert.ok(!r.ok);
      if (!r.ok) assert.deepEqual([r.error.kind, r.error.sent], ['connection', 'unknown']);
      // A connect timeout as undici reports it on its channels: the request object is created,
      // its headers are never written, then the abort ends it.
      const creatingOnly = (path: string): FetchFn => (_url, init) =>
        new Promise((_resolve, reject) => {
          channel('undici:request:create').publish({ request: { origin: 'http://127.0.0.1:9', path } });
          init?.signal?.addEventListener('abort', () => reject(init.signal?.reason));
        });
      const t = await httpGet('http://127.0.0.1:9/x?a=1', { timeoutMs: 50, fetch: creatingOnly('/x?a=1') });
      assert.ok(!t.ok);
      if (!t.ok) assert.deepEqual([t.error.kind, t.error.sent], ['timeout', 'no']);
      // The same, but another URL's request: not ours, so still unknown.
      const u = await httpGet('http://127.0.0.1:9/x', { timeoutMs: 50, fetch: creatingOnly('/other') });
      assert.ok(!u.ok);
      if (!u.ok) assert.equal(u.error.sent, 'unknown');
    });

    it('mayHaveReachedProvider: what was written may have; what is unknown may have unless it never connected', () => {
      const f = (kind: NetworkFailure['kind'], sent: NetworkFailure['sent']): NetworkFailure => ({ kind, sent, message: '' });
      const table: [NetworkFailure, boolean][] = [
        [f('connection', 'no'), false],
        [f('reset', 'no'), false],
        [f('timeout', 'no'), false],
        [f('reset', 'yes'), true],
        [f('timeout', 'yes'), true],
        [f('oversize', 'yes'), true],
        [f('connection', 'unknown'), false],
        [f('reset', 'unknown'), true],
        [f('timeout', 'unknown'), true],
      ];
      for (const [failure, expected] of table) assert.equal(mayHaveReachedProvider(failure), expected, `${failure.kind}/${failure.sent}`);
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
