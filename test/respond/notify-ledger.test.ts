import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { dataLayout, DataLayout } from '../../src/store/data-dir';
import { claimNotification, decideNotification, markNotified, shouldNotify } from '../../src/respond/notify-ledger';
import { requireCompiled, runNode } from './child-process';
import { ip as addr } from '../support/ip-address';
import { ATTACKER } from './corpus';

const HOUR = 3600;
const T0 = Date.parse('2024-12-10T11:04:45Z');
const min = (m: number): number => T0 + m * 60_000;

describe('respond/notify-ledger', () => {
  let root: string;
  let layout: DataLayout;
  beforeEach(() => {
    root = mkdtempSync(path.join(tmpdir(), 'soar-notify-'));
    layout = dataLayout(root);
  });
  afterEach(() => rmSync(root, { recursive: true, force: true }));

  it('first time notifies; within the window the same or a better verdict does not; a worse one does', () => {
    const steps: [number, 'SAFE' | 'UNKNOWN' | 'SUSPICIOUS' | 'MALICIOUS', boolean][] = [
      [0, 'UNKNOWN', true],
      [5, 'UNKNOWN', false],
      [10, 'SAFE', false],
      [15, 'SUSPICIOUS', true],
      [20, 'SUSPICIOUS', false],
      [25, 'MALICIOUS', true],
      [30, 'MALICIOUS', false],
      [84, 'MALICIOUS', false],
      [85, 'MALICIOUS', true], // 60 min after the notification at minute 25
    ];
    for (const [m, verdict, expected] of steps) {
      const r = claimNotification(layout, addr(ATTACKER), verdict, min(m), HOUR, `INC-${m}`);
      assert.ok(r.ok, r.ok ? '' : r.error.message);
      assert.equal(r.value.notify, expected, `minute ${m} ${verdict}: ${r.value.reason}`);
    }
    const check = shouldNotify(layout, addr(ATTACKER), 'MALICIOUS', min(86), HOUR);
    assert.ok(check.ok);
    assert.equal(check.value.notify, false);
    assert.equal(check.value.previous?.incidentId, 'INC-85');
    assert.equal(check.value.previous?.suppressed, 0);
    assert.match(check.value.reason, /already notified 1 min ago as MALICIOUS/);
  });

  it('counts suppressed incidents and explains each decision', () => {
    assert.ok(claimNotification(layout, addr(ATTACKER), 'MALICIOUS', min(0), HOUR, 'a').ok);
    assert.ok(claimNotification(layout, addr(ATTACKER), 'MALICIOUS', min(1), HOUR, 'b').ok);
    assert.ok(claimNotification(layout, addr(ATTACKER), 'SUSPICIOUS', min(2), HOUR, 'c').ok);
    const r = shouldNotify(layout, addr(ATTACKER), 'MALICIOUS', min(3), HOUR);
    assert.ok(r.ok);
    assert.equal(r.value.previous?.suppressed, 2);
    assert.equal(r.value.previous?.incidentId, 'a');
    assert.equal(decideNotification(null, 'SAFE', T0, HOUR).reason, 'first notification for this address');
    assert.match(decideNotification({ ip: ATTACKER, verdict: 'SUSPICIOUS', notifiedAtMs: T0, incidentId: null, suppressed: 0 }, 'MALICIOUS', T0, HOUR).reason, /SUSPICIOUS → MALICIOUS/);
  });

  it('shouldNotify + markNotified: marking starts a new window; addresses are independent (IPv6 file names have no colon)', () => {
    const first = shouldNotify(layout, addr('2001:db8::1'), 'SUSPICIOUS', min(0), HOUR);
    assert.ok(first.ok && first.value.notify);
    assert.ok(markNotified(layout, addr('2001:db8::1'), 'SUSPICIOUS', min(0), 'INC-1').ok);
    const again = shouldNotify(layout, addr('2001:db8::1'), 'SUSPICIOUS', min(30), HOUR);
    assert.ok(again.ok && !again.value.notify);
    const other = shouldNotify(layout, addr(ATTACKER), 'SUSPICIOUS', min(30), HOUR);
    assert.ok(other.ok && other.value.notify);
    assert.deepEqual(readdirSync(path.join(layout.ledger, 'notified')), ['2001-db8--1.json']);
    const zero = shouldNotify(layout, addr('2001:db8::1'), 'SUSPICIOUS', min(30), 0);
    assert.ok(zero.ok && zero.value.notify, 'a window of 0 notifies every time');
  });

  it('one file per address whatever its spelling, and a negative window is refused', () => {
    for (const [i, text] of ['2001:DB8::1', '2001:db8:0::1', '::ffff:183.62.140.253', ATTACKER].entries()) {
      assert.ok(claimNotification(layout, addr(text), 'MALICIOUS', min(i), HOUR, null).ok, text);
    }
    assert.deepEqual(readdirSync(path.join(layout.ledger, 'notified')).sort(), ['183.62.140.253.json', '2001-db8--1.json']);
    const w = shouldNotify(layout, addr(ATTACKER), 'MALICIOUS', T0, -1);
    assert.ok(!w.ok && w.error.kind === 'invalid_window');
  });

  it('20 processes claiming the same address at once: exactly one notifies, 19 are counted as suppressed', async function () {
    this.timeout(60_000);
    const script = `
      const n = ${requireCompiled('notify-ledger')};
      const { dataLayout } = require(${JSON.stringify(path.resolve(__dirname, '../../src/store/data-dir.js'))});
      const { parseIpAddress } = require(${JSON.stringify(path.resolve(__dirname, '../../src/address/ip-address.js'))});
      const r = n.claimNotification(dataLayout(${JSON.stringify(root)}), parseIpAddress(${JSON.stringify(ATTACKER)}).value, 'MALICIOUS', ${T0}, 3600, 'INC-' + process.pid);
      if (!r.ok) { console.error(r.error.message); process.exit(2); }
      process.stdout.write(String(r.value.notify));`;
    const results = await Promise.all(Array.from({ length: 20 }, () => runNode(script)));
    assert.ok(results.every((r) => r.code === 0), results.map((r) => r.stderr).join('\n'));
    assert.equal(results.filter((r) => r.stdout === 'true').length, 1);
    const after = shouldNotify(layout, addr(ATTACKER), 'MALICIOUS', T0, HOUR);
    assert.ok(after.ok && after.value.previous?.suppressed === 19);
  });
});

describe('respond/notify-ledger: a time read before waiting for the lock', () => {
  it('a decision made with a clock reading a little older than the record does not notify again', () => {
    const record = { ip: '203.0.113.5', verdict: 'UNKNOWN' as const, notifiedAtMs: 1_000_000, incidentId: 'INC-1', suppressed: 0 };
    assert.equal(decideNotification(record, 'UNKNOWN', 1_000_000 - 250, 3600).notify, false);
    assert.equal(decideNotification(record, 'UNKNOWN', 1_000_000 - 10 * 60_000, 3600).notify, true, 'a clock stepped far back voids the record');
  });
});
