import * as assert from 'node:assert/strict';
import * as fc from 'fast-check';
import {
  createIocExtractor,
  defang,
  extractIocs,
  extractIocsFromStream,
  IOC_TYPES,
  parseIocTypes,
  refang,
  type IocSet,
  type IocType,
} from '../../src/analysis/iocs';
import { formatIpv6, isPlausibleIpv6Text, normalizeIpv6 } from '../../src/analysis/iocs-address';
import { isKnownTld, KNOWN_TLD_COUNT } from '../../src/analysis/iocs-tlds';
import { readIocsCorpus } from './iocs-corpus';

function only(text: string, type: IocType): string[] {
  return extractIocs(text)[type];
}

function nothing(text: string): void {
  const r = extractIocs(text);
  const found = Object.entries(r).filter(([, v]) => v.length > 0);
  assert.deepEqual(found, [], `expected nothing in ${JSON.stringify(text)}`);
}

describe('refang', () => {
  const cases: [string, string][] = [
    ['hxxp://example[.]com/', 'http://example.com/'],
    ['hXXps://Example[.]COM/Path', 'https://example.com/Path'],
    ['h**p://example(.)com', 'http://example.com'],
    ['fxp://files{.}example[dot]org/a', 'ftp://files.example.org/a'],
    ['http[:]//example(dot)net', 'http://example.net'],
    ['http[://]example[.]net/x', 'http://example.net/x'],
    ['http://example.com[/]test', 'http://example.com/test'],
    ['http://example.com(/)test', 'http://example.com/test'],
    ['http://[example.com', 'http://example.com'],
    ['http://example[.com/', 'http://example.com/'],
    ['http://192,168,0,1', 'http://192.168.0.1'],
    ['http://example,com/', 'http://example.com/'],
    ['http:\\/\\/45.124.132.127\\/a.php', 'http://45.124.132.127/a.php'],
    ['192[.]168[dot]0[.]1', '192.168.0.1'],
    ['10\\.0\\.0\\.1', '10.0.0.1'],
    ['evil[.]com/gate.php', 'http://evil.com/gate.php'],
    ['185.10.75[.]26:443/x', 'http://185.10.75.26:443/x'],
    ['user[@]mail[.]ru', 'user@mail.ru'],
    ['User(at)Mail(dot)RU', 'user@mail.ru'],
    ['FDC4:2581:575B:5A72:0000:0000:0000:0001', 'fdc4:2581:575b:5a72::1'],
    ['http://fdc4:2581:575b:5a72:0000:0000:0000:0001', 'http://[fdc4:2581:575b:5a72:0000:0000:0000:0001]'],
    ['68B329DA9893E34099C7D8AD5CB9C940', '68b329da9893e34099c7d8ad5cb9c940'],
    ['cve-2021-44228', 'CVE-2021-44228'],
    ['WWW.Example[.]COM.', 'www.example.com'],
    ['tcp://192[.]168[.]0[.]1:80/path', 'tcp://192.168.0.1:80/path'],
    ['http://example.com/[.', 'http://example.com/'],
  ];
  for (const [input, expected] of cases) {
    it(`${JSON.stringify(input)} -> ${JSON.stringify(expected)}`, () => {
      assert.equal(refang(input), expected);
    });
  }

  it('returns text that is no indicator refanged but otherwise as it was', () => {
    assert.equal(refang('  not an indicator  '), 'not an indicator');
    assert.equal(refang('word[.]tld'), 'word.tld');
  });
});

