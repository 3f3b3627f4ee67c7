import { strict as assert } from 'node:assert';
import * as fs from 'node:fs';
import { parse as parseCsvSync } from 'csv-parse/sync';
import {
  FAILED_ATTEMPT_COLUMNS,
  FailedAttemptRow,
  attemptFromAuthEvent,
  attemptFromWinEvent,
  csvCell,
  failedAttemptCsvHeader,
  failedAttemptCsvLine,
  failedAttemptJsonLine,
} from '../../src/analysis/attempt-export';
import { AuthEvent, AuthLogAnalyzer } from '../../src/analysis/authlog';
import { createLogClock } from '../../src/analysis/log-clock';
import { DEFAULT_BRUTE_FORCE_OPTIONS } from '../../src/analysis/bruteforce';
import { readWinlog } from '../../src/analysis/winlog-read';
import { WinLogonEvent } from '../../src/analysis/winlog';
import { corpusPath, corpusText } from './corpus';

function sshAttempts(): AuthEvent[] {
  const clock = createLogClock({ year: 2017 });
  assert.ok(clock.ok);
  const seen: AuthEvent[] = [];
  const a = new AuthLogAnalyzer(clock.value, DEFAULT_BRUTE_FORCE_OPTIONS, {}, (e) => seen.push(e));
  for (const line of corpusText('sshd', 'loghub_SSH_2k.log').split('\n')) a.feedLine(line);
  return seen;
}

describe('analysis/attempt-export', () => {
  const attempts = sshAttempts();

  it('writes one CSV line per attempt that reads back to the same values', () => {
    const rows = attempts.map(attemptFromAuthEvent);
    const csv = [failedAttemptCsvHeader(), ...rows.map(failedAttemptCsvLine)].join('\n');
    const back = parseCsvSync(csv, { columns: true }) as Record<string, string>[];
    assert.deepEqual(Object.keys(back[0]!), [...FAILED_ATTEMPT_COLUMNS]);
    assert.equal(back.length, 520);
    assert.equal(back.reduce((n, r) => n + Number(r.count), 0), 528);
    back.forEach((r, i) => {
      const e = attempts[i]!;
      assert.equal(r.user, e.user);
      assert.equal(r.address, e.address);
      assert.equal(r.time, new Date(e.timeMs).toISOString());
      assert.equal(r.source, 'sshd');
      assert.equal(r.invalid_user, String(e.invalidUser));
    });
    // The leading-space user survives because the cell is quoted.
    const spaced = back.find((r) => r.user === ' 0101');
    assert.ok(spaced);
    assert.ok(csv.includes('," 0101",'));
  });

  it('writes JSON lines with the values verbatim', () => {
    const e = attempts.find((a) => a.count === 5)!;
    const j = JSON.parse(failedAttemptJsonLine(attemptFromAuthEvent(e))) as Record<string, unknown>;
    assert.deepEqual(j, {
      time: new Date(e.timeMs).toISOString(),
      source: 'sshd',
      host: 'LabSZ',
      address: '5.36.59.76',
      user: 'root',
      invalid_user: false,
      method: 'password',
      reason: null,
      port: 42393,
      count: 5,
    });
  });

  it('exports Windows failures with logon type and reason', async () => {
    const events: WinLogonEvent[] = [];
    const r = await readWinlog(fs.createReadStream(corpusPath('windows', 'deepbluecli_smb-password-guessing-security_4625_first100.xml')), 'auto', (e) => events.push(e));
    assert.ok(r.ok);
    const row = attemptFromWinEvent(events[0]!);
    assert.deepEqual({ ...row }, {
      time: '2016-09-19T16:50:06.477Z',
      source: '4625',
      host: 'DESKTOP-M5SN04R',
      address: '192.168.198.149',
      user: 'JcDfcZTc',
      invalidUser: true,
      method: 'Network',
      reason: 'no such user',
      port: 50249,
      count: 1,
    });
    assert.equal(failedAttemptCsvLine(row), '2016-09-19T16:50:06.477Z,4625,DESKTOP-M5SN04R,192.168.198.149,JcDfcZTc,true,Network,no such user,50249,1');
  });

  it('neutralises spreadsheet formulas and quotes separators in attacker-chosen names', () => {
    assert.equal(csvCell('=HYPERLINK("http://x")'), `"'=HYPERLINK(""http://x"")"`);
    assert.equal(csvCell('+1+1'), "'+1+1");
    assert.equal(csvCell('@SUM(A1)'), "'@SUM(A1)");
    assert.equal(csvCell('-'), '-');
    assert.equal(csvCell('-42'), '-42');
    assert.equal(csvCell('a,b'), '"a,b"');
    assert.equal(csvCell('line\nbreak'), 'line<U+000A>break');
    assert.equal(csvCell('a;=1+1'), "a;'=1+1");
    assert.equal(csvCell('plain'), 'plain');
    const row: FailedAttemptRow = {
      time: '',
      source: 'sshd',
      host: '',
      address: '',
      user: null,
      invalidUser: false,
      method: '',
      reason: '',
      port: null,
      count: 1,
    };
    assert.equal(failedAttemptCsvLine(row), ',sshd,,,,false,,,,1');
    assert.deepEqual(JSON.parse(failedAttemptJsonLine(row)), {
      time: null,
      source: 'sshd',
      host: null,
      address: null,
      user: null,
      invalid_user: false,
      method: null,
      reason: null,
      port: null,
      count: 1,
    });
  });
});
