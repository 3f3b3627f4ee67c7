import { strict as assert } from 'node:assert';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { lookupVirusTotalIp, VIRUSTOTAL_DEFAULT_URL } from '../../src/intel/virustotal-client';
import { lookupOutcome, ProviderClientOptions } from '../../src/intel/provider-lookup';
import { decideVerdict, DEFAULT_THRESHOLDS } from '../../src/intel/verdict';
import { IntelStub, startVirusTotalStub, VtAnswer, VT_OPENCTI_IP } from '../support/intel-stubs';

const DEMISTO_IP = '185.220.101.33';
const UNKNOWN_IP = '203.0.113.77';

describe('intel/virustotal-client against the loopback stub', () => {
  let stub: IntelStub<VtAnswer>;
  let sleeps: number[];

  beforeEach(async () => {
    stub = await startVirusTotalStub({ demistoIp: DEMISTO_IP });
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
      random: () => 0.5,
      deadlineMs: Date.now() + 60_000,
      ...extra,
    };
  }

  it('reads the captured OpenCTI report for 138.128.150.133 in one request, with the key header', async () => {
    const r = await lookupVirusTotalIp(VT_OPENCTI_IP, options());
    assert.equal(r.state, 'report');
    assert.equal(r.attempts, 1);
    if (r.state !== 'report') return;
    assert.deepEqual(r.report.stats, { malicious: 4, suspicious: 0, harmless: 77, undetected: 12, timeout: 0 });
    assert.equal(r.report.engines, 93);
    assert.equal(r.report.asOwner, 'CLOUD-SOUTH');
    assert.equal(stub.requestsFor(VT_OPENCTI_IP), 1);
    assert.equal(stub.requests[0].headers['x-apikey'], stub.apiKey);
    assert.equal(stub.requests[0].path, `/api/v3/ip_addresses/${VT_OPENCTI_IP}`);
    assert.deepEqual(decideVerdict({ vt: lookupOutcome(r) }, DEFAULT_THRESHOLDS), { verdict: 'MALICIOUS', reason: '4/93 engines malicious' });
  });

  it('reads the demisto sample (placeholders, wrapped in data) as a report about the address asked', async () => {
    const r = await lookupVirusTotalIp(DEMISTO_IP, options());
    assert.equal(r.state, 'report');
    if (r.state !== 'report') return;
    assert.equal(r.report.ip, DEMISTO_IP);
    assert.equal(r.report.id, ':ip:');
    assert.deepEqual(r.report.stats, { malicious: 5, suspicious: 2, harmless: 72, undetected: 8, timeout: 0 });
    assert.equal(r.report.network, ':cidr:');
  });

  it('404 NotFoundError is not_found, not an error, and is not retried', async () => {
    const r = await lookupVirusTotalIp(UNKNOWN_IP, options());
    assert.deepEqual(r, { state: 'not_found', attempts: 1, sent: 1 });
    assert.equal(stub.requestsFor(UNKNOWN_IP), 1);
    assert.equal(decideVerdict({ vt: lookupOutcome(r) }, DEFAULT_THRESHOLDS).verdict, 'UNKNOWN');
  });

  it('a bare 404 (wrong base URL) is a bad_request naming SOAR_VIRUSTOTAL_URL, not a cacheable not_found', async () => {
    const r = await lookupVirusTotalIp(VT_OPENCTI_IP, options({ baseUrl: stub.baseUrl.replace('/api/v3', '/api/v2') }));
    assert.equal(r.state, 'error');
    if (r.state !== 'error') return;
    assert.equal(r.error.kind, 'bad_request');
    assert.equal(r.error.status, 404);
    assert.match(r.error.message, /SOAR_VIRUSTOTAL_URL/);
  });

  it('401 AuthenticationRequiredError is auth and is not retried', async () => {
    stub.script('*', 'unauthorized', 'unauthorized', 'unauthorized');
    const r = await lookupVirusTotalIp(VT_OPENCTI_IP, options());
    assert.equal(r.state, 'error');
    if (r.state !== 'error') return;
    assert.equal(r.attempts, 1);
    assert.equal(stub.requests.length, 1);
    assert.equal(r.error.kind, 'auth');
    assert.equal(r.error.code, 'AuthenticationRequiredError');
    assert.match(r.error.message, /X-Apikey header is missing/);
    assert.deepEqual(sleeps, []);
  });

  it('a wrong key is answered 401 by the stub; the message never contains the key', async () => {
    const wrongKey = 'wrong-key-5f1e2d3c4b5a69788796a5b4c3d2e1f0';
    const r = await lookupVirusTotalIp(VT_OPENCTI_IP, options({ apiKey: wrongKey }));
    assert.equal(r.state, 'error');
    if (r.state !== 'error') return;
    assert.equal(r.error.kind, 'auth');
    assert.equal(stub.requests[0].headers['x-apikey'], wrongKey);
    assert.ok(!r.error.message.includes(wrongKey));
  });

  it('429 QuotaExceededError (vt-go JSON body) is quota, not retried', async () => {
    stub.script(VT_OPENCTI_IP, 'quota_json', 'quota_json');
    const r = await lookupVirusTotalIp(VT_OPENCTI_IP, options());
    assert.equal(r.state, 'error');
    if (r.state !== 'error') return;
    assert.deepEqual([r.attempts, r.error.kind, r.error.status, r.error.code], [1, 'quota', 429, 'QuotaExceededError']);
    assert.match(r.error.message, /Quota exceeded/);
    assert.equal(stub.requestsFor(VT_OPENCTI_IP), 1);
  });

  it('a 429 with a non-JSON body is still quota, described by its page title', async () => {
    stub.script('*', 'quota_text');
    const r = await lookupVirusTotalIp(VT_OPENCTI_IP, options());
    assert.equal(r.state, 'error');
    if (r.state !== 'error') return;
    assert.deepEqual([r.attempts, r.error.kind, r.error.status, r.error.code], [1, 'quota', 429, undefined]);
    assert.match(r.error.message, /non-JSON body: 429 Too Many Requests/);
    assert.equal(r.error.retryAtMs, undefined);
  });

  it('500 then 200 succeeds on the 2nd attempt after one jittered backoff', async () => {
    stub.script(VT_OPENCTI_IP, 'server_error');
    const r = await lookupVirusTotalIp(VT_OPENCTI_IP, options());
    assert.equal(r.state, 'report');
    assert.equal(r.attempts, 2);
    assert.equal(stub.requestsFor(VT_OPENCTI_IP), 2);
    // First window 500 ms, full jitter with random 0.5.
    assert.deepEqual(sleeps, [250]);
  });

  it('503 TransientError every time: retried up to maxAttempts, then a transient error', async () => {
    stub.script('*', 'transient', 'transient', 'transient', 'transient');
    const r = await lookupVirusTotalIp(VT_OPENCTI_IP, options());
    assert.equal(r.state, 'error');
    if (r.state !== 'error') return;
    assert.deepEqual([r.attempts, r.error.kind, r.error.status, r.error.code], [3, 'transient', 503, 'TransientError']);
    assert.match(r.error.message, /gave up after 3 attempts/);
    assert.equal(stub.requests.length, 3);
    assert.deepEqual(sleeps, [250, 500]);
  });

  it('504 DeadlineExceededError is transient and retried', async () => {
    stub.script('*', 'deadline_exceeded');
    const r = await lookupVirusTotalIp(VT_OPENCTI_IP, options());
    assert.equal(r.state, 'report');
    assert.equal(r.attempts, 2);
  });

  it('slow answer -> timeout -> retried -> then a transient error', async () => {
    stub.slowMs = 1_500;
    stub.script('*', 'slow', 'slow', 'slow');
    const started = Date.now();
    const r = await lookupVirusTotalIp(VT_OPENCTI_IP, options({ timeoutMs: 150 }));
    assert.equal(r.state, 'error');
    if (r.state !== 'error') return;
    assert.deepEqual([r.attempts, r.error.kind, r.error.network, r.error.status], [3, 'transient', 'timeout', undefined]);
    assert.equal(r.sent, 3, 'each request was written before it timed out');
    assert.match(r.error.message, /no answer within 150 ms.*gave up after 3 attempts/);
    assert.equal(stub.requests.length, 3);
    assert.ok(Date.now() - started < 1_400, 'each attempt is cut at the timeout');
  });

  it('a slow answer within the timeout is a report', async () => {
    stub.slowMs = 100;
    stub.script('*', 'slow');
    const r = await lookupVirusTotalIp(VT_OPENCTI_IP, options({ timeoutMs: 2_000 }));
    assert.equal(r.state, 'report');
    assert.equal(r.attempts, 1);
  });

  it('reset connection is transient/reset and retried; reset then 200 succeeds', async () => {
    stub.script('*', 'reset', 'reset', 'reset');
    const r = await lookupVirusTotalIp(VT_OPENCTI_IP, options());
    assert.equal(r.state, 'error');
    if (r.state !== 'error') return;
    assert.deepEqual([r.attempts, r.error.kind, r.error.network], [3, 'transient', 'reset']);
    assert.equal(r.sent, 3, 'the stub read each request before hanging up');
    stub.script('*', 'reset');
    const again = await lookupVirusTotalIp(VT_OPENCTI_IP, options());
    assert.deepEqual([again.state, again.attempts], ['report', 2]);
  });

  it('never waits past the deadline: the request is cut to the time left, and no retry follows', async () => {
    stub.slowMs = 2_000;
    stub.script('*', 'slow', 'slow');
    const started = Date.now();
    const r = await lookupVirusTotalIp(VT_OPENCTI_IP, options({ timeoutMs: 10_000, deadlineMs: started + 300 }));
    assert.equal(r.state, 'error');
    if (r.state !== 'error') return;
    assert.equal(r.attempts, 1);
    assert.equal(r.error.network, 'timeout');
    assert.match(r.error.message, /no time left before the run's deadline/);
    assert.ok(Date.now() - started < 1_000);
    assert.deepEqual(sleeps, []);
  });

  it('a deadline already passed makes no request', async () => {
    const r = await lookupVirusTotalIp(VT_OPENCTI_IP, options({ deadlineMs: Date.now() - 1 }));
    assert.equal(r.state, 'error');
    assert.deepEqual([r.attempts, r.sent], [0, 0]);
    assert.equal(stub.requests.length, 0);
  });

  it('checks before any request: invalid address, missing key, key unfit for a header, non-loopback http URL', async () => {
    const cases: [string, Partial<ProviderClientOptions>, string, RegExp][] = [
      ['not-an-ip', {}, 'bad_request', /not an IP address/],
      [VT_OPENCTI_IP, { apiKey: '  ' }, 'auth', /no API key configured/],
      [VT_OPENCTI_IP, { apiKey: 'abc\nsecret-part' }, 'auth', /line breaks/],
      [VT_OPENCTI_IP, { baseUrl: 'http://vt.example.com/api/v3' }, 'bad_request', /https/],
      [VT_OPENCTI_IP, { baseUrl: 'not a url' }, 'bad_request', /not a URL/],
    ];
    for (const [ip, extra, kind, message] of cases) {
      const r = await lookupVirusTotalIp(ip, options(extra));
      assert.equal(r.state, 'error', ip);
      if (r.state !== 'error') continue;
      assert.equal(r.error.kind, kind);
      assert.match(r.error.message, message);
      assert.ok(!r.error.message.includes('secret-part'));
      assert.equal(r.attempts, 0);
    }
    assert.equal(stub.requests.length, 0);
  });

  it('the default base URL is VirusTotal v3 over https', () => {
    assert.equal(VIRUSTOTAL_DEFAULT_URL, 'https://www.virustotal.com/api/v3');
  });

  it('a 200 that is not JSON or not a report is malformed, not retried', async () => {
    const server = createServer((req, res) => {
      res.writeHead(200, { 'content-type': 'text/html' });
      res.end(req.url?.includes('1.1.1.1') ? '<html>captive portal</html>' : JSON.stringify({ data: { type: 'domain', id: 'x', attributes: {} } }));
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}/api/v3`;
    try {
      const html = await lookupVirusTotalIp('1.1.1.1', options({ baseUrl: base }));
      const wrongType = await lookupVirusTotalIp('8.8.8.8', options({ baseUrl: base }));
      assert.deepEqual([html.state, html.attempts, html.state === 'error' && html.error.kind], ['error', 1, 'malformed']);
      assert.deepEqual([wrongType.state, wrongType.state === 'error' && wrongType.error.kind], ['error', 'malformed']);
      assert.match(wrongType.state === 'error' ? wrongType.error.message : '', /expected type "ip_address"/);
    } finally {
      await new Promise((resolve) => server.close(resolve));
    }
  });
});
