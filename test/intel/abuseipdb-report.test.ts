import { strict as assert } from 'node:assert';
import { AbuseReport, parseAbuseIpdbCheck, parseAbuseIpdbError } from '../../src/intel/abuseipdb-report';
import { readCorpusJson, readCorpusText } from './corpus';

type Json = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

const docsExample = (): Json => readCorpusJson('abuseipdb', 'abuseipdb_docs_check_example_response.json') as Json;
const realWorld = (): Record<string, Json> => readCorpusJson('abuseipdb', 'realworld_check_responses_ioc_cache.json') as Record<string, Json>;

function report(body: unknown, ip?: string): AbuseReport {
  const r = parseAbuseIpdbCheck(body, ip);
  assert.ok(r.ok, r.ok ? '' : `${r.error.kind}: ${r.error.message}`);
  return r.value;
}

function failure(body: unknown, ip?: string): { kind: string; message: string } {
  const r = parseAbuseIpdbCheck(body, ip);
  assert.equal(r.ok, false, 'expected a failure');
  return r.ok ? { kind: '', message: '' } : r.error;
}

/** The documented 429 headers, read from the docs text ("Retry-After -> 29241"). */
function documentedRateLimitHeaders(): Record<string, string> {
  const docs = readCorpusText('abuseipdb', 'abuseipdb_docs_check_errors_ratelimits.md');
  const headers: Record<string, string> = {};
  for (const m of docs.matchAll(/^\s*- ([A-Za-z-]+) -> (\S+)$/gm)) headers[m[1]] = m[2];
  return headers;
}

