import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { idsWithRows, incidentIdTime, sweepAfterFullDisk } from '../../src/respond/full-disk-sweep';
import { dataLayout } from '../../src/store/data-dir';

describe('respond/full-disk-sweep', () => {
  let root: string;
  beforeEach(() => {
    root = mkdtempSync(path.join(tmpdir(), 'soar-sweep-'));
  });
  afterEach(() => rmSync(root, { recursive: true, force: true }));

  it('finds ids at line starts reading backwards across chunk boundaries (rows over 1 MiB in all), and nothing inside a cell', () => {
    const file = path.join(root, 'incidents.csv');
    const rows = ['incident_id,time,users'];
    for (let i = 0; i < 1200; i++) rows.push(`INC-${String(i).padStart(4, '0')},t,${'u'.repeat(1000 + (i % 7) * 333)} INC-in-cell-${i}`);
    writeFileSync(file, rows.join('\n') + '\n');
    assert.ok(readFileSync(file).length > 2 * 1024 * 1024);
    const wanted = new Set(['INC-0000', 'INC-0299', 'INC-1199', 'INC-missing', 'INC-in-cell-5']);
    assert.deepEqual([...idsWithRows(file, wanted)].sort(), ['INC-0000', 'INC-0299', 'INC-1199']);
    assert.deepEqual([...idsWithRows(path.join(root, 'none.csv'), wanted)], []);
  });

  it('reads the time an incident id was made; other ids have none', () => {
    assert.equal(incidentIdTime('INC-20261124-021630-71f4bc'), Date.parse('2026-11-24T02:16:30Z'));
    assert.equal(incidentIdTime('case-7'), undefined);
  });

  it('at most once an hour unless forced; old .tmp removed, young kept; a report without a row moved aside', () => {
    const layout = dataLayout(root);
    const now = Date.parse('2026-11-24T12:00:00Z');
    mkdirSync(layout.reports, { recursive: true });
    mkdirSync(layout.queue, { recursive: true });
    const old = (now - 20 * 60_000) / 1000;
    const write = (file: string, text: string, t?: number) => {
      writeFileSync(file, text);
      if (t !== undefined) utimesSync(file, t, t);
    };
    write(layout.incidents, 'incident_id,time\nINC-20261124-114000-aaaaaa,t\n');
    write(path.join(layout.reports, 'INC-20261124-114000-aaaaaa.txt'), 'with row', old);
    write(path.join(layout.reports, 'INC-20261124-114000-bbbbbb.txt'), 'no row', old);
    write(path.join(layout.reports, 'INC-20261124-115900-cccccc.txt'), 'too young to judge', now / 1000);
    write(path.join(layout.queue, 'a.json.1.2.0.tmp'), '{', old);
    write(path.join(layout.queue, 'b.json.1.2.0.tmp'), '{', now / 1000);
    const r = sweepAfterFullDisk(layout, now);
    assert.ok(r.ok && r.value);
    assert.deepEqual(r.value, { tmpRemoved: 1, orphaned: ['INC-20261124-114000-bbbbbb'] });
    assert.ok(existsSync(path.join(layout.reports, 'orphaned', 'INC-20261124-114000-bbbbbb.txt')));
    assert.ok(existsSync(path.join(layout.reports, 'INC-20261124-114000-aaaaaa.txt')));
    assert.ok(existsSync(path.join(layout.reports, 'INC-20261124-115900-cccccc.txt')));
    assert.ok(existsSync(path.join(layout.queue, 'b.json.1.2.0.tmp')));
    const soon = sweepAfterFullDisk(layout, now + 10 * 60_000);
    assert.deepEqual(soon, { ok: true, value: undefined }, 'not again within the hour');
    const forced = sweepAfterFullDisk(layout, now + 10 * 60_000, { force: true });
    assert.deepEqual(forced, { ok: true, value: { tmpRemoved: 1, orphaned: ['INC-20261124-115900-cccccc'] } });
  });
});
