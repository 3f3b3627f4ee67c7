import { strict as assert } from 'node:assert';
import { ABUSEIPDB_DEFAULT_URL, lookupAbuseIpdb } from '../../src/intel/abuseipdb-client';
import { lookupOutcome, ProviderClientOptions } from '../../src/intel/provider-lookup';
import { decideVerdict, DEFAULT_THRESHOLDS } from '../../src/intel/verdict';
import { ABUSE_DOCS_IP, AbuseAnswer, IntelStub, startAbuseIpdbStub } from '../support/intel-stubs';
import { readCorpusJson } from './corpus';

const RECORDED = readCorpusJson('abuseipdb', 'realworld_check_responses_ioc_cache.json') as Record<string, { data: { abuseConfidenceScore: number } }>;

describe('intel/abuseipdb-client against the loopback stub', () => {
  let stub: IntelStub<AbuseAnswer>;
  let sleeps: number[];

  beforeEach(async () => {
    stub = await startAbuseIpdbStub();
    sleeps = [];
  });
  afterEach(() => stub.close());

  function options(extra: Partial<ProviderClientOptions> = {}): ProviderClientOptions {
    return {
      baseUrl: stub.baseUrl,
      apiKey: stub.apiKey,
      timeoutMs: 2_000,
      maxAttempts: 3,
      sleep: async (ms) => {
        sleeps.push(ms);
      },
      random: () => 0.25,
      now: Date.now,
      deadlineMs: Date.now() + 60_000,
      ...extra,
    };
  }

  it('reads the docs example for 118.25.6.39 with Key, Accept and maxAgeInDays=90', async () => {
    const r = await lookupAbuseIpdb(ABUSE_DOCS_IP, options());
    assert.equal(r.state, 'report');
    assert.equal(r.attempts, 1);
    if (r.state !== 'report') return;
    assert.equal(r.report.abuseConfidenceScore, 100);
    assert.equal(r.report.isp, 'Tencent Cloud Computing (Beijing) Co. Ltd');
    const req = stub.requests[0];
    assert.equal(req.headers.key, stub.apiKey);
    assert.equal(req.headers.accept, 'application/json');
    assert.equal(req.path, '/api/v2/check');
    assert.deepEqual(decideVerdict({ abuse: lookupOutcome(r) }, DEFAULT_THRESHOLDS).verdict, 'MALICIOUS');
  });

  it('reads every one of the 42 recorded real responses, one request each, with the recorded score', async () => {
    const ips = Object.keys(RECORDED);
    assert.equal(ips.length, 42);
    let positive = 0;
    for (const ip of ips) {
      const r = await lookupAbuseIpdb(ip, options());
      assert.equal(r.state, 'report', ip);
      if (r.state !== 'report') continue;
      assert.equal(r.report.abuseConfidenceScore, RECORDED[ip].data.abuseConfidenceScore);
      if ((r.report.abuseConfidenceScore ?? 0) > 0) positive++;
      assert.equal(stub.requestsFor(ip), 1);
    }
    assert.equal(positive, 5);
    assert.equal(stub.requests.length, 42);
  });

  it('401 (real body) is auth, not retried', async () => {
    stub.script('*', 'unauthorized', 'unauthorized');
    const r = await lookupAbuseIpdb(ABUSE_DOCS_IP, options());
    assert.equal(r.state, 'error');
    if (r.state !== 'error') return;
    assert.deepEqual([r.attempts, r.error.kind, r.error.status], [1, 'auth', 401]);
    assert.match(r.error.message, /Authentication failed/);
    assert.equal(stub.requests.length, 1);
  });

  it('a wrong key gets the stub 401; the message does not contain the key', async () => {
    const r = await lookupAbuseIpdb(ABUSE_DOCS_IP, options({ apiKey: 'not-the-right-key-0123456789' }));
    assert.equal(r.state, 'error');
    if (r.state !== 'error') return;
    assert.equal(r.error.kind, 'auth');
    assert.ok(!r.error.message.includes('not-the-right-key'));
  });

  it('422 (docs body) is bad_request, not retried', async () => {
    stub.script('*', 'unprocessable');
    const r = await lookupAbuseIpdb(ABUSE_DOCS_IP, options());
    assert.equal(r.state, 'error');
    if (r.state !== 'error') return;
    assert.deepEqual([r.attempts, r.error.kind, r.error.status], [1, 'bad_request', 422]);
    assert.match(r.error.message, /max age in days must be between 1 and 365/);
  });

  it('429 with Retry-After and X-RateLimit-* is quota with retryAtMs = now + 29241 s and the rate-limit headers', async () => {
    stub.script(ABUSE_DOCS_IP, 'quota');
    const fixedNow = Date.parse('2018-12-27T19:00:00Z');
    const r = await lookupAbuseIpdb(ABUSE_DOCS_IP, options({ now: () => fixedNow, deadlineMs: fixedNow + 60_000 }));
    assert.equal(r.state, 'error');
    if (r.state !== 'error') return;
    assert.deepEqual([r.attempts, r.error.kind, r.error.status], [1, 'quota', 429]);
    assert.equal(r.error.retryAtMs, fixedNow + 29_241_000);
    assert.deepEqual(r.error.rateLimit, { limit: 1000, remaining: 0, resetAt: 1545973200 });
    assert.match(r.error.message, /Daily rate limit of 1000 requests exceeded/);
    assert.equal(stub.requests.length, 1);
  });

  it('500 then 200 succeeds on the 2nd attempt; 500 every time gives up after 3', async () => {
    stub.script('*', 'server_error');
    const once = await lookupAbuseIpdb(ABUSE_DOCS_IP, options());
    assert.deepEqual([once.state, once.attempts], ['report', 2]);
    assert.deepEqual(sleeps, [125]);
    stub.script('*', 'server_error', 'server_error', 'server_error');
    const always = await lookupAbuseIpdb(ABUSE_DOCS_IP, options());
    assert.equal(always.state, 'error');
    if (always.state !== 'error') return;
    assert.deepEqual([always.attempts, always.error.kind, always.error.status], [3, 'transient', 500]);
    assert.match(always.error.message, /500 Server Error/);
  });

  it('slow answer past the timeout, then reset: both retried, then the report', async () => {
    stub.slowMs = 1_000;
    stub.script('*', 'slow', 'reset');
    const r = await lookupAbuseIpdb(ABUSE_DOCS_IP, options({ timeoutMs: 150 }));
    assert.deepEqual([r.state, r.attempts], ['report', 3]);
    assert.equal(stub.requestsFor(ABUSE_DOCS_IP), 3);
  });

  it('an address the provider has no answer for (stub 404) is a bad_request, not a report', async () => {
    const r = await lookupAbuseIpdb('198.51.100.200', options());
    assert.equal(r.state, 'error');
    if (r.state !== 'error') return;
    assert.equal(r.error.kind, 'bad_request');
    assert.match(r.error.message, /no recorded \/check answer/);
  });

  it('an IPv6 address is sent in its canonical form', async () => {
    const r = await lookupAbuseIpdb('2001:DB8:0:0::1', options());
    assert.equal(r.state, 'error');
    assert.equal(stub.requests[0].ip, '2001:db8::1');
  });

  it('default base URL', () => {
    assert.equal(ABUSEIPDB_DEFAULT_URL, 'https://api.abuseipdb.com/api/v2');
  });
});
