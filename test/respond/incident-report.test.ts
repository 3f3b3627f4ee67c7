import assert from 'node:assert/strict';
import { firewallCommands, NFT_SETUP_COMMANDS } from '../../src/respond/firewall-commands';
import type { Incident } from '../../src/respond/incident';
import { renderIncidentReport, reportFileName } from '../../src/respond/incident-report';
import { ip } from '../support/ip-address';
import {
  abuseFromCheck,
  ATTACKER,
  capturedVirusTotal,
  documentedAbuse,
  realisticIncident,
  realWorldAbuse,
  splunkPayload,
  sshdAttack,
} from './corpus';

function valueOf(report: string, label: string): string {
  const line = report.split('\n').find((l) => l.startsWith(`${label}:`));
  assert.ok(line !== undefined, `report has a "${label}:" line`);
  return line.slice(label.length + 1).trim();
}

describe('respond/incident-report', () => {
  const incident = realisticIncident();
  const report = renderIncidentReport(incident);
  const attack = sshdAttack(ATTACKER);
  const vt = capturedVirusTotal();
  const abuse = documentedAbuse();
  const payload = splunkPayload();

  it('reads the real corpus figures the report is checked against', () => {
    assert.equal(attack.failures, 286);
    assert.ok(attack.users.includes('root'));
    assert.ok(attack.users.length > 1);
    assert.equal(vt.malicious, 4);
    assert.equal(vt.suspicious, 0);
    assert.equal(abuse.score, 100);
  });

  it('keeps the INCIDENT RESPONSE REPORT head block with the real values', () => {
    const lines = report.split('\n');
    assert.equal(lines[1], 'INCIDENT RESPONSE REPORT');
    assert.match(lines[0], /^=+$/);
    assert.equal(valueOf(report, 'Time'), incident.time);
    assert.equal(valueOf(report, 'IP Address'), ATTACKER);
    assert.equal(valueOf(report, 'Threat Level'), 'MALICIOUS');
    assert.equal(valueOf(report, 'Malicious Score'), String(vt.malicious));
    assert.equal(valueOf(report, 'Suspicious Score'), String(vt.suspicious));
    assert.equal(valueOf(report, 'AbuseIPDB Score'), '100/100');
    assert.equal(valueOf(report, 'Action Taken'), `Blocked (simulated) until ${incident.action.expires}`);
  });

  it('lists the detection, failure count, every user tried and the Splunk references', () => {
    assert.equal(valueOf(report, 'Detection'), payload.search_name);
    assert.equal(valueOf(report, 'Failure count'), '286');
    assert.equal(valueOf(report, 'Users tried'), String(attack.users.length));
    for (const user of attack.users) assert.ok(report.includes(`  - "${user}"`), user);
    assert.equal(valueOf(report, 'Splunk results'), payload.results_link);
    assert.equal(valueOf(report, 'Search ID (sid)'), payload.sid);
    assert.equal(valueOf(report, 'Result ID (rid)'), '0');
    assert.equal(valueOf(report, 'First seen'), incident.firstSeen);
  });

  it('shows VirusTotal and AbuseIPDB details with links built from the address', () => {
    assert.equal(valueOf(report, 'Harmless'), String(vt.harmless));
    assert.equal(valueOf(report, 'Undetected'), String(vt.undetected));
    assert.equal(valueOf(report, 'AS'), `AS${vt.asn} ${vt.asOwner}`);
    assert.equal(valueOf(report, 'Network'), vt.network);
    assert.match(report, new RegExp(`^Link: +https://www\\.virustotal\\.com/gui/ip-address/${ATTACKER}$`, 'm'));
    assert.equal(valueOf(report, 'Confidence score'), '100/100');
    assert.equal(valueOf(report, 'ISP'), abuse.isp);
    assert.equal(valueOf(report, 'Usage type'), abuse.usageType);
    assert.match(report, new RegExp(`^Link: +https://www\\.abuseipdb\\.com/check/${ATTACKER}$`, 'm'));
  });

  it('gives the verdict reason and the exact commands the simulated block would run', () => {
    assert.equal(valueOf(report, 'Reason'), incident.reason);
    assert.ok(report.includes('BLOCK (simulated: nothing was executed)'));
    for (const command of incident.action.commands ?? []) assert.ok(report.includes(`\n  ${command}\n`), command);
  });

  it('is stable: the same incident renders the same text', () => {
    assert.equal(renderIncidentReport(realisticIncident()), report);
    assert.ok(report.endsWith('\n'));
  });

  it('renders unavailable lookups and nulls from real AbuseIPDB answers as n/a', () => {
    const withNulls = [...realWorldAbuse().values()].find((d) => d.isWhitelisted === null && d.countryCode === null && d.isp === null);
    assert.ok(withNulls, 'the real-world cache holds an answer with null isWhitelisted, countryCode and isp');
    const other: Incident = {
      ...incident,
      srcIp: withNulls.ipAddress,
      verdict: 'UNKNOWN',
      vt: { state: 'error', message: 'QuotaExceededError: Quota exceeded' },
      abuse: abuseFromCheck(withNulls),
      failureCount: null,
      users: [],
      severity: null,
      action: { kind: 'not_blocked', reason: 'verdict UNKNOWN is not blocked' },
    };
    const text = renderIncidentReport(other);
    assert.equal(valueOf(text, 'Malicious Score'), 'n/a (lookup failed)');
    assert.equal(valueOf(text, 'Status'), 'lookup failed (QuotaExceededError: Quota exceeded)');
    assert.equal(valueOf(text, 'Whitelisted'), 'n/a');
    assert.equal(valueOf(text, 'Country'), 'n/a');
    assert.equal(valueOf(text, 'ISP'), 'n/a');
    assert.equal(valueOf(text, 'Failure count'), 'n/a');
    assert.equal(valueOf(text, 'Users tried'), 'n/a');
    assert.equal(valueOf(text, 'Action Taken'), 'Logged & investigated, not blocked');
    assert.doesNotMatch(text, /virustotal\.com/);
  });

  it('shows the address note and no third-party links for a private address', () => {
    const priv: Incident = {
      ...incident,
      srcIp: '192.168.198.149',
      vt: { state: 'not_looked_up', message: 'private address' },
      abuse: { state: 'not_looked_up', message: 'private address' },
      addressNote: 'private (RFC 1918): not sent to third parties',
    };
    const text = renderIncidentReport(priv);
    assert.equal(valueOf(text, 'Address note'), 'private (RFC 1918): not sent to third parties');
    assert.equal(valueOf(text, 'Malicious Score'), 'n/a (not looked up)');
    assert.doesNotMatch(text, /virustotal\.com|abuseipdb\.com/);
  });

  it('never prints a link for a results link that is not plain http(s)', () => {
    for (const link of ['javascript:alert(1)', 'file:///etc/passwd', 'https://user:secret@splunk:8000/x', 'not a url']) {
      const text = renderIncidentReport({ ...incident, resultsLink: link });
      assert.equal(valueOf(text, 'Splunk results'), 'n/a', link);
    }
  });

  describe('one-time nftables setup', () => {
    const SETUP_LABEL = 'One-time nftables setup (run once per host, before the first nft command above; not needed for iptables):';
    /** The lines after the setup label, as long as they are indented. */
    const setupBlock = (text: string): string[] => {
      const lines = text.split('\n');
      const at = lines.indexOf(SETUP_LABEL);
      assert.ok(at >= 0, `no setup block in:\n${text}`);
      const block: string[] = [];
      for (const l of lines.slice(at + 1)) {
        if (!l.startsWith('  ')) break;
        block.push(l.slice(2));
      }
      return block;
    };

    it('follows the block commands whenever they add an nft element: table, both timed sets, the hooked chain, both drop rules', () => {
      assert.ok(incident.action.commands!.some((c) => c.startsWith("nft 'add element inet soar_edr blocked_v4 {")));
      assert.deepEqual(setupBlock(report), [...NFT_SETUP_COMMANDS]);
      assert.deepEqual(setupBlock(report), [
        'nft add table inet soar_edr',
        "nft 'add set inet soar_edr blocked_v4 { type ipv4_addr; flags timeout; }'",
        "nft 'add set inet soar_edr blocked_v6 { type ipv6_addr; flags timeout; }'",
        "nft 'add chain inet soar_edr input { type filter hook input priority -10; policy accept; }'",
        'nft add rule inet soar_edr input ip saddr @blocked_v4 drop',
        'nft add rule inet soar_edr input ip6 saddr @blocked_v6 drop',
      ]);
      assert.equal(report.split(SETUP_LABEL).length, 2, 'once');
      // After the per-incident commands, inside the Response section.
      assert.ok(report.indexOf(SETUP_LABEL) > report.indexOf(incident.action.commands![1]!));
    });

    it('for an IPv6 block and for commands a block would run alike; never without an nft element to add', () => {
      const v6 = firewallCommands(ip('2001:db8::7'), { nowEpochSec: 1_764_000_000, expiresEpochSec: 1_764_086_400 });
      assert.ok(v6.ok);
      const blocked6 = renderIncidentReport({ ...incident, srcIp: '2001:db8::7', action: { ...incident.action, commands: v6.value } });
      assert.deepEqual(setupBlock(blocked6), [...NFT_SETUP_COMMANDS]);
      const notBlocked = renderIncidentReport({ ...incident, action: { kind: 'not_blocked', reason: 'allowlisted', commands: incident.action.commands } });
      assert.deepEqual(setupBlock(notBlocked), [...NFT_SETUP_COMMANDS]);
      const iptablesOnly = renderIncidentReport({ ...incident, action: { ...incident.action, commands: [incident.action.commands![0]!] } });
      assert.doesNotMatch(iptablesOnly, /nftables setup/);
      assert.doesNotMatch(renderIncidentReport({ ...incident, action: { kind: 'not_blocked', reason: 'verdict UNKNOWN is not blocked' } }), /nftables setup|nft add table/);
    });
  });

  it('a public address recorded without a VirusTotal key says its enrichment is pending and why', () => {
    const pending = renderIncidentReport({
      ...incident,
      verdict: 'UNKNOWN',
      reason: 'enrichment pending: no VirusTotal key configured',
      vt: { state: 'deferred', message: 'enrichment pending: no VirusTotal key configured; queued, looked up once virustotal_api_key is set' },
      action: { kind: 'not_blocked', reason: 'verdict UNKNOWN is not in block_verdicts (MALICIOUS)' },
    });
    assert.equal(valueOf(pending, 'Malicious Score'), 'n/a (deferred)');
    assert.equal(valueOf(pending, 'Status'), 'deferred (enrichment pending: no VirusTotal key configured; queued, looked up once virustotal_api_key is set)');
    assert.equal(valueOf(pending, 'Reason'), 'enrichment pending: no VirusTotal key configured');
  });

  it('shows the commands a block would run even when nothing was blocked, and says when none were recorded', () => {
    const notBlocked = renderIncidentReport({
      ...incident,
      action: { kind: 'not_blocked', reason: 'address is allowlisted', commands: incident.action.commands },
    });
    assert.equal(valueOf(notBlocked, 'Action'), 'NOT BLOCKED');
    assert.ok(notBlocked.includes(`Commands a block would run:\n  ${incident.action.commands![0]}\n`));
    assert.doesNotMatch(notBlocked, /^Expires:/m);
    const noCommands = renderIncidentReport({ ...incident, action: { kind: 'blocked', reason: 'verdict MALICIOUS' } });
    assert.equal(valueOf(noCommands, 'Commands'), 'none recorded');
    assert.equal(valueOf(noCommands, 'Expires'), 'n/a');
    assert.equal(valueOf(noCommands, 'Action Taken'), 'Blocked (simulated)');
  });

  it('lists at most 1,000 users and counts the rest', () => {
    const users = Array.from({ length: 1005 }, (_, i) => `user${i}`);
    const text = renderIncidentReport({ ...incident, users });
    assert.equal(valueOf(text, 'Users tried'), '1005');
    assert.equal(text.split('\n').filter((l) => l.startsWith('  - "')).length, 1000);
    assert.ok(text.includes('\n  (+5 more)\n'));
  });

  it('reportFileName accepts our ids and refuses ids that could escape reports/', () => {
    const ok = reportFileName(incident.incidentId);
    assert.ok(ok.ok);
    assert.equal(ok.value, `${incident.incidentId}.txt`);
    for (const id of ['../etc/passwd', '..', '.hidden', 'a/b', 'a\\b', '', 'x'.repeat(200), 'id\n']) {
      const r = reportFileName(id);
      assert.ok(!r.ok, id);
      assert.equal(r.error.kind, 'invalid_incident_id');
      assert.doesNotMatch(r.error.message, /\n/);
    }
  });
});
