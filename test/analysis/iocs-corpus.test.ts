/**
 * The extractor on real threat-report text from test/fixtures/corpus/iocs/. Expected values are
 * derived in the tests from the data itself with simple, independent patterns (the ones the
 * corpus README used) or from the machine-readable MISP export, never typed in by hand.
 */
import * as assert from 'node:assert/strict';
import { extractIocs, refang, type IocSet, type IocType } from '../../src/analysis/iocs';
import { readIocsCorpus, readIocsCorpusLines } from './iocs-corpus';

const TRICKBOT = 'unit42_2020-08-24-IOCs-for-Trickbot-gtag-ono66.txt';
const QAKBOT = 'unit42_2023-05-02-IOCs-for-obama259-Qakbot.txt';
const THREATCONNECT = 'ioc-finder_long-article-1_threatconnect_guccifer2.txt';
const ESET_ADOC = 'eset_2018-11-20_Zebrocy.adoc';
const ESET_MISP = 'eset_2018-11-20_Zebrocy.json';

function uniq(values: Iterable<string>): Set<string> {
  return new Set(values);
}

function matches(text: string, re: RegExp, group = 0): string[] {
  return Array.from(text.matchAll(re), (m) => m[group]!);
}

/** Plain-text refang used only to build expectations: the two spellings these reports use. */
function naiveRefang(s: string): string {
  return s.replace(/\[\.\]/g, '.').replace(/^hxxp/i, 'http');
}

const SHA256_RE = /(?<![0-9a-fA-F])[0-9a-fA-F]{64}(?![0-9a-fA-F])/g;
const DEFANGED_IPV4_RE = /\b\d{1,3}\.\d{1,3}\.\d{1,3}\[\.\]\d{1,3}\b/g;

function assertSameSet(actual: readonly string[], expected: Set<string>, what: string): void {
  const got = uniq(actual);
  const missing = [...expected].filter((v) => !got.has(v));
  const extra = [...got].filter((v) => !expected.has(v));
  assert.deepEqual({ missing, extra }, { missing: [], extra: [] }, `${what}: differs from the expectation`);
}

function assertIncludesAll(actual: readonly string[], expected: Iterable<string>, what: string): void {
  const got = uniq(actual);
  const missing = [...expected].filter((v) => !got.has(v));
  assert.deepEqual(missing, [], `${what}: not extracted`);
}

