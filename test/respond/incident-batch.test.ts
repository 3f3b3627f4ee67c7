/**
 * recordIncidents: a digest's rows recorded in one batch, and a batch interrupted between its
 * append and its markers finished by the next run without a second row.
 */
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { parse } from 'csv-parse/sync';
import { DataLayout, dataLayout } from '../../src/store/data-dir';
import { IncidentDraft, newIncidentId, recordedIncidentId, recordedIncidentIds, recordIncident, recordIncidents } from '../../src/respond/incident-store';
import { appendFileSync } from 'node:fs';
import { realisticIncident } from './corpus';

function drafts(sid: string, n: number): IncidentDraft[] {
  const { incidentId: _id, ...base } = realisticIncident();
  void _id;
  return Array.from({ length: n }, (_, i) => ({ ...base, sid, rid: String(i), failureCount: i + 1 }));
}

const newId = () => newIncidentId(Date.now(), randomBytes(3));

describe('respond/incident-store batches', () => {
  let layout: DataLayout;
  beforeEach(() => {
    layout = dataLayout(mkdtempSync(path.join(tmpdir(), 'soar-batch-')));
  });
  afterEach(() => rmSync(layout.root, { recursive: true, force: true }));

  it('records a batch with one header, every row, every report and marker', () => {
    const r = recordIncidents(layout, drafts('scheduler__b_at_1_1', 250), newId);
    assert.ok(r.ok);
    if (!r.ok) return;
    assert.ok(r.value.every((x) => x.ok && x.value.status === 'recorded'));
    const rows = parse(readFileSync(layout.incidents, 'utf8'), { columns: true }) as Record<string, string>[];
    assert.deepEqual(rows.map((x) => x.rid), Array.from({ length: 250 }, (_, i) => String(i)));
    assert.equal(readdirSync(layout.reports).length, 250);
    assert.equal(recordedIncidentId(layout, 'scheduler__b_at_1_1', '249'), rows[249]!.incident_id);
    assert.ok(!readdirSync(path.join(layout.ledger, 'incidents')).some((f) => f.startsWith('batch-')), 'the journal is removed');
    // A second batch of the same rows: all duplicates, nothing appended.
    const again = recordIncidents(layout, drafts('scheduler__b_at_1_1', 250), newId);
    assert.ok(again.ok && again.value.every((x) => x.ok && x.value.status === 'duplicate'));
    assert.equal((parse(readFileSync(layout.incidents, 'utf8'), { columns: true }) as unknown[]).length, 250);
    // The single-row path sees the batch's markers too.
    const single = recordIncident(layout, drafts('scheduler__b_at_1_1', 1)[0]!, newId);
    assert.ok(single.ok && single.value.status === 'duplicate');
  });

  it('finishes a batch killed after its append and before its markers: same ids, no second row', () => {
    const sid = 'scheduler__k_at_1_1';
    const first = recordIncidents(layout, drafts(sid, 40), newId);
    assert.ok(first.ok);
    if (!first.ok) return;
    const ids = first.value.map((x) => (x.ok ? x.value.incidentId : ''));
    // Put the disk back the way the kill would have left it: rows appended, journal present, no markers.
    const markers = path.join(layout.ledger, 'incidents');
    for (const f of readdirSync(markers)) rmSync(path.join(markers, f));
    const journal = Object.fromEntries(ids.map((id, i) => [String(i), id]));
    writeFileSync(path.join(markers, `batch-${createHash('sha256').update(sid, 'utf8').digest('hex').slice(0, 32)}.json`), JSON.stringify(journal));
    const rerun = recordIncidents(layout, drafts(sid, 40), newId);
    assert.ok(rerun.ok);
    if (!rerun.ok) return;
    assert.deepEqual(rerun.value.map((x) => (x.ok ? x.value.incidentId : '')), ids, 'the interrupted ids are reused');
    const rows = parse(readFileSync(layout.incidents, 'utf8'), { columns: true }) as Record<string, string>[];
    assert.equal(rows.length, 40, 'no row appended twice');
    assert.equal(recordedIncidentId(layout, sid, '39'), ids[39]);
  });

  it('a generated id that is taken (same second, same random bytes) is skipped, within a batch and against an earlier report', () => {
    const earlier = recordIncident(layout, drafts('scheduler__single_at_1_1', 1)[0]!, () => 'INC-20261124-000000-aaaaaa');
    assert.ok(earlier.ok && earlier.value.incidentId === 'INC-20261124-000000-aaaaaa');
    const sequence = ['INC-20261124-000000-aaaaaa', 'INC-20261124-000000-bbbbbb', 'INC-20261124-000000-bbbbbb', 'INC-20261124-000000-cccccc'];
    const r = recordIncidents(layout, drafts('scheduler__c_at_1_1', 2), () => sequence.shift()!);
    assert.ok(r.ok);
    if (!r.ok) return;
    assert.deepEqual(r.value.map((x) => (x.ok ? x.value.incidentId : x.error.kind)), ['INC-20261124-000000-bbbbbb', 'INC-20261124-000000-cccccc']);
    // The earlier incident's report is untouched.
    assert.ok(readFileSync(path.join(layout.reports, 'INC-20261124-000000-aaaaaa.txt'), 'utf8').includes('scheduler__single_at_1_1'));
    const stuck = recordIncidents(layout, drafts('scheduler__d_at_1_1', 1), () => 'INC-20261124-000000-cccccc');
    assert.ok(stuck.ok && !stuck.value[0]!.ok && stuck.value[0]!.error.kind === 'no_free_incident_id');
  });

  it("keeps one ledger line per row of a sid; a cut last line neither hides the next batch nor breaks the reader", () => {
    const sid = 'scheduler__l_at_1_1';
    const first = recordIncidents(layout, drafts(sid, 3), newId);
    assert.ok(first.ok);
    const ledger = readdirSync(path.join(layout.ledger, 'incidents')).filter((f) => f.startsWith('sid-'));
    assert.equal(ledger.length, 1);
    const file = path.join(layout.ledger, 'incidents', ledger[0]!);
    assert.equal(readFileSync(file, 'utf8').trim().split('\n').length, 3);
    appendFileSync(file, '{"rid":"99","id":"INC-cut');
    const more = drafts(sid, 5).slice(3);
    const second = recordIncidents(layout, more, newId);
    assert.ok(second.ok && second.value.every((x) => x.ok && x.value.status === 'recorded'));
    const known = recordedIncidentIds(layout, sid);
    assert.deepEqual([...known.keys()].sort(), ['0', '1', '2', '3', '4']);
    assert.equal(recordedIncidentId(layout, sid, '4'), known.get('4'));
    assert.equal(recordedIncidentId(layout, sid, '99'), undefined);
  });
});
