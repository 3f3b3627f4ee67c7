/**
 * Windows logon events (4625 failed, 4624 succeeded) from the three shapes analysts export:
 * Event XML (wevtutil / evtxexport / Event Viewer), CSV with EventData column names, and
 * winlogbeat / ECS JSON. Each shape is mapped to one WinLogonEvent by pure functions; the
 * analyzer then produces the same failure summary as the auth.log analysis.
 */
import { BruteForceOptions, FailureAggregator, FailureSummary } from './bruteforce';
import { logonFailureReason, logonTypeName, normalizeNtStatus } from './logon-status';

export const EVENT_LOGON_FAILED = 4625;
export const EVENT_LOGON_SUCCEEDED = 4624;

export interface WinLogonEvent {
  readonly eventId: number;
  /** Epoch ms; NaN when the record has no readable time. */
  readonly timeMs: number;
  readonly computer: string | null;
  /** TargetUserName: the account the logon was for; null when absent or "-". */
  readonly user: string | null;
  readonly domain: string | null;
  /** IpAddress; null when absent or "-" (local logons). IPv4-mapped IPv6 is unwrapped. */
  readonly address: string | null;
  readonly port: number | null;
  readonly logonType: number | null;
  readonly logonTypeName: string | null;
  /** Normalised NTSTATUS codes ("0xc000006d"), null when absent. */
  readonly status: string | null;
  readonly subStatus: string | null;
  /** Readable reason chosen from SubStatus / Status, e.g. "bad password"; "" for successes. */
  readonly reason: string;
  readonly workstation: string | null;
  readonly logonProcess: string | null;
  readonly authPackage: string | null;
}

/** EventData-style names, as in the XML; other shapes are mapped onto them. */
export type LogonField =
  | 'TargetUserName'
  | 'TargetDomainName'
  | 'IpAddress'
  | 'IpPort'
  | 'LogonType'
  | 'Status'
  | 'SubStatus'
  | 'FailureReason'
  | 'WorkstationName'
  | 'LogonProcessName'
  | 'AuthenticationPackageName';

export interface RawLogonRecord {
  readonly eventId: number | null;
  readonly time: string | null;
  readonly computer: string | null;
  readonly data: Partial<Record<LogonField, string>>;
}

const LOGON_FIELDS: readonly LogonField[] = [
  'TargetUserName',
  'TargetDomainName',
  'IpAddress',
  'IpPort',
  'LogonType',
  'Status',
  'SubStatus',
  'FailureReason',
  'WorkstationName',
  'LogonProcessName',
  'AuthenticationPackageName',
];

function present(v: string | undefined | null): string | null {
  if (v === undefined || v === null) return null;
  const t = v.trim();
  return t === '' || t === '-' ? null : v;
}

function intOrNull(v: string | undefined | null): number | null {
  const p = present(v);
  if (p === null || !/^\s*\d+\s*$/.test(p)) return null;
  return Number(p);
}

/** ISO 8601 (any number of fraction digits), Splunk-style "2016-09-19 16:50:06.477 UTC", or epoch seconds. */
export function windowsTimeMs(raw: string | null): number {
  if (raw === null) return NaN;
  const s = raw.trim();
  if (/^\d{9,11}(\.\d+)?$/.test(s)) return Math.round(Number(s) * 1000);
  // Date.parse handles ISO with 9 fraction digits but not a space separator with a trailing zone name.
  const iso = s.replace(/^(\d{4}-\d\d-\d\d) (\d)/, '$1T$2').replace(/ ?(UTC|GMT)$/i, 'Z');
  return Date.parse(iso);
}

/**
 * The one normalisation every format goes through; null when the record is not a logon event
 * we analyse (only 4625 and 4624 are kept).
 */