describe('intel/abuseipdb-report parseAbuseIpdbCheck', () => {
  it('reads the documented verbose example', () => {
    assert.deepEqual(report(docsExample(), '118.25.6.39'), {
      state: 'report',
      ipAddress: '118.25.6.39',
      ipVersion: 4,
      isPublic: true,
      isWhitelisted: false,
      abuseConfidenceScore: 100,
      countryCode: 'CN',
      countryName: 'China',
      usageType: 'Data Center/Web Hosting/Transit',
      isp: 'Tencent Cloud Computing (Beijing) Co. Ltd',
      domain: 'tencent.com',
      hostnames: [],
      isTor: false,
      totalReports: 1,
      numDistinctUsers: 1,
      lastReportedAt: '2018-12-20T20:55:14+00:00',
      link: 'https://www.abuseipdb.com/check/118.25.6.39',
    });
  });

  it('parses all 42 real responses without error, and their nulls as the corpus README counts them', () => {
    const cache = realWorld();
    const entries = Object.entries(cache);
    assert.equal(entries.length, 42);
    const reports = entries.map(([ip, body]) => {
      const r = report(body, ip);
      assert.equal(r.ipAddress, ip);
      assert.equal(r.link, `https://www.abuseipdb.com/check/${ip}`);
      return r;
    });
    const count = (pred: (r: AbuseReport) => boolean): number => reports.filter(pred).length;
    assert.equal(count((r) => r.isWhitelisted === null), 19);
    assert.equal(count((r) => r.isWhitelisted === false), 18);
    assert.equal(count((r) => r.isWhitelisted === true), 5);
    assert.equal(count((r) => r.countryCode === null), 7);
    assert.equal(count((r) => r.isp === null), 5);
    assert.equal(count((r) => r.domain === null), 7);
    assert.equal(count((r) => r.lastReportedAt === null), 19);
    assert.equal(count((r) => r.usageType === null), 1);
    assert.equal(count((r) => r.isPublic === false), 5);
    assert.equal(count((r) => r.countryName === null), 42, 'non-verbose responses have no countryName');
    const scored = reports.filter((r) => (r.abuseConfidenceScore ?? 0) > 0).map((r) => [r.ipAddress, r.abuseConfidenceScore]);
    assert.deepEqual(scored.sort((a, b) => Number(b[1]) - Number(a[1])), [
      ['52.113.194.132', 26],
      ['20.189.173.18', 9],
      ['20.42.73.28', 8],
      ['13.89.179.9', 8],
      ['20.10.31.115', 1],
    ]);
    const zero = reports.find((r) => r.ipAddress === '0.0.0.0');
    assert.deepEqual([zero?.totalReports, zero?.abuseConfidenceScore, zero?.usageType], [188, 0, 'Reserved']);
  });

  it('reads an empty data object as all-null', () => {
    const r = report({ data: {} });
    assert.deepEqual(r, {
      state: 'report', ipAddress: null, ipVersion: null, isPublic: null, isWhitelisted: null, abuseConfidenceScore: null,
      countryCode: null, countryName: null, usageType: null, isp: null, domain: null, hostnames: [], isTor: null,
      totalReports: null, numDistinctUsers: null, lastReportedAt: null, link: null,
    });
    assert.equal(report({ data: { hostnames: null } }, '2001:DB8::1').link, 'https://www.abuseipdb.com/check/2001:db8::1');
  });

  describe('failures', () => {
    it('a body about another address', () => {
      const f = failure(docsExample(), '8.8.8.8');
      assert.equal(f.kind, 'unexpected_subject');
      assert.equal(f.message, 'AbuseIPDB answered about 118.25.6.39, but we asked about 8.8.8.8');
    });
    it('an error body handed over as a report', () => {
      const f = failure(readCorpusJson('abuseipdb', 'abuseipdb_docs_error_422.json'));
      assert.equal(f.kind, 'provider_error');
      assert.equal(f.message, 'AbuseIPDB returned errors: The max age in days must be between 1 and 365.');
    });
    it('not an object, or no data', () => {
      for (const body of [null, 'x', [1], 7]) assert.equal(failure(body).kind, 'malformed_response');
      assert.match(failure({}).message, /no data object \(got no "data" key\)/);
      assert.match(failure({ data: 'x' }).message, /no data object \(got the string "x"\)/);
    });
    it('wrongly typed fields, naming the field', () => {
      const cases: [Json, RegExp][] = [
        [{ abuseConfidenceScore: 101 }, /data\.abuseConfidenceScore is 101, expected a whole number from 0 to 100/],
        [{ abuseConfidenceScore: '100' }, /data\.abuseConfidenceScore is the string "100"/],
        [{ totalReports: -3 }, /data\.totalReports is -3/],
        [{ isTor: 'no' }, /data\.isTor is the string "no", expected true or false/],
        [{ hostnames: [1] }, /data\.hostnames is an array, expected an array of strings/],
        [{ isp: {} }, /data\.isp is an object, expected a string/],
        [{ ipVersion: 5 }, /data\.ipVersion is 5, expected 4 or 6/],
        [{ ipVersion: '4' }, /data\.ipVersion is the string "4", expected 4 or 6/],
      ];
      for (const [fields, pattern] of cases) {
        const body = docsExample();
        Object.assign(body.data, fields);
        const f = failure(body);
        assert.equal(f.kind, 'malformed_response');
        assert.match(f.message, pattern);
      }
    });
  });
});

