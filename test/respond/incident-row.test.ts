import assert from 'node:assert/strict';
import { parse } from 'csv-parse/sync';
import { createObjectCsvStringifier } from 'csv-writer';
import type { Incident } from '../../src/respond/incident';
import { incidentCsvColumns, incidentCsvRecord, USERS_SEPARATOR } from '../../src/respond/incident-row';
import { ATTACKER, capturedVirusTotal, documentedAbuse, realisticIncident, splunkPayload, sshdAttack } from './corpus';

/** Write records the way a file store would (csv-writer) and read them back (csv-parse). */
function roundTrip(records: Record<string, string>[]): Record<string, string>[] {
  const stringifier = createObjectCsvStringifier({ header: incidentCsvColumns.map((c) => ({ id: c, title: c })) });
  const text = stringifier.getHeaderString() + stringifier.stringifyRecords(records);
  return parse(text, { columns: true }) as Record<string, string>[];
}

describe('respond/incident-row', () => {
  const incident = realisticIncident();
  const record = incidentCsvRecord(incident);

  it('starts with the binding DESIGN.md §4 columns, in order', () => {
    assert.deepEqual(incidentCsvColumns.slice(0, 14), [
      'incident_id', 'time', 'src_ip', 'verdict', 'vt_malicious', 'vt_suspicious', 'abuse_score',
      'failure_count', 'users', 'detection', 'action', 'reason', 'sid', 'rid',
    ]);
    assert.equal(new Set(incidentCsvColumns).size, incidentCsvColumns.length);
    assert.deepEqual(Object.keys(record), [...incidentCsvColumns]);
  });

  it('fills the row with the real values of the incident', () => {
    const attack = sshdAttack(ATTACKER);
    const vt = capturedVirusTotal();
    const payload = splunkPayload();
    assert.equal(record.incident_id, incident.incidentId);
    assert.equal(record.time, incident.time);
    assert.equal(record.src_ip, ATTACKER);
    assert.equal(record.verdict, 'MALICIOUS');
    assert.equal(record.vt_malicious, String(vt.malicious));
    assert.equal(record.vt_suspicious, String(vt.suspicious));
    assert.equal(record.abuse_score, String(documentedAbuse().score));
    assert.equal(record.failure_count, '286');
    assert.deepEqual(record.users.split(USERS_SEPARATOR), attack.users);
    assert.equal(record.detection, payload.search_name);
    assert.equal(record.action, 'blocked');
    assert.equal(record.sid, payload.sid);
    assert.equal(record.rid, '0');
    assert.equal(record.vt_state, 'ok');
    assert.equal(record.abuse_state, 'ok');
    assert.equal(record.country, vt.country);
    assert.equal(record.asn, String(vt.asn));
    assert.equal(record.as_owner, vt.asOwner);
    assert.equal(record.isp, documentedAbuse().isp);
    assert.equal(record.expires, incident.action.expires);
    assert.equal(record.report_file, `reports/${incident.incidentId}.txt`);
  });

  it('leaves enrichment cells empty and names the state when a lookup is unavailable', () => {
    const r = incidentCsvRecord({
      ...incident,
      vt: { state: 'deferred', message: 'quota exhausted' },
      abuse: undefined,
      failureCount: null,
    });
    assert.equal(r.vt_malicious, '');
    assert.equal(r.vt_suspicious, '');
    assert.equal(r.abuse_score, '');
    assert.equal(r.failure_count, '');
    assert.equal(r.vt_state, 'deferred');
    assert.equal(r.abuse_state, 'not_looked_up');
    assert.equal(r.country, '');
  });

  it('escapes the users separator inside a name so the list splits back exactly', () => {
    const r = incidentCsvRecord({ ...incident, users: ['a;b', 'c\\d', 'e'] });
    assert.equal(r.users, 'a\\;b;c\\\\d;e');
  });

  it('leaves report_file empty for an id that cannot name a file', () => {
    const r = incidentCsvRecord({ ...incident, incidentId: '../../etc/cron.d/x' } as Incident);
    assert.equal(r.report_file, '');
  });

  it('survives a CSV writer and parser round trip as one row', () => {
    const rows = roundTrip([record]);
    assert.equal(rows.length, 1);
    assert.deepEqual(rows[0], record);
  });
});