describe('defang', () => {
  it('defangs each kind the usual way', () => {
    assert.equal(defang('1.2.3.4', 'ipv4'), '1[.]2[.]3[.]4');
    assert.equal(defang('evil.example.com', 'domains'), 'evil[.]example[.]com');
    assert.equal(defang('https://evil.com/a.php?x=1.2', 'urls'), 'hxxps://evil[.]com/a.php?x=1.2');
    assert.equal(defang('ftp://evil.com/', 'urls'), 'fxp://evil[.]com/');
    assert.equal(defang('http://[2001:db8::1]:80/', 'urls'), 'hxxp://[2001:db8::1]:80/');
    assert.equal(defang('a.b@evil.com', 'emails'), 'a.b[@]evil[.]com');
    assert.equal(defang('2001:db8::1', 'ipv6'), '2001[:]db8[:][:]1');
    assert.equal(defang('68b329da9893e34099c7d8ad5cb9c940', 'md5'), '68b329da9893e34099c7d8ad5cb9c940');
    assert.equal(defang('CVE-2021-44228', 'cves'), 'CVE-2021-44228');
  });

  const label = fc.stringMatching(/^[a-z0-9](?:[a-z0-9-]{0,8}[a-z0-9])?$/).filter((l) => !/^(win32|win64|msil|w32|w64)$/.test(l));
  const tld = fc.constantFrom('com', 'net', 'org', 'ru', 'de', 'io', 'info', 'xyz', 'co', 'us');
  // First label with a letter: "1.2.com" (numbers glued to a TLD) is refused on purpose.
  const firstLabel = label.filter((l) => /[a-z]/.test(l));
  const domainArb = fc
    .tuple(firstLabel, fc.array(label, { maxLength: 2 }), tld)
    .map(([first, ls, t]) => [first, ...ls, t].join('.'));
  const ipv4Arb = fc.tuple(fc.nat(255), fc.nat(255), fc.nat(255), fc.nat(255)).map((o) => o.join('.'));
  const ipv6Arb = fc
    .array(fc.nat(0xffff), { minLength: 8, maxLength: 8 })
    .map((g) => formatIpv6(g))
    .filter((t) => isPlausibleIpv6Text(t) && !t.startsWith('::ffff:'));
  const pathArb = fc.stringMatching(/^[A-Za-z0-9_-]{0,8}(?:\/[A-Za-z0-9_-]{1,8}){0,2}(?:\.php)?$/);
  const urlArb = fc.tuple(fc.constantFrom('http', 'https'), fc.oneof(domainArb, ipv4Arb), pathArb).map(([s, h, p]) => `${s}://${h}/${p}`);
  const emailArb = fc
    .tuple(fc.stringMatching(/^[a-z0-9](?:[a-z0-9._-]{0,10}[a-z0-9])?$/).filter((l) => !l.includes('..')), domainArb)
    .map(([l, d]) => `${l}@${d}`);
  const kinds: [IocType, fc.Arbitrary<string>][] = [
    ['ipv4', ipv4Arb],
    ['domains', domainArb],
    ['ipv6', ipv6Arb],
    ['urls', urlArb],
    ['emails', emailArb],
  ];
  for (const [type, arb] of kinds) {
    it(`round-trips ${type}: refang(defang(x)) === x, and the extractor finds x in defanged prose`, () => {
      fc.assert(
        fc.property(arb, (ioc) => {
          const d = defang(ioc, type);
          assert.notEqual(d, ioc);
          assert.equal(refang(d), ioc);
          assert.ok(extractIocs(`seen: ${d} today`)[type].includes(ioc), `${d} not found`);
        }),
        { numRuns: 300 },
      );
    });
  }
});