export function toWinLogonEvent(raw: RawLogonRecord): WinLogonEvent | null {
  const id = raw.eventId;
  if (id !== EVENT_LOGON_FAILED && id !== EVENT_LOGON_SUCCEEDED) return null;
  const d = raw.data;
  const logonType = intOrNull(d.LogonType);
  const status = normalizeNtStatus(present(d.Status));
  const subStatus = normalizeNtStatus(present(d.SubStatus));
  let address = present(d.IpAddress)?.trim() ?? null;
  if (address !== null && address.startsWith('::ffff:') && address.includes('.')) address = address.slice(7);
  return {
    eventId: id,
    timeMs: windowsTimeMs(raw.time),
    computer: present(raw.computer),
    user: present(d.TargetUserName),
    domain: present(d.TargetDomainName),
    address,
    port: intOrNull(d.IpPort),
    logonType,
    logonTypeName: logonTypeName(logonType),
    status,
    subStatus,
    reason: id === EVENT_LOGON_FAILED ? logonFailureReason(status, subStatus).reason : '',
    workstation: present(d.WorkstationName),
    logonProcess: present(d.LogonProcessName),
    authPackage: present(d.AuthenticationPackageName),
  };
}

// ---------------------------------------------------------------------------------------------
// Event XML

const RE_EVENT_ID = /<(?:[\w.-]+:)?EventID\b[^>]*>\s*(\d+)\s*</;
const RE_TIME_CREATED = /<(?:[\w.-]+:)?TimeCreated\b[^>]*?\bSystemTime\s*=\s*(?:"([^"]*)"|'([^']*)')/;
const RE_COMPUTER = /<(?:[\w.-]+:)?Computer\s*>([^<]*)</;
const RE_DATA = /<(?:[\w.-]+:)?Data\b([^>]*?)(?:\/>|>([^<]*)<\/(?:[\w.-]+:)?Data\s*>)/g;
const RE_NAME_ATTR = /\bName\s*=\s*(?:"([^"]*)"|'([^']*)')/;
const RE_ENTITY = /&(#x[0-9a-fA-F]+|#\d+|amp|lt|gt|quot|apos);/g;

export function decodeXmlText(s: string): string {
  if (s.indexOf('&') < 0) return s;
  return s.replace(RE_ENTITY, (_m, e: string) => {
    switch (e) {
      case 'amp':
        return '&';
      case 'lt':
        return '<';
      case 'gt':
        return '>';
      case 'quot':
        return '"';
      case 'apos':
        return "'";
      default: {
        const code = e[1] === 'x' || e[1] === 'X' ? parseInt(e.slice(2), 16) : parseInt(e.slice(1), 10);
        return code >= 0 && code <= 0x10ffff ? String.fromCodePoint(code) : '\ufffd';
      }
    }
  });
}

/**
 * Reads one <Event>...</Event> element with regular expressions: either quote style, any
 * namespace prefix, and the "- " markers of XML copied from a browser (Microsoft's docs).
 * Returns the raw fields, or null when the text holds no EventID.
 */
export function rawFromEventXml(xml: string): RawLogonRecord | null {
  const id = RE_EVENT_ID.exec(xml);
  if (id === null) return null;
  const t = RE_TIME_CREATED.exec(xml);
  const c = RE_COMPUTER.exec(xml);
  const data: Partial<Record<LogonField, string>> = {};
  RE_DATA.lastIndex = 0;
  let m: RegExpExecArray | null;
  while ((m = RE_DATA.exec(xml)) !== null) {
    const name = RE_NAME_ATTR.exec(m[1]!);
    if (name === null) continue;
    const key = (name[1] ?? name[2]!) as LogonField;
    if (LOGON_FIELDS.includes(key)) data[key] = decodeXmlText(m[2] ?? '');
  }
  return {
    eventId: Number(id[1]),
    time: t === null ? null : decodeXmlText(t[1] ?? t[2]!),
    computer: c === null ? null : decodeXmlText(c[1]!.trim()),
    data,
  };
}

export function winEventFromXml(xml: string): WinLogonEvent | null {
  const raw = rawFromEventXml(xml);
  return raw === null ? null : toWinLogonEvent(raw);
}

// ---------------------------------------------------------------------------------------------
// Flat records: CSV rows, flat JSON objects (Splunk exports, PowerShell ConvertTo-Json)

/** Header names compared lower-case with everything but letters and digits removed. */
export function headerKey(name: string): string {
  return name.toLowerCase().replace(/[^a-z0-9]/g, '');
}

const FIELD_ALIASES: Readonly<Record<LogonField, readonly string[]>> = {
  TargetUserName: ['targetusername', 'accountname', 'targetuser', 'username', 'user', 'usertargetname'],
  TargetDomainName: ['targetdomainname', 'accountdomain', 'targetdomain', 'userdomain'],
  IpAddress: ['ipaddress', 'sourcenetworkaddress', 'sourceaddress', 'sourceip', 'srcip', 'src', 'clientaddress'],
  IpPort: ['ipport', 'sourceport', 'srcport'],
  LogonType: ['logontype'],
  Status: ['status'],
  SubStatus: ['substatus'],
  FailureReason: ['failurereason'],
  WorkstationName: ['workstationname', 'workstation'],
  LogonProcessName: ['logonprocessname', 'logonprocess'],
  AuthenticationPackageName: ['authenticationpackagename', 'authenticationpackage'],
};
const EVENT_ID_ALIASES = ['eventid', 'eventcode', 'id', 'winlogeventid'];
const TIME_ALIASES = ['timecreated', 'systemtime', 'timegenerated', 'time', 'timestamp', 'datetime', 'dateandtime', 'date'];
const COMPUTER_ALIASES = ['computer', 'computername', 'hostname', 'host', 'winlogcomputername'];
const MESSAGE_ALIASES = ['message', 'raw', 'description'];

/** Which column (original header) supplies each field; computed once per CSV header. */
export interface FlatRecordColumns {
  readonly eventId: string | null;
  readonly time: string | null;
  readonly computer: string | null;
  readonly message: string | null;
  readonly fields: Partial<Record<LogonField, string>>;
}

export function flatRecordColumns(headers: readonly string[]): FlatRecordColumns {
  const byKey = new Map<string, string>();
  for (const h of headers) {
    const k = headerKey(h);
    if (!byKey.has(k)) byKey.set(k, h);
  }
  const pick = (aliases: readonly string[]): string | null => {
    for (const a of aliases) {
      const h = byKey.get(a);
      if (h !== undefined) return h;
    }
    return null;
  };
  const fields: Partial<Record<LogonField, string>> = {};
  for (const f of LOGON_FIELDS) {
    const h = pick(FIELD_ALIASES[f]);
    if (h !== null) fields[f] = h;
  }
  return {
    eventId: pick(EVENT_ID_ALIASES),
    time: pick(TIME_ALIASES),
    computer: pick(COMPUTER_ALIASES),
    message: pick(MESSAGE_ALIASES),
    fields,
  };
}

/** Whether a header can yield a source or an account at all; if not, the file is not a logon export. */
export function hasLogonColumns(cols: FlatRecordColumns): boolean {
  return cols.fields.IpAddress !== undefined || cols.fields.TargetUserName !== undefined || cols.message !== null;
}

/**
 * A flat record (a CSV row, or a JSON object's top level). Without an event id column every
 * record is taken as a 4625, because failure-only exports (like DeepBlueCLI's) omit it.
 * Splunk exports multivalue Account_Name as "subject\ntarget": the last value is the target.
 */
export function rawFromFlatRecord(record: Readonly<Record<string, unknown>>, cols: FlatRecordColumns): RawLogonRecord {
  const get = (h: string | null | undefined): string | undefined => {
    if (h === null || h === undefined) return undefined;
    const v = record[h];
    if (v === undefined || v === null) return undefined;
    if (Array.isArray(v)) return v.length === 0 ? undefined : String(v[v.length - 1]);
    return typeof v === 'object' ? undefined : String(v);
  };
  const data: Partial<Record<LogonField, string>> = {};
  for (const f of LOGON_FIELDS) {
    let v = get(cols.fields[f]);
    if (v !== undefined && v.includes('\n')) v = v.split(/\r?\n/).filter((x) => x.trim() !== '').pop() ?? '';
    if (v !== undefined) data[f] = v;
  }
  const message = get(cols.message);
  if (message !== undefined) fillFromRenderedMessage(data, message);
  const idText = get(cols.eventId);
  const eventId = cols.eventId === null ? EVENT_LOGON_FAILED : idText !== undefined && /^\s*\d+\s*$/.test(idText) ? Number(idText) : null;
  return { eventId, time: get(cols.time) ?? null, computer: get(cols.computer) ?? null, data };
}

// ---------------------------------------------------------------------------------------------
// Rendered message text ("Source Network Address:\t::1"), used to fill what structured fields lack

const MESSAGE_LABELS: ReadonlyArray<readonly [RegExp, LogonField]> = [
  [/^Source Network Address$/i, 'IpAddress'],
  [/^Source Port$/i, 'IpPort'],
  [/^Workstation Name$/i, 'WorkstationName'],
  [/^Logon Type$/i, 'LogonType'],
  [/^Status$/i, 'Status'],
  [/^Sub Status$/i, 'SubStatus'],
  [/^Failure Reason$/i, 'FailureReason'],
  [/^Logon Process$/i, 'LogonProcessName'],
  [/^Authentication Package$/i, 'AuthenticationPackageName'],
];

/**
 * Fills missing fields from the event's rendered text. Account Name / Domain are taken from the
 * "Account For Which Logon Failed:" (4625) or "New Logon:" (4624) section only, never from
 * "Subject:", which names the requesting service.
 */
export function fillFromRenderedMessage(data: Partial<Record<LogonField, string>>, message: string): void {
  let section = '';
  for (const rawLine of message.split(/\r?\n/)) {
    const line = rawLine.trim();
    const colon = line.indexOf(':');
    if (colon <= 0) continue;
    const label = line.slice(0, colon).trim();
    const value = line.slice(colon + 1).trim();
    if (value === '' && !/^\s/.test(rawLine)) {
      section = label.toLowerCase();
      continue;
    }
    let field: LogonField | undefined;
    if (section === 'account for which logon failed' || section === 'new logon') {
      if (/^Account Name$/i.test(label)) field = 'TargetUserName';
      else if (/^Account Domain$/i.test(label)) field = 'TargetDomainName';
    }
    if (field === undefined) field = MESSAGE_LABELS.find(([re]) => re.test(label))?.[1];
    if (field !== undefined && present(data[field]) === null && value !== '') data[field] = value;
  }
}

// ---------------------------------------------------------------------------------------------
// JSON: winlogbeat / ECS, older winlogbeat (top-level event_data), Splunk {"result": {...}}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function path(o: Record<string, unknown>, ...keys: string[]): unknown {
  let cur: unknown = o;
  for (const k of keys) {
    if (!isObject(cur)) return undefined;
    cur = cur[k];
  }
  return cur;
}

