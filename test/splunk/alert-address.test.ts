import assert from 'node:assert/strict';
import { alertAddress } from '../../src/splunk/alert-address';

describe('splunk/alert-address', () => {
  // The parser's own rules are tested in test/address/ip-address.test.ts.
  const pick = (r: ReturnType<typeof alertAddress>): unknown => (r.ok ? { text: r.value.address.text, family: r.value.address.family, field: r.value.field } : r);

  it('takes the first configured field that holds a value', () => {
    const r = alertAddress({ src_ip: '', src: ' 2001:DB8::1 ', ip: '192.0.2.1' }, ['src_ip', 'src', 'ip']);
    assert.deepEqual(pick(r), { text: '2001:db8::1', family: 6, field: 'src' });
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
    assert.deepEqual(pick(alertAddress({ src_ip: ['', '203.0.113.1'] }, ['src_ip'])), { text: '203.0.113.1', family: 4, field: 'src_ip' });
  });
  it('does not fall through to the next field when the first holds garbage', () => {
    const r = alertAddress({ src_ip: 'fe80::1%eth0', src: '203.0.113.1' }, ['src_ip', 'src']);
    assert.ok(!r.ok);
    assert.equal(r.error.kind, 'invalid_address');
    assert.match(r.error.message, /^field src_ip: "fe80::1%eth0" carries an IPv6 zone id/);
  });
});
