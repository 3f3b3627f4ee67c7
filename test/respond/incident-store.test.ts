import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { appendFileSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { parse } from 'csv-parse/sync';
import { DataLayout, dataLayout } from '../../src/store/data-dir';
import { withFileLock } from '../../src/store/file-lock';
import type { Incident } from '../../src/respond/incident';
import { renderIncidentReport } from '../../src/respond/incident-report';
import { incidentCsvColumns, incidentCsvRecord } from '../../src/respond/incident-row';
import {
  IncidentDraft,
  incidentsLockFile,
  newIncidentId,
  recordedIncidentId,
  recordIncident,
  resultKeyHash,
  updateIncidentReport,
} from '../../src/respond/incident-store';
import { requireCompiled, runNode, startNode } from './child-process';
import { hostileUsers, realisticIncident } from './corpus';

function draftOf(incident: Incident, sid: string, rid: string): IncidentDraft {
  const { incidentId: _unused, ...draft } = incident;
  void _unused;
  return { ...draft, sid, rid };
}

const freshId = (): string => newIncidentId(Date.now(), randomBytes(3));

function csvRows(file: string): Record<string, string>[] {
  return parse(readFileSync(file, 'utf8'), { columns: true }) as Record<string, string>[];
}

describe('respond/incident-store', () => {
  let root: string;
  beforeEach(() => {
    root = mkdtempSync(path.join(tmpdir(), 'soar-incidents-'));
  });
  afterEach(() => rmSync(root, { recursive: true, force: true }));

  describe('newIncidentId', () => {
    it('is INC-<UTC date>-<UTC time>-<6 hex> from the time and the first three random bytes', () => {
      const ms = Date.parse('2026-11-24T10:15:02.789Z');
      assert.equal(newIncidentId(ms, Uint8Array.from([0x3f, 0xa9, 0xc1, 0xff])), 'INC-20261124-101502-3fa9c1');
      assert.equal(newIncidentId(ms, Uint8Array.from([0, 0, 1])), 'INC-20261124-101502-000001');
      assert.throws(() => newIncidentId(ms, Uint8Array.from([1, 2])), RangeError);
    });
  });

  it('records the real incident: report equal to renderIncidentReport, header + one row equal to incidentCsvRecord', () => {
    const layout = dataLayout(root);
    const base = realisticIncident();
    const r = recordIncident(layout, draftOf(base, base.sid, base.rid), () => 'INC-20241210-110445-abcdef');
    assert.ok(r.ok, r.ok ? '' : r.error.message);
    assert.equal(r.value.status, 'recorded');
    assert.equal(r.value.incidentId, 'INC-20241210-110445-abcdef');
    const stored = { ...base, incidentId: r.value.incidentId };
    assert.deepEqual(r.value.incident, stored);
    assert.equal(r.value.reportFile, path.join(root, 'reports', 'INC-20241210-110445-abcdef.txt'));
    assert.equal(readFileSync(r.value.reportFile, 'utf8'), renderIncidentReport(stored));
    const text = readFileSync(layout.incidents, 'utf8');
    assert.equal(text.split('\n')[0], incidentCsvColumns.join(','));
    assert.deepEqual(csvRows(layout.incidents), [incidentCsvRecord(stored)]);
    assert.equal(recordedIncidentId(layout, base.sid, base.rid), r.value.incidentId);
  });

  it('the same sid + rid twice: one incident, the second call gets the first id and writes nothing', () => {
    const layout = dataLayout(root);
    const base = realisticIncident();
    let calls = 0;
    const ids = (): string => `INC-20241210-110445-00000${calls++}`;
    const first = recordIncident(layout, draftOf(base, 'sid-1', '7'), ids);
    const second = recordIncident(layout, { ...draftOf(base, 'sid-1', '7'), verdict: 'SAFE' }, ids);
    const other = recordIncident(layout, draftOf(base, 'sid-1', '8'), ids);
    assert.ok(first.ok && second.ok && other.ok);
    assert.equal(second.value.status, 'duplicate');
    assert.equal(second.value.incidentId, first.value.incidentId);
    assert.equal(second.value.incident, undefined);
    assert.equal(other.value.status, 'recorded');
    assert.notEqual(other.value.incidentId, first.value.incidentId);
    assert.equal(calls, 2, 'no id is generated for a duplicate');
    const rows = csvRows(layout.incidents);
    assert.deepEqual(rows.map((row) => [row.sid, row.rid, row.verdict]), [['sid-1', '7', 'MALICIOUS'], ['sid-1', '8', 'MALICIOUS']]);
    assert.equal(readdirSync(layout.reports).length, 2);
    // sid/rid pairs that concatenate alike stay apart.
    assert.notEqual(resultKeyHash('a|b', 'c'), resultKeyHash('a', 'b|c'));
  });

  it('draws a new id when the generated one already names a report (same-second collision)', () => {
    const layout = dataLayout(root);
    const base = realisticIncident();
    const sequence = ['INC-20241210-110445-aaaaaa', 'INC-20241210-110445-aaaaaa', 'INC-20241210-110445-bbbbbb'];
    const a = recordIncident(layout, draftOf(base, 's', '1'), () => sequence.shift() as string);
    const b = recordIncident(layout, draftOf(base, 's', '2'), () => sequence.shift() as string);
    assert.ok(a.ok && b.ok);
    assert.equal(a.value.incidentId, 'INC-20241210-110445-aaaaaa');
    assert.equal(b.value.incidentId, 'INC-20241210-110445-bbbbbb');
    const stuck = recordIncident(layout, draftOf(base, 's', '3'), () => 'INC-20241210-110445-aaaaaa');
    assert.ok(!stuck.ok);
    assert.equal(stuck.error.kind, 'no_free_incident_id');
  });

  it('refuses a generated id that cannot name a file, writing nothing', () => {
    const layout = dataLayout(root);
    const base = realisticIncident();
    const r = recordIncident(layout, draftOf(base, 's', '1'), () => '../../etc/passwd');
    assert.ok(!r.ok);
    assert.equal(r.error.kind, 'invalid_incident_id');
    assert.ok(!existsSync(layout.incidents));
  });

  it('fails with lock_timeout, naming the lock, while another process holds the incidents lock', () => {
    const layout = dataLayout(root);
    const base = realisticIncident();
    withFileLock(incidentsLockFile(layout), () => {
      const r = recordIncident(layout, draftOf(base, 's', '1'), freshId, { lock: { timeoutMs: 100 } });
      assert.ok(!r.ok);
      assert.equal(r.error.kind, 'lock_timeout');
      assert.match(r.error.message, /incidents\.lock/);
    });
  });

  it('a record cut short by a disk error is finished by the next call with the same id and exactly one row', () => {
    const layout = dataLayout(root);
    const base = realisticIncident();
    // incidents.csv is a folder: the row cannot be appended after the marker and report were written.
    mkdirSync(layout.incidents, { recursive: true });
    const broken = recordIncident(layout, draftOf(base, 'sid-x', '0'), () => 'INC-20241210-110445-c0ffee');
    assert.ok(!broken.ok);
    assert.equal(broken.error.kind, 'io_error');
    assert.match(broken.error.message, /recording the incident/);
    assert.ok(existsSync(path.join(layout.reports, 'INC-20241210-110445-c0ffee.txt')), 'the report came first');
    rmSync(layout.incidents, { recursive: true });
    const again = recordIncident(layout, draftOf(base, 'sid-x', '0'), () => 'INC-20241210-110445-000000');
    assert.ok(again.ok);
    assert.equal(again.value.status, 'recorded');
    assert.equal(again.value.incidentId, 'INC-20241210-110445-c0ffee', 'the id chosen before the failure is kept');
    assert.equal(csvRows(layout.incidents).length, 1);
    const third = recordIncident(layout, draftOf(base, 'sid-x', '0'), freshId);
    assert.ok(third.ok && third.value.status === 'duplicate');
  });

  it('updateIncidentReport rewrites the TXT report and adds no CSV row; an unknown incident is refused', () => {
    const layout = dataLayout(root);
    const base = realisticIncident();
    const r = recordIncident(layout, { ...draftOf(base, 's', '1'), verdict: 'UNKNOWN', vt: { state: 'deferred', message: 'quota exhausted' } }, freshId);
    assert.ok(r.ok && r.value.incident);
    const before = readFileSync(layout.incidents, 'utf8');
    const enriched: Incident = { ...r.value.incident, verdict: 'MALICIOUS', vt: base.vt };
    const u = updateIncidentReport(layout, enriched);
    assert.ok(u.ok);
    assert.equal(readFileSync(r.value.reportFile, 'utf8'), renderIncidentReport(enriched));
    assert.match(readFileSync(r.value.reportFile, 'utf8'), /Threat Level:\s+MALICIOUS/);
    assert.equal(readFileSync(layout.incidents, 'utf8'), before);
    const missing = updateIncidentReport(layout, { ...enriched, incidentId: 'INC-20000101-000000-000000' });
    assert.ok(!missing.ok);
    assert.equal(missing.error.kind, 'unknown_incident');
    const bad = updateIncidentReport(layout, { ...enriched, incidentId: '../x' });
    assert.ok(!bad.ok && bad.error.kind === 'invalid_incident_id');
  });

  it('hostile attacker strings stay inside their cells: the row parses back to incidentCsvRecord', () => {
    const layout = dataLayout(root);
    const base = realisticIncident();
    const draft = { ...draftOf(base, 's', '1'), users: hostileUsers(), detection: '=HYPERLINK("http://x")\r\n@everyone' };
    const r = recordIncident(layout, draft, freshId);
    assert.ok(r.ok && r.value.incident);
    const rows = csvRows(layout.incidents);
    assert.equal(rows.length, 1);
    assert.deepEqual(rows[0], incidentCsvRecord(r.value.incident));
    assert.ok(rows[0].detection.startsWith(`'=HYPERLINK`));
    assert.equal(readFileSync(layout.incidents, 'utf8').split('\n').length, 3, 'header, one row, final newline');
  });

  it('50 processes × 10 records over 50 distinct sid+rid (each recorded 10 times) → exactly 50 rows, header once, 50 reports', async function () {
    this.timeout(60_000);
    const layout = dataLayout(root);
    const PROCESSES = 50;
    const PER_PROCESS = 10;
    const KEYS = 50;
    const base = realisticIncident();
    const script = (p: number): string => `
      const { randomBytes } = require('node:crypto');
      const store = ${requireCompiled('incident-store')};
      const { dataLayout } = require(${JSON.stringify(path.resolve(__dirname, '../../src/store/data-dir.js'))});
      const base = ${JSON.stringify(draftOf(base, '', ''))};
      const out = [];
      for (let j = 0; j < ${PER_PROCESS}; j++) {
        const k = (${p} + j * 5) % ${KEYS};
        const sid = 'scheduler__admin__search__RMD5bruteforce_at_1732440000_' + (k % 25);
        const rid = String(Math.floor(k / 25));
        const r = store.recordIncident(dataLayout(${JSON.stringify(root)}), { ...base, sid, rid },
          () => store.newIncidentId(Date.now(), randomBytes(3)));
        if (!r.ok) { console.error(r.error.message); process.exit(2); }
        out.push([k, r.value.status, r.value.incidentId]);
      }
      process.stdout.write(JSON.stringify(out));`;
    const results = await Promise.all(Array.from({ length: PROCESSES }, (_, p) => runNode(script(p))));
    assert.ok(results.every((r) => r.code === 0), results.map((r) => r.stderr).join('\n'));
    const calls = results.flatMap((r) => JSON.parse(r.stdout) as [number, string, string][]);
    assert.equal(calls.length, PROCESSES * PER_PROCESS);
    const idsByKey = new Map<number, Set<string>>();
    let recorded = 0;
    for (const [k, status, id] of calls) {
      if (status === 'recorded') recorded += 1;
      idsByKey.set(k, (idsByKey.get(k) ?? new Set()).add(id));
    }
    assert.equal(recorded, KEYS, 'one "recorded" per distinct sid+rid, 450 duplicates');
    assert.equal(idsByKey.size, KEYS);
    assert.ok([...idsByKey.values()].every((ids) => ids.size === 1), 'all 10 callers of a result got the same incident id');

    const text = readFileSync(layout.incidents, 'utf8');
    assert.equal(text.split('\n').filter((l) => l === incidentCsvColumns.join(',')).length, 1, 'header once');
    const rows = csvRows(layout.incidents);
    assert.equal(rows.length, KEYS);
    assert.equal(new Set(rows.map((r) => r.incident_id)).size, KEYS);
    assert.equal(new Set(rows.map((r) => `${r.sid}|${r.rid}`)).size, KEYS);
    assert.ok(rows.every((r) => Object.keys(r).length === incidentCsvColumns.length && r.failure_count === '286'));
    const reports = readdirSync(layout.reports).sort();
    assert.deepEqual(reports, rows.map((r) => `${r.incident_id}.txt`).sort());
    for (const row of rows) {
      assert.match(readFileSync(path.join(layout.reports, `${row.incident_id}.txt`), 'utf8'), new RegExp(`Incident ID:\\s+${row.incident_id}\\n`));
    }
    assert.equal(readdirSync(path.join(layout.ledger, 'incidents')).length, KEYS);
    assert.ok(!existsSync(incidentsLockFile(layout)), 'the lock is released');
  });

  it('SIGKILL in the middle of a burst of records: incidents.csv parses, no half row, every row has its report, re-recording adds nothing twice', async function () {
    this.timeout(60_000);
    const layout = dataLayout(root);
    const base = realisticIncident();
    // Big rows (30 hostile users, 2,000-character name) make a torn write likely if it could happen.
    const draft = { ...draftOf(base, 'sid-kill', ''), users: hostileUsers() };
    const { child, done } = startNode(`
      const { randomBytes } = require('node:crypto');
      const store = ${requireCompiled('incident-store')};
      const { dataLayout } = require(${JSON.stringify(path.resolve(__dirname, '../../src/store/data-dir.js'))});
      const draft = ${JSON.stringify(draft)};
      for (let i = 0; ; i++) {
        const r = store.recordIncident(dataLayout(${JSON.stringify(root)}), { ...draft, rid: String(i) },
          () => store.newIncidentId(Date.now(), randomBytes(3)));
        if (!r.ok) { console.error(r.error.message); process.exit(2); }
      }`);
    const deadline = Date.now() + 10_000;
    while (Date.now() < deadline && (!existsSync(layout.incidents) || readFileSync(layout.incidents).length < 200_000)) {
      await new Promise((r) => setTimeout(r, 20));
    }
    child.kill('SIGKILL');
    const result = await done;
    assert.equal(result.signal, 'SIGKILL', result.stderr);

    const text = readFileSync(layout.incidents, 'utf8');
    assert.ok(text.endsWith('\n'), 'no partial last row');
    const rows = csvRows(layout.incidents);
    assert.ok(rows.length >= 10, `the burst wrote ${rows.length} rows before the kill`);
    assert.ok(rows.every((r) => Object.keys(r).length === incidentCsvColumns.length && r.sid === 'sid-kill'));
    for (const row of rows) assert.ok(existsSync(path.join(layout.reports, `${row.incident_id}.txt`)), `report of ${row.incident_id}`);
    const rids = rows.map((r) => Number(r.rid));
    assert.deepEqual(rids, rids.map((_, i) => i), 'rows 0..n-1 in order, none lost or doubled');

    // The killed run may have left a pending record or its lock: retrying everything it touched
    // (and one more) must finish it and never duplicate.
    const killedAt = rows.length;
    for (let i = 0; i <= killedAt + 1; i++) {
      const r = recordIncident(layout, { ...draft, rid: String(i) }, freshId, { lock: { timeoutMs: 5000 } });
      assert.ok(r.ok, r.ok ? '' : r.error.message);
      // The last row may belong to a record killed before its marker said "recorded":
      // the retry finishes that record (status recorded) without a second row.
      if (i < killedAt - 1) assert.equal(r.value.status, 'duplicate');
    }
    const after = csvRows(layout.incidents);
    assert.deepEqual(after.map((r) => Number(r.rid)), Array.from({ length: killedAt + 2 }, (_, i) => i));
  });
});

describe('respond/incident-store after a run killed in the middle of its row', () => {
  let layout: DataLayout;
  before(() => {
    layout = dataLayout(mkdtempSync(path.join(tmpdir(), 'soar-halfrow-')));
  });
  after(() => rmSync(layout.root, { recursive: true, force: true }));

  it('cuts the half row off (kept aside), finishes the interrupted record with its id, and the CSV parses with every row whole', () => {
    const first = recordIncident(layout, draftOf(realisticIncident(), 'scheduler__a_at_1_1', '0'), freshId);
    assert.ok(first.ok);
    // What SIGKILL inside the append leaves (Linux stops a killed write at a page boundary):
    // the pending marker naming the id, and the first part of its row without a line end.
    const id = 'INC-20261124-050000-abcdef';
    const sid = 'scheduler__b_at_1_1';
    const marker = path.join(layout.ledger, 'incidents', `${resultKeyHash(sid, '0')}.pending.json`);
    writeFileSync(marker, JSON.stringify({ state: 'pending', incidentId: id, sid, rid: '0' }));
    const whole = incidentCsvRecord({ ...realisticIncident(), incidentId: id, sid, rid: '0' });
    const half = `${id},${String(whole.time)},138.128`;
    appendFileSync(layout.incidents, half);

    const again = recordIncident(layout, draftOf(realisticIncident(), sid, '0'), freshId);
    assert.ok(again.ok && again.value.status === 'recorded' && again.value.incidentId === id);
    const rows = csvRows(layout.incidents);
    assert.deepEqual(rows.map((r) => r.incident_id), [first.ok ? first.value.incidentId : '', id]);
    assert.ok(rows.every((r) => Object.keys(r).length === incidentCsvColumns.length && r.src_ip !== ''));
    const aside = readdirSync(layout.root).filter((f) => f.startsWith('incidents.csv.partial-'));
    assert.equal(aside.length, 1);
    assert.equal(readFileSync(path.join(layout.root, aside[0]!), 'utf8'), half);
  });
});
