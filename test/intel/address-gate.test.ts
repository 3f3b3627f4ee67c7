import { strict as assert } from 'node:assert';
import fc from 'fast-check';
import {
  AddressClass,
  Cidr,
  classifyAddress as classifyIpAddress,
  IPV4_SPECIAL_RANGES,
  IPV6_SPECIAL_RANGES,
  parseCidrList,
} from '../../src/intel/address-gate';
import { parseIpAddress } from '../../src/address/ip-address';
import { readCorpusJson } from './corpus';

/**
 * The gate takes a parsed address; the text must parse (the parser's refusals are tested in
 * test/address/). The typed address it hands on must be the text it reports; the comparisons
 * below are of the rest.
 */
function classifyAddress(text: string, allowlist?: readonly Cidr[]): Omit<AddressClass, 'ip'> {
  const parsed = parseIpAddress(text);
  assert.ok(parsed.ok, `${text}: ${parsed.ok ? '' : parsed.error.message}`);
  const { ip, ...rest } = classifyIpAddress(parsed.value, allowlist);
  assert.equal(ip.text, rest.address, `${text}: the typed address is the address reported`);
  return rest;
}

// ---------------------------------------------------------------------------------------
// An independent oracle: the registries written out again, matched with bigint arithmetic
// (longest prefix wins), so the gate's ipaddr.js-based table is checked against it.

interface Expected {
  readonly cidr: string;
  readonly reason: string;
}

const V4_EXPECTED: readonly Expected[] = [
  { cidr: '0.0.0.0/8', reason: 'this network (RFC 791)' },
  { cidr: '0.0.0.0/32', reason: 'unspecified (RFC 1122)' },
  { cidr: '10.0.0.0/8', reason: 'private (RFC 1918)' },
  { cidr: '100.64.0.0/10', reason: 'carrier-grade NAT (RFC 6598)' },
  { cidr: '127.0.0.0/8', reason: 'loopback (RFC 1122)' },
  { cidr: '169.254.0.0/16', reason: 'link-local (RFC 3927)' },
  { cidr: '172.16.0.0/12', reason: 'private (RFC 1918)' },
  { cidr: '192.0.0.0/24', reason: 'IETF protocol assignments (RFC 6890)' },
  { cidr: '192.0.0.0/29', reason: 'DS-Lite (RFC 7335)' },
  { cidr: '192.0.0.8/32', reason: 'IPv4 dummy address (RFC 7600)' },
  { cidr: '192.0.0.9/32', reason: 'PCP anycast (RFC 7723)' },
  { cidr: '192.0.0.10/32', reason: 'TURN anycast (RFC 8155)' },
  { cidr: '192.0.0.170/31', reason: 'NAT64/DNS64 discovery (RFC 8880)' },
  { cidr: '192.0.2.0/24', reason: 'documentation (RFC 5737)' },
  { cidr: '192.31.196.0/24', reason: 'AS112 (RFC 7535)' },
  { cidr: '192.52.193.0/24', reason: 'AMT (RFC 7450)' },
  { cidr: '192.88.99.0/24', reason: '6to4 relay anycast (deprecated, RFC 7526)' },
  { cidr: '192.168.0.0/16', reason: 'private (RFC 1918)' },
  { cidr: '192.175.48.0/24', reason: 'AS112 direct delegation (RFC 7534)' },
  { cidr: '198.18.0.0/15', reason: 'benchmarking (RFC 2544)' },
  { cidr: '198.51.100.0/24', reason: 'documentation (RFC 5737)' },
  { cidr: '203.0.113.0/24', reason: 'documentation (RFC 5737)' },
  { cidr: '224.0.0.0/4', reason: 'multicast (RFC 5771)' },
  { cidr: '240.0.0.0/4', reason: 'reserved (RFC 1112)' },
  { cidr: '255.255.255.255/32', reason: 'broadcast (RFC 919)' },
];