describe('extractIocs: what it finds', () => {
  it('finds each kind, refanged and normalised, deduplicated in first-seen order', () => {
    const text = [
      'C2 at 10.0.0.5 and 8.8.8[.]8; again 10.0.0.5.',
      'See hxxps://Evil-Site[.]COM/Gate.php?id=7, then mail ADMIN@Evil-Site[.]com.',
      'v6 2001:0DB8:0000:0000:0000:0000:0000:0001 and [fe80::1%eth0]:22',
      'md5 68B329DA9893E34099C7D8AD5CB9C940 sha1 adc83b19e793491b1c6ea0fd8b46cd9f32e592fc',
      'sha256=01ba4719c80b6fe911b091a7c05124b64eeece964e09c058ef8f9805daca546b (CVE-2021-44228, cve-2017-0144)',
    ].join('\n');
    const r = extractIocs(text);
    assert.deepEqual(r.ipv4, ['10.0.0.5', '8.8.8.8']);
    assert.deepEqual(r.ipv6, ['2001:db8::1', 'fe80::1']);
    assert.deepEqual(r.urls, ['https://evil-site.com/Gate.php?id=7']);
    assert.deepEqual(r.domains, ['evil-site.com']);
    assert.deepEqual(r.emails, ['admin@evil-site.com']);
    assert.deepEqual(r.md5, ['68b329da9893e34099c7d8ad5cb9c940']);
    assert.deepEqual(r.sha1, ['adc83b19e793491b1c6ea0fd8b46cd9f32e592fc']);
    assert.deepEqual(r.sha256, ['01ba4719c80b6fe911b091a7c05124b64eeece964e09c058ef8f9805daca546b']);
    assert.deepEqual(r.cves, ['CVE-2021-44228', 'CVE-2017-0144']);
    assert.deepEqual(Object.keys(r), [...IOC_TYPES]);
  });

  it('reads URLs in prose: trailing punctuation, parentheses, quotes, comma lists', () => {
    assert.deepEqual(only('(see http://a.example.com/x_(y)).', 'urls'), ['http://a.example.com/x_(y)']);
    assert.deepEqual(only('"https://b.example.org/p?q=1"; <http://c.example.net>', 'urls'), [
      'https://b.example.org/p?q=1',
      'http://c.example.net',
    ]);
    assert.deepEqual(only('http://a.example.com,http://b.example.com/', 'urls'), ['http://a.example.com', 'http://b.example.com/']);
    assert.deepEqual(only('http://a.example.com/x.php,10.1.2.3,http://b.example.com/?ids=1,2', 'urls'), [
      'http://a.example.com/x.php',
      'http://b.example.com/?ids=1,2',
    ]);
    assert.deepEqual(only('http://user:pw@evil.example.com:8080/a', 'domains'), ['evil.example.com']);
    assert.deepEqual(only('link http://localhost:8080/x and http://intranet/', 'urls'), []);
  });

  it('keeps hashes inside URLs and file names', () => {
    const h = '01ba4719c80b6fe911b091a7c05124b64eeece964e09c058ef8f9805daca546b';
    assert.deepEqual(only(`https://www.virustotal.com/gui/file/${h}/detection`, 'sha256'), [h]);
    assert.deepEqual(only(`sample_${h}.bin`, 'sha256'), [h]);
  });

  it('reports IPv4 ranges, lists and ports', () => {
    assert.deepEqual(only('192.168.0.1-192.168.0.254', 'ipv4'), ['192.168.0.1', '192.168.0.254']);
    assert.deepEqual(only('1.2.3.4,5.6.7.8;9.9.9.9', 'ipv4'), ['1.2.3.4', '5.6.7.8', '9.9.9.9']);
    assert.deepEqual(only('203.176.135[.]102:8082 and \\\\10.1.1.1\\share', 'ipv4'), ['203.176.135.102', '10.1.1.1']);
  });

  it('accepts a TLD that is also a file extension only with evidence of a host', () => {
    assert.deepEqual(only('download invoice.zip and setup.py, run.sh, notes.md', 'domains'), []);
    assert.deepEqual(only('evil[.]zip www.evil.zip', 'domains'), ['evil.zip', 'www.evil.zip']);
    assert.deepEqual(only('hxxp://crazymoney[.]app/x and ops@mail.sh', 'domains'), ['crazymoney.app', 'mail.sh']);
  });

  it('reports a CIDR network not at all, a /32 as its host, and IPv6 networks the same way', () => {
    nothing('range 95.130.8.0/21 and 100.20.30.0/24 and 2001:db8::/32');
    assert.deepEqual(only('host 10.9.8.7/32', 'ipv4'), ['10.9.8.7']);
    assert.deepEqual(only('host 2001:db8::7/128', 'ipv6'), ['2001:db8::7']);
    assert.deepEqual(only('path 10.9.8.7/index.html', 'ipv4'), ['10.9.8.7']);
  });

  it('does not report the domain of a URL or email when includeEmbeddedHosts is false', () => {
    const r = extractIocs('hxxp://66.135.3[.]99/a.dat a@b.example.com', { includeEmbeddedHosts: false });
    assert.deepEqual([r.ipv4, r.domains, r.urls, r.emails], [[], [], ['http://66.135.3.99/a.dat'], ['a@b.example.com']]);
  });

  it('reports only the kinds asked for', () => {
    const text = readIocsCorpus('unit42_2023-05-02-IOCs-for-obama259-Qakbot.txt');
    const full = extractIocs(text);
    const some = extractIocs(text, { types: ['sha256', 'ipv4'] });
    for (const t of IOC_TYPES) assert.deepEqual(some[t], t === 'sha256' || t === 'ipv4' ? full[t] : [], t);
  });
});

