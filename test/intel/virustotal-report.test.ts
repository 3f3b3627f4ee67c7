import { strict as assert } from 'node:assert';
import { parseVirusTotalError, parseVirusTotalIp, VtIpReport } from '../../src/intel/virustotal-report';
import type { ProviderErrorKind } from '../../src/intel/provider-error';
import { readCorpusJson, readCorpusText } from './corpus';

type Json = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

const opencti = (): Json => readCorpusJson('virustotal', 'opencti_vt_test_ipv4.json') as Json;
/** The demisto fixture is the inner data object only. */
const demistoInner = (): Json => readCorpusJson('virustotal', 'demisto_VirusTotalV3_test_data_ip_results.json') as Json;

function report(body: unknown, ip: string): VtIpReport {
  const r = parseVirusTotalIp(body, ip);
  assert.ok(r.ok, r.ok ? '' : `${r.error.kind}: ${r.error.message}`);
  return r.value;
}

function failure(body: unknown, ip: string): { kind: string; message: string } {
  const r = parseVirusTotalIp(body, ip);
  assert.equal(r.ok, false, 'expected a failure');
  return r.ok ? { kind: '', message: '' } : r.error;
}

describe('intel/virustotal-report parseVirusTotalIp', () => {
  it('reads the captured OpenCTI response for 138.128.150.133', () => {
    const r = report(opencti(), '138.128.150.133');
    assert.deepEqual(r, {
      state: 'report',
      ip: '138.128.150.133',
      id: '138.128.150.133',
      stats: { malicious: 4, suspicious: 0, harmless: 77, undetected: 12, timeout: 0 },
      statsPresent: true,
      missingStats: [],
      engines: 93,
      reputation: 1,
      country: 'GB',
      asOwner: 'CLOUD-SOUTH',
      asn: 13886,
      network: '138.128.150.0/24',
      lastAnalysisDate: null,
      guiLink: 'https://www.virustotal.com/gui/ip-address/138.128.150.133',
    });
  });

  it('counts engines from last_analysis_stats, not from the per-engine results (93 vs 92 in the capture)', () => {
    const body = opencti();
    assert.equal(Object.keys(body.data.attributes.last_analysis_results).length, 92);
    assert.equal(report(body, '138.128.150.133').engines, 93);
  });

  it('reads the demisto sample bare and wrapped in {"data": …}, with its placeholder strings', () => {
    const bare = report(demistoInner(), '23.129.64.130');
    const wrapped = report({ data: demistoInner() }, '23.129.64.130');
    assert.deepEqual(bare, wrapped);
    assert.equal(bare.id, ':ip:');
    assert.equal(bare.network, ':cidr:');
    assert.deepEqual(bare.stats, { malicious: 5, suspicious: 2, harmless: 72, undetected: 8, timeout: 0 });
    assert.equal(bare.engines, 87);
    assert.equal(bare.reputation, -4);
    assert.equal(bare.asOwner, 'EMERALD-ONION');
    assert.equal(bare.asn, 396507);
    assert.equal(bare.country, 'US');
    // The link comes from the address we asked about, not from the ":ip:" placeholder.
    assert.equal(bare.guiLink, 'https://www.virustotal.com/gui/ip-address/23.129.64.130');
  });

  it('builds the link from the canonical form of the requested address', () => {
    const body = { data: { ...demistoInner(), id: '2001:db8:0:0::1' } };
    assert.equal(report(body, '2001:DB8::0:1').guiLink, 'https://www.virustotal.com/gui/ip-address/2001:db8::1');
    assert.equal(report(opencti(), '::ffff:138.128.150.133').ip, '138.128.150.133');
  });

  it('reads last_analysis_date when present', () => {
    const body = opencti();
    body.data.attributes.last_analysis_date = 1655493601;
    assert.equal(report(body, '138.128.150.133').lastAnalysisDate, 1655493601);
  });

  it('records absent stats: all counts 0, statsPresent false', () => {
    const body = opencti();
    delete body.data.attributes.last_analysis_stats;
    const r = report(body, '138.128.150.133');
    assert.equal(r.statsPresent, false);
    assert.deepEqual(r.missingStats, ['malicious', 'suspicious', 'harmless', 'undetected', 'timeout']);
    assert.equal(r.engines, 0);
    body.data.attributes.last_analysis_stats = null;
    assert.equal(report(body, '138.128.150.133').statsPresent, false);
  });

  it('records individually missing counts as 0', () => {
    const body = opencti();
    delete body.data.attributes.last_analysis_stats.timeout;
    body.data.attributes.last_analysis_stats.suspicious = null;
    const r = report(body, '138.128.150.133');
    assert.equal(r.statsPresent, true);
    assert.deepEqual(r.missingStats, ['suspicious', 'timeout']);
    assert.equal(r.engines, 93);
  });

  it('reads absent optional attributes as null', () => {
    const r = report({ data: { type: 'ip_address', id: '8.8.8.8', attributes: {} } }, '8.8.8.8');
    assert.deepEqual([r.reputation, r.country, r.asOwner, r.asn, r.network, r.lastAnalysisDate], [null, null, null, null, null, null]);
  });

  describe('failures', () => {
    it('a requested address that is not an address (or is zone-scoped)', () => {
      for (const ip of ['not-an-ip', 'fe80::1%eth0', '010.1.1.1']) assert.equal(failure(opencti(), ip).kind, 'invalid_argument');
    });
    it('a body about a different address than the one we asked about', () => {
      const f = failure(opencti(), '8.8.8.8');
      assert.equal(f.kind, 'unexpected_subject');
      assert.equal(f.message, 'VirusTotal answered about 138.128.150.133, but we asked about 8.8.8.8');
    });
    it('a body that is not an object', () => {
      for (const body of [null, [], 'text', 42, undefined]) assert.equal(failure(body, '8.8.8.8').kind, 'malformed_response');
    });
    it('a body without data', () => {
      assert.match(failure({ meta: {} }, '8.8.8.8').message, /no data object \(got no "data" key\)/);
      assert.match(failure({ data: [] }, '8.8.8.8').message, /no data object \(got an array\)/);
    });
    it('an object of another type', () => {
      const body = opencti();
      body.data.type = 'domain';
      const f = failure(body, '138.128.150.133');
      assert.equal(f.kind, 'unexpected_type');
      assert.match(f.message, /describes the string "domain", expected type "ip_address"/);
    });
    it('missing attributes', () => {
      const f = failure({ data: { type: 'ip_address', id: '8.8.8.8' } }, '8.8.8.8');
      assert.equal(f.kind, 'malformed_response');
      assert.match(f.message, /data\.attributes for 8\.8\.8\.8 is undefined/);
    });
    it('wrongly typed stats and attributes, naming the field', () => {
      const cases: [(b: Json) => void, RegExp][] = [
        [(b) => { b.data.attributes.last_analysis_stats = 'many'; }, /last_analysis_stats is the string "many", expected an object/],
        [(b) => { b.data.attributes.last_analysis_stats.malicious = '4'; }, /last_analysis_stats\.malicious is the string "4", expected a whole number/],
        [(b) => { b.data.attributes.last_analysis_stats.harmless = -1; }, /last_analysis_stats\.harmless is -1/],
        [(b) => { b.data.attributes.last_analysis_stats.undetected = 1.5; }, /last_analysis_stats\.undetected is 1\.5/],
        [(b) => { b.data.attributes.reputation = 'good'; }, /data\.attributes\.reputation is the string "good"/],
        [(b) => { b.data.attributes.asn = 'AS13886'; }, /data\.attributes\.asn is the string "AS13886"/],
        [(b) => { b.data.attributes.country = 44; }, /data\.attributes\.country is 44, expected a string/],
        [(b) => { b.data.attributes.last_analysis_date = '2022-06-17'; }, /data\.attributes\.last_analysis_date is the string "2022-06-17"/],
      ];
      for (const [mutate, pattern] of cases) {
        const body = opencti();
        mutate(body);
        const f = failure(body, '138.128.150.133');
        assert.equal(f.kind, 'malformed_response');
        assert.match(f.message, pattern);
      }
    });
    it('a 200 body that carries an error object', () => {
      const body = readCorpusJson('virustotal', 'vt_error_NotFoundError.docs_example.json');
      const f = failure(body, '8.8.8.8');
      assert.equal(f.kind, 'provider_error');
      assert.equal(f.message, 'VirusTotal returned an error object for 8.8.8.8: NotFoundError: URL "thisurlidmakesnosenseatall" not found');
    });
  });
});

