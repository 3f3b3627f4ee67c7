/**
 * The human-readable TXT incident report, `reports/<incident_id>.txt`.
 *
 * Its head keeps the "INCIDENT RESPONSE REPORT" block analysts know (time, IP, threat
 * level, malicious and suspicious scores, action taken); the sections below add the
 * detection, the evidence, both enrichment sources and the exact (never executed) commands.
 * Every value passes through `safeText`, so one value is always one line.
 */
import { fail, ok, Result } from '../result';
import {
  AbuseIpdbResult,
  countText,
  Incident,
  isLookupUnavailable,
  LOOKUP_STATE_LABELS,
  LookupUnavailable,
  VirusTotalResult,
  yesNo,
} from './incident';
import { NFT_SETUP_COMMANDS, needsNftSetup } from './firewall-commands';
import { checkedHttpLink, intelLinks } from './links';
import { parseIpAddress } from '../address/ip-address';
import { capLength, safeText } from './safe-text';

const RULE = '='.repeat(60);
const LABEL_WIDTH = 18;
/** A report is evidence, so values are kept whole up to a size that keeps it readable. */
const MAX_VALUE_CHARS = 4096;
const MAX_USERS_LISTED = 1000;

const SAFE_INCIDENT_ID = /^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/;

/** File name of the report for an incident id, refusing ids that could leave `reports/`. */
export function reportFileName(incidentId: string): Result<string, 'invalid_incident_id'> {
  if (!SAFE_INCIDENT_ID.test(incidentId)) {
    return fail(
      'invalid_incident_id',
      `incident id ${JSON.stringify(capLength(safeText(incidentId), 60))} cannot name a file: use 1-128 of A-Z a-z 0-9 . _ - starting with a letter or digit`,
    );
  }
  return ok(`${incidentId}.txt`);
}

function value(text: string | null | undefined): string {
  if (text === null || text === undefined || text.trim() === '') return 'n/a';
  return capLength(safeText(text), MAX_VALUE_CHARS);
}

/** Quoted, so leading or trailing spaces in an account name stay visible. */
function quoted(text: string): string {
  return `"${capLength(safeText(text), MAX_VALUE_CHARS).replace(/\\/g, '\\\\').replace(/"/g, '\\"')}"`;
}

function line(label: string, text: string): string {
  return `${`${label}:`.padEnd(LABEL_WIDTH)} ${text}`;
}

function section(title: string): string[] {
  return ['', title, '-'.repeat(title.length)];
}

function unavailable(result: LookupUnavailable): string {
  return `${LOOKUP_STATE_LABELS[result.state]} (${value(result.message)})`;
}

function virusTotalLines(vt: VirusTotalResult | undefined, link: string | null): string[] {
  if (vt === undefined) return [line('Status', 'not looked up')];
  if (isLookupUnavailable(vt)) return [line('Status', unavailable(vt))];
  const lines = [
    line('Malicious', countText(vt.malicious)),
    line('Suspicious', countText(vt.suspicious)),
    line('Harmless', countText(vt.harmless)),
    line('Undetected', countText(vt.undetected)),
    line('Timeout', countText(vt.timeout)),
    line('Reputation', countText(vt.reputation)),
    line('Country', value(vt.country)),
    line('AS', vt.asn === null || vt.asn === undefined ? value(vt.asOwner) : `AS${countText(vt.asn)} ${value(vt.asOwner)}`),
    line('Network', value(vt.network)),
  ];
  if (link !== null) lines.push(line('Link', link));
  return lines;
}

function abuseLines(abuse: AbuseIpdbResult | undefined, link: string | null): string[] {
  if (abuse === undefined) return [line('Status', 'not looked up')];
  if (isLookupUnavailable(abuse)) return [line('Status', unavailable(abuse))];
  const lines = [
    line('Confidence score', `${countText(abuse.score)}/100`),
    line('Reports', `${countText(abuse.totalReports)} from ${countText(abuse.numDistinctUsers)} distinct reporters`),
    line('Usage type', value(abuse.usageType)),
    line('Tor exit node', yesNo(abuse.isTor)),
    line('Whitelisted', yesNo(abuse.isWhitelisted)),
    line('Country', value(abuse.countryCode)),
    line('ISP', value(abuse.isp)),
    line('Domain', value(abuse.domain)),
  ];
  if (link !== null) lines.push(line('Link', link));
  return lines;
}