const V6_EXPECTED: readonly Expected[] = [
  { cidr: '::/128', reason: 'unspecified (RFC 4291)' },
  { cidr: '::1/128', reason: 'loopback (RFC 4291)' },
  { cidr: '::/96', reason: 'IPv4-compatible (deprecated, RFC 4291)' },
  { cidr: '::ffff:0:0:0/96', reason: 'IPv4-translated (RFC 2765)' },
  { cidr: '64:ff9b:1::/48', reason: 'local-use IPv4/IPv6 translation (RFC 8215)' },
  { cidr: '100::/64', reason: 'discard-only (RFC 6666)' },
  { cidr: '2001::/23', reason: 'IETF protocol assignments (RFC 2928)' },
  { cidr: '2001::/32', reason: 'Teredo (RFC 4380)' },
  { cidr: '2001:1::1/128', reason: 'PCP anycast (RFC 7723)' },
  { cidr: '2001:1::2/128', reason: 'TURN anycast (RFC 8155)' },
  { cidr: '2001:1::3/128', reason: 'DNS-SD SRP anycast (RFC 9665)' },
  { cidr: '2001:2::/48', reason: 'benchmarking (RFC 5180)' },
  { cidr: '2001:3::/32', reason: 'AMT (RFC 7450)' },
  { cidr: '2001:4:112::/48', reason: 'AS112-v6 (RFC 7535)' },
  { cidr: '2001:10::/28', reason: 'ORCHID (deprecated, RFC 4843)' },
  { cidr: '2001:20::/28', reason: 'ORCHIDv2 (RFC 7343)' },
  { cidr: '2001:30::/28', reason: 'drone remote ID (RFC 9374)' },
  { cidr: '2001:db8::/32', reason: 'documentation (RFC 3849)' },
  { cidr: '2002::/16', reason: '6to4 (RFC 3056)' },
  { cidr: '2620:4f:8000::/48', reason: 'AS112 direct delegation (RFC 7534)' },
  { cidr: '3fff::/20', reason: 'documentation (RFC 9637)' },
  { cidr: '5f00::/16', reason: 'SRv6 SIDs (RFC 9602)' },
  { cidr: 'fc00::/7', reason: 'unique local (RFC 4193)' },
  { cidr: 'fe80::/10', reason: 'link-local (RFC 4291)' },
  { cidr: 'fec0::/10', reason: 'site-local (deprecated, RFC 3879)' },
  { cidr: 'ff00::/8', reason: 'multicast (RFC 4291)' },
];

const OUTSIDE_2000_3 = 'reserved (outside global unicast 2000::/3)';
const V4_MAX = (1n << 32n) - 1n;
const V6_MAX = (1n << 128n) - 1n;

function v4ToBig(text: string): bigint {
  return text.split('.').reduce((acc, o) => (acc << 8n) | BigInt(Number(o)), 0n);
}
function bigToV4(n: bigint): string {
  return [24n, 16n, 8n, 0n].map((s) => String((n >> s) & 255n)).join('.');
}
function v6ToBig(text: string): bigint {
  const [head, tail] = text.includes('::') ? text.split('::') : [text, undefined];
  const h = head ? head.split(':') : [];
  const t = tail ? tail.split(':') : [];
  const groups = tail === undefined ? h : [...h, ...Array<string>(8 - h.length - t.length).fill('0'), ...t];
  return groups.reduce((acc, g) => (acc << 16n) | BigInt(parseInt(g, 16)), 0n);
}
/** Full, uncompressed text: the gate must canonicalise it. */
function bigToV6(n: bigint): string {
  const groups: string[] = [];
  for (let s = 112n; s >= 0n; s -= 16n) groups.push(((n >> s) & 0xffffn).toString(16).padStart(4, '0'));
  return groups.join(':');
}