function kindOf(value: string): IocType {
  if (/^[a-z][a-z0-9+.-]*:\/\//.test(value)) return 'urls';
  if (/^[0-9a-f]{32}$/.test(value)) return 'md5';
  if (/^[0-9a-f]{40}$/.test(value)) return 'sha1';
  if (/^[0-9a-f]{64}$/.test(value)) return 'sha256';
  if (/^[0-9a-f]{128}$/.test(value)) return 'sha512';
  if (/^\d+\.\d+\.\d+\.\d+$/.test(value)) return 'ipv4';
  if (value.includes(':')) return 'ipv6';
  if (value.includes('@')) return 'emails';
  return 'domains';
}

describe('iocs on the iocextract test corpus (InQuest/iocextract test_data)', () => {
  const input = readIocsCorpus('iocextract_test_data_input.txt');
  const result = extractIocs(input);
  const everything = new Set(Object.values(result).flat());

  // iocextract's valid.txt holds its raw (still defanged) outputs; we compare the refanged,
  // normalised form of each line. The one line deliberately not reported: iocextract's
  // telephone extractor output, a kind of data this extractor does not look for.
  const NOT_OUR_KIND = new Set(['456-7890']);

  const valid = readIocsCorpusLines('iocextract_test_data_valid.txt');

  it('reads the whole valid list (48 lines, one deliberately out of scope)', () => {
    assert.equal(valid.length, 48);
    assert.deepEqual(
      valid.filter((line) => NOT_OUR_KIND.has(line)),
      [...NOT_OUR_KIND],
    );
  });

  for (const line of valid.filter((l) => !NOT_OUR_KIND.has(l))) {
    it(`finds valid item ${JSON.stringify(line)} in its refanged form, under the right kind`, () => {
      const expected = refang(line);
      const kind = kindOf(expected);
      assert.ok(
        result[kind].includes(expected),
        `${JSON.stringify(expected)} (from ${JSON.stringify(line)}) not among the ${kind}: ${JSON.stringify(result[kind])}`,
      );
    });
  }

  it('reports none of the invalid list, raw or refanged', () => {
    const invalid = readIocsCorpusLines('iocextract_test_data_invalid.txt');
    assert.equal(invalid.length, 11);
    const reported = invalid.filter((line) => everything.has(line) || everything.has(refang(line)));
    assert.deepEqual(reported, []);
  });

  it('reports nothing beyond the refanged valid list and the hosts of its URLs', () => {
    const expected = new Set(valid.map(refang));
    for (const v of [...expected]) {
      if (kindOf(v) !== 'urls') continue;
      // WHATWG URL parsing as an independent check of our host normalisation.
      const host = new URL(v).hostname;
      expected.add(host.startsWith('[') ? host.slice(1, -1) : host);
    }
    const extras = [...everything].filter((v) => !expected.has(v));
    assert.deepEqual(extras, []);
  });

  it('keeps the 34-hex-digit string out of every hash list', () => {
    const notAHash = readIocsCorpusLines('iocextract_test_data_invalid.txt').find((l) => /^[0-9a-f]{34}$/.test(l))!;
    assert.ok(input.includes(notAHash));
    for (const kind of ['md5', 'sha1', 'sha256', 'sha512'] as const) {
      assert.ok(!result[kind].some((h) => notAHash.includes(h)), `${kind} took part of ${notAHash}`);
    }
  });
});

describe('iocs on the Unit 42 Trickbot report (2020-08-24)', () => {
  const text = readIocsCorpus(TRICKBOT);
  const result = extractIocs(text);

  it('finds exactly the 101 unique SHA256 hashes', () => {
    const expected = uniq(matches(text, SHA256_RE).map((h) => h.toLowerCase()));
    assert.equal(expected.size, 101);
    assertSameSet(result.sha256, expected, 'sha256');
  });

  it('finds the 9 defanged IPv4 addresses plus the plain [208.75.123.201], and no other', () => {
    const defanged = uniq(matches(text, DEFANGED_IPV4_RE).map(naiveRefang));
    assert.equal(defanged.size, 9);
    const plain = uniq(matches(text, /\[(\d{1,3}(?:\.\d{1,3}){3})\]/g, 1));
    assert.deepEqual([...plain], ['208.75.123.201']);
    assertSameSet(result.ipv4, new Set([...defanged, ...plain]), 'ipv4');
  });

  it('refangs the IP[.]x:8082 form and the hxxp(s) URLs', () => {
    const port = text.match(/(\d+\.\d+\.\d+\[\.\]\d+):8082/)![1]!;
    assert.ok(result.ipv4.includes(naiveRefang(port)));
    const urls = uniq(matches(text, /\bhxxps?:\/\/\S+/g).map(naiveRefang));
    assert.equal(urls.size, 3);
    assertIncludesAll(result.urls, urls, 'urls');
  });

  it('finds the defanged domains and the sender address, not file names', () => {
    const defangedDomains = uniq(matches(text, /[a-z0-9.-]+\[\.\][a-z]+/gi).map((d) => naiveRefang(d).toLowerCase()));
    assert.equal(defangedDomains.size, 3);
    assertIncludesAll(result.domains, defangedDomains, 'domains');
    const emails = uniq(matches(text, /[\w.+-]+@[\w-]+(?:\.[\w-]+)+/g).map((e) => e.toLowerCase()));
    assertSameSet(result.emails, emails, 'emails');
    for (const d of result.domains) assert.ok(!/\.(php|png|exe|doc)$/.test(d), `file name ${d} taken for a domain`);
  });
});

describe('iocs on the Unit 42 Qakbot report (2023-05-02)', () => {
  const text = readIocsCorpus(QAKBOT);
  const result = extractIocs(text);

  it('finds the 47 unique SHA256 hashes (49 occurrences)', () => {
    const all = matches(text, SHA256_RE);
    assert.equal(all.length, 49);
    const expected = uniq(all.map((h) => h.toLowerCase()));
    assert.equal(expected.size, 47);
    assertSameSet(result.sha256, expected, 'sha256');
  });

  it('finds exactly the 12 unique defanged IPv4 addresses: none from HH:MM:SS times', () => {
    const expected = uniq(matches(text, DEFANGED_IPV4_RE).map(naiveRefang));
    assert.equal(expected.size, 12);
    assert.ok(/\d\d:\d\d:\d\d/.test(text));
    assertSameSet(result.ipv4, expected, 'ipv4');
    assert.deepEqual(result.ipv6, []);
  });

  it('finds all 104 hxxp:// URLs, including those whose host is a defanged IP', () => {
    const expected = uniq(matches(text, /\bhxxp:\/\/\S+/g).map(naiveRefang));
    assert.equal(expected.size, 104);
    assertIncludesAll(result.urls, expected, 'urls');
    const ipHosted = [...expected].filter((u) => /^http:\/\/\d+\.\d+\.\d+\.\d+\//.test(u));
    assert.ok(ipHosted.length > 0);
    for (const url of ipHosted) {
      const host = url.slice('http://'.length, url.indexOf('/', 'http://'.length));
      assert.ok(result.ipv4.includes(host), `host ${host} of ${url}`);
    }
  });

  it('finds the 21 defanged domains, and no archive or script file names as domains', () => {
    // The corpus README's way: whitespace tokens containing "[.]", host part refanged, with letters.
    const expected = new Set<string>();
    for (const token of text.split(/\s+/)) {
      if (!token.includes('[.]')) continue;
      const host = naiveRefang(token.replace(/^hxxps?:\/\//, '').split('/')[0]!).toLowerCase();
      if (/[a-z]/.test(host)) expected.add(host);
    }
    assert.equal(expected.size, 21);
    assertIncludesAll(result.domains, expected, 'domains');
    const fileNames = uniq(matches(text, /\b[\w-]+\.(?:zip|wsf|dat|xlsx|pdf|dll|exe)\b/gi).map((f) => f.toLowerCase()));
    assert.ok(fileNames.size > 0);
    for (const f of fileNames) assert.ok(!result.domains.includes(f), `file name ${f} taken for a domain`);
  });
});

describe('iocs on the ThreatConnect Guccifer 2.0 article', () => {
  const text = readIocsCorpus(THREATCONNECT);
  const result = extractIocs(text);

  it('finds its 7 defanged IPv4 addresses and no other', () => {
    const expected = uniq(matches(text, DEFANGED_IPV4_RE).map(naiveRefang));
    assert.equal(expected.size, 7);
    assertSameSet(result.ipv4, expected, 'ipv4');
  });

  it('takes nothing from the SSH fingerprint: no IPv6, no MD5', () => {
    const fingerprint = text.match(/([0-9a-f]{2}(?::[0-9a-f]{2}){15})/)![1]!;
    assert.equal(fingerprint.split(':').length, 16);
    assert.deepEqual(result.ipv6, []);
    assert.deepEqual(result.md5, []);
  });

  it('skips the CIDR network 95.130.8.0/21: a network is not a host indicator', () => {
    const cidr = text.match(/(\d+\.\d+\.\d+\.\d+)\/(\d+)/)!;
    assert.equal(cidr[2], '21');
    assert.ok(!result.ipv4.includes(cidr[1]!));
  });

  it('finds the emails with defanged domains, and every defanged domain', () => {
    const emails = uniq(matches(text, /[\w.]+@[\w-]+\[\.\][a-z]+/g).map((e) => naiveRefang(e).toLowerCase()));
    assert.equal(emails.size, 2);
    assertSameSet(result.emails, emails, 'emails');
    // The corpus README's way: whitespace tokens containing "[.]", refanged, with letters.
    const domains = new Set<string>();
    for (const token of text.split(/\s+/)) {
      if (!token.includes('[.]')) continue;
      const cleaned = naiveRefang(token.replace(/^[(“"]+/, '').replace(/[.,;:)”’"]+$/, '')).toLowerCase();
      const host = cleaned.includes('@') ? cleaned.slice(cleaned.indexOf('@') + 1) : cleaned;
      if (/[a-z]/.test(host)) domains.add(host);
    }
    assert.equal(domains.size, 7);
    assertIncludesAll(result.domains, domains, 'domains');
  });
});

describe('iocs on the ESET Zebrocy report (.adoc) against its MISP export (.json)', () => {
  const adoc = readIocsCorpus(ESET_ADOC);
  const result = extractIocs(adoc);
  const misp = JSON.parse(readIocsCorpus(ESET_MISP)) as { response: { Event: { Attribute: { type: string; value: string }[] } }[] };
  const attributes = misp.response[0]!.Event.Attribute;

  // MISP attribute type -> our list, for the kinds the brief checks (the hash part of
  // "filename|sha1" and friends).
  const KIND: Record<string, keyof IocSet> = {
    sha1: 'sha1',
    md5: 'md5',
    sha256: 'sha256',
    url: 'urls',
    'email-src': 'emails',
    'email-dst': 'emails',
  };

  const checked: { kind: keyof IocSet; value: string }[] = [];
  for (const a of attributes) {
    const type = a.type.startsWith('filename|') ? a.type.slice('filename|'.length) : a.type;
    const value = a.type.startsWith('filename|') ? a.value.slice(a.value.lastIndexOf('|') + 1) : a.value;
    const kind = KIND[type];
    if (kind === undefined) continue;
    if (!adoc.toLowerCase().includes(value.toLowerCase())) continue; // MISP is a superset of the blog table
    checked.push({ kind, value: value.toLowerCase() });
  }

  it('extracts every sha1, url and email attribute that appears in the report text', () => {
    const kinds = new Set(checked.map((c) => c.kind));
    for (const k of ['sha1', 'urls', 'emails'] as const) assert.ok(kinds.has(k), `no ${k} attribute of the MISP export appears in the .adoc`);
    const missing = checked.filter((c) => !result[c.kind].includes(c.value));
    assert.deepEqual(missing, []);
  });

  it('reports exactly the hex strings of the report as hashes (the table has one SHA-1 MISP lacks)', () => {
    const sha1 = uniq(matches(adoc, /(?<![0-9a-f])[0-9a-f]{40}(?![0-9a-f])/gi).map((h) => h.toLowerCase()));
    assertSameSet(result.sha1, sha1, 'sha1');
    assert.deepEqual([result.md5, result.sha256, result.sha512], [[], [], []]);
    const emails = uniq(matches(adoc, /[\w.+-]+@[\w-]+(?:\.[\w-]+)+/g).map((e) => e.toLowerCase()));
    assertSameSet(result.emails, emails, 'emails');
  });

  it('does not turn antivirus detection names, Windows paths or file names into domains', () => {
    const detectionNames = attributes.filter((a) => a.type === 'text').map((a) => a.value.toLowerCase());
    assert.ok(detectionNames.length > 0);
    for (const d of result.domains) {
      assert.ok(!detectionNames.some((name) => name.includes(d)), `${d} comes from a detection name`);
      assert.ok(!/\.(exe|jpg|txt|tmp|php)$/.test(d), `${d} is a file name`);
    }
    // Every domain reported is the domain of a reported email or the URL's host.
    const hosts = new Set([...result.emails.map((e) => e.slice(e.indexOf('@') + 1)), ...result.urls.map((u) => new URL(u).hostname)]);
    for (const d of result.domains) assert.ok(hosts.has(d), `unexpected domain ${d}`);
  });
});
