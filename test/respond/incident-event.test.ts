/** The incident event builder: one JSON line per change, whatever the attacker typed. */
import assert from 'node:assert/strict';
import { blockLapsedEvent, IncidentEvent, incidentEventLine, MAX_EVENT_USERS_CHARS, MAX_EVENT_VALUE_CHARS } from '../../src/respond/incident-event';
import { ip } from '../support/ip-address';

const T = Date.UTC(2026, 11, 6, 15, 36, 13, 123);
const subject = { incidentId: 'INC-20261206-153613-abcdef', srcIp: '203.0.113.7', verdict: 'MALICIOUS', reason: 'VirusTotal: 12 engines say malicious', detection: 'SSH brute force', sid: 'sid1', rid: '0' };

function parsed(e: IncidentEvent): Record<string, unknown> {
  const line = incidentEventLine(e);
  assert.ok(line.endsWith('\n'));
  assert.equal(line.indexOf('\n'), line.length - 1, 'one line');
  assert.equal(line.indexOf('\r'), -1);
  return JSON.parse(line) as Record<string, unknown>;
}

describe('incident event builder', () => {
  it('time comes first, in UTC with milliseconds and Z; the CIM Alerts fields are set from the incident', () => {
    const line = incidentEventLine({ timeMs: T, event: 'recorded', subject, details: { vt: { malicious: 12, suspicious: 1, harmless: 60, undetected: 10, timeout: 0, asn: 64500, country: 'NL' }, abuse: { state: 'not_looked_up', message: 'no key' } } });
    assert.ok(line.startsWith('{"time":"2026-12-06T15:36:13.123Z","event":"recorded",'), line);
    const e = JSON.parse(line) as Record<string, unknown>;
    assert.deepEqual(
      [e.incident_id, e.id, e.src_ip, e.src, e.signature, e.detection, e.severity, e.type, e.app, e.vt_malicious, e.vt_state, e.asn, e.abuse_state],
      [subject.incidentId, subject.incidentId, '203.0.113.7', '203.0.113.7', 'SSH brute force', 'SSH brute force', 'high', 'alert', 'soar_edr', 12, 'ok', 64500, 'not_looked_up'],
    );
    assert.equal(e.description, 'recorded: 203.0.113.7: MALICIOUS: VirusTotal: 12 engines say malicious');
  });

  it('severity follows the verdict; fields a change does not know are left out', () => {
    assert.equal(parsed({ timeMs: T, event: 'recorded', subject: { ...subject, verdict: 'SUSPICIOUS' } }).severity, 'medium');
    assert.equal(parsed({ timeMs: T, event: 'recorded', subject: { ...subject, verdict: 'SAFE' } }).severity, 'informational');
    const notified = parsed({ timeMs: T, event: 'notified', subject: { incidentId: 'INC-1' }, details: { notificationKind: 'incident', discordMessageId: '1234' } });
    assert.deepEqual(Object.keys(notified).sort(), ['app', 'description', 'discord_message_id', 'event', 'id', 'incident_id', 'notification_kind', 'time', 'type'].sort());
  });

  it('expired and unblocked events carry the block: address, verdict, expiry and count', () => {
    const e = parsed(blockLapsedEvent('expired', { address: ip('198.51.100.9'), firstSeenMs: 0, lastSeenMs: 0, expiresMs: T, count: 3, verdict: 'MALICIOUS', reason: 'r' }, T + 1000));
    assert.deepEqual([e.event, e.src_ip, e.verdict, e.block_expires, e.block_count, e.time], ['expired', '198.51.100.9', 'MALICIOUS', '2026-12-06T15:36:13.123Z', 3, '2026-12-06T15:36:14.123Z']);
  });

  it('hostile text stays inside its value: newlines, quotes, backslashes, a terminal escape, bidi, lone surrogates', () => {
    const hostile = 'root"\n{"event":"forged"}\r\n\\"\u001b[31mred\u001b[0m\u202Eevil\u2028x\ud800';
    const e = parsed({ timeMs: T, event: 'recorded', subject: { ...subject, reason: hostile, detection: hostile }, details: { users: [hostile, 'admin'] } });
    assert.equal(e.event, 'recorded');
    const users = e.users as string[];
    assert.equal(users.length, 2);
    for (const v of [e.reason, e.detection, users[0]] as string[]) {
      assert.doesNotMatch(v, /[\u0000-\u001f\u007f\u202e\u2028]/, 'control, bidi and separator characters are made visible');
      assert.match(v, /<U\+001B>\[31mred/);
      assert.match(v, /root"<U\+000A>\{"event":"forged"\}/);
      assert.ok(!/[\ud800-\udbff](?![\udc00-\udfff])/.test(v), 'no lone surrogate');
    }
  });

  it('a 1 MB user name and 100,000 users are cut the way incidents.csv cuts them', () => {
    const big = 'u'.repeat(1024 * 1024);
    const line = incidentEventLine({ timeMs: T, event: 'recorded', subject: { ...subject, reason: big }, details: { users: [big, ...Array.from({ length: 100_000 }, (_, i) => `user${i}`)] } });
    assert.ok(line.length < 4 * MAX_EVENT_VALUE_CHARS, `${line.length} characters`);
    const e = JSON.parse(line) as { reason: string; users: string[]; user_count: number };
    assert.equal(e.reason.length, MAX_EVENT_VALUE_CHARS);
    assert.match(e.reason, /\[cut: 1048576 chars\]$/);
    assert.equal(e.user_count, 100_001);
    assert.ok(e.users.join('').length <= MAX_EVENT_USERS_CHARS);
    assert.match(e.users[0]!, /\[cut: 1048576 chars\]$/);
  });
});
