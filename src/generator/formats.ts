import { createHash } from 'node:crypto';
import { LINUX_ACCOUNTS, WINDOWS_ACCOUNTS, type AccountProfile } from './accounts';
import type { AuthAttempt } from './scenarios';
import { isoStamper, kvStamper, syslogStamper } from './timestamps';

export type FormatName = 'kv' | 'sshd' | 'win4625';

/** Renders attempts as log lines (without the trailing newline), appending to `out`. */
export interface LineRenderer {
  render(attempt: AuthAttempt, out: string[]): void;
}

export interface LineFormat {
  readonly name: FormatName;
  readonly description: string;
  /** which accounts exist on the simulated target (Linux names for sshd, Windows names for 4625) */
  readonly accounts: AccountProfile;
  /** host name written into the lines (sshd syslog host, Windows ComputerName) unless the run names one */
  readonly defaultHostname: string;
  createRenderer(hostname: string): LineRenderer;
}

/**
 * The classic lab script's line (seed 000): `<YYYY-MM-DD HH:MM:SS> event_type=ssh_failed src_ip=… user=… reason='…'`.
 * One line per attempt; a collapsed run of N identical failures is written as N lines, since
 * this format has no "message repeated" form and the seed's searches count lines.
 */
function kvRenderer(): LineRenderer {
  const stamp = kvStamper();
  return {
    render(a, out) {
      const ts = stamp(a.timeMs);
      if (a.outcome === 'success') {
        out.push(`${ts} event_type=ssh_success src_ip=${a.srcIp} user=${a.user} reason='${a.method} accepted'`);
        return;
      }
      const line = `${ts} event_type=ssh_failed src_ip=${a.srcIp} user=${a.user} reason='${a.userExists ? 'password check failed' : 'invalid user'}'`;
      for (let i = 0; i < a.repeat; i++) out.push(line);
    },
  };
}

/** sshd reports a MaxAuthTries disconnect with the number of failures beyond the first */
const MAX_AUTH_TRIES = 6;

/** OpenSSH prints key fingerprints as unpadded base64 SHA-256 (43 characters). */
function fingerprintFor(user: string, cache: Map<string, string>): string {
  let fp = cache.get(user);
  if (fp === undefined) {
    fp = createHash('sha256').update(`soar-edr generated key for ${user}`).digest('base64').replace(/=+$/, '');
    cache.set(user, fp);
  }
  return fp;
}

/**
 * OpenSSH syslog lines in the shapes of the loghub OpenSSH corpus (templates E1, E2, E4/E5,
 * E9, E10, E12, E13, E14, E17, E19-E21, E23, E24) plus "Accepted publickey", which the corpus
 * lacks but sshd writes for key logins. One connection = one sshd pid.
 */
function sshdRenderer(hostname: string): LineRenderer {
  const stamp = syslogStamper();
  const fingerprints = new Map<string, string>();
  return {
    render(a, out) {
      // pids grow with each connection and wrap below the usual pid_max, like a busy host's
      const head = `${stamp(a.timeMs)} ${hostname} sshd[${1000 + ((a.session * 7) % 31000)}]: `;
      const ip = a.srcIp;
      const user = a.user;
      if (a.outcome === 'success') {
        if (a.method === 'publickey') {
          out.push(`${head}Accepted publickey for ${user} from ${ip} port ${a.srcPort} ssh2: RSA SHA256:${fingerprintFor(user, fingerprints)}`);
        } else {
          out.push(`${head}Accepted password for ${user} from ${ip} port ${a.srcPort} ssh2`);
        }
        out.push(`${head}pam_unix(sshd:session): session opened for user ${user} by (uid=0)`);
        return;
      }
      const who = a.userExists ? user : `invalid user ${user}`;
      if (a.opensSession) {
        if (a.userExists) {
          out.push(`${head}pam_unix(sshd:auth): authentication failure; logname= uid=0 euid=0 tty=ssh ruser= rhost=${ip}  user=${user}`);
        } else {
          out.push(`${head}Invalid user ${user} from ${ip}`);
          out.push(`${head}input_userauth_request: invalid user ${user} [preauth]`);
          out.push(`${head}pam_unix(sshd:auth): check pass; user unknown`);
          out.push(`${head}pam_unix(sshd:auth): authentication failure; logname= uid=0 euid=0 tty=ssh ruser= rhost=${ip} `);
        }
      }
      const failed = `Failed password for ${who} from ${ip} port ${a.srcPort} ssh2`;
      out.push(head + failed);
      if (a.repeat > 1) out.push(`${head}message repeated ${a.repeat - 1} times: [ ${failed}]`);
      switch (a.closes) {
        case null:
          break;
        case 'closed':
          out.push(`${head}Connection closed by ${ip} [preauth]`);
          break;
        case 'bye':
          out.push(`${head}Received disconnect from ${ip}: 11: Bye Bye [preauth]`);
          break;
        case 'too-many':
          if (a.userExists) {
            out.push(`${head}Disconnecting: Too many authentication failures for ${user} [preauth]`);
            out.push(`${head}PAM ${MAX_AUTH_TRIES - 1} more authentication failures; logname= uid=0 euid=0 tty=ssh ruser= rhost=${ip}  user=${user}`);
          } else {
            out.push(`${head}Connection closed by ${ip} [preauth]`);
          }
          break;
      }
    },
  };
}

