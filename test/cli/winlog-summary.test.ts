/**
 * `soar-edr winlog`'s report from the real DeepBlueCLI and winlogbeat exports through the
 * real readers and analyzer, and the --enrich pieces that do not need the network.
 */
import { strict as assert } from 'node:assert';
import { createReadStream } from 'node:fs';
import { parse as parseCsv } from 'csv-parse/sync';
import { WINDOWS_BRUTE_FORCE_OPTIONS } from '../../src/analysis/bruteforce';
import { WinLogAnalyzer, WinLogSummary } from '../../src/analysis/winlog';
import { readWinlog } from '../../src/analysis/winlog-read';
import { reputationRows, verdictText } from '../../src/cli/enrich-summary';
import { enrichTargets, sourceReputation } from '../../src/cli/failure-command';
import { FailureReport, renderFailureReport } from '../../src/cli/failure-summary';
import { corpusPath } from '../support/paths';

const CSV = corpusPath('windows', 'deepbluecli_smb-password-guessing-security_4625_all.csv');
const XML = corpusPath('windows', 'deepbluecli_smb-password-guessing-security_4625_first100.xml');
const BEAT = corpusPath('windows', 'elastic_beats_security-windows2012r2-logon_4625_event.json');

async function analyze(file: string): Promise<{ s: WinLogSummary; report: FailureReport }> {
  const a = new WinLogAnalyzer(WINDOWS_BRUTE_FORCE_OPTIONS);
  const r = await readWinlog(createReadStream(file), 'auto', (ev) => a.add(ev));
  assert.ok(r.ok);
  const s = a.summarize();
  return {
    s,
    report: {
      inputs: [{ name: file, bytes: r.value.bytes, gzip: r.value.gzip, records: r.value.records, error: null }],
      failures: s.failures,
      details: { kind: 'winlog', counts: s.counts, formats: [r.value.format], byReason: s.byReason, byLogonType: s.byLogonType, byStatus: s.byStatus, malformed: r.value.malformed },
    },
  };
}

describe('cli/failure-summary: DeepBlueCLI 4625 exports', () => {
  it('CSV export: JSON report of 3,561 failures from private 192.168.198.149 with readable reasons', async () => {
    const { report } = await analyze(CSV);
    const doc = JSON.parse(renderFailureReport('json', report)) as Record<string, any>;
    assert.equal(doc.command, 'winlog');
    assert.equal(doc.totals.failed_attempts, 3561);
    assert.equal(doc.totals.sources, 1);
    assert.deepEqual([doc.top_sources[0].address, doc.top_sources[0].scope, doc.top_sources[0].public], ['192.168.198.149', 'private', false]);
    assert.deepEqual(doc.winlog.formats, ['csv']);
    assert.deepEqual(
      doc.winlog.by_reason.map((r: { reason: string; failures: number }) => [r.reason, r.failures]),
      [['bad password', 3558], ['account disabled', 2], ['no such user', 1]],
    );
    assert.deepEqual(doc.winlog.by_logon_type, [{ logon_type: 3, name: 'Network', failures: 3561 }]);
    assert.deepEqual(
      doc.winlog.by_status.map((r: { status: string; failures: number }) => [r.status, r.failures]),
      [['0xc000006d', 3559], ['0xc000006e', 2]],
    );
    assert.equal(doc.brute_force.length, 1);
    assert.equal(doc.brute_force[0].address, '192.168.198.149');
  });

  it('XML export: table with failures by reason and logon type', async () => {
    const { report } = await analyze(XML);
    const table = renderFailureReport('table', report);
    assert.match(table, /: 100 records, 100 failed attempts from 1 source, 2 user names, 0 successful logons\n/);
    assert.match(table, /\nFailures by reason \(SubStatus, else Status\)\nreason +code +failures\n[- ]+\nbad password +0xc000006a +97\n/);
    assert.match(table, /\nno such user +0xc0000064 +1\n/);
    assert.match(table, /\nFailures by logon type\nlogon type +name +failures\n[- ]+\n +3 +Network +100\n/);
    // Counted per account, as the Windows detection does: the busiest account is named.
    assert.match(table, /\nBrute-force candidates: 1 \(more than 5 failures against one account within 15m\)\naddress +scope +max in 15m +account +window start/);
    assert.match(table, /\n192\.168\.198\.149 +private +99 +Administrator +2016-09-19T16:50:06\.513Z /);
    const csv = parseCsv(renderFailureReport('csv', report), { columns: true }) as Record<string, string>[];
    assert.deepEqual(
      csv.map((r) => [r.address, r.scope, r.failures, r.max_in_window, r.max_window_account, r.brute_force, r.top_users]),
      [['192.168.198.149', 'private', '100', '99', 'Administrator', 'true', 'Administrator (99), JcDfcZTc (1)']],
    );
  });

  it('winlogbeat JSON: ::1 is loopback', async () => {
    const { report } = await analyze(BEAT);
    const doc = JSON.parse(renderFailureReport('json', report)) as Record<string, any>;
    assert.deepEqual([doc.top_sources[0].address, doc.top_sources[0].scope, doc.top_sources[0].public], ['::1', 'loopback', false]);
    assert.deepEqual(doc.top_users, [{ user: 'bosch', failures: 1 }]);
    assert.equal(doc.winlog.by_reason[0].reason, 'no such user');
  });
});