interface Span {
  readonly first: bigint;
  readonly last: bigint;
  readonly prefix: number;
  readonly reason: string;
  readonly cidr: string;
}
function spans(table: readonly Expected[], bits: 32 | 128, toBig: (t: string) => bigint): Span[] {
  return table.map((e) => {
    const [net, p] = e.cidr.split('/');
    const prefix = Number(p);
    const size = 1n << BigInt(bits - prefix);
    const first = toBig(net);
    assert.equal(first % size, 0n, `${e.cidr} in the test table is not a network address`);
    return { first, last: first + size - 1n, prefix, reason: e.reason, cidr: e.cidr };
  });
}
const V4_SPANS = spans(V4_EXPECTED, 32, v4ToBig);
const V6_SPANS = spans(V6_EXPECTED, 128, v6ToBig);
const MAPPED = { first: v6ToBig('::ffff:0:0'), last: v6ToBig('::ffff:ffff:ffff') };
const NAT64 = { first: v6ToBig('64:ff9b::'), last: v6ToBig('64:ff9b::ffff:ffff') };
const GLOBAL_UNICAST = { first: v6ToBig('2000::'), last: v6ToBig('3fff:ffff:ffff:ffff:ffff:ffff:ffff:ffff') };

function mostSpecific(n: bigint, table: readonly Span[]): Span | undefined {
  let best: Span | undefined;
  for (const s of table) if (n >= s.first && n <= s.last && (!best || s.prefix > best.prefix)) best = s;
  return best;
}
/** The reason the oracle expects (undefined = public). */
function oracleV4(n: bigint): string | undefined {
  return mostSpecific(n, V4_SPANS)?.reason;
}
function oracleV6(n: bigint): string | undefined {
  if (n >= MAPPED.first && n <= MAPPED.last) return oracleV4(n & V4_MAX);
  if (n >= NAT64.first && n <= NAT64.last) {
    const r = oracleV4(n & V4_MAX);
    return r === undefined ? undefined : `${r} via NAT64 (RFC 6052)`;
  }
  const s = mostSpecific(n, V6_SPANS);
  if (s) return s.reason;
  return n >= GLOBAL_UNICAST.first && n <= GLOBAL_UNICAST.last ? undefined : OUTSIDE_2000_3;
}

function assertMatchesOracle(text: string, got: Omit<AddressClass, 'ip'>, expected: string | undefined): void {
  if (expected === undefined) {
    assert.equal(got.public, true, `${text} should be public, got ${JSON.stringify(got)}`);
    assert.equal(got.reason, undefined);
  } else {
    assert.equal(got.public, false, `${text} should not be public (${expected})`);
    // 6to4 and Teredo append the embedded IPv4 address.
    assert.ok(got.reason?.startsWith(expected), `${text}: reason ${JSON.stringify(got.reason)} should start with ${JSON.stringify(expected)}`);
  }
}

