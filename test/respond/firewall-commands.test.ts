import assert from 'node:assert/strict';
import fc from 'fast-check';
import {
  firewallCommands,
  firewallUnblockCommands,
  NFT_SETUP_COMMANDS,
} from '../../src/respond/firewall-commands';
import { parseIpAddress } from '../../src/address/ip-address';
import { ip as addr } from '../support/ip-address';
import { ATTACKER, realisticIncident } from './corpus';

describe('respond/firewall-commands', () => {
  it('builds the iptables and nft commands for an IPv4 attacker without expiry', () => {
    const r = firewallCommands(addr(ATTACKER));
    assert.ok(r.ok);
    assert.deepEqual(r.value, [
      `iptables -I INPUT -s ${ATTACKER} -m comment --comment soar-edr -j DROP`,
      `nft 'add element inet soar_edr blocked_v4 { ${ATTACKER} }'`,
    ]);
  });

  it('adds an absolute UTC stop time to iptables and a relative timeout to nft', () => {
    const nowEpochSec = Date.UTC(2024, 11, 10, 7, 0, 0) / 1000;
    const r = firewallCommands(addr(ATTACKER),  { nowEpochSec, expiresEpochSec: nowEpochSec + 86_400 });
    assert.ok(r.ok);
    assert.deepEqual(r.value, [
      `iptables -I INPUT -s ${ATTACKER} -m comment --comment soar-edr -m time --datestop 2024-12-11T07:00:00 -j DROP`,
      `nft 'add element inet soar_edr blocked_v4 { ${ATTACKER} timeout 86400s }'`,
    ]);
  });

  it('uses ip6tables and the v6 set for IPv6', () => {
    const r = firewallCommands(addr('2001:db8::1'));
    assert.ok(r.ok);
    assert.deepEqual(r.value, [
      'ip6tables -I INPUT -s 2001:db8::1 -m comment --comment soar-edr -j DROP',
      "nft 'add element inet soar_edr blocked_v6 { 2001:db8::1 }'",
    ]);
  });

  it('leaves out the iptables stop time past 2038, which xt_time cannot express', () => {
    const nowEpochSec = 2 ** 31 - 10;
    const r = firewallCommands(addr(ATTACKER),  { nowEpochSec, expiresEpochSec: nowEpochSec + 3600 });
    assert.ok(r.ok);
    assert.doesNotMatch(r.value[0], /datestop/);
    assert.match(r.value[1], /timeout 3600s/);
  });

  it('gives unblock commands that mirror the block rule exactly', () => {
    const nowEpochSec = Date.UTC(2024, 11, 10, 7, 0, 0) / 1000;
    const expiresEpochSec = nowEpochSec + 600;
    const block = firewallCommands(addr(ATTACKER),  { nowEpochSec, expiresEpochSec });
    const unblock = firewallUnblockCommands(addr(ATTACKER),  expiresEpochSec);
    assert.ok(block.ok && unblock.ok);
    assert.equal(unblock.value[0], block.value[0].replace(' -I ', ' -D '));
    assert.equal(unblock.value[1], `nft 'delete element inet soar_edr blocked_v4 { ${ATTACKER} }'`);
  });

  it('shell injection and anything that is not an address never becomes an IpAddress', () => {
    const attempts = [
      '1.2.3.4; rm -rf /',
      '1.2.3.4 && reboot',
      '$(reboot)',
      '`id`',
      '1.2.3.4/32',
      '1.2.3',
      '01.2.3.4',
      '0x7f.0.0.1',
      '256.1.1.1',
      '',
      'x'.repeat(100),
      "1.2.3.4' }' ; nft flush ruleset ; echo '",
      'fe80::1%eth0',
    ];
    for (const text of attempts) assert.ok(!parseIpAddress(text).ok, text);
  });

  it('embeds only the canonical text, whatever the spelling parsed', () => {
    for (const [text, canonical, set] of [
      ['2001:DB8:0:0::1', '2001:db8::1', 'blocked_v6'],
      ['::ffff:1.2.3.4', '1.2.3.4', 'blocked_v4'],
      [' 1.2.3.4\n', '1.2.3.4', 'blocked_v4'],
    ]) {
      const r = firewallCommands(addr(text));
      assert.ok(r.ok);
      assert.deepEqual(r.value.map((c) => c.split(' ').filter((w) => w.includes('.') || w.includes(':'))), [[canonical], [canonical]], text);
      assert.ok(r.value[1].includes(` ${set} `), text);
    }
  });

  it('refuses an expiry in the past or not in whole seconds', () => {
    const past = firewallCommands(addr(ATTACKER),  { nowEpochSec: 1000, expiresEpochSec: 1000 });
    assert.ok(!past.ok);
    assert.equal(past.error.kind, 'invalid_expiry');
    const fractional = firewallCommands(addr(ATTACKER),  { nowEpochSec: 1000, expiresEpochSec: 1000.5 });
    assert.ok(!fractional.ok);
    assert.equal(fractional.error.kind, 'invalid_expiry');
    const unblock = firewallUnblockCommands(addr(ATTACKER),  Number.NaN);
    assert.ok(!unblock.ok);
    assert.equal(unblock.error.kind, 'invalid_expiry');
  });

  it('the realistic incident carries exactly the commands built for its attacker', () => {
    const incident = realisticIncident();
    assert.equal(incident.action.commands?.length, 2);
    assert.match(incident.action.commands![0], new RegExp(`^iptables -I INPUT -s ${ATTACKER.replace(/\./g, '\\.')} `));
  });

  it('for any input, either the parser refuses it or the commands hold only the address and fixed words', () => {
    const input = fc.oneof(
      fc.string({ unit: 'binary', maxLength: 50 }),
      fc.ipV4(),
      fc.ipV6(),
      fc.tuple(fc.ipV4(), fc.string({ maxLength: 10 })).map(([ip, tail]) => ip + tail),
    );
    fc.assert(
      fc.property(input, (text) => {
        const address = parseIpAddress(text);
        if (!address.ok) return;
        const r = firewallCommands(address.value);
        assert.ok(r.ok);
        for (const command of r.value) {
          assert.match(command, /^[A-Za-z0-9 .:'{}_-]+$/);
          assert.ok(command.includes(` ${address.value.text}`));
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