describe('intel/abuseipdb-report parseAbuseIpdbError', () => {
  it('401 (real body): auth, not retried', () => {
    const e = parseAbuseIpdbError(401, readCorpusText('abuseipdb', 'abuseipdb_401_logged_by_centminmod.json'));
    assert.deepEqual(e, {
      kind: 'auth',
      status: 401,
      message: 'AbuseIPDB HTTP 401: Authentication failed. Your API key is either missing, incorrect, or revoked. Note: The APIv2 key differs from the APIv1 key.; check the abuseipdb_api_key secret (or SOAR_ABUSEIPDB_API_KEY)',
      retryable: false,
    });
  });

  it('422 (docs body): bad request, not retried', () => {
    const e = parseAbuseIpdbError(422, readCorpusText('abuseipdb', 'abuseipdb_docs_error_422.json'));
    assert.deepEqual([e.kind, e.retryable], ['bad_request', false]);
    assert.match(e.message, /^AbuseIPDB HTTP 422: The max age in days must be between 1 and 365\.; /);
  });

  it('429 (docs body and documented headers): quota, with Retry-After and X-RateLimit-*', () => {
    const headers = documentedRateLimitHeaders();
    assert.deepEqual(headers, { 'Retry-After': '29241', 'X-RateLimit-Limit': '1000', 'X-RateLimit-Remaining': '0', 'X-RateLimit-Reset': '1545973200' });
    const e = parseAbuseIpdbError(429, readCorpusText('abuseipdb', 'abuseipdb_docs_rate_limit_429.json'), headers);
    assert.deepEqual(e, {
      kind: 'quota',
      status: 429,
      message:
        'AbuseIPDB HTTP 429: Daily rate limit of 1000 requests exceeded for this endpoint. See headers for additional details.; ' +
        'AbuseIPDB rate limit reached; defer the lookup (retry after 29241 s; limit 1000, remaining 0, resets 2018-12-28T05:00:00Z)',
      retryable: true,
      retryAfterSeconds: 29241,
      rateLimit: { limit: 1000, remaining: 0, resetAt: 1545973200 },
    });
  });

  it('reads headers case-insensitively, as Node delivers them (lower case, arrays)', () => {
    const e = parseAbuseIpdbError(429, '', { 'retry-after': ['60', '120'], 'x-ratelimit-remaining': '0', 'content-type': 'text/html' });
    assert.equal(e.retryAfterSeconds, 60);
    assert.deepEqual(e.rateLimit, { limit: null, remaining: 0, resetAt: null });
  });

  it('Retry-After as an HTTP date', () => {
    const e = parseAbuseIpdbError(429, '', { 'Retry-After': 'Fri, 28 Dec 2018 05:00:00 GMT' });
    assert.equal(e.retryAfterSeconds, undefined);
    assert.equal(e.retryAt, 1545973200);
    assert.match(e.message, /retry at 2018-12-28T05:00:00Z/);
  });

  it('ignores unusable header values', () => {
    const e = parseAbuseIpdbError(429, '', { 'Retry-After': 'soon', 'X-RateLimit-Limit': 'lots', 'X-RateLimit-Reset': '-5' });
    assert.equal(e.retryAfterSeconds, undefined);
    assert.equal(e.retryAt, undefined);
    assert.equal(e.rateLimit, undefined);
  });

  it('429 as the HTML page AbuseIPDB sends without Accept: application/json', () => {
    const html = '<!DOCTYPE html><html><head><title>Too Many Requests | AbuseIPDB</title></head><body>…</body></html>';
    const e = parseAbuseIpdbError(429, html, { 'Retry-After': '10' });
    assert.deepEqual([e.kind, e.retryable, e.retryAfterSeconds], ['quota', true, 10]);
    assert.match(e.message, /^AbuseIPDB HTTP 429: non-JSON body: Too Many Requests \| AbuseIPDB; /);
  });

  it('5xx: transient and retryable; other statuses by class', () => {
    const cases: [number, string, string, boolean][] = [
      [500, '', 'transient', true],
      [502, '<html><title>502 Bad Gateway</title></html>', 'transient', true],
      [503, JSON.stringify({ errors: [{ detail: 'Maintenance', status: 503 }, { detail: 'Back soon', status: 503 }] }), 'transient', true],
      [403, '', 'auth', false],
      [404, '', 'not_found', false],
      [400, '{"foo":1}', 'bad_request', false],
      [418, '', 'unknown', false],
    ];
    for (const [status, body, kind, retryable] of cases) {
      const e = parseAbuseIpdbError(status, body);
      assert.deepEqual([e.kind, e.retryable], [kind, retryable], `${status}`);
    }
    assert.match(parseAbuseIpdbError(503, cases[2][1]).message, /^AbuseIPDB HTTP 503: Maintenance; Back soon; /);
    assert.match(parseAbuseIpdbError(400, '{"foo":1}').message, /unexpected JSON body: \{"foo":1\}/);
  });
});