describe('intel/address-gate classifyAddress', () => {
  it('exports exactly the ranges of the registries written out in this test', () => {
    const key = (e: Expected): string => `${e.cidr} ${e.reason}`;
    assert.deepEqual(IPV4_SPECIAL_RANGES.map(key).sort(), V4_EXPECTED.map(key).sort());
    assert.deepEqual(IPV6_SPECIAL_RANGES.map(key).sort(), V6_EXPECTED.map(key).sort());
  });

  describe('every IPv4 special range: first and last address, and just outside', () => {
    for (const span of V4_SPANS) {
      it(`${span.cidr} (${span.reason})`, () => {
        for (const n of [span.first, span.last]) {
          const text = bigToV4(n);
          const got = classifyAddress(text);
          assert.equal(got.address, text);
          assert.equal(got.family, 4);
          assert.equal(got.public, false);
          assert.equal(got.reason, oracleV4(n));
        }
        for (const n of [span.first - 1n, span.last + 1n]) {
          if (n < 0n || n > V4_MAX) continue;
          // Just outside is either public or in a neighbouring range: the oracle says which.
          assertMatchesOracle(bigToV4(n), classifyAddress(bigToV4(n)), oracleV4(n));
        }
      });
    }
  });

  describe('every IPv6 special range: first and last address, and just outside', () => {
    for (const span of V6_SPANS) {
      it(`${span.cidr} (${span.reason})`, () => {
        for (const n of [span.first, span.last]) {
          const text = bigToV6(n);
          const got = classifyAddress(text);
          assert.equal(got.family, 6);
          assert.equal(got.public, false);
          assertMatchesOracle(text, got, oracleV6(n));
        }
        for (const n of [span.first - 1n, span.last + 1n]) {
          if (n < 0n || n > V6_MAX) continue;
          assertMatchesOracle(bigToV6(n), classifyAddress(bigToV6(n)), oracleV6(n));
        }
      });
    }
    it('the edges of 2000::/3 global unicast', () => {
      assert.equal(classifyAddress('1fff:ffff:ffff:ffff:ffff:ffff:ffff:ffff').reason, OUTSIDE_2000_3);
      assert.equal(classifyAddress('2000::').public, true);
      assert.equal(classifyAddress('3ffe:ffff:ffff:ffff:ffff:ffff:ffff:ffff').public, true);
      // 3fff::/20 documentation takes the top of 2000::/3; 3fff:1000:: is outside it again.
      assert.equal(classifyAddress('3fff:fff:ffff:ffff:ffff:ffff:ffff:ffff').reason, 'documentation (RFC 9637)');
      assert.equal(classifyAddress('3fff:1000::').public, true);
      assert.equal(classifyAddress('4000::').reason, OUTSIDE_2000_3);
    });
  });

  it('agrees with the oracle on random IPv4 addresses, also as IPv4-mapped and NAT64', () => {
    const nearRange = fc
      .tuple(fc.constantFrom(...V4_SPANS), fc.bigInt({ min: -3n, max: 3n }), fc.boolean())
      .map(([s, d, atEnd]) => (atEnd ? s.last : s.first) + d)
      .filter((n) => n >= 0n && n <= V4_MAX);
    fc.assert(
      fc.property(fc.oneof(fc.bigInt({ min: 0n, max: V4_MAX }), nearRange), (n) => {
        const text = bigToV4(n);
        const plain = classifyAddress(text);
        assertMatchesOracle(text, plain, oracleV4(n));
        // The parser has made an IPv4-mapped address IPv4: the gate sees the IPv4 address.
        assert.deepEqual(classifyAddress(`::ffff:${text}`), plain);
        const nat64 = classifyAddress(bigToV6(v6ToBig('64:ff9b::') + n));
        assert.equal(nat64.address, text);
        assert.equal(nat64.family, 4);
        assert.equal(nat64.translatedFrom, `64:ff9b::${text}`);
        assertMatchesOracle(text, nat64, oracleV6(v6ToBig('64:ff9b::') + n));
      }),
      { numRuns: 3000 },
    );
  });

  it('agrees with the oracle on random IPv6 addresses (anywhere, and near every range edge)', () => {
    const nearRange = fc
      .tuple(fc.constantFrom(...V6_SPANS), fc.bigInt({ min: -3n, max: 3n }), fc.boolean())
      .map(([s, d, atEnd]) => (atEnd ? s.last : s.first) + d)
      .filter((n) => n >= 0n && n <= V6_MAX);
    const globalUnicast = fc.bigInt({ min: GLOBAL_UNICAST.first, max: GLOBAL_UNICAST.last });
    fc.assert(
      fc.property(fc.oneof(fc.bigInt({ min: 0n, max: V6_MAX }), nearRange, globalUnicast), (n) => {
        const text = bigToV6(n);
        assertMatchesOracle(text, classifyAddress(text), oracleV6(n));
      }),
      { numRuns: 3000 },
    );
  });

  describe('normalisation', () => {
    it('turns IPv4-mapped IPv6 into the IPv4 address, in every notation', () => {
      for (const text of ['::ffff:8.8.8.8', '::FFFF:808:808', '0:0:0:0:0:ffff:0808:0808', '0000:0000:0000:0000:0000:FFFF:8.8.8.8']) {
        assert.deepEqual(classifyAddress(text), { address: '8.8.8.8', family: 4, public: true }, text);
      }
      assert.deepEqual(classifyAddress('::ffff:c0a8:101'), { address: '192.168.1.1', family: 4, public: false, reason: 'private (RFC 1918)' });
      assert.equal(classifyAddress('::ffff:127.0.0.1').reason, 'loopback (RFC 1122)');
    });
    it('turns NAT64 well-known-prefix addresses into the embedded IPv4 address', () => {
      assert.deepEqual(classifyAddress('64:ff9b::808:808'), { address: '8.8.8.8', family: 4, public: true, translatedFrom: '64:ff9b::8.8.8.8' });
      assert.deepEqual(classifyAddress('64:ff9b::10.1.2.3'), {
        address: '10.1.2.3', family: 4, public: false, reason: 'private (RFC 1918) via NAT64 (RFC 6052)', translatedFrom: '64:ff9b::10.1.2.3',
      });
    });
    it('writes IPv6 in RFC 5952 form and trims surrounding whitespace', () => {
      assert.deepEqual(classifyAddress('  2606:4700:0000:0000:0000:0000:0000:1111\n'), { address: '2606:4700::1111', family: 6, public: true });
      assert.deepEqual(classifyAddress('2A03:2880:F003:C07:FACE:B00C::2'), { address: '2a03:2880:f003:c07:face:b00c:0:2', family: 6, public: true });
      assert.deepEqual(classifyAddress('\t138.128.150.133 '), { address: '138.128.150.133', family: 4, public: true });
    });
    it('reads ::a.b.c.d as IPv4-compatible (RFC 4291), not as IPv4-mapped', () => {
      assert.deepEqual(classifyAddress('::8.8.8.8'), { address: '::808:808', family: 6, public: false, reason: 'IPv4-compatible (deprecated, RFC 4291)' });
    });
    it('names the embedded IPv4 address of 6to4 and Teredo (RFC 4380 example) addresses', () => {
      assert.equal(classifyAddress('2002:c000:0204::1').reason, '6to4 (RFC 3056), embeds 192.0.2.4');
      assert.equal(classifyAddress('2001:0000:4136:e378:8000:63bf:3fff:fdd2').reason, 'Teredo (RFC 4380), client 192.0.2.45');
    });
  });

  describe('unsafe or ambiguous input never reaches the gate: the address parser refuses it', () => {
    const notAddresses = [
      '', '   ', 'localhost', '010.0.0.1', '1.2.3.04', '0x7f.0.0.1', '2130706433', '127.1', '1.2.3', '256.1.1.1',
      '1.2.3.4/32', '[::1]', '::ffff:010.0.0.1', '::ffff:0x7f.0.0.1', '1:2:3:4:5:6:7:8:9', '12345::1', 'fe80::1%', 'fe80::1%eth0.5',
      '1.2.3.4%eth0', '8.8.8.8\n127.0.0.1', 'a'.repeat(500), '1'.repeat(30) + ':'.repeat(30),
    ];
    for (const text of notAddresses) {
      it(`${JSON.stringify(text.length > 40 ? text.slice(0, 40) + '…' : text)}`, () => {
        const got = parseIpAddress(text);
        assert.ok(!got.ok);
        assert.equal(got.error.kind, 'invalid_address');
      });
    }
    it('zone ids: refused, even on a global address', () => {
      for (const text of ['fe80::1%eth0', '2606:4700::1111%1', '::ffff:8.8.8.8%eth0']) {
        const got = parseIpAddress(text);
        assert.ok(!got.ok, text);
        assert.match(got.error.message, /zone id/);
      }
    });
  });

  describe('allowlist', () => {
    const list = (text: string): Cidr[] => {
      const r = parseCidrList(text);
      assert.ok(r.ok, r.ok ? '' : r.error.message);
      return r.value;
    };
    it('keeps allowlisted public addresses home and names the entry', () => {
      const allow = list('203.0.113.0/24, 8.8.0.0/16\n2606:4700::/32');
      assert.deepEqual(classifyAddress('8.8.4.4', allow), { address: '8.8.4.4', family: 4, public: false, reason: 'allowlisted (8.8.0.0/16)' });
      assert.deepEqual(classifyAddress('2606:4700::1111', allow), { address: '2606:4700::1111', family: 6, public: false, reason: 'allowlisted (2606:4700::/32)' });
      assert.equal(classifyAddress('8.9.0.1', allow).public, true);
      assert.equal(classifyAddress('2606:4701::1', allow).public, true);
    });
    it('a special range outranks the allowlist in the reason', () => {
      assert.equal(classifyAddress('10.1.2.3', list('10.0.0.0/8')).reason, 'private (RFC 1918)');
    });
    it('matches IPv4 entries against IPv4-mapped and NAT64 forms, and IPv6 entries against the NAT64 form', () => {
      assert.equal(classifyAddress('::ffff:8.8.8.8', list('8.8.8.8')).reason, 'allowlisted (8.8.8.8/32)');
      assert.equal(classifyAddress('64:ff9b::8.8.8.8', list('8.8.8.0/24')).reason, 'allowlisted (8.8.8.0/24)');
      assert.equal(classifyAddress('64:ff9b::8.8.8.8', list('64:ff9b::/96')).reason, 'allowlisted (64:ff9b::/96)');
    });
    it('ignores entries of the other family and hand-made invalid Cidr values', () => {
      const bogus: Cidr = { family: 4, network: 'not-an-address', prefix: 8, text: 'bogus' };
      const wrongPrefix: Cidr = { family: 4, network: '8.0.0.0', prefix: 40, text: 'bogus2' };
      assert.equal(classifyAddress('8.8.8.8', [bogus, wrongPrefix, ...list('2001:4860::/32')]).public, true);
      const handMade: Cidr = { family: 4, network: '8.8.8.0', prefix: 24, text: '8.8.8.0/24' };
      assert.equal(classifyAddress('8.8.8.8', [handMade]).reason, 'allowlisted (8.8.8.0/24)');
    });
  });
});