describe('intel/virustotal-report parseVirusTotalError', () => {
  it('404 NotFoundError (docs example body)', () => {
    const e = parseVirusTotalError(404, readCorpusText('virustotal', 'vt_error_NotFoundError.docs_example.json'));
    assert.deepEqual(e, {
      kind: 'not_found',
      status: 404,
      code: 'NotFoundError',
      message: 'VirusTotal HTTP 404 NotFoundError: URL "thisurlidmakesnosenseatall" not found; VirusTotal has no report for this resource',
      retryable: false,
    });
  });

  it('401 AuthenticationRequiredError (docs example body): auth, never retried', () => {
    const e = parseVirusTotalError(401, readCorpusText('virustotal', 'vt_error_AuthenticationRequiredError.docs_example.json'));
    assert.equal(e.kind, 'auth');
    assert.equal(e.code, 'AuthenticationRequiredError');
    assert.equal(e.retryable, false);
    assert.match(e.message, /^VirusTotal HTTP 401 AuthenticationRequiredError: X-Apikey header is missing; check the virustotal_api_key secret/);
  });

  it("429 QuotaExceededError (vt-go's test body, plain JSON)", () => {
    const e = parseVirusTotalError(429, readCorpusText('virustotal', 'vt_error_QuotaExceededError.vt-go_test_429.json'));
    assert.equal(e.kind, 'quota');
    assert.equal(e.code, 'QuotaExceededError');
    assert.equal(e.retryable, true);
    assert.match(e.message, /^VirusTotal HTTP 429 QuotaExceededError: Quota exceeded; VirusTotal quota exhausted/);
  });

  it('429 with a non-JSON body: plain text, HTML, empty and binary garbage', () => {
    const text = parseVirusTotalError(429, 'Quota exceeded\n');
    assert.deepEqual([text.kind, text.retryable, text.code], ['quota', true, undefined]);
    assert.match(text.message, /^VirusTotal HTTP 429: non-JSON body: Quota exceeded; /);

    const html = parseVirusTotalError(429, '<!DOCTYPE html>\n<html><head><title>429 Too Many Requests</title></head><body><h1>Quota exceeded</h1></body></html>');
    assert.equal(html.kind, 'quota');
    assert.match(html.message, /^VirusTotal HTTP 429: non-JSON body: 429 Too Many Requests; /);

    const untitled = parseVirusTotalError(429, '<html><body><p>Quota &amp; rate exceeded</p>\r\n</body></html>');
    assert.match(untitled.message, /non-JSON body: Quota & rate exceeded;/);

    assert.match(parseVirusTotalError(429, '').message, /non-JSON body: empty body;/);
    // A gzip body read as text (vt-go#35 was the opposite case; either way it is not JSON).
    const gz = parseVirusTotalError(429, '\u001f\u008b\u0008\u0000\u0000\u0000\u0000\u0000\u0000\u0003');
    assert.equal(gz.kind, 'quota');
    assert.ok(!/[\u0000-\u001f\u007f-\u009f]/.test(gz.message), "no control characters in the message");
  });

  it('every row of the docs error table, as a {"error": …} body with the table description', () => {
    const page = readCorpusText('virustotal', 'vt_docs_errors_page.md');
    const rows = [...page.matchAll(/^\| (\d{3}) \| (\w+) \| (.+) \|$/gm)].map((m) => ({ status: Number(m[1]), code: m[2], description: m[3] }));
    assert.equal(rows.length, 16);
    const expected: Record<string, [ProviderErrorKind, boolean]> = {
      BadRequestError: ['bad_request', false],
      InvalidArgumentError: ['bad_request', false],
      NotAvailableYet: ['transient', true],
      UnselectiveContentQueryError: ['bad_request', false],
      UnsupportedContentQueryError: ['bad_request', false],
      AuthenticationRequiredError: ['auth', false],
      UserNotActiveError: ['auth', false],
      WrongCredentialsError: ['auth', false],
      ForbiddenError: ['auth', false],
      NotFoundError: ['not_found', false],
      AlreadyExistsError: ['bad_request', false],
      FailedDependencyError: ['transient', true],
      QuotaExceededError: ['quota', true],
      TooManyRequestsError: ['quota', true],
      TransientError: ['transient', true],
      DeadlineExceededError: ['transient', true],
    };
    assert.deepEqual(rows.map((r) => r.code).sort(), Object.keys(expected).sort());
    for (const row of rows) {
      const body = JSON.stringify({ error: { code: row.code, message: row.description } });
      const e = parseVirusTotalError(row.status, body);
      assert.deepEqual([e.kind, e.retryable, e.code, e.status], [...expected[row.code], row.code, row.status], row.code);
      assert.ok(!e.message.includes('\n'), 'one line');
      assert.ok(e.message.startsWith(`VirusTotal HTTP ${row.status} ${row.code}: `), e.message);
      // The 429 description has an embedded <br><br>; the message keeps it on one line.
    }
  });

  it('classifies by status when the body has no known code', () => {
    const cases: [number, string, ProviderErrorKind, boolean][] = [
      [500, '', 'transient', true],
      [502, '<html><head><title>502 Bad Gateway</title></head></html>', 'transient', true],
      [503, '{"error":{"code":"SomethingNew","message":"try later"}}', 'transient', true],
      [504, 'upstream timeout', 'transient', true],
      [403, '', 'auth', false],
      [401, '{"error":{"message":"Wrong API key"}}', 'auth', false],
      [404, '', 'not_found', false],
      [400, 'bad', 'bad_request', false],
      [418, "I'm a teapot", 'unknown', false],
      [429, '{"error":{"code":"constructor","message":"x"}}', 'quota', true],
      [503, '{"error":{"code":"__proto__","message":"x"}}', 'transient', true],
    ];
    for (const [status, body, kind, retryable] of cases) {
      const e = parseVirusTotalError(status, body);
      assert.deepEqual([e.kind, e.retryable], [kind, retryable], `${status} ${body}`);
    }
  });

  it('a known code decides over the status', () => {
    const e = parseVirusTotalError(400, JSON.stringify({ error: { code: 'NotAvailableYet', message: 'later' } }));
    assert.deepEqual([e.kind, e.retryable], ['transient', true]);
  });

  it('JSON that is not an error object is shown, cut to one line', () => {
    const e = parseVirusTotalError(500, JSON.stringify({ data: { note: 'x'.repeat(1000) } }, null, 2));
    assert.equal(e.kind, 'transient');
    assert.match(e.message, /^VirusTotal HTTP 500: unexpected JSON body: \{ "data": \{ "note": "x+…; /);
    assert.ok(e.message.length < 400);
  });

  it('keeps a huge or multi-line provider message to one short line', () => {
    const e = parseVirusTotalError(429, JSON.stringify({ error: { code: 'QuotaExceededError', message: `line1\nline2\r\n${'y'.repeat(5000)}` } }));
    assert.ok(!/[\r\n]/.test(e.message));
    assert.ok(e.message.length < 450, String(e.message.length));
    assert.match(e.message, /QuotaExceededError: line1 line2 y+…;/);
  });
});