describe('extractIocs: false positives it refuses', () => {
  it('times, MAC addresses and SSH fingerprints are not IPv6 (nor hashes)', () => {
    nothing('at 18:40:52 and 2023-05-02T01:49:12Z, 12:30, 01:02:03:04');
    nothing('mac 00:1a:2b:3c:4d:5e, eui 00:1a:2b:ff:fe:3c:4d:5e');
    nothing('Fingerprint: 80:19:eb:c8:80:a1:c6:ea:ea:37:ba:c0:26:c6:7f:61.');
    nothing('C++ std::vector a::b and be::ef');
  });

  it('version numbers are not IPs', () => {
    nothing('Version 1.2.3.4 and version: 6.1.7601.17514, v2.0.0.1, ver. 3.6.0.1, build 10.0.19041.1');
    nothing('Mozilla/5.0 Firefox/3.6.0.1 Chrome/91.0.4472.124 and 1.2.3.4.5 and 10.0.0.256');
    nothing('Guccifer 2.0 on 07.26.16 and 123.102.1215 and 01.02.03.04');
  });

  it('hashes need the exact length, hex-free boundaries, and both digits and letters', () => {
    nothing('adc83b191b1c6ea0fd8b46cd9f32e592fc'); // 34 digits
    nothing('68b329da9893e34099c7d8ad5cb9c9401'); // 33
    nothing('12345678901234567890123456789012 abcdefabcdefabcdefabcdefabcdefab');
    const sha512 =
      'be688838ca8686e5c90689bf2ab585cef1137c999b48c70b92f67a5c34dc15697b5d11c982ed6d71be1e1e7f7b4e0733884aa97c3f7a339a8ed03577cf74be09';
    const r = extractIocs(`x ${sha512} y`);
    assert.deepEqual([r.md5, r.sha1, r.sha256, r.sha512], [[], [], [], [sha512]]);
    // Bounded by non-hex letters is enough (iocextract's "words<hash>words" case); a hex neighbour is not.
    assert.deepEqual(only('wordsadc83b19e793491b1c6ea0fd8b46cd9f32e592fcwords', 'sha1'), ['adc83b19e793491b1c6ea0fd8b46cd9f32e592fc']);
    assert.deepEqual(only('aadc83b19e793491b1c6ea0fd8b46cd9f32e592fc', 'sha1'), []);
  });

  it('file names, paths, code and detection names are not domains', () => {
    nothing('rundll32.exe Book1.xlsx memberlabel.php C:\\ProgramData\\aYpv84GCeKF.dat %TMP%\\Indy0037C632.tmp');
    nothing('Win32/Sednit.CH MSIL/Sednit.D Trojan.Win32.Agent.ae Win32/TrojanDownloader.Sednit.CMR');
    nothing('window.open(url) System.Net.WebClient WScript.Shell end.It was');
    nothing('e.g. i.e. U.S. 5 p.m. and a.m. Inc. _____.tld +example.tld+ x.x.x.x tooshor.t');
  });

  it('the local part of an email is not a domain, nor is a name without a real TLD', () => {
    const r = extractIocs('sec.service@mail[.]ru and a@intranet and b@example.tld');
    assert.deepEqual([r.emails, r.domains], [['sec.service@mail.ru'], ['mail.ru']]);
  });

  it('CVE ids need a year, 4+ digits and clean edges', () => {
    assert.deepEqual(only('xCVE-2021-44228 CVE-2021-442 CVE-21-44228 CVE-2021-44228x9', 'cves'), []);
    assert.deepEqual(only('(CVE-2021-44228).', 'cves'), ['CVE-2021-44228']);
  });
});

describe('TLD list', () => {
  it('holds the IANA root zone: every two-letter ccTLD in use, the generic ones, no file extensions', () => {
    assert.ok(KNOWN_TLD_COUNT > 1400, `only ${KNOWN_TLD_COUNT}`);
    for (const t of ['com', 'net', 'org', 'ru', 'cn', 'uk', 'io', 'xyz', 'top', 'club', 'app', 'zip', 'mov', 'xn--p1ai', 'onion']) {
      assert.ok(isKnownTld(t), t);
    }
    for (const t of ['exe', 'dll', 'php', 'tmp', 'dat', 'txt', 'doc', 'jpg', 'tld', 'local', 'x']) assert.ok(!isKnownTld(t), t);
  });
});