function scalar(v: unknown): string | undefined {
  if (typeof v === 'string') return v;
  if (typeof v === 'number' || typeof v === 'boolean') return String(v);
  if (Array.isArray(v) && v.length > 0) return scalar(v[v.length - 1]);
  return undefined;
}

export function rawFromJsonObject(value: unknown): RawLogonRecord | null {
  if (!isObject(value)) return null;
  const o = isObject(value.result) ? value.result : value;
  const eventData = [path(o, 'winlog', 'event_data'), o.event_data, o.EventData].find(isObject) ?? {};
  const data: Partial<Record<LogonField, string>> = {};
  for (const f of LOGON_FIELDS) {
    const v = scalar(eventData[f]);
    if (v !== undefined) data[f] = v;
  }
  // ECS fields the winlogbeat security module fills when event_data lacks them.
  const ecs: ReadonlyArray<readonly [LogonField, unknown]> = [
    ['IpAddress', path(o, 'source', 'ip')],
    ['IpPort', path(o, 'source', 'port')],
    ['TargetUserName', path(o, 'user', 'target', 'name') ?? path(o, 'user', 'name')],
    ['TargetDomainName', path(o, 'user', 'target', 'domain') ?? path(o, 'user', 'domain')],
  ];
  for (const [f, v] of ecs) {
    const s = scalar(v);
    if (present(data[f]) === null && s !== undefined) data[f] = s;
  }
  // Flat exports keep everything at the top level.
  const flat = rawFromFlatRecord(o, flatRecordColumns(Object.keys(o)));
  for (const f of LOGON_FIELDS) {
    const v = flat.data[f];
    if (present(data[f]) === null && v !== undefined) data[f] = v;
  }
  const message = scalar(o.message);
  if (message !== undefined) fillFromRenderedMessage(data, message);

  const idValue = path(o, 'winlog', 'event_id') ?? path(o, 'event', 'code') ?? o.event_id ?? o.EventID ?? o.EventCode;
  const idText = scalar(idValue);
  const eventId = idText !== undefined && /^\s*\d+\s*$/.test(idText) ? Number(idText) : null;
  const time = scalar(o['@timestamp'] ?? path(o, 'winlog', 'time_created') ?? o.TimeCreated ?? o._time) ?? null;
  const computer = scalar(path(o, 'winlog', 'computer_name') ?? o.computer_name ?? path(o, 'host', 'name') ?? o.Computer) ?? null;
  return { eventId, time, computer, data };
}