describe('intel/address-gate parseCidrList', () => {
  it('reads commas, semicolons, spaces, tabs, newlines and # comments; bare addresses become /32 and /128', () => {
    const r = parseCidrList('# office ranges\r\n10.0.0.0/8,192.168.1.7 ;\t2001:DB8::/32   # lab\n\n203.0.113.9 2606:4700::1111');
    assert.ok(r.ok);
    assert.deepEqual(r.value.map((c) => c.text), ['10.0.0.0/8', '192.168.1.7/32', '2001:db8::/32', '203.0.113.9/32', '2606:4700::1111/128']);
    assert.deepEqual(r.value[2], { family: 6, network: '2001:db8::', prefix: 32, text: '2001:db8::/32' });
  });
  it('turns IPv4-mapped entries into IPv4 CIDRs', () => {
    const r = parseCidrList('::ffff:192.168.0.0/112 ::ffff:8.8.8.8');
    assert.ok(r.ok);
    assert.deepEqual(r.value.map((c) => c.text), ['192.168.0.0/16', '8.8.8.8/32']);
    assert.equal(r.value[0].family, 4);
  });
  it('an empty or comment-only list is valid and empty', () => {
    for (const text of ['', '  \n', '# nothing here\n#']) assert.deepEqual(parseCidrList(text), { ok: true, value: [] });
  });
  const bad: [string, string][] = [
    ['10.0.0.0/8, 10.0.0.300', 'allowlist entry 2 "10.0.0.300" is not an IPv4/IPv6 address or CIDR'],
    ['example.com', 'allowlist entry 1 "example.com" is not an IPv4/IPv6 address or CIDR'],
    ['010.0.0.0/8', 'allowlist entry 1 "010.0.0.0/8" is not an IPv4/IPv6 address or CIDR'],
    ['1.2.3.4/33', 'allowlist entry 1 "1.2.3.4/33" has prefix length "33"; it must be a number from 0 to 32'],
    ['2001:db8::/129', 'allowlist entry 1 "2001:db8::/129" has prefix length "129"; it must be a number from 0 to 128'],
    ['1.2.3.4/', 'allowlist entry 1 "1.2.3.4/" has prefix length ""'],
    ['1.2.3.4/x', 'allowlist entry 1 "1.2.3.4/x" has prefix length "x"'],
    ['1.2.3.0/24/8', 'allowlist entry 1 "1.2.3.0/24/8" has prefix length "24/8"'],
    ['192.168.1.0/2', 'allowlist entry 1 "192.168.1.0/2" has host bits set; did you mean 192.0.0.0/2?'],
    ['10.1.2.3/8', 'allowlist entry 1 "10.1.2.3/8" has host bits set; did you mean 10.0.0.0/8?'],
    ['2001:db8::1/32', 'allowlist entry 1 "2001:db8::1/32" has host bits set; did you mean 2001:db8::/32?'],
    ['0.0.0.0/0', 'allowlist entry 1 "0.0.0.0/0" is too broad (/0); IPv4 allowlist entries must be /8 or longer'],
    ['2000::/3', 'allowlist entry 1 "2000::/3" is too broad (/3); IPv6 allowlist entries must be /16 or longer'],
    ['fe80::1%eth0', 'allowlist entry 1 "fe80::1%eth0" has a zone id'],
  ];
  for (const [text, message] of bad) {
    it(`rejects ${JSON.stringify(text)} naming the entry`, () => {
      const r = parseCidrList(text);
      assert.equal(r.ok, false);
      if (r.ok) return;
      assert.equal(r.error.kind, 'invalid_allowlist');
      assert.ok(r.error.message.startsWith(message), r.error.message);
    });
  }
  it('cuts a very long bad entry in the message', () => {
    const r = parseCidrList('x'.repeat(5000));
    assert.ok(!r.ok);
    assert.ok(r.error.message.length < 200, r.error.message);
  });
});

