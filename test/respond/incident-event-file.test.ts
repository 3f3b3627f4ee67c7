/** The incident events file: appends, rotation under the lock, and one WARN for a run whose events cannot be written. */
import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { appendEventLines, eventsFile, IncidentEventLog } from '../../src/respond/incident-event-file';
import { fail } from '../../src/result';
import { dataLayout } from '../../src/store/data-dir';
import { createLogger } from '../../src/splunk/log';

describe('incident events file', () => {
  let root: string;
  beforeEach(() => {
    root = mkdtempSync(path.join(tmpdir(), 'soar-events-'));
  });
  afterEach(() => rmSync(root, { recursive: true, force: true }));

  it('rotates past the size limit: incidents.json → .1 → .2 → .3, the oldest dropped, no line lost or split', () => {
    const layout = dataLayout(root);
    const written: string[] = [];
    for (let i = 0; i < 60; i++) {
      const line = JSON.stringify({ time: new Date(i).toISOString(), n: i, pad: 'x'.repeat(90) }) + '\n';
      written.push(line);
      const r = appendEventLines(layout, line, { maxBytes: 1000, keep: 3, durable: false });
      assert.ok(r.ok);
    }
    const dir = path.dirname(eventsFile(layout));
    assert.deepEqual(readdirSync(dir).sort(), ['incidents.json', 'incidents.json.1', 'incidents.json.2', 'incidents.json.3']);
    const kept = ['incidents.json.3', 'incidents.json.2', 'incidents.json.1', 'incidents.json'].map((n) => readFileSync(path.join(dir, n), 'utf8')).join('');
    for (const f of ['incidents.json.1', 'incidents.json.2', 'incidents.json.3']) assert.ok(readFileSync(path.join(dir, f)).length >= 1000, f);
    // What is kept is the newest lines, whole and in order.
    assert.ok(kept.length > 0 && written.join('').endsWith(kept), 'the kept files are the tail of what was written');
    assert.ok(kept.split('\n').filter((l) => l !== '').every((l) => JSON.parse(l) !== undefined));
    assert.ok(readdirSync(path.join(root, 'locks')).every((n) => !n.startsWith('incident-events')), 'the rotation lock is released');
  });

  it('a failed write is one WARN per run, however many flushes fail; the events of a later good flush are written', () => {
    const lines: string[] = [];
    const logger = createLogger((t) => void lines.push(t));
    let broken = true;
    const log = new IncidentEventLog(dataLayout(root), { durable: false }, (layout, text, options) =>
      broken ? fail('io_error', 'cannot write incident events (EACCES)') : appendEventLines(layout, text, options),
    );
    for (let i = 0; i < 3; i++) {
      log.add({ timeMs: i, event: 'recorded', subject: { incidentId: `INC-${i}` } });
      log.flush(logger);
    }
    broken = false;
    log.add({ timeMs: 9, event: 'notified', subject: { incidentId: 'INC-9' } });
    log.flush(logger);
    logger.flush();
    const warns = lines.join('').split('\n').filter((l) => l.startsWith('WARN'));
    assert.equal(warns.length, 1, lines.join(''));
    assert.match(warns[0]!, /Incident events not written/);
    assert.equal(log.failures, 3);
    assert.deepEqual(readFileSync(eventsFile(dataLayout(root)), 'utf8').trim().split('\n').map((l) => (JSON.parse(l) as { incident_id: string }).incident_id), ['INC-9']);
  });

  it('sync() flushes only after a run wrote something, and never throws (the lines are already written)', () => {
    const logger = createLogger(() => undefined);
    const file = eventsFile(dataLayout(root));
    const idle = new IncidentEventLog(dataLayout(root), { durable: false });
    idle.sync();
    assert.deepEqual(readdirSync(root), [], 'a run without events touches nothing');
    const log = new IncidentEventLog(dataLayout(root), { durable: false });
    log.add({ timeMs: 1, event: 'recorded', subject: { incidentId: 'INC-1' } });
    log.flush(logger);
    assert.equal(readFileSync(file, 'utf8').split('\n').length, 2);
    rmSync(file);
    assert.doesNotThrow(() => log.sync());
  });

  it('an unwritable target is an io_error naming the file and incidents.csv, not a throw', () => {
    const layout = dataLayout(root);
    writeFileSync(path.join(root, 'events'), 'a file where the folder should be');
    const r = appendEventLines(layout, '{}\n');
    assert.equal(r.ok, false);
    if (!r.ok) assert.match(r.error.message, /cannot write incident events to .*incidents\.json \(ENOTDIR\).*incidents\.csv/);
  });
});
