/**
 * Login events as Splunk's add-ons present them at search time, built from the same log lines
 * this app's sourcetype reads: the Unix/Linux add-on's linux_secure events and the Windows
 * add-on's Security events (classic WinEventLog, its pre-5.0 sourcetype, and XmlWinEventLog).
 * The detections run over these rows to show they fire on the data users already have.
 *
 * Each row carries only what the add-on's own knowledge gives the event, per the sources below;
 * nothing of this app's props.conf (no attempt_count, no event_type, linux_secure has no src_ip).
 * Every line is parsed here on its own, not through the app's extractions.
 */
import type { WindowsCsvRow } from './event-sources';
import type { Row } from './spl-pipeline';
import type { Value } from './spl-eval';

export type AddonShape = 'linux_secure' | 'WinEventLog' | 'WinEventLog:Security' | 'XmlWinEventLog';
export const WINDOWS_SHAPES: readonly AddonShape[] = ['WinEventLog', 'WinEventLog:Security', 'XmlWinEventLog'];

/**
 * Search-time fields the add-ons give their authentication events, beyond Splunk's default
 * fields. The search lint accepts these as extracted, since no props.conf of this app makes them.
 *  - linux_secure: the field list of Splunk security_content's data source "Linux Secure"
 *    (data_sources/linux_secure.yml, Splunk Add-on for Unix and Linux 10.2.0).
 *  - Windows Security 4624/4625: security_content's "Windows Event Log Security 4625/4624"
 *    (Splunk Add-on for Microsoft Windows 10.0.0) and the [source::WinEventLog:Security] /
 *    [source::XmlWinEventLog:Security] stanzas of Splunk_TA_windows 8.4.0 props.conf.
 */
export const ADDON_FIELDS: Readonly<Record<'linux_secure' | 'windows_security', readonly string[]>> = {
  linux_secure: ['action', 'app', 'dest', 'dvc', 'pid', 'process', 'src', 'src_port', 'sshd_protocol', 'user', 'user_name', 'vendor_action', 'vendor_product'],
  windows_security: [
    'action', 'app', 'dest', 'dest_nt_domain', 'EventCode', 'signature', 'signature_id', 'src', 'src_ip', 'src_port', 'src_nt_host', 'user',
    'Logon_Type', 'LogonType', 'IpAddress', 'IpPort', 'TargetUserName', 'WorkstationName', 'Status', 'Sub_Status', 'SubStatus', 'Computer', 'ComputerName',
  ],
};

/** Splunk_TA_windows 8.4.0 lookups/windows_apps.csv, by Logon_Type (the rows that match 4625/4624). */
const WINDOWS_APP_BY_LOGON_TYPE: Readonly<Record<string, string>> = {
  '0': 'win:unknown', '1': 'win:unknown', '2': 'win:local', '3': 'win:remote', '4': 'win:local', '5': 'win:local', '6': 'win:local',
  '7': 'win:local', '8': 'win:remote', '9': 'win:local', '10': 'win:remote', '11': 'win:local',
};

/**
 * Splunk_TA_windows 8.4.0 lookups/xmlsecurity_eventcode_errorcode_action.csv for 4625, by Status
 * (its Error_Code): XML 4625 events are not all action=failure. Its other 4625 rows are failure;
 * the "error" ones (0xC0000133, 0xC0000225) the add-on does not tag authentication at all.
 */
const XML_4625_ACTION_BY_STATUS: Readonly<Record<string, string>> = {
  '0XC0000064': 'unknown',
  '0XC000006F': 'denied',
  '0XC0000070': 'denied',
  '0XC000015B': 'denied',
  '0XC0000234': 'denied',
};

const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];

function row(fields: Record<string, Value | undefined>): Row {
  const out: Row = new Map();
  for (const [k, v] of Object.entries(fields)) if (v !== undefined && v !== null && v !== '') out.set(k, v);
  return out;
}

/**
 * sshd's login attempts in a syslog line: "Failed password|keyboard-interactive… for [invalid user]
 * U from A port P" (also inside "message repeated N times: [ … ]") and "Accepted <method> for U from
 * A port P". Lines that are not an attempt here (Failed none/publickey, pam_unix, Invalid user…)
 * give nothing: whether the add-on tags those as failures too only a real Splunk can show.
 */
