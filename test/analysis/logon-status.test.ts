import { strict as assert } from 'node:assert';
import {
  failureReasonText,
  logonFailureReason,
  logonTypeName,
  normalizeNtStatus,
  ntStatusMeaning,
} from '../../src/analysis/logon-status';
import { winEventFromXml } from '../../src/analysis/winlog';
import { corpusText } from './corpus';

describe('analysis/logon-status', () => {
  it('normalises the spellings exporters use', () => {
    assert.equal(normalizeNtStatus('0xC000006D'), '0xc000006d');
    assert.equal(normalizeNtStatus('C000006A'), '0xc000006a');
    assert.equal(normalizeNtStatus('0x00000000'), '0x0');
    assert.equal(normalizeNtStatus('0x0'), '0x0');
    assert.equal(normalizeNtStatus('-1073741718'), '0xc000006a'); // signed DWORD
    assert.equal(normalizeNtStatus(' 0xc0000234 '), '0xc0000234');
    for (const none of [null, undefined, '', '-', 'n/a', '0xZZ', '99999999999']) assert.equal(normalizeNtStatus(none), null, String(none));
  });

  it("uses Microsoft's meanings for the documented codes", () => {
    const cases: [string, string, RegExp][] = [
      ['0xc000006a', 'bad password', /misspelled or bad password/],
      ['0xc0000064', 'no such user', /misspelled or bad user account/],
      ['0xc0000072', 'account disabled', /disabled by administrator/],
      ['0xc0000234', 'account locked out', /account locked/],
      ['0xc000006d', 'bad user name or password', /bad username or authentication information/],
      ['0xc000006e', 'account restriction', /account restriction/],
      ['0xc000006f', 'outside logon hours', /outside authorized hours/],
      ['0xc0000070', 'workstation not allowed', /unauthorized workstation/],
      ['0xc0000071', 'password expired', /expired password/],
      ['0xc0000193', 'account expired', /expired account/],
      ['0xc0000224', 'password change required', /change password at next logon/],
      ['0xc000015b', 'logon type not granted', /logon type/],
    ];
    for (const [code, reason, description] of cases) {
      const m = ntStatusMeaning(code.toUpperCase().replace('0X', '0x'));
      assert.ok(m, code);
      assert.equal(m.code, code);
      assert.equal(m.reason, reason);
      assert.match(m.description, description);
    }
  });

  it('prefers SubStatus, falls back to Status when SubStatus is 0x0 or missing, and keeps unknown codes', () => {
    assert.equal(logonFailureReason('0xc000006d', '0xc000006a').reason, 'bad password');
    assert.equal(logonFailureReason('0xc000006e', '0xc0000072').reason, 'account disabled');
    assert.equal(logonFailureReason('0xc0000234', '0x0').reason, 'account locked out');
    assert.equal(logonFailureReason('0xc000006d', null).reason, 'bad user name or password');
    assert.deepEqual(logonFailureReason('0xc0000999', '0x0'), {
      code: '0xc0000999',
      reason: 'status 0xc0000999',
      description: "NTSTATUS 0xc0000999 (not in Microsoft's 4625 table; see ntstatus.h).",
    });
    assert.equal(logonFailureReason(null, '-').reason, 'unknown');
  });

  it('names logon types and FailureReason message ids', () => {
    assert.equal(logonTypeName(3), 'Network');
    assert.equal(logonTypeName(10), 'RemoteInteractive');
    assert.equal(logonTypeName(2), 'Interactive');
    assert.equal(logonTypeName(6), null);
    assert.equal(logonTypeName(null), null);
    assert.equal(failureReasonText('%%2313'), 'Unknown user name or bad password.');
    assert.equal(failureReasonText('%%2307'), 'Account locked out.');
    assert.equal(failureReasonText('Some rendered text'), 'Some rendered text');
    assert.equal(failureReasonText(''), null);
  });

  it("agrees with the Microsoft example's own FailureReason (%%2307: Account locked out)", () => {
    const text = corpusText('windows', 'microsoft_docs_event-4625_example.xml.txt');
    const e = winEventFromXml(text)!;
    const id = /Name="FailureReason">([^<]*)</.exec(text)![1]!;
    assert.equal(failureReasonText(id), 'Account locked out.');
    assert.equal(e.reason, 'account locked out');
  });
});