export function winEventFromJson(value: unknown): WinLogonEvent | null {
  const raw = rawFromJsonObject(value);
  return raw === null ? null : toWinLogonEvent(raw);
}

// ---------------------------------------------------------------------------------------------
// Analysis

export interface CodeCount {
  readonly code: string;
  readonly reason: string;
  readonly count: number;
}

export interface LogonTypeCount {
  readonly logonType: number | null;
  readonly name: string | null;
  readonly count: number;
}

export interface WinLogCounts {
  /** 4625 events. */
  readonly failures: number;
  /** 4624 events. */
  readonly successes: number;
  /** Events whose time could not be read (they count, outside any window). */
  readonly untimedEvents: number;
}

export interface WinLogSummary {
  readonly counts: WinLogCounts;
  readonly byLogonType: readonly LogonTypeCount[];
  /** Failures per readable reason (SubStatus, else Status), most frequent first. */
  readonly byReason: readonly CodeCount[];
  /** Failures per Status code as logged. */
  readonly byStatus: readonly CodeCount[];
  /** Failures and successes per source, as in the auth.log summary. */
  readonly failures: FailureSummary;
}

export class WinLogAnalyzer {
  private readonly aggregator: FailureAggregator;
  private failures = 0;
  private successes = 0;
  private untimed = 0;
  private readonly byLogonType = new Map<number | null, number>();
  private readonly byReason = new Map<string, { reason: string; count: number }>();
  private readonly byStatus = new Map<string, number>();