describe('IPv6 normalisation', () => {
  it('writes RFC 5952 form and refuses malformed text', () => {
    assert.equal(normalizeIpv6('2001:0db8:0000:0000:0001:0000:0000:0001'), '2001:db8::1:0:0:1');
    assert.equal(normalizeIpv6('0:0:0:0:0:0:0:1'), '::1');
    assert.equal(normalizeIpv6('::ffff:192.0.2.1'), '::ffff:192.0.2.1');
    assert.equal(normalizeIpv6('1:2:3:4:5:6:7::'), '1:2:3:4:5:6:7:0');
    for (const bad of ['1:2:3:4:5:6:7', '1::2::3', '12345::1', ':1:2:3:4:5:6:7', '1:2:3:4:5:6:7:8:9', '::1.2.3', 'g::1']) {
      assert.equal(normalizeIpv6(bad), undefined, bad);
    }
  });
});

describe('parseIocTypes', () => {
  it('accepts a comma list of known kinds, deduplicated', () => {
    const r = parseIocTypes(' ipv4, SHA256,ipv4 ');
    assert.deepEqual(r, { ok: true, value: ['ipv4', 'sha256'] });
  });

  it('names the unknown kinds and lists the valid ones', () => {
    const r = parseIocTypes('ipv4,hashes,ip');
    assert.equal(r.ok, false);
    if (!r.ok) {
      assert.equal(r.error.kind, 'unknown-ioc-type');
      assert.match(r.error.message, /'hashes', 'ip'/);
      assert.match(r.error.message, /ipv4, ipv6, domains, urls, emails, md5, sha1, sha256, sha512, cves/);
    }
  });

  it('refuses an empty list', () => {
    const r = parseIocTypes(' , ');
    assert.equal(r.ok, false);
    if (!r.ok) assert.equal(r.error.kind, 'unknown-ioc-type');
  });
});

describe('streaming extraction', () => {
  const sample = [
    readIocsCorpus('iocextract_test_data_input.txt'),
    readIocsCorpus('unit42_2020-08-24-IOCs-for-Trickbot-gtag-ono66.txt').slice(0, 3000),
    readIocsCorpus('ioc-finder_long-article-1_threatconnect_guccifer2.txt').slice(3000, 7000),
  ].join('\n');
  const expected = extractIocs(sample);

  function streamed(chunks: string[]): IocSet {
    const ex = createIocExtractor();
    for (const c of chunks) assert.deepEqual(ex.write(c), { ok: true, value: undefined });
    return ex.end();
  }

  it('gives the one-shot result whatever two pieces the text is cut into (every cut point)', () => {
    for (let cut = 0; cut <= sample.length; cut += 7) {
      assert.deepEqual(streamed([sample.slice(0, cut), sample.slice(cut)]), expected, `cut at ${cut}`);
    }
  });

  it('gives the one-shot result for random chunkings', () => {
    fc.assert(
      fc.property(fc.array(fc.integer({ min: 1, max: 400 }), { minLength: 1, maxLength: 60 }), (sizes) => {
        const chunks: string[] = [];
        let pos = 0;
        for (let k = 0; pos < sample.length; k++) {
          const size = sizes[k % sizes.length]!;
          chunks.push(sample.slice(pos, pos + size));
          pos += size;
        }
        assert.deepEqual(streamed(chunks), expected);
      }),
      { numRuns: 50 },
    );
  });

  it('bounds a line without line breaks: cuts it at whitespace and still finds its indicators', () => {
    const words: string[] = [];
    let length = 0;
    for (let i = 0; length < 1_300_000; i++) {
      const word = `host${i}.example.com 10.${(i >> 8) & 255}.${i & 255}.1 filler`;
      words.push(word);
      length += word.length + 1;
    }
    const line = words.join(' ');
    const chunks: string[] = [];
    for (let p = 0; p < line.length; p += 65536) chunks.push(line.slice(p, p + 65536));
    assert.deepEqual(streamed(chunks), extractIocs(line));
  });

  it('refuses writes after end(), and end() keeps returning the same result', () => {
    const ex = createIocExtractor();
    ex.write('a 1.2.3.4 b\n');
    const first = ex.end();
    const late = ex.write('5.6.7.8\n');
    assert.equal(late.ok, false);
    if (!late.ok) {
      assert.equal(late.error.kind, 'extractor-ended');
      assert.match(late.error.message, /create a new one/);
    }
    assert.equal(ex.end(), first);
    assert.deepEqual(first.ipv4, ['1.2.3.4']);
  });

  it('decodes UTF-8 byte chunks that split a character, and reports read errors as values', async () => {
    const text = '“hxxp://evil[.]com/a” – 95.130.15[.]34”.\n';
    const bytes = Buffer.from(text, 'utf8');
    async function* pieces(): AsyncGenerator<Uint8Array> {
      for (let i = 0; i < bytes.length; i++) yield bytes.subarray(i, i + 1);
    }
    const r = await extractIocsFromStream(pieces());
    assert.deepEqual(r, { ok: true, value: extractIocs(text) });
    assert.ok(r.ok && r.value.urls.includes('http://evil.com/a'));

    async function* failing(): AsyncGenerator<string> {
      yield 'a 1.2.3.4\n';
      throw new Error('EIO: i/o error, read');
    }
    const bad = await extractIocsFromStream(failing());
    assert.equal(bad.ok, false);
    if (!bad.ok) {
      assert.equal(bad.error.kind, 'read-failed');
      assert.match(bad.error.message, /EIO/);
    }
  });
});

