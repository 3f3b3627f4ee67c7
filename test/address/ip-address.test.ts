import assert from 'node:assert/strict';
import { ipaddrValue, parseIpAddress } from '../../src/address/ip-address';

/** input → canonical text and family; the table is the parser's whole acceptance rule. */
const ACCEPTED: readonly (readonly [string, string, 4 | 6])[] = [
  ['203.0.113.42', '203.0.113.42', 4],
  ['0.0.0.0', '0.0.0.0', 4],
  ['255.255.255.255', '255.255.255.255', 4],
  // Surrounding white space is ignored, as the alert action always did.
  [' 183.62.140.253 ', '183.62.140.253', 4],
  ['\t2001:db8::1\n', '2001:db8::1', 6],
  // RFC 5952: lower case, longest zero run compressed, leading zeros dropped.
  ['2001:DB8:0:0:0:0:0:1', '2001:db8::1', 6],
  ['2001:0db8:0000:0000:0001:0000:0000:0001', '2001:db8::1:0:0:1', 6],
  ['2001:db8:0:0:1:0:0:1', '2001:db8::1:0:0:1', 6],
  ['2001:db8:0:1:1:1:1:1', '2001:db8:0:1:1:1:1:1', 6],
  ['FE80::ABCD', 'fe80::abcd', 6],
  ['::1', '::1', 6],
  ['::', '::', 6],
  // IPv4-mapped is how a dual-stack socket shows an IPv4 peer: it becomes that IPv4 address.
  ['::ffff:1.2.3.4', '1.2.3.4', 4],
  ['::FFFF:0102:0304', '1.2.3.4', 4],
  ['0:0:0:0:0:ffff:8.8.8.8', '8.8.8.8', 4],
  // Other embedded IPv4 forms stay IPv6; "::a.b.c.d" is IPv4-compatible (RFC 4291), not mapped.
  ['::8.8.8.8', '::808:808', 6],
  ['64:ff9b::8.8.8.8', '64:ff9b::808:808', 6],
  ['1:2:3:4:5:6:1.2.3.4', '1:2:3:4:5:6:102:304', 6],
];

/** input → the start of the message; every refusal is kind invalid_address. */
const REFUSED: readonly (readonly [string, RegExp])[] = [
  ['', /^"" is not an IPv4 or IPv6 address$/],
  ['   ', /is not an IPv4 or IPv6 address/],
  ['999.1.1.1', /^"999\.1\.1\.1" is not an IPv4 or IPv6 address$/],
  // Leading zeros and inet_aton forms read differently in different tools (010 is octal 8).
  ['010.1.1.1', /not an IPv4/],
  ['1.2.3.04', /not an IPv4/],
  ['0x7f.0.0.1', /not an IPv4/],
  ['2130706433', /not an IPv4/],
  ['127.1', /not an IPv4/],
  ['1.2.3', /not an IPv4/],
  ['::ffff:010.1.1.1', /not an IPv4/],
  ['::ffff:999.1.1.1', /not an IPv4/],
  ['1::01.2.3.4', /not an IPv4/],
  ['1.2.3.4/24', /not an IPv4/],
  ['[::1]', /not an IPv4/],
  ['1:2:3:4:5:6:7:8:9', /not an IPv4/],
  ['example.com', /not an IPv4/],
  ['1.2.3.4; rm -rf /', /not an IPv4/],
  ['1.2.3.4\n5.6.7.8', /not an IPv4/],
  ['1.2.3.4 5.6.7.8', /not an IPv4/],
  // A zone id names an interface of this host, not a peer.
  ['fe80::1%eth0', /^"fe80::1%eth0" carries an IPv6 zone id: link-local scoped addresses cannot be attributed to an attacker$/],
  ['2606:4700::1111%1', /zone id/],
  ['fe80::1%', /zone id/],
  // Longest IPv6 text is 45 characters: anything longer is refused before any parsing (the zone id check included).
  ['fe80::1%' + 'x'.repeat(38), /^"fe80::1%x{32}"… \(46 chars\) is not an IPv4 or IPv6 address$/],
  ['A'.repeat(10 * 1024 * 1024), /^"A{40}"… \(10485760 chars\) is not an IPv4 or IPv6 address$/],
];

describe('address/ip-address', () => {
  describe('accepts and canonicalises', () => {
    for (const [input, text, family] of ACCEPTED) {
      it(`${JSON.stringify(input)} → ${text} (IPv${family})`, () => {
        const r = parseIpAddress(input);
        assert.ok(r.ok, r.ok ? '' : r.error.message);
        assert.deepEqual({ text: r.value.text, family: r.value.family }, { text, family });
        // Canonical text parses to itself: a value read back from disk is the same address.
        const again = parseIpAddress(r.value.text);
        assert.ok(again.ok);
        assert.equal(again.value.text, text);
      });
    }
  });

  describe('refuses', () => {
    for (const [input, message] of REFUSED) {
      it(`${JSON.stringify(input.slice(0, 40))}${input.length > 40 ? '…' : ''}`, () => {
        const r = parseIpAddress(input);
        assert.ok(!r.ok);
        assert.equal(r.error.kind, 'invalid_address');
        assert.match(r.error.message, message);
        assert.ok(r.error.message.length < 200, 'the message quotes at most a short prefix');
      });
    }
  });

  it('the 45-character limit is inclusive', () => {
    const longest = '0000:0000:0000:0000:0000:ffff:255.255.255.255';
    assert.equal(longest.length, 45);
    const r = parseIpAddress(longest);
    assert.ok(r.ok);
    assert.equal(r.value.text, '255.255.255.255');
  });

  it('quotes a refused value in printable ASCII: line breaks, controls and bidi characters escaped', () => {
    const r = parseIpAddress('1.2.3.4\r\nFAKE LOG LINE\u202e');
    assert.ok(!r.ok);
    assert.doesNotMatch(r.error.message, /[\r\n\u202e]/);
    assert.ok(r.error.message.startsWith('"1.2.3.4\\r\\nFAKE LOG LINE\\u202e"'), r.error.message);
  });

  it('the ipaddr.js value agrees with the text (what the address gate matches ranges on)', () => {
    for (const [input, text, family] of ACCEPTED) {
      const r = parseIpAddress(input);
      assert.ok(r.ok);
      const value = ipaddrValue(r.value);
      assert.equal(value.kind(), family === 4 ? 'ipv4' : 'ipv6', input);
      assert.equal(family === 4 ? value.toString() : (value as import('ipaddr.js').IPv6).toRFC5952String(), text, input);
    }
  });

  it('an address is frozen: its text cannot be changed after validation', () => {
    const r = parseIpAddress('203.0.113.42');
    assert.ok(r.ok);
    assert.ok(Object.isFrozen(r.value));
  });
});