  constructor(options: BruteForceOptions, private readonly onFailure?: (ev: WinLogonEvent) => void) {
    this.aggregator = new FailureAggregator(options);
  }

  add(ev: WinLogonEvent): void {
    if (Number.isNaN(ev.timeMs)) this.untimed += 1;
    if (ev.eventId === EVENT_LOGON_SUCCEEDED) {
      this.successes += 1;
      this.aggregator.addSuccess(ev.timeMs, ev.address, ev.user, ev.logonTypeName ?? (ev.logonType === null ? null : `logon type ${ev.logonType}`));
      return;
    }
    if (ev.eventId !== EVENT_LOGON_FAILED) return;
    this.failures += 1;
    this.byLogonType.set(ev.logonType, (this.byLogonType.get(ev.logonType) ?? 0) + 1);
    const why = logonFailureReason(ev.status, ev.subStatus);
    const r = this.byReason.get(why.code);
    if (r === undefined) this.byReason.set(why.code, { reason: why.reason, count: 1 });
    else r.count += 1;
    const st = ev.status ?? '';
    this.byStatus.set(st, (this.byStatus.get(st) ?? 0) + 1);
    this.aggregator.addFailure(ev.timeMs, ev.address, ev.user, 1);
    if (this.onFailure !== undefined) this.onFailure(ev);
  }

  summarize(): WinLogSummary {
    const byCount = <T extends { count: number }>(a: T, b: T): number => b.count - a.count;
    return {
      counts: { failures: this.failures, successes: this.successes, untimedEvents: this.untimed },
      byLogonType: [...this.byLogonType.entries()]
        .map(([logonType, count]) => ({ logonType, name: logonTypeName(logonType), count }))
        .sort(byCount),
      byReason: [...this.byReason.entries()].map(([code, v]) => ({ code, reason: v.reason, count: v.count })).sort(byCount),
      byStatus: [...this.byStatus.entries()]
        .map(([code, count]) => ({ code, reason: logonFailureReason(code, null).reason, count }))
        .sort(byCount),
      failures: this.aggregator.summarize(),
    };
  }
}
