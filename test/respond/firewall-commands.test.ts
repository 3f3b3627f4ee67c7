import assert from 'node:assert/strict';
import fc from 'fast-check';
import {
  canonicalAddress,
  firewallCommands,
  firewallUnblockCommands,
  NFT_SETUP_COMMANDS,
} from '../../src/respond/firewall-commands';
import { ATTACKER, realisticIncident } from './corpus';

describe('respond/firewall-commands', () => {
  it('builds the iptables and nft commands for an IPv4 attacker without expiry', () => {
    const r = firewallCommands(ATTACKER, 4);
    assert.ok(r.ok);
    assert.deepEqual(r.value, [
      `iptables -I INPUT -s ${ATTACKER} -m comment --comment soar-edr -j DROP`,
      `nft 'add element inet soar_edr blocked_v4 { ${ATTACKER} }'`,
    ]);
  });

  it('adds an absolute UTC stop time to iptables and a relative timeout to nft', () => {
    const nowEpochSec = Date.UTC(2024, 11, 10, 7, 0, 0) / 1000;
    const r = firewallCommands(ATTACKER, 4, { nowEpochSec, expiresEpochSec: nowEpochSec + 86_400 });
    assert.ok(r.ok);
    assert.deepEqual(r.value, [
      `iptables -I INPUT -s ${ATTACKER} -m comment --comment soar-edr -m time --datestop 2024-12-11T07:00:00 -j DROP`,
      `nft 'add element inet soar_edr blocked_v4 { ${ATTACKER} timeout 86400s }'`,
    ]);
  });

  it('uses ip6tables and the v6 set for IPv6', () => {
    const r = firewallCommands('2001:db8::1', 6);
    assert.ok(r.ok);
    assert.deepEqual(r.value, [
      'ip6tables -I INPUT -s 2001:db8::1 -m comment --comment soar-edr -j DROP',
      "nft 'add element inet soar_edr blocked_v6 { 2001:db8::1 }'",
    ]);
  });

  it('leaves out the iptables stop time past 2038, which xt_time cannot express', () => {
    const nowEpochSec = 2 ** 31 - 10;
    const r = firewallCommands(ATTACKER, 4, { nowEpochSec, expiresEpochSec: nowEpochSec + 3600 });
    assert.ok(r.ok);
    assert.doesNotMatch(r.value[0], /datestop/);
    assert.match(r.value[1], /timeout 3600s/);
  });

  it('gives unblock commands that mirror the block rule exactly', () => {
    const nowEpochSec = Date.UTC(2024, 11, 10, 7, 0, 0) / 1000;
    const expiresEpochSec = nowEpochSec + 600;
    const block = firewallCommands(ATTACKER, 4, { nowEpochSec, expiresEpochSec });
    const unblock = firewallUnblockCommands(ATTACKER, 4, expiresEpochSec);
    assert.ok(block.ok && unblock.ok);
    assert.equal(unblock.value[0], block.value[0].replace(' -I ', ' -D '));
    assert.equal(unblock.value[1], `nft 'delete element inet soar_edr blocked_v4 { ${ATTACKER} }'`);
  });

  it('refuses shell injection and anything that is not an address', () => {
    const attempts = [
      '1.2.3.4; rm -rf /',
      '1.2.3.4 && reboot',
      '$(reboot)',
      '`id`',
      '1.2.3.4\n',
      ' 1.2.3.4',
      '1.2.3.4/32',
      '1.2.3',
      '01.2.3.4',
      '0x7f.0.0.1',
      '256.1.1.1',
      '',
      'x'.repeat(100),
      "1.2.3.4' }' ; nft flush ruleset ; echo '",
    ];
    for (const ip of attempts) {
      const r = firewallCommands(ip, 4);
      assert.equal(r.ok, false, ip);
      if (!r.ok) assert.equal(r.error.kind, 'invalid_address', ip);
      const u = firewallUnblockCommands(ip, 4);
      assert.equal(u.ok, false, ip);
    }
  });

  it('refuses an IPv6 zone id with a reason', () => {
    const r = firewallCommands('fe80::1%eth0', 6);
    assert.ok(!r.ok);
    assert.equal(r.error.kind, 'invalid_address');
    assert.match(r.error.message, /zone id/);
  });

  it('refuses non-canonical spellings and names the canonical one', () => {
    const upper = firewallCommands('2001:DB8:0:0::1', 6);
    assert.ok(!upper.ok);
    assert.equal(upper.error.kind, 'not_canonical');
    assert.match(upper.error.message, /"2001:db8::1"/);
    const mapped = firewallCommands('::ffff:1.2.3.4', 6);
    assert.ok(!mapped.ok);
    assert.equal(mapped.error.kind, 'not_canonical');
    assert.match(mapped.error.message, /"1\.2\.3\.4"/);
  });

  it('refuses a family that does not match the address', () => {
    const r = firewallCommands(ATTACKER, 6);
    assert.ok(!r.ok);
    assert.equal(r.error.kind, 'family_mismatch');
    const r6 = firewallCommands('2001:db8::1', 4);
    assert.ok(!r6.ok);
    assert.equal(r6.error.kind, 'family_mismatch');
  });

  it('refuses an expiry in the past or not in whole seconds', () => {
    const past = firewallCommands(ATTACKER, 4, { nowEpochSec: 1000, expiresEpochSec: 1000 });
    assert.ok(!past.ok);
    assert.equal(past.error.kind, 'invalid_expiry');
    const fractional = firewallCommands(ATTACKER, 4, { nowEpochSec: 1000, expiresEpochSec: 1000.5 });
    assert.ok(!fractional.ok);
    assert.equal(fractional.error.kind, 'invalid_expiry');
    const unblock = firewallUnblockCommands(ATTACKER, 4, Number.NaN);
    assert.ok(!unblock.ok);
    assert.equal(unblock.error.kind, 'invalid_expiry');
  });

  it('canonicalAddress normalises IPv6 and IPv4-mapped addresses', () => {
    assert.deepEqual(canonicalAddress('2001:DB8:0:0:0:0:0:1'), { ok: true, value: { address: '2001:db8::1', family: 6 } });
    assert.deepEqual(canonicalAddress('::ffff:1.2.3.4'), { ok: true, value: { address: '1.2.3.4', family: 4 } });
    assert.deepEqual(canonicalAddress(ATTACKER), { ok: true, value: { address: ATTACKER, family: 4 } });
  });

  it('an error message shows hostile input neutralised and short', () => {
    const r = canonicalAddress('1.2.3.4\r\nFAKE LOG LINE');
    assert.ok(!r.ok);
    assert.doesNotMatch(r.error.message, /[\r\n]/);
    assert.match(r.error.message, /<U\+000D><U\+000A>/);
  });

  it('the realistic incident carries exactly the commands built for its attacker', () => {
    const incident = realisticIncident();
    assert.equal(incident.action.commands?.length, 2);
    assert.match(incident.action.commands![0], new RegExp(`^iptables -I INPUT -s ${ATTACKER.replace(/\./g, '\\.')} `));
  });

  it('for any input, either refuses or emits only the address and fixed words', () => {
    const input = fc.oneof(
      fc.string({ unit: 'binary', maxLength: 50 }),
      fc.ipV4(),
      fc.ipV6(),
      fc.tuple(fc.ipV4(), fc.string({ maxLength: 10 })).map(([ip, tail]) => ip + tail),
    );
    fc.assert(
      fc.property(input, fc.constantFrom<4 | 6>(4, 6), (ip, family) => {
        const r = firewallCommands(ip, family);
        if (!r.ok) return;
        for (const command of r.value) {
          assert.match(command, /^[A-Za-z0-9 .:'{}_-]+$/);
          assert.ok(command.includes(` ${ip}`));
        }
      }),
      { numRuns: 500 },
    );
  });

  it('the nft setup commands define both sets the element commands name', () => {
    assert.ok(NFT_SETUP_COMMANDS.some((c) => c.includes('blocked_v4 { type ipv4_addr; flags timeout; }')));
    assert.ok(NFT_SETUP_COMMANDS.some((c) => c.includes('blocked_v6 { type ipv6_addr; flags timeout; }')));
    assert.ok(NFT_SETUP_COMMANDS.some((c) => c.endsWith('ip saddr @blocked_v4 drop')));
    assert.ok(NFT_SETUP_COMMANDS.some((c) => c.endsWith('ip6 saddr @blocked_v6 drop')));
  });
});
