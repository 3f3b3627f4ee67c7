/**
 * VirusTotal domain and file reports (src/intel/virustotal-object.ts) and the host-name
 * gate (src/intel/domain-gate.ts), on the captured bodies in test/cli/fixtures/virustotal.
 */
import assert from 'node:assert/strict';
import { classifyDomain } from '../../src/intel/domain-gate';
import { decideVerdict, DEFAULT_THRESHOLDS } from '../../src/intel/verdict';
import { canonicalDomain, hashKind, lookupVirusTotalObject, parseVirusTotalObject, parseVtSubject, VtSubject } from '../../src/intel/virustotal-object';
import { IntelStub, startVirusTotalStub, VtAnswer } from '../support/intel-stubs';
import { capturedObjects, corpusJson, DOMAIN_FIXTURE, FILE_FIXTURE, fixtureJson, vtObjectBodies } from './reputation-fixtures';

interface Body {
  data: { id: string; type: string; attributes: Record<string, unknown> };
}

const clone = (name: string): Body => fixtureJson(name) as Body;

describe('VirusTotal domain and file reports', () => {
  const c = capturedObjects();
  const domain: VtSubject = { kind: 'domain', id: c.domain };

  it('reads the captured domain: stats, reputation, registrar, link', () => {
    const body = clone(DOMAIN_FIXTURE);
    const r = parseVirusTotalObject(body, domain);
    assert.ok(r.ok, r.ok ? '' : r.error.message);
    const stats = body.data.attributes.last_analysis_stats as Record<string, number>;
    assert.deepEqual(r.value.stats, { malicious: stats.malicious, suspicious: stats.suspicious, harmless: stats.harmless, undetected: stats.undetected, timeout: stats.timeout });
    assert.equal(r.value.stats.malicious, 6);
    assert.equal(r.value.engines, 93);
    assert.equal(r.value.reputation, -37);
    assert.equal(r.value.registrar, 'CommuniGal Communication Ltd.');
    assert.equal(r.value.lastAnalysisDate, null);
    assert.equal(r.value.id, 'tawuhoju.com');
    assert.equal(r.value.guiLink, 'https://www.virustotal.com/gui/domain/tawuhoju.com');
    assert.equal(r.value.sha256, null);
    // 6 engines is over the alert action's default vt_malicious_threshold (3).
    assert.deepEqual(decideVerdict({ vt: r.value }, DEFAULT_THRESHOLDS), { verdict: 'MALICIOUS', reason: '6/93 engines malicious' });
  });

  it('reads the captured file asked by MD5, SHA1 or SHA256; categories without an opinion are not engines', () => {
    for (const [hash, id] of [['md5', c.md5], ['sha1', c.sha1], ['sha256', c.sha256]] as const) {
      const r = parseVirusTotalObject(clone(FILE_FIXTURE), { kind: 'file', id, hash });
      assert.ok(r.ok, r.ok ? '' : r.error.message);
      assert.equal(r.value.subject, id);
      assert.equal(r.value.id, c.sha256);
      assert.deepEqual([r.value.md5, r.value.sha1, r.value.sha256], [c.md5, c.sha1, c.sha256]);
      // 47 malicious + 18 undetected + 2 timeout; type-unsupported 6 and confirmed-timeout 1 are left out.
      assert.equal(r.value.engines, 67);
      assert.equal(r.value.stats.malicious, 47);
      assert.equal(r.value.reputation, -7);
      assert.equal(r.value.typeDescription, 'Win32 DLL');
      assert.equal(r.value.lastAnalysisDate, 1636440506);
      assert.equal(r.value.guiLink, `https://www.virustotal.com/gui/file/${id}`);
      assert.equal(decideVerdict({ vt: r.value }, DEFAULT_THRESHOLDS).reason, '47/67 engines malicious');
    }
  });

  it('refuses an answer about another object, another type, or without data', () => {
    const other = clone(DOMAIN_FIXTURE);
    other.data.id = 'example.org';
    const r1 = parseVirusTotalObject(other, domain);
    assert.ok(!r1.ok);
    assert.equal(r1.error.kind, 'unexpected_subject');
    assert.match(r1.error.message, /answered about domain example\.org, but we asked about domain tawuhoju\.com/);

    const wrongHash = parseVirusTotalObject(clone(FILE_FIXTURE), { kind: 'file', id: 'd41d8cd98f00b204e9800998ecf8427e', hash: 'md5' });
    assert.ok(!wrongHash.ok);
    assert.equal(wrongHash.error.kind, 'unexpected_subject');

    // The real address capture is not a domain report.
    const ipBody = corpusJson('virustotal', 'opencti_vt_test_ipv4.json');
    const r2 = parseVirusTotalObject(ipBody, domain);
    assert.ok(!r2.ok);
    assert.equal(r2.error.kind, 'unexpected_type');
    assert.match(r2.error.message, /"ip_address", expected type "domain"/);

    const r3 = parseVirusTotalObject(corpusJson('virustotal', 'vt_error_NotFoundError.docs_example.json'), domain);
    assert.ok(!r3.ok);
    assert.equal(r3.error.kind, 'provider_error');

    const r4 = parseVirusTotalObject([], domain);
    assert.ok(!r4.ok);
    assert.equal(r4.error.kind, 'malformed_response');
  });

  it('a placeholder id (anonymised samples) is not another subject; missing stats are not evidence', () => {
    const body = clone(DOMAIN_FIXTURE);
    body.data.id = ':domain_id:';
    delete body.data.attributes.last_analysis_stats;
    const r = parseVirusTotalObject(body, domain);
    assert.ok(r.ok);
    assert.equal(r.value.statsPresent, false);
    assert.equal(decideVerdict({ vt: r.value }, DEFAULT_THRESHOLDS).verdict, 'UNKNOWN');
  });

  it('names: hashes by length, domains canonical, addresses and single labels are neither', () => {
    assert.equal(hashKind(c.md5), 'md5');
    assert.equal(hashKind(c.sha1), 'sha1');
    assert.equal(hashKind(c.sha256), 'sha256');
    assert.equal(hashKind('a'.repeat(34)), undefined);
    assert.equal(canonicalDomain('WWW.TawuHoju.COM.'), 'www.tawuhoju.com');
    assert.equal(canonicalDomain('192.0.2.1'), undefined);
    assert.equal(canonicalDomain('intranet'), undefined);
    assert.equal(canonicalDomain('a_b.com'), undefined);
    assert.deepEqual(parseVtSubject(c.sha1), { kind: 'file', id: c.sha1, hash: 'sha1' });
  });

  describe('the host-name gate', () => {
    it('keeps special-use and private-use names here, with the RFC', () => {
      assert.deepEqual(classifyDomain('fileserver.corp.local'), { public: false, reason: 'multicast DNS .local (RFC 6762)' });
      assert.deepEqual(classifyDomain('db.internal'), { public: false, reason: 'private-use .internal (ICANN 2024)' });
      assert.deepEqual(classifyDomain('nas.home.arpa'), { public: false, reason: 'residential .home.arpa (RFC 8375)' });
      assert.deepEqual(classifyDomain('4.3.2.1.in-addr.arpa'), { public: false, reason: 'infrastructure .arpa (RFC 3172)' });
      assert.deepEqual(classifyDomain('www.example.com'), { public: false, reason: 'documentation example.com (RFC 2606)' });
      assert.deepEqual(classifyDomain('evil.test'), { public: false, reason: 'special-use .test (RFC 6761)' });
    });
    it('looks up ordinary and .onion names', () => {
      assert.deepEqual(classifyDomain('tawuhoju.com'), { public: true });
      assert.deepEqual(classifyDomain('notexample.com'), { public: true });
      assert.deepEqual(classifyDomain('duckduckgogg42xjoc72x3sjasowoarfbgcmvfimaftt6twagswzczad.onion'), { public: true });
    });
  });

  describe('the client against the loopback VirusTotal stub', () => {
    let vt: IntelStub<VtAnswer>;
    before(async () => {
      vt = await startVirusTotalStub({ objects: vtObjectBodies() });
    });
    after(() => vt.close());
    const options = () => ({ apiKey: vt.apiKey, baseUrl: vt.baseUrl, deadlineMs: Date.now() + 30_000, sleep: async () => undefined });

    it('GET /domains/<name> and /files/<hash> with the key header', async () => {
      const d = await lookupVirusTotalObject(domain, options());
      assert.equal(d.state, 'report');
      assert.equal(d.attempts, 1);
      const f = await lookupVirusTotalObject({ kind: 'file', id: c.sha1, hash: 'sha1' }, options());
      assert.ok(f.state === 'report');
      assert.equal(f.report.id, c.sha256);
      const last = vt.requests.slice(-2);
      assert.deepEqual(last.map((r) => r.path), [`/api/v3/domains/${c.domain}`, `/api/v3/files/${c.sha1}`]);
      assert.ok(last.every((r) => r.headers['x-apikey'] === vt.apiKey));
    });

    it('NotFoundError is not_found; 401 is auth; 429 is quota; no key makes no request', async () => {
      assert.equal((await lookupVirusTotalObject({ kind: 'domain', id: 'unknown-to-the-stub.net' }, options())).state, 'not_found');
      vt.script('tawuhoju.com', 'unauthorized', 'quota_json');
      const auth = await lookupVirusTotalObject(domain, options());
      assert.ok(auth.state === 'error');
      assert.equal(auth.error.kind, 'auth');
      const quota = await lookupVirusTotalObject(domain, options());
      assert.ok(quota.state === 'error');
      assert.equal(quota.error.kind, 'quota');
      const before = vt.requests.length;
      const none = await lookupVirusTotalObject(domain, { ...options(), apiKey: '' });
      assert.ok(none.state === 'error' && none.error.kind === 'auth' && none.attempts === 0);
      assert.match(none.error.message, /no API key configured; set the virustotal_api_key secret/);
      assert.equal(vt.requests.length, before);
    });
  });
});
