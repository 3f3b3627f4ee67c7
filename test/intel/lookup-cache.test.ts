import { strict as assert } from 'node:assert';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { addressFilePart, apiKeyHash, DEFAULT_TTL_MS, LookupCache, NOT_FOUND_TTL_MS } from '../../src/intel/lookup-cache';
import { lookupVirusTotalIp } from '../../src/intel/virustotal-client';
import { lookupAbuseIpdb } from '../../src/intel/abuseipdb-client';
import type { ProviderClientOptions } from '../../src/intel/provider-lookup';
import { dataLayout } from '../../src/store/data-dir';
import { ABUSE_DOCS_IP, AbuseAnswer, IntelStub, startAbuseIpdbStub, startVirusTotalStub, VtAnswer, VT_OPENCTI_IP } from '../support/intel-stubs';

const T0 = Date.parse('2026-11-24T12:00:00Z');
const HOUR = 3_600_000;

describe('intel/lookup-cache', () => {
  let root: string;
  let cache: LookupCache;
  let vt: IntelStub<VtAnswer>;
  let abuse: IntelStub<AbuseAnswer>;

  beforeEach(async () => {
    root = mkdtempSync(path.join(tmpdir(), 'soar-cache-'));
    cache = new LookupCache(dataLayout(root).cache);
    vt = await startVirusTotalStub();
    abuse = await startAbuseIpdbStub();
  });
  afterEach(async () => {
    await vt.close();
    await abuse.close();
    rmSync(root, { recursive: true, force: true });
  });

  const opts = (stub: IntelStub<string>): ProviderClientOptions => ({ baseUrl: stub.baseUrl, apiKey: stub.apiKey, deadlineMs: Date.now() + 30_000, sleep: async () => undefined });

  /** What the pipeline will do: cache first, network only on a miss, then store. */
  async function vtWithCache(ip: string, apiKey: string, nowMs: number) {
    const keyHash = apiKeyHash(apiKey);
    const hit = cache.get('virustotal', ip, keyHash, nowMs);
    if (hit) return { from: 'cache' as const, value: hit.value };
    const r = await lookupVirusTotalIp(ip, { ...opts(vt), apiKey });
    if (r.state === 'report') cache.put('virustotal', ip, keyHash, { state: 'report', report: r.report }, nowMs);
    if (r.state === 'not_found') cache.put('virustotal', ip, keyHash, { state: 'not_found' }, nowMs);
    return { from: 'network' as const, value: r };
  }

  it('key hash is sha256, 16 hex; the key itself is never written', async () => {
    assert.equal(apiKeyHash('abc'), 'ba7816bf8f01cfea');
    await vtWithCache(VT_OPENCTI_IP, vt.apiKey, T0);
    const files = readdirSync(dataLayout(root).cache);
    assert.deepEqual(files, [`virustotal-138.128.150.133-${apiKeyHash(vt.apiKey)}.json`]);
    assert.ok(!readFileSync(path.join(dataLayout(root).cache, files[0]), 'utf8').includes(vt.apiKey));
  });

  it('a hit makes zero stub requests and returns the same report', async () => {
    const first = await vtWithCache(VT_OPENCTI_IP, vt.apiKey, T0);
    const second = await vtWithCache(VT_OPENCTI_IP, vt.apiKey, T0 + 23 * HOUR);
    assert.equal(first.from, 'network');
    assert.equal(second.from, 'cache');
    assert.equal(vt.requestsFor(VT_OPENCTI_IP), 1);
    assert.ok(second.value.state === 'report' && first.value.state === 'report');
    if (second.value.state === 'report' && first.value.state === 'report') assert.deepEqual(second.value.report, first.value.report);
  });

  it('expires after the TTL (24 h default): a miss and a new request', async () => {
    await vtWithCache(VT_OPENCTI_IP, vt.apiKey, T0);
    assert.equal(cache.get('virustotal', VT_OPENCTI_IP, apiKeyHash(vt.apiKey), T0 + DEFAULT_TTL_MS - 1)?.value.state, 'report');
    const later = await vtWithCache(VT_OPENCTI_IP, vt.apiKey, T0 + DEFAULT_TTL_MS);
    assert.equal(later.from, 'network');
    assert.equal(vt.requestsFor(VT_OPENCTI_IP), 2);
  });

  it('not_found is cached, with the shorter not-found TTL (6 h)', async () => {
    const ip = '203.0.113.9';
    assert.equal((await vtWithCache(ip, vt.apiKey, T0)).from, 'network');
    const hit = await vtWithCache(ip, vt.apiKey, T0 + NOT_FOUND_TTL_MS - 1);
    assert.deepEqual(hit, { from: 'cache', value: { state: 'not_found' } });
    assert.equal((await vtWithCache(ip, vt.apiKey, T0 + NOT_FOUND_TTL_MS)).from, 'network');
    assert.equal(vt.requestsFor(ip), 2);
  });

  it('a configurable TTL', () => {
    const short = new LookupCache(dataLayout(root).cache, { ttlMs: 1_000 });
    short.put('abuseipdb', '1.2.3.4', 'k', { state: 'not_found' }, T0);
    assert.ok(short.get('abuseipdb', '1.2.3.4', 'k', T0 + 999));
    assert.equal(short.get('abuseipdb', '1.2.3.4', 'k', T0 + 1_000), undefined);
  });

  it('a different API key is a miss', async () => {
    await vtWithCache(VT_OPENCTI_IP, vt.apiKey, T0);
    assert.equal(cache.get('virustotal', VT_OPENCTI_IP, apiKeyHash('another-key'), T0 + 1), undefined);
    assert.equal(cache.get('abuseipdb', VT_OPENCTI_IP, apiKeyHash(vt.apiKey), T0 + 1), undefined);
  });

  it('a corrupt file is a miss and is replaced by the next put', async () => {
    const keyHash = apiKeyHash(abuse.apiKey);
    const file = cache.fileFor('abuseipdb', ABUSE_DOCS_IP, keyHash);
    const r = await lookupAbuseIpdb(ABUSE_DOCS_IP, opts(abuse));
    assert.equal(r.state, 'report');
    if (r.state !== 'report') return;
    cache.put('abuseipdb', ABUSE_DOCS_IP, keyHash, { state: 'report', report: r.report }, T0);
    writeFileSync(file, '{"v":1,"provider":"abuseipdb","addr');
    assert.equal(cache.get('abuseipdb', ABUSE_DOCS_IP, keyHash, T0 + 1), undefined);
    writeFileSync(file, JSON.stringify({ v: 1, provider: 'abuseipdb', address: ABUSE_DOCS_IP, keyHash, storedAtMs: T0, value: { state: 'report', report: { state: 'report' } } }));
    assert.equal(cache.get('abuseipdb', ABUSE_DOCS_IP, keyHash, T0 + 1), undefined, 'a report without its fields is not trusted');
    cache.put('abuseipdb', ABUSE_DOCS_IP, keyHash, { state: 'report', report: r.report }, T0 + 2);
    const hit = cache.get('abuseipdb', ABUSE_DOCS_IP, keyHash, T0 + 3);
    assert.equal(hit?.value.state === 'report' && hit.value.report.abuseConfidenceScore, 100);
  });

  it('IPv6 file names carry no ":" (Windows)', () => {
    cache.put('virustotal', '2001:db8::1', 'k', { state: 'not_found' }, T0);
    assert.deepEqual(readdirSync(dataLayout(root).cache), ['virustotal-2001_db8__1-k.json']);
    assert.ok(cache.get('virustotal', '2001:db8::1', 'k', T0));
    assert.match(addressFilePart('evil/../name'), /^h[0-9a-f]{32}$/);
  });

  it('an entry stamped far in the future (clock stepped back) is not trusted; prune removes expired files', () => {
    cache.put('virustotal', '1.2.3.4', 'k', { state: 'not_found' }, T0 + HOUR);
    assert.equal(cache.get('virustotal', '1.2.3.4', 'k', T0), undefined);
    assert.equal(cache.prune(Date.now()), 0);
    assert.equal(cache.prune(Date.now() + DEFAULT_TTL_MS + 1), 1);
    assert.deepEqual(readdirSync(dataLayout(root).cache), []);
  });
});
