/**
 * Real test data for the response renderers: test/fixtures/corpus and builders
 * that turn the captured VirusTotal / AbuseIPDB / Splunk / sshd data into Incidents.
 */
import * as fs from 'node:fs';
import type { AbuseIpdbSummary, Incident, VirusTotalSummary } from '../../src/respond/incident';
import { firewallCommands } from '../../src/respond/firewall-commands';

import { corpusPath } from '../support/paths';
import { ip } from '../support/ip-address';

export { corpusPath } from '../support/paths';

function readJson(...parts: string[]): any {
  return JSON.parse(fs.readFileSync(corpusPath(...parts), 'utf8'));
}

/** `last_analysis_stats` and network attributes of the captured VT v3 response (138.128.150.133). */
export function capturedVirusTotal(): VirusTotalSummary {
  const a = readJson('virustotal', 'opencti_vt_test_ipv4.json').data.attributes;
  const s = a.last_analysis_stats;
  return {
    malicious: s.malicious,
    suspicious: s.suspicious,
    harmless: s.harmless,
    undetected: s.undetected,
    timeout: s.timeout,
    reputation: a.reputation,
    country: a.country,
    asOwner: a.as_owner,
    asn: a.asn,
    network: a.network,
  };
}

export function abuseFromCheck(data: any): AbuseIpdbSummary {
  return {
    score: data.abuseConfidenceScore,
    totalReports: data.totalReports,
    numDistinctUsers: data.numDistinctUsers,
    usageType: data.usageType,
    isTor: data.isTor,
    isWhitelisted: data.isWhitelisted,
    countryCode: data.countryCode,
    isp: data.isp,
    domain: data.domain,
  };
}

/** AbuseIPDB's documented /check example (118.25.6.39, score 100). */
export function documentedAbuse(): AbuseIpdbSummary {
  return abuseFromCheck(readJson('abuseipdb', 'abuseipdb_docs_check_example_response.json').data);
}

/** The 42 real non-verbose /check responses, keyed by IP. */
export function realWorldAbuse(): Map<string, any> {
  const all = readJson('abuseipdb', 'realworld_check_responses_ioc_cache.json');
  return new Map(Object.entries(all).map(([ip, body]) => [ip, (body as any).data]));
}

/** The real Splunk `--execute` stdin payload. */
export function splunkPayload(): any {
  return readJson('splunk', 'yaleman_TA-pushover_stdin_payload.json');
}

export interface SshdAttack {
  readonly failures: number;
  /** Distinct usernames in first-seen order. */
  readonly users: string[];
  readonly first: string;
  readonly last: string;
}

const FAILED = /^(\w{3} +\d+ [\d:]+) .*?(?:message repeated (\d+) times: \[ )?Failed password for (?:invalid user )?(.*) from (\S+) port \d+ ssh2/;

/**
 * Failed-password attempts of one source in loghub_SSH_2k.log ("message repeated N times"
 * counts N), with the usernames tried. The corpus README gives 286 for 183.62.140.253.
 */
export function sshdAttack(ip: string): SshdAttack {
  const text = fs.readFileSync(corpusPath('sshd', 'loghub_SSH_2k.log'), 'utf8');
  let failures = 0;
  const users: string[] = [];
  let first = '';
  let last = '';
  for (const line of text.split('\n')) {
    const m = FAILED.exec(line);
    if (m === null || m[4] !== ip) continue;
    failures += m[2] === undefined ? 1 : Number(m[2]);
    if (!users.includes(m[3])) users.push(m[3]);
    if (first === '') first = m[1];
    last = m[1];
  }
  return { failures, users, first, last };
}

/** The log has no year; "Dec 10 06:55:46" becomes an ISO time in this year (UTC). */
export const ASSUMED_LOG_YEAR = 2024;
export function logTimeToIso(stamp: string): string {
  const ms = Date.parse(`${stamp} ${ASSUMED_LOG_YEAR} UTC`);
  return new Date(ms).toISOString();
}

export const ATTACKER = '183.62.140.253';
export const BLOCK_SECONDS = 86_400;

/**
 * A realistic incident: the top attacker of the real sshd log (286 failures), the captured
 * VT stats (4 malicious) and AbuseIPDB's documented answer (score 100), raised by the real
 * Splunk payload's search (sid, results_link), blocked for a day.
 */
export function realisticIncident(): Incident {
  const attack = sshdAttack(ATTACKER);
  const payload = splunkPayload();
  const time = logTimeToIso(attack.last);
  const nowEpochSec = Math.floor(Date.parse(time) / 1000);
  const expiresEpochSec = nowEpochSec + BLOCK_SECONDS;
  const commands = firewallCommands(ip(ATTACKER), { nowEpochSec, expiresEpochSec });
  if (!commands.ok) throw new Error(commands.error.message);
  return {
    incidentId: `20241210T${time.slice(11, 19).replace(/:/g, '')}Z-183-62-140-253`,
    time,
    srcIp: ATTACKER,
    verdict: 'MALICIOUS',
    reason: 'VirusTotal: 4 engines flag the address as malicious; AbuseIPDB confidence 100',
    detection: payload.search_name,
    sid: payload.sid,
    rid: '0',
    failureCount: attack.failures,
    users: attack.users,
    attackType: 'ssh_bruteforce',
    severity: 'high',
    firstSeen: logTimeToIso(attack.first),
    lastSeen: time,
    resultsLink: payload.results_link,
    vt: capturedVirusTotal(),
    abuse: documentedAbuse(),
    action: {
      kind: 'blocked',
      reason: 'verdict MALICIOUS',
      expires: new Date(expiresEpochSec * 1000).toISOString(),
      commands: commands.value,
    },
  };
}

/** Hostile account names an attacker can put in a log line. */
export function hostileUsers(): string[] {
  const invalidUtf8 = new TextDecoder().decode(Buffer.from([0xff, 0xfe, 0x41]));
  const named = [
    '=HYPERLINK("http://x")',
    '@everyone',
    '**bold**',
    'x'.repeat(2000),
    invalidUtf8,
    'lone\uD800surrogate',
    'root\r\nTime: forged',
    '\u202Egnp.exe',
    '<@123456789012345678>',
    '<@&987654321098765432>',
    '<#555555555555555555>',
    '[click me](https://evil.example/)',
    '+cmd|\' /C calc\'!A0',
    '-2+3',
    '@SUM(1+1)',
    '\tTAB',
    '\rCR',
    '# heading',
    '> quote',
    '`code`',
    '~~strike~~',
    '__under__',
    '||spoiler||',
    ' 0101',
    '@here',
    'nul\u0000byte',
    '1. ordered',
    '\u0085next-line',
  ];
  const users = named.slice();
  for (let i = users.length; i < 30; i++) users.push(`user${i}`);
  return users;
}
