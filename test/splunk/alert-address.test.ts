import assert from 'node:assert/strict';
import { alertAddress, normalizeAddress } from '../../src/splunk/alert-address';

describe('splunk/alert-address', () => {
  const accepted: [string, string, 4 | 6][] = [
    ['203.0.113.42', '203.0.113.42', 4],
    [' 183.62.140.253 ', '183.62.140.253', 4],
    ['::ffff:1.2.3.4', '1.2.3.4', 4],
    ['::ffff:0102:0304', '1.2.3.4', 4],
    ['2001:DB8:0:0:0:0:0:1', '2001:db8::1', 6],
    ['2001:db8:0:0:1:0:0:1', '2001:db8::1:0:0:1', 6],
    ['::1', '::1', 6],
  ];
  for (const [input, expected, family] of accepted) {
    it(`accepts ${JSON.stringify(input)} as ${expected}`, () => {
      assert.deepEqual(normalizeAddress(input), { ok: true, value: { address: expected, family } });
    });
  }
  const rejected = ['999.1.1.1', '1.2.3.4; rm -rf /', 'fe80::1%eth0', '010.1.1.1', '1.2.3', '1.2.3.4/24', 'example.com', '', '::ffff:999.1.1.1', 'A'.repeat(10 * 1024 * 1024), '1.2.3.4\n5.6.7.8'];
  for (const input of rejected) {
    it(`rejects ${JSON.stringify(input.slice(0, 30))}${input.length > 30 ? '…' : ''}`, () => {
      const r = normalizeAddress(input);
      assert.equal(r.ok, false);
      if (!r.ok) {
        assert.equal(r.error.kind, 'invalid_address');
        assert.ok(r.error.message.length < 200, 'the message quotes at most a short prefix');
      }
    });
  }

  it('takes the first configured field that holds a value', () => {
    const r = alertAddress({ src_ip: '', src: '198.51.100.1', ip: '192.0.2.1' }, ['src_ip', 'src', 'ip']);
    assert.deepEqual(r, { ok: true, value: { address: '198.51.100.1', family: 4, field: 'src' } });
  });
  it('rejects a row without any address field, naming the fields', () => {
    const r = alertAddress({ user: 'root' }, ['src_ip', 'src']);
    assert.equal(r.ok, false);
    if (!r.ok) {
      assert.equal(r.error.kind, 'no_address');
      assert.match(r.error.message, /src_ip, src/);
    }
  });
  it('rejects a multivalue address field; a single non-empty value in an array is fine', () => {
    const multi = alertAddress({ src_ip: ['203.0.113.1', '203.0.113.2'] }, ['src_ip']);
    assert.equal(multi.ok, false);
    if (!multi.ok) assert.equal(multi.error.kind, 'multivalue');
    assert.deepEqual(alertAddress({ src_ip: ['', '203.0.113.1'] }, ['src_ip']), { ok: true, value: { address: '203.0.113.1', family: 4, field: 'src_ip' } });
  });
  it('does not fall through to the next field when the first holds garbage', () => {
    const r = alertAddress({ src_ip: 'not-an-ip', src: '203.0.113.1' }, ['src_ip', 'src']);
    assert.equal(r.ok, false);
  });
});
