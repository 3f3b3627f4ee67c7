import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { parse } from 'csv-parse/sync';
import { dataLayout, DataLayout } from '../../src/store/data-dir';
import { withFileLock } from '../../src/store/file-lock';
import {
  blockAddress,
  blockDurationSeconds,
  blocklistColumns,
  blocklistLockFile,
  listBlocks,
  purgeExpired,
  unblockAddress,
} from '../../src/respond/blocklist';
import { firewallCommands, firewallUnblockCommands } from '../../src/respond/firewall-commands';
import { ip as addr } from '../support/ip-address';
import { requireCompiled, runNode } from './child-process';
import { ATTACKER, realWorldAbuse } from './corpus';

const HOUR = 3600;
const POLICY = { baseSeconds: HOUR, maxSeconds: 4 * HOUR, lookbackSeconds: 7 * 86_400 };
const T0 = Date.parse('2024-12-10T11:04:45Z');
const at = (seconds: number): number => T0 + seconds * 1000;

function fileRows(layout: DataLayout): Record<string, string>[] {
  return parse(readFileSync(layout.blocklist, 'utf8'), { columns: true }) as Record<string, string>[];
}

describe('respond/blocklist', () => {
  let root: string;
  let layout: DataLayout;
  beforeEach(() => {
    root = mkdtempSync(path.join(tmpdir(), 'soar-blocklist-'));
    layout = dataLayout(root);
  });
  afterEach(() => rmSync(root, { recursive: true, force: true }));

  it('durations double per repeat and stop at the cap', () => {
    assert.deepEqual([1, 2, 3, 4, 5, 60, 1000].map((n) => blockDurationSeconds(n, POLICY)), [HOUR, 2 * HOUR, 4 * HOUR, 4 * HOUR, 4 * HOUR, 4 * HOUR, 4 * HOUR]);
  });

  it('a first block lasts baseSeconds and returns exactly the firewall commands for that expiry; the file has the binding columns', () => {
    const r = blockAddress(layout, addr(ATTACKER), 'MALICIOUS', 'verdict MALICIOUS', T0, POLICY);
    assert.ok(r.ok, r.ok ? '' : r.error.message);
    assert.equal(r.value.durationSeconds, HOUR);
    assert.equal(r.value.repeat, false);
    assert.equal(r.value.entry.count, 1);
    assert.equal(r.value.entry.expiresMs, at(HOUR));
    const expected = firewallCommands(addr(ATTACKER), { nowEpochSec: T0 / 1000, expiresEpochSec: T0 / 1000 + HOUR });
    assert.ok(expected.ok);
    assert.deepEqual(r.value.commands, expected.value);
    assert.match(r.value.commands[0], /--datestop 2024-12-10T12:04:45/);
    const text = readFileSync(layout.blocklist, 'utf8');
    assert.equal(text.split('\n')[0], blocklistColumns.join(','));
    assert.deepEqual(fileRows(layout), [{
      ip: ATTACKER,
      first_seen: '2024-12-10T11:04:45.000Z',
      last_seen: '2024-12-10T11:04:45.000Z',
      expires: '2024-12-10T12:04:45.000Z',
      count: '1',
      verdict: 'MALICIOUS',
      reason: 'verdict MALICIOUS',
    }]);
  });

  it('repeat offender: 1 h, 2 h, 4 h, then capped at 4 h; a repeat never shortens a running block; header once', () => {
    const durations: number[] = [];
    const expiries: number[] = [];
    for (const t of [0, 600, 1200, 1800]) {
      const r = blockAddress(layout, addr(ATTACKER), 'MALICIOUS', 'again', at(t), POLICY);
      assert.ok(r.ok);
      durations.push(r.value.durationSeconds);
      expiries.push(r.value.entry.expiresMs);
      assert.equal(r.value.repeat, t > 0);
    }
    assert.deepEqual(durations, [HOUR, 2 * HOUR, 4 * HOUR, 4 * HOUR]);
    assert.deepEqual(expiries, [at(HOUR), at(600 + 2 * HOUR), at(1200 + 4 * HOUR), at(1800 + 4 * HOUR)]);
    const rows = fileRows(layout);
    assert.equal(rows.length, 1);
    assert.equal(rows[0].count, '4');
    assert.equal(rows[0].first_seen, '2024-12-10T11:04:45.000Z');
    assert.equal(rows[0].last_seen, '2024-12-10T11:34:45.000Z');
    assert.equal(readFileSync(layout.blocklist, 'utf8').split('\n').filter((l) => l.startsWith('ip,')).length, 1);
  });

  it('one offence (search id) counts once: its other rows keep count and expiry; a new sid escalates; an expired block of a counted sid is renewed without escalating', () => {
    const sidA = 'scheduler__admin__search__RMD5aaaa_at_1733828685_1';
    const sidB = 'scheduler__admin__search__RMD5bbbb_at_1733829285_2';
    const first = blockAddress(layout, addr(ATTACKER), 'MALICIOUS', 'row 0', at(0), POLICY, { offence: sidA });
    assert.ok(first.ok);
    for (let i = 1; i < 20; i++) {
      const again = blockAddress(layout, addr(ATTACKER), 'MALICIOUS', `row ${i}`, at(i), POLICY, { offence: sidA });
      assert.ok(again.ok);
      assert.deepEqual([again.value.entry.count, again.value.entry.expiresMs, again.value.durationSeconds, again.value.repeat], [1, at(HOUR), HOUR, false]);
    }
    assert.deepEqual(fileRows(layout).map((r) => [r.count, r.expires, r.reason]), [['1', new Date(at(HOUR)).toISOString(), 'row 0']]);
    const second = blockAddress(layout, addr(ATTACKER), 'MALICIOUS', 'next firing', at(600), POLICY, { offence: sidB });
    assert.ok(second.ok);
    assert.deepEqual([second.value.entry.count, second.value.durationSeconds, second.value.repeat], [2, 2 * HOUR, true]);
    // Without an offence every block counts (the CLI and older callers).
    const third = blockAddress(layout, addr(ATTACKER), 'MALICIOUS', 'no sid', at(700), POLICY);
    assert.ok(third.ok && third.value.entry.count === 3);
    // sidB's block lapses and is purged; a late row of sidB blocks again at the same count.
    assert.ok(purgeExpired(layout, at(700 + 5 * HOUR)).ok);
    const late = blockAddress(layout, addr(ATTACKER), 'MALICIOUS', 'late row', at(700 + 5 * HOUR), POLICY, { offence: sidB });
    assert.ok(late.ok);
    assert.deepEqual([late.value.entry.count, late.value.entry.expiresMs], [3, at(700 + 5 * HOUR + 4 * HOUR)]);
    assert.deepEqual(blocklistColumns, ['ip', 'first_seen', 'last_seen', 'expires', 'count', 'verdict', 'reason']);
  });

  it('purge removes only expired entries, yet an expiry within the lookback still counts as a repeat; beyond it the count restarts', () => {
    assert.ok(blockAddress(layout, addr(ATTACKER), 'MALICIOUS', 'first', at(0), POLICY).ok);
    assert.ok(blockAddress(layout, addr('2001:db8::1'), 'SUSPICIOUS', 'v6', at(1800), POLICY).ok);
    const purged = purgeExpired(layout, at(HOUR + 1));
    assert.ok(purged.ok);
    assert.deepEqual(purged.value.map((e) => e.address.text), [ATTACKER]);
    assert.deepEqual(fileRows(layout).map((r) => r.ip), ['2001:db8::1']);
    const listed = listBlocks(layout, at(HOUR + 1));
    assert.ok(listed.ok);
    assert.deepEqual(listed.value.map((e) => [e.address.text, e.address.family]), [['2001:db8::1', 6]]);

    const back = blockAddress(layout, addr(ATTACKER), 'MALICIOUS', 'back within a day', at(86_400), POLICY);
    assert.ok(back.ok);
    assert.equal(back.value.repeat, true);
    assert.equal(back.value.entry.count, 2);
    assert.equal(back.value.durationSeconds, 2 * HOUR);
    assert.equal(back.value.entry.firstSeenMs, at(0));

    const later = at(86_400 + 2 * HOUR + 8 * 86_400);
    assert.ok(purgeExpired(layout, later).ok);
    const fresh = blockAddress(layout, addr(ATTACKER), 'MALICIOUS', 'after the lookback', later, POLICY);
    assert.ok(fresh.ok);
    assert.equal(fresh.value.repeat, false);
    assert.equal(fresh.value.durationSeconds, HOUR);
  });

  it('listBlocks hides expired entries that were not purged yet', () => {
    assert.ok(blockAddress(layout, addr(ATTACKER), 'MALICIOUS', 'x', at(0), POLICY).ok);
    const before = listBlocks(layout, at(HOUR - 1));
    const after = listBlocks(layout, at(HOUR));
    assert.ok(before.ok && after.ok);
    assert.equal(before.value.length, 1);
    assert.equal(after.value.length, 0);
    assert.equal(fileRows(layout).length, 1);
  });

  it('unblock removes the entry, returns the exact delete commands and forgets the history', () => {
    assert.ok(blockAddress(layout, addr(ATTACKER), 'MALICIOUS', 'x', at(0), POLICY).ok);
    assert.ok(blockAddress(layout, addr(ATTACKER), 'MALICIOUS', 'x', at(60), POLICY).ok);
    const u = unblockAddress(layout, addr(ATTACKER));
    assert.ok(u.ok);
    assert.equal(u.value.removed?.count, 2);
    const expected = firewallUnblockCommands(addr(ATTACKER), (at(60) + 2 * HOUR * 1000) / 1000);
    assert.ok(expected.ok);
    assert.deepEqual(u.value.commands, expected.value);
    assert.deepEqual(fileRows(layout), []);
    assert.equal(readFileSync(layout.blocklist, 'utf8'), `${blocklistColumns.join(',')}\n`);
    const again = blockAddress(layout, addr(ATTACKER), 'MALICIOUS', 'x', at(120), POLICY);
    assert.ok(again.ok && again.value.durationSeconds === HOUR && !again.value.repeat);
    const none = unblockAddress(layout, addr('203.0.113.9'));
    assert.ok(none.ok);
    assert.equal(none.value.removed, null);
    assert.match(none.value.commands[0], /^iptables -D INPUT -s 203\.0\.113\.9 /);
  });

  it('refuses bad policies, writing nothing', () => {
    for (const policy of [{ baseSeconds: 0, maxSeconds: 10 }, { baseSeconds: 10, maxSeconds: 5 }, { baseSeconds: 1.5, maxSeconds: 5 }, { baseSeconds: 1, maxSeconds: 5, lookbackSeconds: -1 }]) {
      const r = blockAddress(layout, addr(ATTACKER), 'MALICIOUS', 'x', T0, policy);
      assert.ok(!r.ok && r.error.kind === 'invalid_policy', JSON.stringify(policy));
    }
    assert.ok(!existsSync(layout.blocklist));
  });

  it('the file is an edge too: a row is read with the address parser, and one spelling in the file is one address', () => {
    writeFileSync(layout.blocklist, `ip,first_seen,last_seen,expires,count,verdict,reason\n2001:DB8:0::1,${new Date(T0).toISOString()},${new Date(T0).toISOString()},${new Date(at(HOUR)).toISOString()},1,MALICIOUS,r\n`);
    const listed = listBlocks(layout, T0);
    assert.ok(listed.ok);
    assert.deepEqual(listed.value.map((e) => [e.address.text, e.address.family]), [['2001:db8::1', 6]]);
    const again = blockAddress(layout, addr('2001:db8::1'), 'MALICIOUS', 'x', at(60), POLICY);
    assert.ok(again.ok);
    assert.equal(again.value.entry.count, 2);
    assert.deepEqual(fileRows(layout).map((r) => r.ip), ['2001:db8::1']);
    writeFileSync(layout.blocklist, `ip,first_seen,last_seen,expires,count,verdict,reason\nfe80::1%eth0,${new Date(T0).toISOString()},${new Date(T0).toISOString()},${new Date(at(HOUR)).toISOString()},1,MALICIOUS,r\n`);
    const zoned = listBlocks(layout, T0);
    assert.ok(!zoned.ok && zoned.error.kind === 'corrupt_blocklist');
  });

  it('hostile reasons are neutralised cells: formula guard, one line, round trip through csv-parse', () => {
    const reasons = ['=HYPERLINK("http://x")', '+cmd|\' /C calc\'!A0', 'line1\r\nline2', '@SUM(1+1)', 'a,"b"'];
    const ips = ['198.51.100.1', '198.51.100.2', '198.51.100.3', '198.51.100.4', '198.51.100.5'];
    reasons.forEach((reason, i) => assert.ok(blockAddress(layout, addr(ips[i]), 'SUSPICIOUS', reason, T0, POLICY).ok));
    const rows = fileRows(layout);
    assert.deepEqual(rows.map((r) => r.reason), [`'=HYPERLINK("http://x")`, `'+cmd|' /C calc'!A0`, 'line1<U+000D><U+000A>line2', `'@SUM(1+1)`, 'a,"b"']);
    // Rewriting keeps the neutralised text as it is (no second quote).
    assert.ok(blockAddress(layout, addr('198.51.100.9'), 'SAFE', 'x', T0, POLICY).ok);
    assert.deepEqual(fileRows(layout).slice(0, 5).map((r) => r.reason), rows.map((r) => r.reason));
  });

  it('the 37 public addresses of the real AbuseIPDB answers can all be blocked at once; a corrupt file is reported, not overwritten', () => {
    const addresses = [...realWorldAbuse().entries()].filter(([, d]) => d.isPublic).map(([ip]) => ip);
    assert.equal(addresses.length, 37);
    for (const ip of addresses) assert.ok(blockAddress(layout, addr(ip), 'SUSPICIOUS', 'real', T0, POLICY).ok, ip);
    const listed = listBlocks(layout, T0);
    assert.ok(listed.ok);
    assert.deepEqual(listed.value.map((e) => e.address.text).sort(), [...addresses].sort());

    writeFileSync(layout.blocklist, 'ip,first_seen,last_seen,expires,count,verdict,reason\n"unterminated,\n');
    const r = blockAddress(layout, addr(ATTACKER), 'MALICIOUS', 'x', T0, POLICY);
    assert.ok(!r.ok);
    assert.equal(r.error.kind, 'corrupt_blocklist');
    assert.match(r.error.message, /blocklist\.csv/);
    writeFileSync(layout.blocklist, 'ip,first_seen,last_seen,expires,count,verdict,reason\n1.2.3.4,yesterday,x,y,1,SAFE,r\n');
    const bad = listBlocks(layout, T0);
    assert.ok(!bad.ok && bad.error.kind === 'corrupt_blocklist' && /row 2/.test(bad.error.message));
  });

  it('fails with lock_timeout while another process holds the blocklist lock', () => {
    withFileLock(blocklistLockFile(layout), () => {
      const r = blockAddress(layout, addr(ATTACKER), 'MALICIOUS', 'x', T0, POLICY, { lock: { timeoutMs: 100 } });
      assert.ok(!r.ok && r.error.kind === 'lock_timeout');
      const p = purgeExpired(layout, T0, { lock: { timeoutMs: 100 } });
      assert.ok(!p.ok && p.error.kind === 'lock_timeout');
      const u = unblockAddress(layout, addr(ATTACKER), { lock: { timeoutMs: 100 } });
      assert.ok(!u.ok && u.error.kind === 'lock_timeout');
    });
  });

  it('20 processes blocking at once (10 addresses, each twice) lose nothing: 10 rows, each count 2', async function () {
    this.timeout(60_000);
    const script = (p: number): string => `
      const b = ${requireCompiled('blocklist')};
      const { dataLayout } = require(${JSON.stringify(path.resolve(__dirname, '../../src/store/data-dir.js'))});
      const { parseIpAddress } = require(${JSON.stringify(path.resolve(__dirname, '../../src/address/ip-address.js'))});
      const r = b.blockAddress(dataLayout(${JSON.stringify(root)}), parseIpAddress('192.0.2.${(p % 10) + 1}').value, 'MALICIOUS', 'p${p}', ${T0}, ${JSON.stringify(POLICY)});
      if (!r.ok) { console.error(r.error.message); process.exit(2); }`;
    const results = await Promise.all(Array.from({ length: 20 }, (_, p) => runNode(script(p))));
    assert.ok(results.every((r) => r.code === 0), results.map((r) => r.stderr).join('\n'));
    const rows = fileRows(layout);
    assert.equal(rows.length, 10);
    assert.ok(rows.every((r) => r.count === '2' && r.expires === new Date(T0 + 2 * HOUR * 1000).toISOString()));
  });
});