describe('intel/address-gate on the real AbuseIPDB responses', () => {
  const cache = readCorpusJson('abuseipdb', 'realworld_check_responses_ioc_cache.json') as Record<string, { data: { isPublic: boolean } }>;
  const ips = Object.keys(cache);

  it('classifies every address AbuseIPDB calls non-public as non-public, so it would never be looked up', () => {
    const abuseNonPublic = ips.filter((ip) => cache[ip].data.isPublic === false);
    assert.deepEqual(abuseNonPublic.sort(), ['0.0.0.0', '172.17.0.17', '172.17.0.255', '172.17.0.99', '255.255.255.255']);
    const reasons = abuseNonPublic.map((ip) => classifyAddress(ip)).map((c) => [c.address, c.public, c.reason]);
    assert.deepEqual(reasons, [
      ['0.0.0.0', false, 'unspecified (RFC 1122)'],
      ['172.17.0.17', false, 'private (RFC 1918)'],
      ['172.17.0.255', false, 'private (RFC 1918)'],
      ['172.17.0.99', false, 'private (RFC 1918)'],
      ['255.255.255.255', false, 'broadcast (RFC 919)'],
    ]);
  });
  it('is stricter than AbuseIPDB for the two multicast addresses it calls public', () => {
    assert.equal(ips.length, 42);
    const gateNonPublic = ips.filter((ip) => !classifyAddress(ip).public);
    assert.equal(gateNonPublic.length, 7);
    const extra = gateNonPublic.filter((ip) => cache[ip].data.isPublic !== false).sort();
    assert.deepEqual(extra, ['224.0.0.251', '224.0.0.252']);
    for (const ip of extra) assert.equal(classifyAddress(ip).reason, 'multicast (RFC 5771)');
  });
});