describe('extractIocs on hostile input stays linear', () => {
  function timed<T>(f: () => T): { value: T; ms: number } {
    const t0 = process.hrtime.bigint();
    const value = f();
    return { value, ms: Number(process.hrtime.bigint() - t0) / 1e6 };
  }

  it('one 3 MB token holding 100k emails, IPs and URLs (no whitespace at all)', () => {
    const parts: string[] = [];
    for (let i = 0; i < 100_000; i++) parts.push(i % 3 === 0 ? `u${i}@x${i % 97}.example.com` : i % 3 === 1 ? `10.${(i >> 8) & 255}.${i & 255}.7` : `hxxp://h${i}.example[.]org/p`);
    const text = parts.join(',');
    const { value, ms } = timed(() => extractIocs(text));
    assert.deepEqual([value.emails.length, value.ipv4.length, value.urls.length], [33_334, 33_333, 33_333]);
    assert.ok(ms < 10_000, `took ${ms} ms`);
  });

  it('megabyte runs of dots, commas, brackets and closing parentheses', () => {
    const inputs = [
      'a,'.repeat(500_000) + '.',
      'a.'.repeat(500_000),
      'http://a.example.com/' + ')'.repeat(1_000_000),
      '[.]'.repeat(300_000) + 'x.com',
      '1.'.repeat(500_000) + '1',
      ':'.repeat(1_000_000) + 'a',
      '@'.repeat(1_000_000),
      'x@'.repeat(500_000) + 'y.com',
    ];
    for (const text of inputs) {
      const { ms } = timed(() => extractIocs(text));
      assert.ok(ms < 5_000, `${JSON.stringify(text.slice(0, 20))}...: ${ms} ms`);
    }
  });
});

describe('extractIocs on arbitrary text', () => {
  // IOC-shaped fragments glued together at random, so that most texts do hold candidates.
  const fragment = fc.oneof(
    fc.constantFrom(...'abcxyzAF09.:/@[](){}-_,;%\\ \n"\'<>?#=&'.split('')),
    fc.constantFrom('[.]', '(.)', '[dot]', '(at)', '[@]', '[:]', '[/]', '\\.', 'hxxp://', 'https://', 'tcp://', '::', '.com', '.zip'),
    fc.constantFrom('.Co', 'www.', 'CVE-2024-1234', '“', '/24', ':8080', '%eth0'),
    fc.tuple(fc.nat(300), fc.nat(300), fc.nat(300), fc.nat(300)).map((o) => o.join('.')),
    fc.stringMatching(/^[0-9a-f]{30,66}$/),
    fc.stringMatching(/^[0-9a-f:]{2,20}$/),
    fc.stringMatching(/^[a-z0-9-]{1,8}$/),
  );
  const textArb = fc.array(fragment, { maxLength: 40 }).map((parts) => parts.join(''));

  it('never throws, and every value it reports is already in refanged, normal form', () => {
    fc.assert(
      fc.property(textArb, (text) => {
        const r = extractIocs(text);
        for (const type of IOC_TYPES) {
          for (const v of r[type]) assert.equal(refang(v), v, `${type} ${JSON.stringify(v)} from ${JSON.stringify(text)}`);
          assert.equal(new Set(r[type]).size, r[type].length, `${type} has duplicates`);
        }
      }),
      { numRuns: 2000 },
    );
  });
});