function userLines(users: readonly string[]): string[] {
  if (users.length === 0) return [line('Users tried', 'n/a')];
  const shownUsers = users.slice(0, MAX_USERS_LISTED);
  const lines = [line('Users tried', String(users.length)), ...shownUsers.map((u) => `  - ${quoted(u)}`)];
  if (users.length > shownUsers.length) lines.push(`  (+${users.length - shownUsers.length} more)`);
  return lines;
}

function actionSummary(incident: Incident): string {
  const { action } = incident;
  if (action.kind === 'blocked') {
    const until = action.expires ? ` until ${value(action.expires)}` : '';
    return `Blocked (simulated)${until}`;
  }
  return 'Logged & investigated, not blocked';
}

function actionLines(incident: Incident): string[] {
  const { action } = incident;
  const lines = [
    line('Action', action.kind === 'blocked' ? 'BLOCK (simulated: nothing was executed)' : 'NOT BLOCKED'),
    line('Reason', value(action.reason)),
  ];
  if (action.kind === 'blocked') lines.push(line('Expires', value(action.expires)));
  const commands = action.commands ?? [];
  if (commands.length > 0) {
    lines.push(action.kind === 'blocked' ? 'Commands the block would run:' : 'Commands a block would run:');
    for (const command of commands) lines.push(`  ${value(command)}`);
    if (needsNftSetup(commands)) {
      // `nft add element` fails with "No such file or directory" until the table and sets exist.
      lines.push('One-time nftables setup (run once per host, before the first nft command above; not needed for iptables):');
      for (const command of NFT_SETUP_COMMANDS) lines.push(`  ${command}`);
    }
  } else if (action.kind === 'blocked') {
    lines.push(line('Commands', 'none recorded'));
  }
  return lines;
}

function vtCount(vt: VirusTotalResult | undefined, pick: 'malicious' | 'suspicious'): string {
  if (vt === undefined) return 'n/a (not looked up)';
  if (isLookupUnavailable(vt)) return `n/a (${LOOKUP_STATE_LABELS[vt.state]})`;
  return countText(vt[pick]);
}

export function renderIncidentReport(incident: Incident): string {
  // Stored incidents are read back from disk: the address is parsed again at that edge.
  const address = parseIpAddress(incident.srcIp);
  const links = address.ok ? intelLinks(address.value) : null;
  const lookedUp = (result: VirusTotalResult | AbuseIpdbResult | undefined): boolean =>
    result !== undefined && !(isLookupUnavailable(result) && result.state === 'not_looked_up');
  const vtLink = links !== null && lookedUp(incident.vt) ? links.virusTotal : null;
  const abuseLink = links !== null && lookedUp(incident.abuse) ? links.abuseIpdb : null;
  const resultsLink = checkedHttpLink(incident.resultsLink);

  const lines: string[] = [
    RULE,
    'INCIDENT RESPONSE REPORT',
    RULE,
    line('Incident ID', value(incident.incidentId)),
    line('Time', value(incident.time)),
    line('IP Address', value(incident.srcIp)),
    line('Threat Level', value(incident.verdict)),
    line('Malicious Score', vtCount(incident.vt, 'malicious')),
    line('Suspicious Score', vtCount(incident.vt, 'suspicious')),
    line('AbuseIPDB Score', incident.abuse === undefined || isLookupUnavailable(incident.abuse)
      ? 'n/a'
      : `${countText(incident.abuse.score)}/100`),
    line('Action Taken', actionSummary(incident)),
  ];
  if (incident.addressNote) lines.push(line('Address note', value(incident.addressNote)));

  lines.push(...section('Verdict'), line('Verdict', value(incident.verdict)), line('Reason', value(incident.reason)));

  lines.push(
    ...section('Detection'),
    line('Detection', value(incident.detection)),
    line('Severity', value(incident.severity)),
    line('Attack type', value(incident.attackType)),
    line('Failure count', countText(incident.failureCount)),
    line('First seen', value(incident.firstSeen)),
    line('Last seen', value(incident.lastSeen)),
    ...userLines(incident.users),
    line('Splunk results', resultsLink ?? 'n/a'),
    line('Search ID (sid)', value(incident.sid)),
    line('Result ID (rid)', value(incident.rid)),
  );

  lines.push(...section('VirusTotal'), ...virusTotalLines(incident.vt, vtLink));
  lines.push(...section('AbuseIPDB'), ...abuseLines(incident.abuse, abuseLink));
  lines.push(...section('Response'), ...actionLines(incident));
  lines.push('', RULE, '');
  return lines.join('\n');
}
