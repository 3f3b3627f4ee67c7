/**
 * Readable meanings for the fields of Windows logon events (4625 / 4624): NTSTATUS codes in
 * Status / SubStatus, logon types, and the %%23xx FailureReason message ids.
 * Texts follow Microsoft's "4625(F): An account failed to log on" page (Windows logon status
 * codes and Windows Logon Types tables); `reason` is a short label for summaries.
 */

export interface StatusMeaning {
  /** Normalised code, e.g. "0xc000006a". */
  readonly code: string;
  /** Short label for tables, e.g. "bad password". */
  readonly reason: string;
  /** Microsoft's description. */
  readonly description: string;
}

const STATUS: ReadonlyArray<readonly [string, string, string]> = [
  ['0xc000005e', 'no logon servers', 'There are currently no logon servers available to service the logon request.'],
  ['0xc0000064', 'no such user', 'User logon with misspelled or bad user account.'],
  ['0xc000006a', 'bad password', 'User logon with misspelled or bad password.'],
  ['0xc000006d', 'bad user name or password', 'This is either due to a bad username or authentication information.'],
  // The 4625 page's table repeats "Unknown user name or bad password." here; ntstatus.h defines
  // 0xC000006E as STATUS_ACCOUNT_RESTRICTION, which is what the code means.
  ['0xc000006e', 'account restriction', 'User name and authentication information are valid, but an account restriction (such as time-of-day restrictions) prevented the logon.'],
  ['0xc000006f', 'outside logon hours', 'User logon outside authorized hours.'],
  ['0xc0000070', 'workstation not allowed', 'User logon from unauthorized workstation.'],
  ['0xc0000071', 'password expired', 'User logon with expired password.'],
  ['0xc0000072', 'account disabled', 'User logon to account disabled by administrator.'],
  ['0xc00000dc', 'SAM server wrong state', 'Indicates the Sam Server was in the wrong state to perform the desired operation.'],
  ['0xc0000133', 'clock skew', 'Clocks between DC and other computer too far out of sync.'],
  ['0xc000015b', 'logon type not granted', 'The user has not been granted the requested logon type (aka logon right) at this machine.'],
  ['0xc000018c', 'trust relationship failed', 'The logon request failed because the trust relationship between the primary domain and the trusted domain failed.'],
  ['0xc0000192', 'netlogon not started', 'An attempt was made to logon, but the Netlogon service was not started.'],
  ['0xc0000193', 'account expired', 'User logon with expired account.'],
  ['0xc0000224', 'password change required', 'User is required to change password at next logon.'],
  ['0xc0000225', 'windows bug (not a risk)', 'Evidently a bug in Windows and not a risk.'],
  ['0xc0000234', 'account locked out', 'User logon with account locked.'],
  ['0xc00002ee', 'error during logon', 'Failure Reason: An Error occurred during Logon.'],
  ['0xc0000413', 'authentication firewall', 'Logon Failure: The machine you are logging onto is protected by an authentication firewall. The specified account is not allowed to authenticate to the machine.'],
  ['0x0', 'status OK', 'Status OK.'],
];

const STATUS_BY_CODE = new Map<string, StatusMeaning>(
  STATUS.map(([code, reason, description]) => [code, { code, reason, description }]),
);

/**
 * "0xC000006A", "0xc000006a", "C000006A", "0x00000000" or a signed decimal DWORD
 * ("-1073741718", as some exporters print it) to "0xc000006a"; null when not a status code.
 */
export function normalizeNtStatus(raw: string | null | undefined): string | null {
  if (raw === null || raw === undefined) return null;
  const s = raw.trim();
  if (s === '' || s === '-') return null;
  let n: number;
  if (/^(0x)?[0-9a-f]{1,8}$/i.test(s) && (/^0x/i.test(s) || /[a-f]/i.test(s) || s.length === 8)) {
    n = parseInt(s.replace(/^0x/i, ''), 16);
  } else if (/^-?\d{1,10}$/.test(s)) {
    n = Number(s);
    if (n < -0x80000000 || n > 0xffffffff) return null;
  } else {
    return null;
  }
  return '0x' + (n >>> 0).toString(16);
}

export function ntStatusMeaning(raw: string | null | undefined): StatusMeaning | null {
  const code = normalizeNtStatus(raw);
  return code === null ? null : (STATUS_BY_CODE.get(code) ?? null);
}

/**
 * The reason a logon failed: SubStatus when it says more than Status (it is 0x0 or absent for
 * e.g. a locked-out account, where Status 0xc0000234 carries the reason), else Status.
 * Unknown codes keep their hex so nothing is hidden.
 */
export function logonFailureReason(status: string | null | undefined, subStatus: string | null | undefined): StatusMeaning {
  const sub = normalizeNtStatus(subStatus);
  const main = normalizeNtStatus(status);
  const pick = sub !== null && sub !== '0x0' ? sub : main;
  if (pick === null) return { code: '', reason: 'unknown', description: 'The event carries no Status or SubStatus code.' };
  return (
    STATUS_BY_CODE.get(pick) ?? {
      code: pick,
      reason: `status ${pick}`,
      description: `NTSTATUS ${pick} (not in Microsoft's 4625 table; see ntstatus.h).`,
    }
  );
}

const LOGON_TYPES: ReadonlyMap<number, string> = new Map([
  [2, 'Interactive'],
  [3, 'Network'],
  [4, 'Batch'],
  [5, 'Service'],
  [7, 'Unlock'],
  [8, 'NetworkCleartext'],
  [9, 'NewCredentials'],
  [10, 'RemoteInteractive'],
  [11, 'CachedInteractive'],
  // From the 4624 page's logon type table (newer Windows versions).
  [12, 'CachedRemoteInteractive'],
  [13, 'CachedUnlock'],
]);

export function logonTypeName(logonType: number | null): string | null {
  return logonType === null ? null : (LOGON_TYPES.get(logonType) ?? null);
}

const FAILURE_REASON_IDS: ReadonlyMap<string, string> = new Map([
  ['%%2304', 'An Error occurred during Logon.'],
  ['%%2305', 'The specified user account has expired.'],
  ['%%2306', 'The NetLogon component is not active.'],
  ['%%2307', 'Account locked out.'],
  ['%%2308', 'The user has not been granted the requested logon type at this machine.'],
  ['%%2309', "The specified account's password has expired."],
  ['%%2310', 'Account currently disabled.'],
  ['%%2311', 'Account logon time restriction violation.'],
  ['%%2312', 'User not allowed to logon at this computer.'],
  ['%%2313', 'Unknown user name or bad password.'],
]);

/** The text behind an unrendered FailureReason such as "%%2313"; other values are returned as they are. */
export function failureReasonText(raw: string | null | undefined): string | null {
  if (raw === null || raw === undefined || raw.trim() === '') return null;
  const s = raw.trim();
  return FAILURE_REASON_IDS.get(s) ?? s;
}