describe('cli/enrich-summary: candidates and reputation rows', () => {
  it('hands reputation every IP-literal candidate (the gate keeps private ones here), no host names', async () => {
    const { s } = await analyze(CSV);
    assert.deepEqual(enrichTargets(s.failures), ['192.168.198.149']);
    const hostnames = {
      ...s.failures,
      bruteForce: [...s.failures.bruteForce, { ...s.failures.bruteForce[0]!, address: 'n219076184117.netvigator.com', scope: 'hostname' as const }],
    };
    assert.deepEqual(enrichTargets(hostnames), ['192.168.198.149']);
  });

  it('reads `reputation --format json` rows and shows a status where there is no verdict', () => {
    const rows = reputationRows(
      JSON.stringify([
        { target: '192.168.198.149', type: 'ip', verdict: 'UNKNOWN', status: 'skipped', reason: 'private address' },
        { target: '185.220.101.33', type: 'ip', verdict: 'MALICIOUS', status: 'looked_up', reason: '5 engines', malicious: 5 },
      ]),
    );
    assert.equal(rows.size, 2);
    assert.equal(verdictText(rows.get('192.168.198.149')), 'skipped');
    assert.equal(verdictText(rows.get('185.220.101.33')), 'MALICIOUS');
    assert.equal(verdictText(undefined), '');
    const merged = sourceReputation(rows);
    assert.deepEqual(merged.get('185.220.101.33'), {
      verdict: 'MALICIOUS',
      reason: '5 engines',
      details: { type: 'ip', verdict: 'MALICIOUS', status: 'looked_up', reason: '5 engines', malicious: 5 },
    });
    assert.equal(reputationRows('').size, 0);
    assert.equal(reputationRows('not json').size, 0);
    assert.equal(reputationRows('{"target":"x"}').size, 0);
  });

  it('puts verdict columns in the table and CSV, and the rows in the JSON', async () => {
    const { report } = await analyze(XML);
    const reputation = sourceReputation(
      reputationRows(JSON.stringify([{ target: '192.168.198.149', type: 'ip', verdict: 'UNKNOWN', status: 'skipped', reason: 'private address (RFC 1918)' }])),
    );
    const enriched = { ...report, reputation };
    assert.match(renderFailureReport('table', enriched), /\n192\.168\.198\.149 +private +100 .*skipped +private address \(RFC 1918\)/);
    const csv = parseCsv(renderFailureReport('csv', enriched), { columns: true }) as Record<string, string>[];
    assert.deepEqual([csv[0]!.verdict, csv[0]!.verdict_reason], ['skipped', 'private address (RFC 1918)']);
    const doc = JSON.parse(renderFailureReport('json', enriched)) as Record<string, any>;
    assert.equal(doc.brute_force[0].reputation.status, 'skipped');
    assert.equal(renderFailureReport('json', report).includes('"reputation"'), false, 'no reputation key without --enrich');
  });
});
