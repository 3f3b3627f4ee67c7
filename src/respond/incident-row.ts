/**
 * One `incidents.csv` row per incident. The first fourteen column names are binding
 * (DESIGN.md §4); the rest follow them. The header is written once per file, so new columns
 * may only ever be appended at the end.
 *
 * Every value is passed through `safeCsvCell` (formula guard, one line); quoting and
 * delimiting are the CSV writer's job.
 */
import { AbuseIpdbResult, Incident, isLookupUnavailable, VirusTotalResult } from './incident';
import { reportFileName } from './incident-report';
import { safeCsvCell } from './safe-text';

export const incidentCsvColumns = [
  'incident_id',
  'time',
  'src_ip',
  'verdict',
  'vt_malicious',
  'vt_suspicious',
  'abuse_score',
  'failure_count',
  'users',
  'detection',
  'action',
  'reason',
  'sid',
  'rid',
  'severity',
  'attack_type',
  'first_seen',
  'last_seen',
  'vt_state',
  'abuse_state',
  'country',
  'asn',
  'as_owner',
  'isp',
  'action_reason',
  'expires',
  'report_file',
] as const;

export type IncidentCsvColumn = (typeof incidentCsvColumns)[number];
export type IncidentCsvRecord = Record<IncidentCsvColumn, string>;

/** Separator of the `users` cell; a literal `;` or `\` inside a name is backslash-escaped. */
export const USERS_SEPARATOR = ';';

function joinUsers(users: readonly string[]): string {
  return users.map((u) => u.replace(/\\/g, '\\\\').replace(/;/g, '\\;')).join(USERS_SEPARATOR);
}

function numberCell(value: number | null | undefined): string {
  return typeof value === 'number' && Number.isFinite(value) ? String(value) : '';
}

function text(value: string | null | undefined): string {
  return value ?? '';
}

function state(result: VirusTotalResult | AbuseIpdbResult | undefined): string {
  if (result === undefined) return 'not_looked_up';
  return isLookupUnavailable(result) ? result.state : 'ok';
}

export function incidentCsvRecord(incident: Incident): IncidentCsvRecord {
  const vt = incident.vt !== undefined && !isLookupUnavailable(incident.vt) ? incident.vt : undefined;
  const abuse = incident.abuse !== undefined && !isLookupUnavailable(incident.abuse) ? incident.abuse : undefined;
  const report = reportFileName(incident.incidentId);
  const raw: IncidentCsvRecord = {
    incident_id: incident.incidentId,
    time: incident.time,
    src_ip: incident.srcIp,
    verdict: incident.verdict,
    vt_malicious: numberCell(vt?.malicious),
    vt_suspicious: numberCell(vt?.suspicious),
    abuse_score: numberCell(abuse?.score),
    failure_count: numberCell(incident.failureCount),
    users: joinUsers(incident.users),
    detection: incident.detection,
    action: incident.action.kind,
    reason: incident.reason,
    sid: incident.sid,
    rid: incident.rid,
    severity: text(incident.severity),
    attack_type: text(incident.attackType),
    first_seen: text(incident.firstSeen),
    last_seen: text(incident.lastSeen),
    vt_state: state(incident.vt),
    abuse_state: state(incident.abuse),
    country: text(vt?.country ?? abuse?.countryCode),
    asn: numberCell(vt?.asn),
    as_owner: text(vt?.asOwner),
    isp: text(abuse?.isp),
    action_reason: incident.action.reason,
    expires: text(incident.action.expires),
    report_file: report.ok ? `reports/${report.value}` : '',
  };
  const record = {} as IncidentCsvRecord;
  for (const column of incidentCsvColumns) record[column] = safeCsvCell(raw[column]);
  return record;
}