/**
 * Windows Security events as one key=value line, field names as in the 4625 EventData of the
 * DeepBlueCLI capture and Microsoft's example, EventCode as Splunk's WinEventLog names it.
 * A failure is 4625 (Status 0xc000006d; SubStatus 0xc000006a bad password, 0xc0000064 no such
 * user — the pairs the corpus shows), a success 4624.
 */
function win4625Renderer(hostname: string): LineRenderer {
  const stamp = isoStamper();
  return {
    render(a, out) {
      const ts = stamp(a.timeMs);
      const tail = `WorkstationName=${a.client} IpAddress=${a.srcIp} IpPort=${a.srcPort}`;
      if (a.outcome === 'success') {
        const kerberos = a.method === 'publickey';
        out.push(
          `${ts} LogName=Security EventCode=4624 ComputerName=${hostname} TargetUserName=${a.user} TargetDomainName=. LogonType=3 ` +
            `LogonProcessName=${kerberos ? 'Kerberos' : 'NtLmSsp'} AuthenticationPackageName=${kerberos ? 'Kerberos' : 'NTLM'} ${tail}`,
        );
        return;
      }
      const line =
        `${ts} LogName=Security EventCode=4625 ComputerName=${hostname} TargetUserName=${a.user} TargetDomainName=. ` +
        `Status=0xc000006d SubStatus=${a.userExists ? '0xc000006a' : '0xc0000064'} LogonType=3 LogonProcessName=NtLmSsp AuthenticationPackageName=NTLM ${tail}`;
      for (let i = 0; i < a.repeat; i++) out.push(line);
    },
  };
}

export const FORMATS: Readonly<Record<FormatName, LineFormat>> = {
  kv: {
    name: 'kv',
    description: "the classic lab script's key=value lines: <time> event_type=ssh_failed|ssh_success src_ip=… user=… reason='…'",
    accounts: LINUX_ACCOUNTS,
    defaultHostname: 'bastion',
    createRenderer: () => kvRenderer(),
  },
  sshd: {
    name: 'sshd',
    description: 'OpenSSH syslog lines (Failed password, Invalid user, Accepted, PAM, message repeated, preauth disconnects)',
    accounts: LINUX_ACCOUNTS,
    defaultHostname: 'bastion',
    createRenderer: (hostname) => sshdRenderer(hostname),
  },
  win4625: {
    name: 'win4625',
    description: 'Windows Security 4625 (failure) / 4624 (success) as key=value: EventCode, TargetUserName, IpAddress, LogonType, Status, SubStatus',
    accounts: WINDOWS_ACCOUNTS,
    defaultHostname: 'DC01',
    createRenderer: (hostname) => win4625Renderer(hostname),
  },
};

export const FORMAT_NAMES = Object.keys(FORMATS) as FormatName[];