const SSHD_ATTEMPT =
  /^([A-Z][a-z]{2}) ([ \d]\d) (\d\d):(\d\d):(\d\d) (\S+) (sshd(?:-session)?)\[(\d+)\]: (?:message repeated (\d+) times: \[ ?)?(?:Failed (password|keyboard-interactive\S*)|Accepted (\S+)) for (?:invalid user )?(.*) from ([0-9A-Fa-f:.]+) port (\d+)/;

/**
 * The linux_secure events of one syslog line (Splunk Add-on for Unix and Linux): one per login
 * attempt. syslog's "message repeated N times" stands for N attempts; they are given as N events,
 * the attempts as they happened (the add-on itself would count that line once).
 */
export function linuxSecureEvents(line: string, year: number, index = 'os'): Row[] {
  const m = SSHD_ATTEMPT.exec(line);
  if (!m) return [];
  const month = MONTHS.indexOf(m[1]!);
  const time = Date.UTC(year, month, Number(m[2]!.trim()), Number(m[3]), Number(m[4]), Number(m[5])) / 1000;
  const failed = m[10] !== undefined;
  const event = row({
    _raw: line,
    _time: time,
    index,
    sourcetype: 'linux_secure',
    source: '/var/log/secure',
    host: m[6],
    dest: m[6],
    process: m[7],
    pid: m[8],
    action: failed ? 'failure' : 'success',
    app: 'sshd',
    user: m[12],
    src: m[13],
    src_port: m[14],
    tag: 'authentication',
  });
  return Array.from({ length: m[9] === undefined ? 1 : Number(m[9]) }, () => new Map(event));
}

/** A Windows logon (4624 / 4625) as its EventData names it. */
export interface WindowsLogon {
  readonly time: string;
  readonly eventCode: '4624' | '4625';
  readonly computer: string;
  readonly targetUserName: string;
  readonly targetDomainName?: string;
  readonly status?: string;
  readonly subStatus?: string;
  readonly logonType: string;
  readonly workstationName?: string;
  readonly ipAddress?: string;
  readonly ipPort?: string;
}

/** The generator's win4625 line ("<ISO> LogName=Security EventCode=… Key=Value …") as a logon. */
export function windowsLogonOfKvLine(line: string): WindowsLogon | null {
  const m = /^(\d{4}-\d\d-\d\dT\S+) LogName=Security EventCode=(4624|4625) (.*)$/.exec(line);
  if (!m) return null;
  const kv = new Map([...m[3]!.matchAll(/(\w+)=(\S*)/g)].map((p) => [p[1]!, p[2]!]));
  return {
    time: m[1]!,
    eventCode: m[2] as '4624' | '4625',
    computer: kv.get('ComputerName') ?? '',
    targetUserName: kv.get('TargetUserName') ?? '',
    targetDomainName: kv.get('TargetDomainName'),
    status: kv.get('Status'),
    subStatus: kv.get('SubStatus'),
    logonType: kv.get('LogonType') ?? '',
    workstationName: kv.get('WorkstationName'),
    ipAddress: kv.get('IpAddress'),
    ipPort: kv.get('IpPort'),
  };
}

const dash = (v: string | undefined): string | undefined => (v === undefined || v === '' || v === '-' ? undefined : v);

/**
 * The event the Windows add-on (Splunk_TA_windows 8.4.0) presents for a logon, in one of its
 * shapes. Classic events (sourcetype WinEventLog, or WinEventLog:Security as TA versions before
 * 5.0 indexed them) name the fields after the rendered message (Logon_Type, Source_Network_Address,
 * Workstation_Name, Account_Name); XML events after the EventData (LogonType, IpAddress,
 * WorkstationName, TargetUserName) plus the TA's classic-named copies. In both, src is the
 * client's workstation NAME when the event gives one (REPORT-src_for_windows_security takes
 * Source_Workstation / Workstation_Name first) and src_ip the address.
 */
export function windowsSecurityEvent(logon: WindowsLogon, shape: AddonShape, index = 'wineventlog'): Row {
  if (shape === 'linux_secure') throw new Error('linux_secure is not a Windows shape');
  const time = Date.parse(logon.time) / 1000;
  const failure = logon.eventCode === '4625';
  const common = {
    _time: time,
    index,
    host: logon.computer,
    EventCode: logon.eventCode,
    signature_id: logon.eventCode,
    dest: logon.computer,
    user: logon.targetUserName,
    app: WINDOWS_APP_BY_LOGON_TYPE[logon.logonType],
    tag: 'authentication',
  };
  if (shape === 'XmlWinEventLog') {
    const ip = dash(logon.ipAddress);
    const xmlAction = failure ? (XML_4625_ACTION_BY_STATUS[(logon.status ?? '').toUpperCase()] ?? 'failure') : 'success';
    return row({
      ...common,
      _raw: `<Event><System><EventID>${logon.eventCode}</EventID><Computer>${logon.computer}</Computer></System></Event>`,
      sourcetype: 'XmlWinEventLog',
      source: 'XmlWinEventLog:Security',
      Computer: logon.computer,
      TargetUserName: logon.targetUserName,
      LogonType: logon.logonType,
      Logon_Type: logon.logonType,
      Status: logon.status,
      SubStatus: logon.subStatus,
      Sub_Status: logon.subStatus,
      WorkstationName: logon.workstationName,
      IpAddress: logon.ipAddress,
      IpPort: logon.ipPort,
      // EXTRACT-1IpAddress_for_windows_security_from_xml skips ::1 and 127.0.0.1
      src_ip: ip === '::1' || ip === '127.0.0.1' ? undefined : logon.ipAddress,
      src: dash(logon.workstationName) ?? logon.ipAddress,
      src_port: logon.ipPort,
      action: xmlAction,
    });
  }
  return row({
    ...common,
    _raw: `LogName=Security\nEventCode=${logon.eventCode}\nComputerName=${logon.computer}\nKeywords=${failure ? 'Audit Failure' : 'Audit Success'}`,
    sourcetype: shape,
    source: 'WinEventLog:Security',
    ComputerName: logon.computer,
    Logon_Type: logon.logonType,
    Account_Name: ['-', logon.targetUserName],
    Workstation_Name: logon.workstationName,
    Source_Network_Address: logon.ipAddress,
    Source_Port: logon.ipPort,
    // Source_Network_Address_as_src_ip / _as_src skip "-"
    src_ip: dash(logon.ipAddress),
    src: dash(logon.workstationName) ?? dash(logon.ipAddress),
    src_port: logon.ipPort,
    // windows_action_lookup on Keywords: Audit Failure -> failure, Audit Success -> success
    action: failure ? 'failure' : 'success',
  });
}


/** A row of the DeepBlueCLI 4625 export (event-sources.ts) as a logon. */
export function windowsLogonOfCsvRow(r: WindowsCsvRow): WindowsLogon {
  return {
    time: r.TimeCreated,
    eventCode: '4625',
    computer: r.Computer,
    targetUserName: r.TargetUserName,
    targetDomainName: r.TargetDomainName,
    status: r.Status,
    subStatus: r.SubStatus,
    logonType: r.LogonType,
    workstationName: r.WorkstationName,
    ipAddress: r.IpAddress,
    ipPort: r.IpPort,
  };
}
